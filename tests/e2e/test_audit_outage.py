"""No audit record is lost while PostgreSQL is down, and a namespace takes its audit database with it.

The outage test runs a stack of its own whose audit service stores into a private PostgreSQL (tests/pg_server.py),
so stopping that server disturbs no other test and never the machine's own. While it is down the gateway must go
on answering (it needs only the broker: the records wait in the audit queue); once it is back, every record must
be in the store exactly once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from iko_audit import drop_namespace_database
from iko_audit.settings import DatabaseNames, with_database
from iko_stack import Stack

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack
from tests.infra import drop_namespace, namespace_database_leftovers, new_namespace, postgres_admin_url
from tests.pg_server import PgServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# No partner or child with a BSN in the test data: one data subject, so one stored row per lookup's record.
BSN = "999993653"
LOOKUPS_BEFORE = 5
# More than the audit service's prefetch (32): records wait in the queue as well as in the consumer.
LOOKUPS_DURING = 40
# The outage lasts at least this long, so the service's backoff climbs to its cap (5 s) before the server is back.
MIN_OUTAGE_S = 6.0
# Wide margins: CI is a loaded two-core machine.
STORED_WITHIN_S = 40.0


async def lookup(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/api/v1/profiles/persoon/lookups", json={"identifier": {"type": "bsn", "value": BSN}, "timeout_ms": 5000}
    )
    assert response.status_code == 200, response.text[:300]
    return str(response.json()["request_id"])


async def stored(server: PgServer, namespace: str) -> tuple[int, int, set[str]]:
    """Rows, distinct event ids and the request ids of the person's lookup records in the namespace's store."""
    url = with_database(server.admin_url, DatabaseNames.of(namespace).database)
    async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
        cursor = await conn.execute(
            "SELECT count(*), count(DISTINCT event_id), coalesce(array_agg(DISTINCT request_id), '{}') "
            "FROM audit_disclosure WHERE kind = 'lookup' AND object_id = %s",
            [BSN],
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), set(row[2])


async def wait_stored(server: PgServer, namespace: str, request_ids: list[str], stack: Stack) -> float:
    """Poll until the store holds exactly one row for each lookup; the seconds that took."""
    started = time.monotonic()
    last: object = "nothing read yet"
    while time.monotonic() - started < STORED_WITHIN_S:
        assert stack.is_running("audit", 0), f"the audit service died; see {stack.log_path('audit', 0)}"
        try:
            total, distinct, found = await stored(server, namespace)
        except psycopg.OperationalError as exc:
            last = f"store not readable: {exc}"
        else:
            last = f"{total} rows, {distinct} distinct event ids, {len(found & set(request_ids))} of the lookups"
            # More rows than lookups is a duplicate, and waiting will not remove it.
            assert total <= len(request_ids), last
            if total == distinct == len(request_ids) and found == set(request_ids):
                return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"after {STORED_WITHIN_S:.0f} s the store holds {last}; {len(request_ids)} lookups were made")


@pytest.mark.timeout(240)
async def test_no_audit_record_is_lost_while_postgresql_is_down(rabbitmq_url: str, redis_url: str) -> None:
    server = PgServer()
    server.start()
    stack: Stack | None = None
    try:
        stack = start_stack(rabbitmq_url, redis_url, "outage", env={"IKO_AUDIT_ADMIN_URL": server.admin_url})
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20, headers=DEV_HEADERS) as client:
            request_ids = [await lookup(client) for _ in range(LOOKUPS_BEFORE)]
            await wait_stored(server, stack.namespace, request_ids, stack)

            server.stop()
            down_at = time.monotonic()
            for _ in range(LOOKUPS_DURING // 8):
                request_ids += await asyncio.gather(*(lookup(client) for _ in range(8)))
            await asyncio.sleep(max(0.0, MIN_OUTAGE_S - (time.monotonic() - down_at)))
            assert stack.is_running("audit", 0), "the audit service must outlive an outage of its database"
            server.start()

            took = await wait_stored(server, stack.namespace, request_ids, stack)
        assert len(request_ids) == LOOKUPS_BEFORE + LOOKUPS_DURING
        print(f"all {len(request_ids)} records stored {took:.1f} s after PostgreSQL came back")
        assert took < STORED_WITHIN_S
        log = stack.log_path("audit", 0).read_text(encoding="utf-8", errors="replace")
        assert "audit.store.unavailable" in log, "the outage was noticed and logged"
    finally:
        if stack is not None:
            await stop_stack(stack, rabbitmq_url, redis_url)
            await asyncio.to_thread(drop_namespace_database, server.admin_url, stack.namespace)
            leftovers = namespace_database_leftovers(server.admin_url, stack.namespace)
        server.close()
    # Provisioned on the private server only, and gone from it with the namespace.
    assert leftovers == []
    assert namespace_database_leftovers(postgres_admin_url(), stack.namespace) == []


async def test_a_namespace_teardown_leaves_no_audit_database_or_role(rabbitmq_url: str, redis_url: str) -> None:
    """What every stack and test namespace relies on: tests.infra.drop_namespace removes what provision made."""
    namespace = new_namespace("pgdrop")
    admin = postgres_admin_url()
    env = {**os.environ, "IKO_NAMESPACE": namespace, "IKO_AUDIT_ADMIN_URL": admin}
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "iko_audit", "provision"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        names = DatabaseNames.of(namespace)
        assert sorted(namespace_database_leftovers(admin, namespace)) == sorted(
            [f"database {names.database}", *(f"role {r}" for r in (names.owner, names.writer, names.purger))]
        )
    finally:
        await drop_namespace(rabbitmq_url, redis_url, namespace)
    assert namespace_database_leftovers(admin, namespace) == []
