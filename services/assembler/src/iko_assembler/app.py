"""The assembler process: register lookups, record fragments, expand relations, fire deadlines, publish views."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from iko_shared import tracing
from iko_shared.broker import (
    ExchangePublisher,
    contract_decoder,
    declare_dead_letter_path,
    make_broker,
    make_topology,
    run_service,
)
from iko_shared.contracts import FragmentForwarded, FragmentProduced, LookupCompleted, LookupRequested
from iko_shared.failures import OutageLog, Throttled, log_loop_failure
from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.ops.service import attach_ops
from iko_shared.redis_client import make_redis
from iko_shared.serialization import dump_model
from iko_shared.settings import CommonSettings
from iko_shared.topology import MESSAGE_HEADER

from iko_assembler.coordinator import Coordinator
from iko_assembler.finisher import Finisher
from iko_assembler.leases import LeaseRenewer
from iko_assembler.store import ClosedRequest, RedisAssemblerStore

log = get_logger()


class AssemblerSettings(CommonSettings):
    assembler_prefetch: int = 128
    # Longest sleep of the deadline sweep when this replica knows of no earlier deadline: bounds how late a
    # deadline registered by a replica that died is fired.
    assembler_max_sweep_interval_s: float = 0.05
    # How long a closed request may stay unpublished, without the replica that holds it renewing its lease
    # (every quarter of it), before another replica publishes it instead.
    assembler_publish_lease_s: float = 2.0


# How long a reply's publish is retried when the channel is away (a module constant while settings.py has another
# owner): a closed request that is not published meanwhile stays in the outbox and is republished after its lease.
REPLY_RETRY_S = 1.0


class Sweeper:
    """Fires deadlines and republishes abandoned results; wakes early when this replica learns of one."""

    def __init__(
        self,
        store: RedisAssemblerStore,
        publish: Callable[[ClosedRequest], Awaitable[None]],
        max_interval: float,
    ) -> None:
        self._store = store
        self._publish = publish
        self._max_interval = max_interval
        self._wake = asyncio.Event()
        self._next_wake = 0.0
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog("sweep.redis")
        self._throttle = Throttled(every_s=5.0)

    def notice_deadline(self, deadline: float) -> None:
        if deadline < self._next_wake:
            self._next_wake = deadline
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deadline-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            # While the sweep is out, every deadline noticed is one it may have missed: kept in _next_wake.
            self._next_wake = math.inf
            try:
                result = await self._store.sweep()
                swept_at = time.monotonic()
                self._outage.recovered()
                for request_id in result.dropped:
                    log.error("outbox.dropped", request_id=request_id, reason="unpublished past deadline + grace")
                for done, closed in enumerate(result.closed):
                    if closed.closed_by == "deadline" and not closed.redelivery:
                        metrics.deadline_fired()
                    try:
                        # The answer a sweep publishes belongs to the lookup's trace, not to a trace of its own.
                        with tracing.resumed(
                            closed.meta.get("traceparent"), "deadline sweep", closed_by=closed.closed_by
                        ):
                            await self._publish(closed)
                    except BaseException:
                        # The rest of this batch is not published now: let their leases lapse, so that the
                        # next sweep (this replica's or another's) takes them up again.
                        self._store.release(*(c.request_id for c in result.closed[done:]))
                        raise
                    # Each publish composes its answer (jq) on the loop: let the handlers in between, so that a
                    # burst of closes does not hold up the other requests' fragments and deadlines.
                    await asyncio.sleep(0)
            except Exception as exc:
                # Redis away: one warning per outage, one info when it is back, not a traceback every sweep.
                log_loop_failure(exc, self._outage, self._throttle, "sweep.failed")
                await asyncio.sleep(self._max_interval)
                continue
            if len(result.closed) >= 500:
                continue
            delay = self._max_interval
            if result.next_due is not None:
                # Measured from the sweep's own clock (Redis's), less the time spent publishing what it closed:
                # otherwise every publish of a sweep made the next deadline that much late.
                delay = min(delay, max(result.next_due - result.now - (time.monotonic() - swept_at), 0.0))
            now = time.time()
            delay = min(delay, max(self._next_wake - now, 0.0))
            self._next_wake = now + delay
            # No await since the sweep's result and the deadlines noticed meanwhile were taken into the delay.
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.001))


def build_assembler_app(settings: AssemblerSettings | None = None) -> tuple[FastStream, RabbitBroker]:
    settings = settings or AssemblerSettings()
    topology = make_topology(settings)
    broker = make_broker(settings, description="IKO assembler")
    redis = make_redis(settings.redis_url)
    store = RedisAssemblerStore(
        redis, settings.namespace, grace_s=settings.retention_grace_s, lease_s=settings.assembler_publish_lease_s
    )
    # Sent by these two; the FastStream publishers below document them in the AsyncAPI document.
    replies = ExchangePublisher(broker)
    followups = ExchangePublisher(broker, topology.lookups)
    broker.publisher(
        title="<gateway reply queue>:LookupCompleted",
        description=(
            "The assembled view (header iko-message: view), and for a streamed lookup every fragment as it is "
            "recorded (FragmentForwarded, iko-message: fragment), to the reply queue named in the request."
        ),
        schema=LookupCompleted,
    )
    broker.publisher(
        exchange=topology.lookups,
        title=f"{topology.lookups.name}:LookupRequested(follow-up)",
        description="Follow-up lookups of relations (header iko-kind: followup), to the connectors they name.",
        schema=LookupRequested,
    )

    async def send_reply(reply_to: str, request_id: str, message: dict[str, Any] | FragmentForwarded) -> None:
        kind = "fragment" if isinstance(message, FragmentForwarded) else "view"
        body = dump_model(message) if isinstance(message, FragmentForwarded) else orjson.dumps(message)
        await replies.publish(
            body,
            routing_key=reply_to,
            correlation_id=request_id,
            headers={MESSAGE_HEADER: kind},
            mandatory=False,
            # Retried briefly only: the sweeper publishes one after another, and the outbox republishes later.
            deadline=time.time() + REPLY_RETRY_S,
        )

    async def send_lookup(request: LookupRequested) -> None:
        await followups.publish(
            dump_model(request),
            headers=dict(topology.followup_headers(sorted({q.source for q in request.queries}))),
            correlation_id=request.request_id,
            persist=True,
            deadline=request.deadline,
        )

    finisher = Finisher(store.finish)
    renewer = LeaseRenewer(store.holdings, store.renew, every_s=settings.assembler_publish_lease_s / 4)
    coordinator = Coordinator(store, send_reply, send_lookup, finished=finisher.add)
    sweeper = Sweeper(store, coordinator.publish, settings.assembler_max_sweep_interval_s)
    coordinator.notice_deadline = sweeper.notice_deadline
    channel = Channel(prefetch_count=settings.assembler_prefetch)

    @broker.subscriber(
        topology.assembler_requests,
        topology.lookups,
        channel=channel,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=contract_decoder(LookupRequested),
        title=f"{topology.assembler_requests.name}:LookupRequested",
        description="Every lookup: registers what the request expects and its deadline.",
    )
    async def on_request(request: LookupRequested) -> None:
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        try:
            await coordinator.on_request(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    @broker.subscriber(
        topology.assembler_fragments,
        topology.fragments,
        channel=channel,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=contract_decoder(FragmentProduced),
        title=f"{topology.assembler_fragments.name}:FragmentProduced",
        description="Every fragment: recorded once; it may start relations; the last expected one closes.",
    )
    async def on_fragment(fragment: FragmentProduced) -> None:
        outcome = await coordinator.on_fragment(fragment)
        if outcome in ("late", "duplicate", "unexpected"):
            metrics.fragment_dropped(outcome)
            log.info("fragment.dropped", request_id=fragment.request_id, key=fragment.key, outcome=outcome)

    app = FastStream(broker, logger=None)

    async def redis_probe() -> None:
        await redis.ping()

    attach_ops(app, broker, settings, service="assembler", kind="assembler", probes={"redis": redis_probe})

    @app.after_startup
    async def _start() -> None:
        await declare_dead_letter_path(broker, topology, topology.assembler_requests)
        await declare_dead_letter_path(broker, topology, topology.assembler_fragments)
        sweeper.start()
        finisher.start()
        renewer.start()
        log.info("assembler.ready")

    @app.on_shutdown
    async def _stop() -> None:
        await sweeper.stop()
        await finisher.stop()
        await renewer.stop()

    @app.after_shutdown
    async def _close() -> None:
        await redis.aclose()

    return app, broker


def main() -> None:
    from iko_shared.logging import configure_logging

    settings = AssemblerSettings()
    configure_logging("assembler", settings.log_level)
    # A failed start (RabbitMQ or Redis not there yet, replicas declaring a quorum queue at once) is retried with
    # a fresh app after a pause, as the connectors' are.
    run_service(lambda: build_assembler_app(settings)[0])
