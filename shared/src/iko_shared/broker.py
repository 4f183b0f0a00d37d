"""The RabbitMQ broker every service builds, with FastStream's per-message logging off (it would log payloads)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
import aiormq.abc
import aiormq.exceptions
from faststream import BaseMiddleware, FastStream
from faststream.exceptions import RejectMessage
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitMessage, RabbitQueue
from pydantic import BaseModel, ValidationError

from iko_shared import tracing
from iko_shared.failures import (
    MAX_BODY_BYTES,
    Backoff,
    OutageLog,
    PoisonMessageError,
    Throttled,
    UnroutableError,
    body_deadline,
    classify,
    retry_transient,
)
from iko_shared.logging import get_logger
from iko_shared.settings import CommonSettings
from iko_shared.topology import Topology

log = get_logger()


def describe_failure(exc: BaseException) -> dict[str, Any]:
    """Where and what failed, without the exception's message: messages (pydantic's above all) quote the
    input, and the input here is personal data."""
    where = [
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}:{frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ]
    described: dict[str, Any] = {"error": type(exc).__name__, "where": where[-5:]}
    if isinstance(exc, ValidationError):
        described["invalid"] = [f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in exc.errors()][:10]
    return described


# One warning when handlers start failing on something transient (Redis or the broker away), one info when they
# succeed again: not a line per retry of every message in flight.
# A Redis failover flaps (some handlers reach the new primary while others still fail): one outage, not several.
HANDLER_OUTAGE = OutageLog("handler.dependency", flap_s=10.0)


class LogFailures(BaseMiddleware):
    """FastStream's own logging is off (it would log payloads); a handler that fails must still be seen.

    And what a failure is worth (``failures.classify``): a transient one (Redis, a publish) is retried here, with
    backoff, while the message's deadline allows, before the message is given back (a requeue counts against the
    queue's delivery limit); poison (not the contract, too large) is rejected at once, to the dead-letter queue,
    with one error line naming the queue and the message, never its body."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        backoff: Backoff | None = None
        while True:
            try:
                result = await call_next(msg)
            except Exception as exc:
                kind = classify(exc)
                if kind == "poison":
                    log.error("message.poison", **self._names(msg), **describe_failure(exc))
                    raise RejectMessage() from exc
                if kind == "transient":
                    if backoff is None:
                        backoff = Backoff(body_deadline(msg.body) or time.time() + DEFAULT_HANDLER_BUDGET_S)
                    delay = backoff.next_delay()
                    HANDLER_OUTAGE.failed(exc, queue=self._names(msg)["queue"])
                    if delay is not None:
                        await asyncio.sleep(delay)
                        continue
                    # Its deadline passed while Redis or the broker was away: given back (a requeue), and counted in
                    # the outage's one warning and its recovery line, not logged once per message in flight.
                    HANDLER_OUTAGE.gave_up()
                    raise
                log.error(
                    "message.failed",
                    routing_key=getattr(getattr(msg, "raw_message", None), "routing_key", None),
                    delivery=(getattr(msg, "headers", None) or {}).get("x-delivery-count"),
                    **describe_failure(exc),
                )
                raise
            if backoff is not None:
                HANDLER_OUTAGE.recovered()
            return result

    def _names(self, msg: Any) -> dict[str, Any]:
        """The queue and the message's ids (its AMQP message id, the request id it is correlated with)."""
        queue = None
        try:
            handler = self.context.get_local("handler_")
            queue = getattr(getattr(handler, "queue", None), "name", None)
        except Exception:
            pass
        raw = getattr(msg, "raw_message", None)
        return {
            "queue": queue,
            "message_id": getattr(raw, "message_id", None),
            "request_id": getattr(msg, "correlation_id", None) or None,
            "size": len(getattr(msg, "body", b"") or b""),
        }


# A message without a deadline of its own (an audit record) is retried this long inside its handler.
DEFAULT_HANDLER_BUDGET_S = 5.0


def make_broker(settings: CommonSettings, *, description: str = "", service: str = "") -> RabbitBroker:
    # No FastDepends (apply_types=False): each subscriber has a decoder (``contract_decoder``) that validates the
    # body straight into its contract, and the handler gets that; FastDepends' per-message resolution cost more
    # than the handlers' own Python on the assembler's hot path (py-spy).
    # Every service builds its broker here: the one place tracing is set up (OTEL_* variables; off without them).
    tracing.configure(service or "-".join(description.lower().split()) or "iko")
    return RabbitBroker(
        settings.rabbitmq_url,
        logger=None,
        description=description or None,
        graceful_timeout=10.0,
        middlewares=[*tracing.broker_middlewares(), LogFailures],
        apply_types=False,
    )


M = TypeVar("M", bound=BaseModel)


def contract_decoder(model: type[M]) -> Callable[[RabbitMessage], Awaitable[M]]:
    """A subscriber's decoder: the body validated as ``model`` by pydantic's JSON parser, in one pass.

    A body that is not the contract raises ``ValidationError`` (one over ``MAX_BODY_BYTES``
    ``PoisonMessageError``, unparsed) inside the consume scope: ``LogFailures`` logs it and rejects it to the
    dead-letter queue at once.
    """

    async def decode(message: RabbitMessage) -> M:
        if len(message.body) > MAX_BODY_BYTES:
            raise PoisonMessageError(f"body of {len(message.body)} bytes, over the limit of {MAX_BODY_BYTES}")
        return model.model_validate_json(message.body)

    return decode


# A confirm normally takes milliseconds; one that has not come in this long went out on a channel that lost its
# queue's leader (or the node under it): the channel is retired and the publish retried on a fresh one. Long, so
# that a loaded broker's slow confirms are waited for rather than answered with a second copy (a retry of a message
# the broker has taken is a duplicate: more work for a broker that is slow already); the nacks of a stale channel
# retire it at once.
PUBLISH_ATTEMPT_TIMEOUT_S = 5.0
RETIRED_CHANNEL_GRACE_S = 5.0


class ExchangePublisher:
    """Publishes ready-made bodies on one exchange with aio-pika, on a confirming channel of its own.

    FastStream's publish path (middlewares, encoding, its context) cost about as much CPU per message as the AMQP
    work itself on the hot path (py-spy); the bodies here are already JSON, made once by orjson. The services keep
    declaring their FastStream publishers for the AsyncAPI document.

    The channel is its own (on the broker's connection), not FastStream's shared one, so that it can be replaced:
    a channel that aio-pika's robust connection restored while a quorum queue's leader was being re-elected (a
    RabbitMQ node lost) keeps nacking every publish to that queue long after the new leader is up (measured on
    3.10: for minutes; a channel opened after the election publishes at once, see docs/reliability.md, scenario
    4). So a nack, a confirm that does not come in time or a closed channel retires the channel, and the retry
    goes out on a fresh one.
    """

    def __init__(
        self,
        broker: RabbitBroker,
        exchange: RabbitExchange | None = None,
        *,
        attempt_timeout_s: float = PUBLISH_ATTEMPT_TIMEOUT_S,
    ) -> None:
        """``exchange`` None: the default exchange (routing key = queue name)."""
        self._broker = broker
        self._spec = exchange or RabbitExchange("")
        self._attempt_timeout_s = attempt_timeout_s
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._opening = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.channels_opened = 0

    async def publish(
        self,
        body: bytes,
        *,
        routing_key: str = "",
        headers: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        message_id: str | None = None,
        persist: bool = False,
        mandatory: bool = True,
        deadline: float | None = None,
    ) -> None:
        """Returns once the broker confirmed the message.

        ``mandatory``: a message no queue takes raises ``UnroutableError`` (aio-pika's channel, as FastStream's,
        does not raise on a return itself). A transient failure (unroutable, a nack, no confirm within
        ``attempt_timeout_s``, the channel away) is retried with backoff until ``deadline`` (epoch seconds;
        default a few seconds), then raised. The deadline ends the retries, not the wait for a confirm of a
        message sent: that is waited for up to ``attempt_timeout_s`` even past the deadline. A retry after a
        confirm that did not come may deliver the message twice: every consumer of IKO's messages takes a copy
        as a no-op (registration, fragments, replies)."""
        headers = dict(headers or {})
        with tracing.publish_span(self._spec.name or routing_key, headers):
            message = aio_pika.Message(
                body,
                headers=headers or None,
                content_type="application/json",
                correlation_id=correlation_id,
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT if persist else None,
            )
            await retry_transient(
                lambda: self._attempt(message, routing_key, mandatory, deadline),
                deadline=deadline,
                on_retry=lambda exc, delay: PUBLISH_OUTAGE.failed(exc, exchange=self._spec.name),
            )

    async def _attempt(
        self, message: aio_pika.Message, routing_key: str, mandatory: bool, deadline: float | None
    ) -> None:
        exchange: aio_pika.abc.AbstractExchange | None = None
        limit = self._attempt_timeout_s
        try:
            # Getting a channel is bounded by the deadline: nothing has gone out yet.
            opening = limit if deadline is None else max(0.05, min(limit, deadline - time.time()))
            async with asyncio.timeout(opening):
                exchange = await self._current_exchange()
            # Once the message may have gone out, its confirm is waited for the whole attempt, deadline or not:
            # giving up sooner and sending it again is a second copy whenever the broker was only slow (a loaded
            # machine, flow control), which is what the caller's deadline is most often short of.
            async with asyncio.timeout(limit):
                confirmed = await exchange.publish(message, routing_key=routing_key, mandatory=mandatory)
        except TimeoutError:
            self._retire(exchange)
            raise TimeoutError(f"no channel or no confirm within {limit:.2f} s") from None
        except Exception as exc:
            if classify(exc) == "transient":  # a nack, the channel or the connection away
                self._retire(exchange)
            raise
        if isinstance(confirmed, aiormq.abc.DeliveredMessage):
            # A returned message (basic.return): on a channel with on_return_raises=False, that is the result.
            raise UnroutableError(self._spec.name, routing_key)
        PUBLISH_OUTAGE.recovered()

    async def _current_exchange(self) -> aio_pika.abc.AbstractExchange:
        exchange, channel = self._exchange, self._channel
        if exchange is not None and channel is not None and not channel.is_closed:
            return exchange
        async with self._opening:
            if self._exchange is None or self._channel is None or self._channel.is_closed:
                connection = await self._connection()
                channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
                self.channels_opened += 1
                # The exchange is the topology's, declared already: no declaration per channel.
                self._exchange = (
                    await channel.get_exchange(self._spec.name, ensure=False)
                    if self._spec.name
                    else channel.default_exchange
                )
                self._channel = channel
            assert self._exchange is not None
            return self._exchange

    async def _connection(self) -> aio_pika.abc.AbstractRobustConnection:
        # FastStream has no public accessor for its aio-pika connection; a channel of one's own needs it.
        connection: aio_pika.abc.AbstractRobustConnection | None = getattr(self._broker, "_connection", None)
        if connection is None:
            raise aiormq.exceptions.AMQPConnectionError("the broker is not connected")
        return connection

    def _retire(self, failed: aio_pika.abc.AbstractExchange | None) -> None:
        """Stop using the channel ``failed`` went out on; close it a little later, so that confirms still on their
        way for other publishes arrive rather than fail them (which would send those twice)."""
        if failed is None or failed is not self._exchange:
            return  # another publish retired it already
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None:
            task = asyncio.create_task(close_channel_later(channel))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)


async def close_channel_later(channel: aio_pika.abc.AbstractChannel, delay_s: float = RETIRED_CHANNEL_GRACE_S) -> None:
    """Close a retired channel once the confirms still on their way for it had time to arrive."""
    await asyncio.sleep(delay_s)
    with contextlib.suppress(Exception):
        await channel.close()


# One warning when publishes start failing (unroutable, the channel away), one info when they go through again.
PUBLISH_OUTAGE = OutageLog("publish")


def make_topology(settings: CommonSettings) -> Topology:
    return Topology(namespace=settings.namespace, delivery_limit=settings.delivery_limit)


async def declare_dead_letter_path(broker: RabbitBroker, topology: Topology, queue: RabbitQueue) -> None:
    """Declare the dead-letter exchange and the queue that keeps what ``queue`` could not process."""
    exchange = await broker.declare_exchange(topology.dead_letters)
    dead = topology.dead_letter_queue(queue)
    declared = await broker.declare_queue(dead)
    await declared.bind(exchange, routing_key=queue.name)


def run_service(build: Callable[[], FastStream], attempts: int = 5) -> None:
    """Run a FastStream app under uvloop; a failed start (replicas declaring one quorum queue at the same moment
    is refused by RabbitMQ 3.10 with INTERNAL_ERROR) is retried with a fresh app after a jittered pause."""
    import uvloop

    throttle = Throttled(every_s=3.0)  # one line per attempt, at most one every few seconds
    for attempt in range(1, attempts + 1):
        try:
            uvloop.run(build().run())
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            pause = 0.5 * attempt + random.random()
            if throttle.allow():
                log.warning(
                    "service.start_failed",
                    attempt=attempt,
                    retry_in_s=round(pause, 2),
                    suppressed=throttle.take_suppressed(),
                    **describe_failure(exc),
                )
            time.sleep(pause)
