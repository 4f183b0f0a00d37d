"""What the audit store's tests share: records to store, a provisioned namespace, waiting for rows."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import psycopg
from iko_audit import drop_namespace_database
from iko_audit.app import build_audit_app
from iko_audit.provision import provision
from iko_audit.settings import AuditSettings
from iko_shared.contracts import AuditRecorded, DisclosedSource, DisclosedSubject, Identifier
from iko_shared.namespace import drop_namespace
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

from tests.infra import new_namespace

PERSON, PARTNER, CHILD = "999993653", "999990068", "999993409"


def disclosed(source: str = "brp", status: str = "ok", key: str | None = None) -> DisclosedSource:
    return DisclosedSource(
        key=key or source, source=source, operation="RaadpleegMetBurgerservicenummer", fields=["naam"], status=status
    )


def record(
    *subjects: str,
    bewaartermijn: str = "P20Y",
    started_at: datetime | None = None,
    kind: str = "lookup",
    search: dict[str, Any] | None = None,
) -> AuditRecorded:
    started = started_at or datetime.now(UTC)
    return AuditRecorded(
        event_id=str(uuid.uuid4()),
        request_id=str(uuid.uuid4()),
        kind=kind,  # type: ignore[arg-type]
        verwerkingsactiviteit="persoon: raadplegen",
        doelbinding="wmo",
        verwerking="Aanvraag Wmo",
        vertrouwelijkheid="vertrouwelijk",
        bewaartermijn=bewaartermijn,
        uitvoerder="00000001234567890000",
        systeem="IKO",
        gebruiker="medewerker-42",
        gegevensbron=["brp", "zgw"],
        subject="user-1",
        client="valtimo",
        caller_kind="jwt",
        roles=["iko-persoon", "iko-zaken"],
        profile="persoon",
        identifier=Identifier(type="bsn", value=subjects[0]) if subjects else None,
        search=search,
        disclosed=[disclosed("brp"), disclosed("zgw")],
        subjects=[
            DisclosedSubject(
                identifier=Identifier(type="bsn", value=value),
                sources=[disclosed("brp", key=f"partners[{i}].brp" if i else "brp"), disclosed("zgw")],
            )
            for i, value in enumerate(subjects)
        ],
        outcome="complete",
        started_at=started,
        ended_at=started + timedelta(milliseconds=40),
    )


@contextlib.asynccontextmanager
async def provisioned(
    rabbitmq_url: str, redis_url: str, label: str = "audit", admin_url: str | None = None
) -> AsyncIterator[AuditSettings]:
    """A namespace with its audit database and roles; everything it made is removed afterwards."""
    namespace = new_namespace(label)
    extra = {"audit_admin_url": admin_url} if admin_url else {}
    settings = AuditSettings(namespace=namespace, rabbitmq_url=rabbitmq_url, **extra)
    await asyncio.to_thread(provision, settings)
    try:
        yield settings
    finally:
        await asyncio.to_thread(drop_namespace_database, settings.audit_admin_url, namespace)
        await drop_namespace(rabbitmq_url, redis_url, namespace, [])


@contextlib.asynccontextmanager
async def running_service(settings: AuditSettings) -> AsyncIterator[Topology]:
    app, _ = build_audit_app(settings)
    await app.start()
    try:
        yield Topology(namespace=settings.namespace, delivery_limit=settings.delivery_limit)
    finally:
        await app.stop()


async def publish_record(
    channel: aio_pika.abc.AbstractChannel, topology: Topology, body: bytes | AuditRecorded
) -> None:
    """As the gateway publishes a record: on the audit exchange, persistent, routing key <kind>.<profile>."""
    raw = dump_model(body) if isinstance(body, AuditRecorded) else body
    exchange = await channel.get_exchange(topology.audit.name)
    await exchange.publish(
        aio_pika.Message(raw, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key="lookup.persoon",
        mandatory=True,
    )


def query(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, options="-c TimeZone=UTC") as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


def superuser(settings: AuditSettings) -> str:
    """The admin (superuser) in the namespace's own database: for tampering as only a superuser could."""
    from iko_audit.settings import with_database

    return with_database(settings.audit_admin_url, settings.names.database)


async def until(check: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
    """Poll ``check`` (run in a thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await asyncio.to_thread(check)
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval_s)


def query_dicts(url: str, statement: str, params: Any = None) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with psycopg.connect(url, options="-c TimeZone=UTC", row_factory=dict_row) as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


async def queue_ready(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return int(declared.declaration_result.message_count or 0)
