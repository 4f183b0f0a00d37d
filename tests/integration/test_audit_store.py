"""The audit service over the real RabbitMQ and PostgreSQL: records stored one row per data subject, once, with
no fetched value; poison parked; inzage answered from the store, newest first."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from iko_audit.app import STORE_UNAVAILABLE, answer_inzage
from iko_audit.chain import GENESIS, HASHED_COLUMNS
from iko_audit.store import AuditStore
from iko_shared.contracts import Identifier, InzageAnswered, InzageRequested
from iko_shared.serialization import dump_model
from iko_shared.topology import MESSAGE_HEADER

from tests.integration.audit_kit import (
    CHILD,
    PARTNER,
    PERSON,
    provisioned,
    publish_record,
    query,
    query_dicts,
    queue_ready,
    record,
    running_service,
    until,
)

pytestmark = pytest.mark.integration

STORED_COLUMNS = {*HASHED_COLUMNS, "id", "hash", "recorded_at"}


@pytest.fixture(scope="module")
async def audit(rabbitmq_url, redis_url):
    async with provisioned(rabbitmq_url, redis_url) as settings:
        yield settings


@pytest.fixture(scope="module")
async def service(audit):
    async with running_service(audit) as topology:
        yield topology


@pytest.fixture
async def channel(rabbitmq_url):
    connection = await aio_pika.connect(rabbitmq_url)
    yield await connection.channel(publisher_confirms=True, on_return_raises=True)
    await connection.close()


@pytest.fixture
async def store(audit):
    store = AuditStore(audit.audit_database_url)
    await store.open()
    yield store
    await store.close()


def rows_of(audit, event_id: str) -> list[dict]:
    return query_dicts(
        audit.audit_database_url, "SELECT * FROM audit_disclosure WHERE event_id = %s ORDER BY ordinal", [event_id]
    )


async def test_a_record_is_stored_one_row_per_data_subject(audit, service, channel):
    rec = record(PERSON, PARTNER, CHILD)
    await publish_record(channel, service, rec)
    rows = await until(lambda: (r := rows_of(audit, rec.event_id)) and len(r) == 3 and r)
    assert rows, "the record was not stored"

    assert set(rows[0]) == STORED_COLUMNS, "a column beyond the audit record's own"
    assert [(r["ordinal"], r["soort_object_id"], r["object_id"]) for r in rows] == [
        (0, "bsn", PERSON),
        (1, "bsn", PARTNER),
        (2, "bsn", CHILD),
    ]
    assert {r["objecttype"] for r in rows} == {"natuurlijk persoon"}
    for row, subject in zip(rows, rec.subjects, strict=True):
        # What of this subject was disclosed, as the record said: which source, operation, fields, status.
        assert row["sources"] == [s.model_dump(mode="json") for s in subject.sources]
        assert all(set(s) == {"key", "source", "operation", "fields", "status"} for s in row["sources"])
    first = rows[0]
    for column in ("request_id", "kind", "profile", "verwerkingsactiviteit", "doelbinding", "verwerking"):
        assert first[column] == getattr(rec, column)
    for column in ("vertrouwelijkheid", "bewaartermijn", "uitvoerder", "systeem", "gebruiker", "subject", "client"):
        assert first[column] == getattr(rec, column)
    assert (first["caller_kind"], first["roles"], first["outcome"]) == (rec.caller_kind, rec.roles, rec.outcome)
    assert (first["started_at"], first["ended_at"]) == (rec.started_at, rec.ended_at)
    assert first["search"] is None
    assert first["expires_at"] == rec.started_at.replace(year=rec.started_at.year + 20)
    assert first["recorded_at"] >= rec.started_at
    # Chained in id order.
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    assert all(len(r["hash"]) == 64 and r["hash"] != GENESIS for r in rows)


async def test_an_access_that_disclosed_no_one_is_recorded_without_an_object(audit, service, channel):
    rec = record(kind="search", search={"action": "geslachtsnaam-geboortedatum", "filters": {"geslachtsnaam": "X"}})
    await publish_record(channel, service, rec)
    rows = await until(lambda: rows_of(audit, rec.event_id))
    assert len(rows) == 1
    [row] = rows
    assert (row["objecttype"], row["soort_object_id"], row["object_id"]) == (None, None, None)
    assert row["search"] == rec.search
    assert row["sources"] == [d.model_dump(mode="json") for d in rec.disclosed]


async def test_a_redelivered_record_is_stored_once(audit, service, channel, store):
    rec = record(PERSON, PARTNER)
    await publish_record(channel, service, rec)
    await publish_record(channel, service, rec)
    assert await until(lambda: len(rows_of(audit, rec.event_id)) == 2)
    assert await store.write(rec) is False, "the store said it stored a record it had"
    # Both deliveries handled (the queue drained), and still one row per subject.
    for _ in range(100):
        if await queue_ready(channel, service.audit_queue.name) == 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert len(rows_of(audit, rec.event_id)) == 2


async def test_poison_is_parked_in_the_dead_letter_queue_and_the_service_goes_on(audit, service, channel):
    dead = service.dead_letter_queue(service.audit_queue).name
    before = await queue_ready(channel, dead)
    not_a_record = b'{"not": "an audit record"}'
    # Valid as a contract, refused by the database: a bewaartermijn that is no interval, a NUL character.
    refused = record(PERSON, bewaartermijn="for ever")
    nul = record(PERSON).model_copy(update={"gebruiker": "a\x00b"})
    for body in (not_a_record, dump_model(refused), dump_model(nul)):
        await publish_record(channel, service, body)
    good = record(PERSON)
    await publish_record(channel, service, good)

    async def parked() -> int:
        for _ in range(100):
            if (count := await queue_ready(channel, dead)) >= before + 3:
                return count
            await asyncio.sleep(0.05)
        return await queue_ready(channel, dead)

    assert await parked() == before + 3
    reasons = []
    queue = await channel.declare_queue(dead, passive=True)
    for _ in range(3 + before):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            reasons.append((message.body, message.headers.get("x-iko-dead-reason")))
    assert (not_a_record, "invalid") in reasons
    assert (dump_model(refused), "refused") in reasons
    assert (dump_model(nul), "refused") in reasons
    assert await until(lambda: rows_of(audit, good.event_id))
    assert rows_of(audit, refused.event_id) == []
    assert rows_of(audit, nul.event_id) == []


async def ask(channel, service, request: InzageRequested, replies, wait_s: float = 3.0) -> InzageAnswered | None:
    await channel.default_exchange.publish(
        aio_pika.Message(dump_model(request), content_type="application/json", correlation_id=request.request_id),
        routing_key=service.audit_inzage.name,
        mandatory=True,
    )
    for _ in range(int(wait_s / 0.05)):
        message = await replies.get(no_ack=True, fail=False)
        if message is not None:
            assert message.headers[MESSAGE_HEADER] == "inzage"
            assert message.correlation_id == request.request_id
            return InzageAnswered.model_validate_json(message.body)
        await asyncio.sleep(0.05)
    return None


def inzage_request(identifier: Identifier, reply_to: str, page: int, page_size: int, deadline_in: float = 3.0):
    return InzageRequested(
        request_id=str(uuid.uuid4()),
        identifier=identifier,
        page=page,
        page_size=page_size,
        reply_to=reply_to,
        deadline=time.time() + deadline_in,
    )


async def test_inzage_answers_a_subjects_disclosures_newest_first_page_by_page(service, channel, store):
    subject = str(uuid.uuid4().int)[:9]
    start = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    records = [record(PERSON, subject, started_at=start + timedelta(minutes=i)) for i in range(5)]
    for rec in records:
        assert await store.write(rec)
    await store.write(record(PERSON, started_at=start + timedelta(hours=1)))  # someone else's
    replies = await channel.declare_queue(exclusive=True)
    identifier = Identifier(type="bsn", value=subject)

    first = await ask(channel, service, inzage_request(identifier, replies.name, page=1, page_size=2), replies)
    assert first is not None
    assert (first.total, first.page, first.page_size, first.error) == (5, 1, 2, None)
    assert [d.event_id for d in first.disclosures] == [records[4].event_id, records[3].event_id]
    disclosure = first.disclosures[0]
    assert disclosure.identifier == identifier
    assert disclosure.sources == records[4].subjects[1].sources
    assert (disclosure.doelbinding, disclosure.gebruiker, disclosure.started_at) == (
        "wmo",
        "medewerker-42",
        records[4].started_at,
    )

    last = await ask(channel, service, inzage_request(identifier, replies.name, page=3, page_size=2), replies)
    assert last is not None
    assert (last.total, [d.event_id for d in last.disclosures]) == (5, [records[0].event_id])

    late = inzage_request(identifier, replies.name, page=1, page_size=2, deadline_in=-1)
    # Asked after one in time, which is answered: had the late one been, its answer would be there first.
    in_time = inzage_request(identifier, replies.name, page=2, page_size=2)
    await channel.default_exchange.publish(
        aio_pika.Message(dump_model(late), correlation_id=late.request_id), routing_key=service.audit_inzage.name
    )
    answered = await ask(channel, service, in_time, replies)
    assert answered is not None
    assert answered.request_id == in_time.request_id, "a request past its deadline was answered"


async def test_inzage_says_so_when_the_store_cannot_be_read():
    store = AuditStore("postgresql://nobody@127.0.0.1:9/nothing", connect_timeout_s=1)
    await store.open()
    try:
        request = inzage_request(Identifier(type="bsn", value=PERSON), "nobody", 1, 20, deadline_in=0.8)
        answer = await answer_inzage(store, request)
    finally:
        await store.close()
    assert answer is not None
    assert (answer.error, answer.total, answer.disclosures) == (STORE_UNAVAILABLE, 0, [])


async def test_the_hash_covers_every_column_but_id_hash_and_recorded_at(audit):
    columns = query(
        audit.audit_owner_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_disclosure'",
    )
    assert {c for (c,) in columns} == STORED_COLUMNS
