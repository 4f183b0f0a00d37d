"""The audit service while its PostgreSQL is down (a private server, tests/pg_server.py): records wait, none is
lost or dead-lettered, and every one is stored exactly once when the database is back."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from iko_audit.verify import verify

from tests.integration.audit_kit import (
    PARTNER,
    PERSON,
    provisioned,
    publish_record,
    query,
    queue_ready,
    record,
    running_service,
    until,
)
from tests.pg_server import PgServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    with PgServer() as pg:
        yield pg


async def test_records_are_held_while_the_database_is_down_and_stored_once_after(server, rabbitmq_url, redis_url):
    async with provisioned(rabbitmq_url, redis_url, label="outage", admin_url=server.admin_url) as audit:
        connection = await aio_pika.connect(rabbitmq_url)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            async with running_service(audit) as topology:
                # The pool holds live connections when the server goes: they die under it.
                before = [record(PERSON) for _ in range(3)]
                for rec in before:
                    await publish_record(channel, topology, rec)
                assert await until(lambda: len(query(audit.audit_database_url, "SELECT id FROM audit_disclosure")) == 3)

                await asyncio.to_thread(server.stop)
                during = [record(PERSON, PARTNER) for _ in range(40)]
                for rec in during:
                    await publish_record(channel, topology, rec)
                await asyncio.sleep(1.5)
                # Held, not acked, not rejected: each prefetched one waits with the consumer, the rest in the queue.
                ready = await queue_ready(channel, topology.audit_queue.name)
                assert 40 - audit.audit_prefetch <= ready < 40
                dead = topology.dead_letter_queue(topology.audit_queue).name
                assert await queue_ready(channel, dead) == 0

                await asyncio.to_thread(server.start)
                counted = "SELECT count(*), count(DISTINCT event_id) FROM audit_disclosure"
                assert await until(lambda: query(audit.audit_database_url, counted)[0] == (83, 43), timeout_s=15)
                assert await queue_ready(channel, topology.audit_queue.name) == 0
                assert await queue_ready(channel, dead) == 0
                stored = {e for (e,) in query(audit.audit_database_url, "SELECT event_id FROM audit_disclosure")}
                assert stored == {r.event_id for r in before + during}
                assert verify(audit.audit_database_url).ok
        finally:
            await connection.close()
