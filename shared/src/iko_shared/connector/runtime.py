"""The connector runtime: consume lookups for one source, fetch, publish fragments, ack after the confirm.

Every source-specific part lives in a ``Source`` adapter; this module is the same for all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import structlog
from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker

from iko_shared.broker import (
    ExchangePublisher,
    contract_decoder,
    declare_dead_letter_path,
    make_broker,
    make_topology,
    run_service,
)
from iko_shared.connector.breaker import CircuitBreaker
from iko_shared.connector.fragments import fetch_fragment
from iko_shared.connector.http import SourceHttpSettings, make_client
from iko_shared.connector.resilience import FETCH_CALLERS, FETCH_DEADLINE, RetryPolicy
from iko_shared.connector.source import FetchContext, Source
from iko_shared.contracts import FragmentProduced, LookupRequested, SourceQuery
from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.ops.service import attach_ops
from iko_shared.settings import CommonSettings

log = get_logger()


class ConnectorSettings(CommonSettings):
    # Lookups in flight per process: the concurrency limit towards the source.
    connector_prefetch: int = 64
    connector_retry_attempts: int = 3
    connector_retry_base_delay_s: float = 0.05
    # The circuit opens on this many failures within the window, at least this ratio of the calls, from at
    # least this many distinct callers (see ``breaker``: one caller must not open it for the others).
    connector_circuit_failures: int = 5
    connector_circuit_window_s: float = 10.0
    connector_circuit_failure_ratio: float = 0.5
    connector_circuit_min_callers: int = 2
    # A timeout counts against the source only when the call had at least this long to run.
    connector_circuit_min_timeout_budget_s: float = 1.0
    connector_circuit_reset_s: float = 5.0

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.connector_retry_attempts, base_delay_s=self.connector_retry_base_delay_s)

    def breaker(self) -> CircuitBreaker:
        return CircuitBreaker(
            self.connector_circuit_failures,
            self.connector_circuit_reset_s,
            window_s=self.connector_circuit_window_s,
            failure_ratio=self.connector_circuit_failure_ratio,
            min_callers=self.connector_circuit_min_callers,
            min_timeout_budget_s=self.connector_circuit_min_timeout_budget_s,
        )


class ConnectorRuntime:
    """Handles one ``LookupRequested`` for one source; broker-free so it can be tested on its own."""

    def __init__(
        self,
        source: Source,
        client: httpx.AsyncClient,
        publish: Callable[[FragmentProduced], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.client = client
        self._publish = publish
        self._clock = clock
        self.skipped = 0
        self.expired = 0

    async def handle(self, request: LookupRequested) -> list[FragmentProduced]:
        queries = [q for q in request.queries if q.source == self.source.name]
        if not queries:
            # The exchange routes by source header; a request that reaches us anyway is not ours to answer.
            self.skipped += 1
            return []
        # All or nothing: when one query fails (its publish above all), its siblings are cancelled rather than
        # left running while the message goes back to be fetched again; the first failure is raised as it is.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._one(request, q)) for q in queries]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [f for t in tasks if (f := t.result()) is not None]

    async def _one(self, request: LookupRequested, query: SourceQuery) -> FragmentProduced | None:
        remaining = request.deadline - self._clock()
        if remaining <= 0:
            # Nobody waits for this answer any more: the assembler has closed the request at its deadline.
            self.expired += 1
            log.info("lookup.expired_before_fetch", key=query.key)
            return None
        ctx = FetchContext(client=self.client, query=query, request=request, timeout=remaining)
        token = FETCH_DEADLINE.set(request.deadline)
        callers = FETCH_CALLERS.set(frozenset({request.context.caller}))
        started = time.perf_counter()
        try:
            fragment = await fetch_fragment(self.source, ctx)
        finally:
            FETCH_CALLERS.reset(callers)
            FETCH_DEADLINE.reset(token)
        timed_out = fragment.error is not None and fragment.error.code == "timeout"
        metrics.source_fetched(
            self.source.name, "timeout" if timed_out else fragment.status, time.perf_counter() - started
        )
        if fragment.deadline <= self._clock():
            self.expired += 1
            log.info("fragment.after_deadline", key=query.key, status=fragment.status)
            return None
        await self._publish(fragment)
        log.info("fragment.published", key=query.key, status=fragment.status, duration_ms=fragment.duration_ms)
        return fragment


def build_connector_app(
    source: Source,
    http_settings: SourceHttpSettings,
    settings: ConnectorSettings | None = None,
) -> tuple[FastStream, RabbitBroker]:
    settings = settings or ConnectorSettings()
    topology = make_topology(settings)
    broker = make_broker(settings, description=f"IKO {source.name} connector")
    queue = topology.connector_queue(source.name)
    # Sent by ``fragments_raw``; the FastStream publisher documents them in the AsyncAPI document.
    fragments_raw = ExchangePublisher(broker, topology.fragments)
    broker.publisher(
        exchange=topology.fragments,
        routing_key=topology.fragment_routing_key,
        title=f"{topology.fragments.name}:FragmentProduced({source.name})",
        description="A source's answer to one query of a lookup.",
        schema=FragmentProduced,
    )
    state: dict[str, ConnectorRuntime] = {}

    @broker.subscriber(
        queue,
        topology.lookups,
        channel=Channel(prefetch_count=settings.connector_prefetch),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=contract_decoder(LookupRequested),
        title=f"{queue.name}:LookupRequested",
        description=f"Lookups that name the {source.name} source.",
    )
    async def on_lookup(request: LookupRequested) -> None:
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        try:
            # Returning normally acks; publish awaited the broker's confirm before that.
            await state["runtime"].handle(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    app = FastStream(broker, logger=None)
    attach_ops(app, broker, settings, service=f"{source.name}-connector", kind="connector")

    @app.on_startup
    async def _start() -> None:
        async def publish(fragment: FragmentProduced) -> None:
            await fragments_raw.publish(
                fragment.model_dump_json().encode(),
                routing_key=topology.fragment_routing_key,
                correlation_id=fragment.request_id,
                persist=True,
                deadline=fragment.deadline,
            )

        breaker = settings.breaker()
        client = make_client(http_settings, source.name, settings.retry_policy(), breaker)
        metrics.watch_circuit(source.name, breaker)
        state["runtime"] = ConnectorRuntime(source, client, publish)

    @app.after_startup
    async def _declare() -> None:
        await declare_dead_letter_path(broker, topology, queue)
        log.info("connector.ready", source=source.name, queue=queue.name)

    @app.after_shutdown
    async def _close() -> None:
        runtime = state.pop("runtime", None)
        if runtime is not None:
            await runtime.client.aclose()

    return app, broker


def run_connector(source_factory: Callable[[], tuple[Source, SourceHttpSettings]]) -> None:
    """Entry point of a connector process."""
    from iko_shared.logging import configure_logging

    settings = ConnectorSettings()
    source, http_settings = source_factory()
    configure_logging(f"{source.name}-connector", settings.log_level)
    run_service(lambda: build_connector_app(source, http_settings, settings)[0])
