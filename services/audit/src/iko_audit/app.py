"""The audit service: stores every ``AuditRecorded`` in PostgreSQL, and answers inzage requests from the store.

A record is acked only after its transaction committed. While the database is down the handler holds the record
and tries again with backoff (``holding.Holder``): records wait in ``<ns>.audit``, nothing is lost, and the
service carries on by itself once the database is back (the pool reconnects). A record that is not an
``AuditRecorded``, or that the database refuses, is poison: logged without its content and parked in
``<ns>.audit.dead`` through the topology's dead-letter exchange.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage
from iko_shared.broker import (
    ExchangePublisher,
    declare_dead_letter_path,
    describe_failure,
    make_broker,
    make_topology,
)
from iko_shared.contracts import AuditRecorded, InzageAnswered, InzageRequested
from iko_shared.logging import get_logger
from iko_shared.ops.service import attach_ops
from iko_shared.serialization import dump_model
from iko_shared.topology import MESSAGE_HEADER
from pydantic import BaseModel, ValidationError

from iko_audit.holding import Holder
from iko_audit.settings import AuditSettings
from iko_audit.store import AuditStore, RecordRefusedError

log = get_logger()

M = TypeVar("M", bound=BaseModel)

DEAD_REASON_HEADER = "x-iko-dead-reason"
STORE_UNAVAILABLE = "the audit store is unavailable"


@dataclass(frozen=True)
class Incoming(Generic[M]):
    """A delivery as it came, and its contract when the body is one (``invalid`` says why not, without content)."""

    body: bytes
    headers: dict[str, Any]
    message: M | None
    invalid: dict[str, Any] | None = None


def lenient_decoder(model: type[M]) -> Any:
    """Unlike ``contract_decoder``, an invalid body reaches the handler, which parks it at once: a record is never
    retried up to a delivery limit (the audit queue has none, so that an outage never counts against a record)."""

    async def decode(message: RabbitMessage) -> Incoming[M]:
        headers = dict(message.headers or {})
        try:
            return Incoming(message.body, headers, model.model_validate_json(message.body))
        except ValidationError as exc:
            return Incoming(message.body, headers, None, describe_failure(exc))

    return decode


def build_audit_app(settings: AuditSettings | None = None) -> tuple[FastStream, RabbitBroker]:
    settings = settings or AuditSettings()
    topology = make_topology(settings)
    broker = make_broker(settings, description="IKO audit store")
    store = AuditStore(settings.audit_database_url)
    holder = Holder(hold_limit_s=settings.audit_hold_s)
    dead_letters = ExchangePublisher(broker, topology.dead_letters)
    replies = ExchangePublisher(broker)
    broker.publisher(
        title="<gateway reply queue>:InzageAnswered",
        description=(
            "The stored disclosures about one data subject, newest first (header iko-message: inzage), to the reply "
            "queue named in the request, correlation id = request id; error set when the store could not be read."
        ),
        schema=InzageAnswered,
    )

    async def dead_letter(incoming: Incoming[Any], reason: str) -> None:
        await dead_letters.publish(
            incoming.body,
            routing_key=topology.audit_queue.name,
            headers={**incoming.headers, DEAD_REASON_HEADER: reason},
            persist=True,
        )

    @broker.subscriber(
        topology.audit_queue,
        topology.audit,
        channel=Channel(prefetch_count=settings.audit_prefetch),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=lenient_decoder(AuditRecorded),
        title=f"{topology.audit_queue.name}:AuditRecorded(store)",
        description=(
            "Every audit record: stored once, one row per data subject, on the hash chain; acked after the commit."
        ),
    )
    async def on_record(incoming: Incoming[AuditRecorded]) -> None:
        record = incoming.message
        if record is None:
            log.error("audit.record_invalid", **(incoming.invalid or {}))
            await dead_letter(incoming, "invalid")
            return
        structlog.contextvars.bind_contextvars(request_id=record.request_id)
        try:
            stored = await holder.run(
                lambda: store.write(record), give_up_on=(RecordRefusedError,), event_id=record.event_id
            )
        except RecordRefusedError as exc:
            log.error("audit.record_refused", event_id=record.event_id, error=str(exc))
            await dead_letter(incoming, "refused")
            return
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        if not stored:
            log.info("audit.record_duplicate", event_id=record.event_id)

    @broker.subscriber(
        topology.audit_inzage,
        channel=Channel(prefetch_count=16),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=lenient_decoder(InzageRequested),
        title=f"{topology.audit_inzage.name}:InzageRequested(store)",
        description="A page of a data subject's stored disclosures for the gateway; dropped past its deadline.",
    )
    async def on_inzage(incoming: Incoming[InzageRequested]) -> None:
        request = incoming.message
        if request is None:
            # Nobody to answer: the reply queue is in the body.
            log.error("inzage.request_invalid", **(incoming.invalid or {}))
            return
        answer = await answer_inzage(store, request)
        if answer is None:
            log.info("inzage.expired", request_id=request.request_id)
            return
        await replies.publish(
            dump_model(answer),
            routing_key=request.reply_to,
            correlation_id=request.request_id,
            headers={MESSAGE_HEADER: "inzage"},
            mandatory=False,
        )

    app = FastStream(broker, logger=None)
    # Not ready while PostgreSQL is unreachable: records wait safely in the queue (the holder keeps them), but the
    # service cannot do its work, and a rollout must not proceed onto a broken store. Never not-live for it: the
    # pool reconnects by itself.
    attach_ops(app, broker, settings, service="audit", kind="audit", probes={"postgres": postgres_probe(settings)})

    @app.on_startup
    async def _open() -> None:
        # Before the subscribers start: a poison record must find its dead-letter queue there.
        await broker.connect()
        await declare_dead_letter_path(broker, topology, topology.audit_queue)
        await store.open()

    @app.after_startup
    async def _ready() -> None:
        log.info("audit.ready")

    @app.on_shutdown
    async def _stop() -> None:
        # Records waiting for the database go back to the queue rather than hold up the shutdown.
        holder.stop()

    @app.after_shutdown
    async def _close() -> None:
        await store.close()

    return app, broker


def postgres_probe(settings: AuditSettings) -> Any:
    """A connection of its own (not the pool's: records held through an outage may hold every pooled one)."""
    import psycopg

    async def probe() -> None:
        async with await psycopg.AsyncConnection.connect(settings.audit_database_url, connect_timeout=2) as conn:
            await conn.execute("SELECT 1")

    return probe


async def answer_inzage(store: AuditStore, request: InzageRequested) -> InzageAnswered | None:
    """The answer, or None when the request's deadline passed (the gateway has stopped waiting)."""
    remaining = request.deadline - time.time()
    if remaining <= 0:
        return None
    # Leave the answer time to travel, so that even "store unavailable" arrives while the gateway waits.
    budget = max(remaining - 0.2, remaining / 2)
    error: str | None = None
    try:
        async with asyncio.timeout(budget):
            page = await store.inzage(request.identifier, request.page, request.page_size, timeout_s=budget)
        total, disclosures = page.total, page.disclosures
    except Exception as exc:
        log.warning("inzage.store_unavailable", request_id=request.request_id, **describe_failure(exc))
        total, disclosures, error = 0, [], STORE_UNAVAILABLE
    if time.time() > request.deadline:
        return None
    return InzageAnswered(
        request_id=request.request_id,
        identifier=request.identifier,
        page=request.page,
        page_size=request.page_size,
        total=total,
        disclosures=disclosures,
        error=error,
    )


def serve(settings: AuditSettings | None = None) -> None:
    from iko_shared.broker import run_service
    from iko_shared.logging import configure_logging

    settings = settings or AuditSettings()
    configure_logging("audit", settings.log_level)
    # The pool warns on every reconnection attempt, several a second through an outage; the service's own
    # audit.store.unavailable says it once per outage (iko_audit.holding.Holder).
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    run_service(lambda: build_audit_app(settings)[0])
