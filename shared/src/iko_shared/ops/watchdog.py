"""The consumer watchdog: every subscribed queue keeps its consumer, or the process says it is not live.

A robust aio-pika connection can come back from a broker node's replacement with its channels restored but a
consumer gone (the broker cancelled it, or restoring it failed), and FastStream does not notice: the process
runs, consumes nothing, and every probe that looks only at the connection says it is fine. The watchdog looks
at this process's own state every ``interval_s``: for each subscriber, is its consumer tag registered on an open
channel of the connection? A lost one is re-attached (the subscriber is stopped, its queue declared again on a
channel of its own, so a refusal cannot close the subscriber's channel, and the subscriber started); one that
stays lost for longer than ``grace_s`` while the broker connection is up makes ``liveness()`` fail, so that the
orchestrator restarts the process. While the broker connection is down nothing counts against liveness: the
robust connection recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from iko_shared.broker import describe_failure
from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.ops.health import ConsumerState, Report, decide_liveness

log = get_logger()


class Consumer(Protocol):
    """One subscriber's consumer, as the watchdog sees and mends it."""

    @property
    def queue(self) -> str: ...

    def attached(self) -> bool: ...

    async def reattach(self) -> None: ...


class Watchdog:
    def __init__(
        self,
        service: str,
        consumers: Sequence[Consumer],
        connected: Callable[[], bool],
        *,
        interval_s: float = 5.0,
        grace_s: float = 30.0,
        reattach_timeout_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._consumers = list(consumers)
        self._connected = connected
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._reattach_timeout = reattach_timeout_s
        self._clock = clock
        self._states: dict[str, ConsumerState] = {c.queue: ConsumerState(attached=True) for c in self._consumers}
        self._task: asyncio.Task[None] | None = None
        self._tries: dict[str, int] = {}
        self.reattached = 0

    @property
    def states(self) -> dict[str, ConsumerState]:
        return dict(self._states)

    def liveness(self) -> Report:
        return decide_liveness(self._states, self._clock(), self.grace_s)

    async def check_once(self) -> None:
        """Look at every consumer once, re-attach the lost ones, and publish what is attached."""
        for consumer in self._consumers:
            self._states[consumer.queue] = await self._check(consumer)
        metrics.consumers_attached(
            self.service, ((queue, 1 if state.attached else 0) for queue, state in self._states.items())
        )

    async def _check(self, consumer: Consumer) -> ConsumerState:
        previous = self._states.get(consumer.queue, ConsumerState(attached=True))
        if consumer.attached():
            return ConsumerState(attached=True)
        if not self._connected():
            # The robust connection is recovering; its consumers come back with it, or are mended after.
            return ConsumerState(attached=False)
        lost_since = previous.lost_since if previous.lost_since is not None else self._clock()
        if previous.lost_since is None:
            self._tries[consumer.queue] = 0
            log.warning("watchdog.consumer_lost", service=self.service, queue=consumer.queue)
        tries = self._tries[consumer.queue] = self._tries.get(consumer.queue, 0) + 1
        try:
            await asyncio.wait_for(consumer.reattach(), timeout=self._reattach_timeout)
        except Exception as exc:
            failure = describe_failure(exc)
            # The first failure and then every tenth: a queue that stays away must not flood the log.
            if tries == 1 or tries % 10 == 0:
                log.warning(
                    "watchdog.reattach_failed", service=self.service, queue=consumer.queue, tries=tries, **failure
                )
            return ConsumerState(attached=False, lost_since=lost_since, error=str(failure["error"]))
        if consumer.attached():
            self.reattached += 1
            log.info("watchdog.consumer_reattached", service=self.service, queue=consumer.queue, tries=tries)
            return ConsumerState(attached=True)
        return ConsumerState(attached=False, lost_since=lost_since, error="not attached after restart")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-watchdog-{self.service}")

    async def stop(self) -> None:
        """Before the subscribers stop: a stopping subscriber must not be re-attached."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception as exc:
                log.error("watchdog.check_failed", service=self.service, **describe_failure(exc))
            await asyncio.sleep(self.interval_s)


class FastStreamConsumer:
    """A FastStream RabbitMQ subscriber's consumer. FastStream keeps the state this needs in private attributes
    (the subscriber's aio-pika queue and consumer tag; the broker's connection); they are read with ``getattr``
    here, in one place, and the integration test runs against the locked FastStream version."""

    def __init__(self, broker: Any, subscriber: Any) -> None:
        self._broker = broker
        self._subscriber = subscriber

    @property
    def queue(self) -> str:
        return str(self._subscriber.queue.name)

    def attached(self) -> bool:
        sub = self._subscriber
        queue_obj = getattr(sub, "_queue_obj", None)
        tag = getattr(sub, "_consumer_tag", None)
        if not getattr(sub, "running", False) or queue_obj is None or tag is None:
            return False
        channel = queue_obj.channel
        if channel.is_closed:
            return False
        underlay = getattr(channel, "_channel", None)
        amqp_channel = getattr(underlay, "channel", None)
        consumers = getattr(amqp_channel, "consumers", None)
        return consumers is not None and tag in consumers

    async def reattach(self) -> None:
        sub = self._subscriber
        await sub.stop()
        spec = sub.queue
        connection = getattr(self._broker, "_connection", None)
        if connection is not None and spec.declare:
            # The queue may be gone (deleted, or lost with its node): declared again on a channel of its own, so
            # that a refusal (the queue held exclusively elsewhere, other arguments) closes only that channel.
            probe = await connection.channel(publisher_confirms=False)
            try:
                await probe.declare_queue(
                    spec.name,
                    durable=spec.durable,
                    exclusive=spec.exclusive,
                    auto_delete=spec.auto_delete,
                    arguments=spec.arguments,
                    timeout=5,
                )
            finally:
                if not probe.is_closed:
                    await probe.close()
        await sub.start()


def broker_connected(broker: Any) -> Callable[[], bool]:
    """Is the broker's robust connection up right now (FastStream's ``ping`` without its wait)?"""

    def connected() -> bool:
        connection = getattr(broker, "_connection", None)
        event = getattr(connection, "connected", None)
        return bool(connection is not None and event is not None and event.is_set() and not connection.is_closed)

    return connected


def watch_broker(
    service: str, broker: Any, *, interval_s: float, grace_s: float, reattach_timeout_s: float = 15.0
) -> Watchdog:
    """A watchdog over every subscriber of a FastStream RabbitMQ broker."""
    consumers = [FastStreamConsumer(broker, sub) for sub in broker.subscribers]
    return Watchdog(
        service,
        consumers,
        broker_connected(broker),
        interval_s=interval_s,
        grace_s=grace_s,
        reattach_timeout_s=reattach_timeout_s,
    )
