"""The RabbitMQ broker every service builds, with FastStream's per-message logging off (it would log payloads)."""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
from faststream import BaseMiddleware, FastStream
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitMessage, RabbitQueue
from pydantic import BaseModel, ValidationError

from iko_shared import tracing
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


class LogFailures(BaseMiddleware):
    """FastStream's own logging is off (it would log payloads); a handler that fails must still be seen."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        try:
            return await call_next(msg)
        except Exception as exc:
            log.error(
                "message.failed",
                routing_key=getattr(getattr(msg, "raw_message", None), "routing_key", None),
                delivery=(getattr(msg, "headers", None) or {}).get("x-delivery-count"),
                **describe_failure(exc),
            )
            raise


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

    A body that is not the contract raises ``ValidationError`` inside the consume scope: ``LogFailures`` logs
    where, and the subscriber's ack policy nacks it towards the dead-letter queue.
    """

    async def decode(message: RabbitMessage) -> M:
        return model.model_validate_json(message.body)

    return decode


class ExchangePublisher:
    """Publishes ready-made bodies on one exchange with aio-pika, on the broker's own channel and confirms.

    FastStream's publish path (middlewares, encoding, its context) cost about as much CPU per message as the AMQP
    work itself on the hot path (py-spy); the bodies here are already JSON, made once by orjson. The services keep
    declaring their FastStream publishers for the AsyncAPI document.
    """

    def __init__(self, broker: RabbitBroker, exchange: RabbitExchange | None = None) -> None:
        """``exchange`` None: the default exchange (routing key = queue name)."""
        self._broker = broker
        self._spec = exchange or RabbitExchange("")
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def publish(
        self,
        body: bytes,
        *,
        routing_key: str = "",
        headers: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        persist: bool = False,
        mandatory: bool = True,
    ) -> None:
        """Returns once the broker confirmed the message (the broker's channel has publisher confirms)."""
        if self._exchange is None:
            # Declared by the topology already; this only fetches FastStream's cached exchange object.
            self._exchange = await self._broker.declare_exchange(self._spec)
        headers = dict(headers or {})
        with tracing.publish_span(self._spec.name or routing_key, headers):
            await self._publish(body, routing_key, headers, correlation_id, persist, mandatory)

    async def _publish(
        self,
        body: bytes,
        routing_key: str,
        headers: dict[str, Any],
        correlation_id: str | None,
        persist: bool,
        mandatory: bool,
    ) -> None:
        assert self._exchange is not None
        message = aio_pika.Message(
            body,
            headers=headers or None,
            content_type="application/json",
            correlation_id=correlation_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT if persist else None,
        )
        await self._exchange.publish(message, routing_key=routing_key, mandatory=mandatory)


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

    for attempt in range(1, attempts + 1):
        try:
            uvloop.run(build().run())
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            pause = 0.5 * attempt + random.random()
            log.warning("service.start_failed", attempt=attempt, retry_in_s=round(pause, 2), **describe_failure(exc))
            time.sleep(pause)
