"""Scenario 5 of issue 14: the Redis primary killed (Sentinel promotes the replica), Redis restarted outright (its
in-flight state gone), and the audit service's PostgreSQL stopped and started, each under a steady load through the
gateway. Lookups in flight answer partial, or 503 with ``Retry-After``, or 504 by deadline + reply grace, never 500,
never a wrong answer; new lookups succeed once it is back; no service restarts; one warning line per outage in the
assembler and gateway logs, not one per retry; no audit record lost."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import redis
from iko_audit import drop_namespace_database
from iko_audit.settings import DatabaseNames, with_database
from iko_stack import Stack

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack
from tests.faults.rabbit_cluster import RabbitCluster
from tests.faults.redis_sentinel import MASTER_NAME, RedisSentinel
from tests.faults.stack_checks import assert_no_restart, pids, resumed_after, set_brp_latency
from tests.faults.steady_load import Outcome, Verdict, judge
from tests.faults.test_broker_faults import BRP_LATENCY_MS, RATE, TIMEOUT_MS, Load, timeline
from tests.faults.test_process_faults import REPLY_GRACE_S, drained
from tests.infra import namespace_keys
from tests.pg_server import PgServer

# Wider than scenarios 1 and 2 (1 s): with five Redis processes and a PostgreSQL beside the three RabbitMQ nodes on
# this 2-core machine, complete answers were measured up to 1.6 s past the deadline after a Redis restart and 1.3 s
# while PostgreSQL was down (runs of 2026-12-01); the figure is reported.
MARGIN_S = 2.0
# New lookups answer complete again within this long of Redis's return.
RESUME_WITHIN_S = 15.0
AFTER_RETURN_S = RESUME_WITHIN_S + 5.0
# The processes whose logs must hold one warning per outage, not one per retry.
LOGGED = (("assembler", 0), ("assembler", 1), ("gateway", 0))
REQUEST_ID = re.compile(r'"request_id"\s*:\s*"([^"]+)"')


def primary_url(setup: RedisSentinel) -> str:
    host, port = setup.master_addr() or setup.primary.addr
    return f"redis://{host}:{port}/0"


def sentinel_env(setup: RedisSentinel) -> dict[str, str]:
    return {"IKO_REDIS_SENTINELS": setup.sentinels_setting, "IKO_REDIS_SENTINEL_MASTER": MASTER_NAME}


@pytest.fixture
def pg() -> Iterator[PgServer]:
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def faulty(rabbit_cluster: RabbitCluster, redis_sentinel: RedisSentinel, pg: PgServer) -> AsyncIterator[Stack]:
    env = {**sentinel_env(redis_sentinel), "IKO_AUDIT_ADMIN_URL": pg.admin_url}
    stack = start_stack(rabbit_cluster.url, primary_url(redis_sentinel), "redisfault", env=env, assemblers=2)
    try:
        set_brp_latency(stack, BRP_LATENCY_MS)
        yield stack
    finally:
        await stop_stack(stack, rabbit_cluster.url, primary_url(redis_sentinel))
        await asyncio.to_thread(drop_namespace_database, pg.admin_url, stack.namespace)


class LogMark:
    """Where each watched log ended, so that the lines an outage added are read alone."""

    def __init__(self, stack: Stack) -> None:
        self.paths = {(name, index): stack.log_path(name, index) for name, index in LOGGED}
        self.offsets = {key: path.stat().st_size for key, path in self.paths.items()}

    def lines(self) -> dict[str, list[dict[str, object]]]:
        out: dict[str, list[dict[str, object]]] = {}
        for key, path in self.paths.items():
            with path.open("rb") as f:
                f.seek(self.offsets[key])
                text = f.read().decode("utf-8", errors="replace")
            rows: list[dict[str, object]] = []
            for line in text.splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    rows.append({"level": "raw", "event": line[:200]})
            out[f"{key[0]}-{key[1]}"] = rows
        return out


def warnings_per_outage(mark: LogMark) -> dict[str, Counter[str]]:
    """Per process, how often each warning / error event (and each raw line: a traceback) was logged; a line about
    one request (``lookup.no_answer`` for a lookup answered 504) is that request's, not a retry's, and not counted."""
    return {
        proc: Counter(
            str(r.get("event"))
            for r in rows
            if r.get("level") in ("warning", "error", "critical", "raw") and "request_id" not in r
        )
        for proc, rows in mark.lines().items()
    }


def assert_one_line_per_outage(counts: dict[str, Counter[str]]) -> None:
    repeated = {proc: {e: n for e, n in c.items() if n > 1} for proc, c in counts.items()}
    assert all(not r for r in repeated.values()), f"logged more than once per outage: {repeated}"
    # And not a new event per retry either: a handful of distinct lines per process at most.
    assert all(len(c) <= 4 for c in counts.values()), counts


async def no_req_keys(setup: RedisSentinel, namespace: str, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while True:
        left = [k for k in await namespace_keys(primary_url(setup), namespace) if ":req:" in k]
        if not left:
            return
        assert time.monotonic() < end, f"Redis keys of finished requests left: {left[:5]}"
        await asyncio.sleep(0.5)


def judged(outcomes: list[Outcome], retry_after: dict[int, str | None]) -> Verdict:
    verdict = judge(outcomes, TIMEOUT_MS, margin_s=MARGIN_S, reply_grace_s=REPLY_GRACE_S, allow_connection_errors=False)
    assert verdict.violations == [], verdict.violations[:10]
    assert verdict.lost == 0
    # A 503 says when to come back.
    no_retry_after = [o.index for o in outcomes if o.http_status == 503 and not retry_after.get(o.index)]
    assert no_retry_after == [], f"503 without Retry-After: {no_retry_after[:10]}"
    return verdict


async def with_load(stack: Stack, fault, back) -> tuple[Load, float, int, object]:
    """Steady load; ``fault()`` once 20 lookups are in flight, ``back()`` after it; the load runs on after."""
    load = Load([stack.gateway_url], DEV_HEADERS, rate=RATE, timeout_ms=TIMEOUT_MS)
    running = asyncio.create_task(load.run(duration_s=600))
    end = time.monotonic() + 10
    while load.in_flight() < 20:
        assert time.monotonic() < end, "20 lookups in flight"
        await asyncio.sleep(0.05)
    in_flight = load.in_flight()
    load.marks["fault"] = time.monotonic()
    proof = await fault()
    load.marks["proven"] = time.monotonic()
    await back()
    back_at = load.marks["back"] = time.monotonic()
    await asyncio.sleep(AFTER_RETURN_S)
    load.stop()
    await running
    return load, back_at, in_flight, proof


def primary_run_id(setup: RedisSentinel) -> str:
    with redis.Redis.from_url(primary_url(setup)) as client:
        return str(client.info("server")["run_id"])


async def check_afterwards(stack, setup, cluster, load, back_at, before, mark, what, extra=""):
    print(timeline(load.outcomes, load.marks))
    verdict = judged(load.outcomes, load.retry_after)
    resumed = resumed_after(load.outcomes, back_at)
    counts = warnings_per_outage(mark)
    print(f"{what} {extra}: {verdict}; resumed {resumed} s after the return; log lines {counts}\n{verdict.table_row()}")
    assert resumed is not None
    assert resumed < RESUME_WITHIN_S
    # Steady again: the last lookups all answered, most complete (two of the six persons' address relation does not
    # fit in the deadline behind the BRP's 2 s: partial, on time, as before the fault).
    tail = [o.status for o in load.outcomes[-40:]]
    assert None not in tail, tail
    assert tail.count("complete") >= 20, tail
    assert_no_restart(stack, before)
    assert_one_line_per_outage(counts)
    await no_req_keys(setup, stack.namespace)
    left = await drained(cluster.url, stack)
    assert set(left.values()) == {0}, left
    return verdict


def ready_for_failover(setup: RedisSentinel) -> None:
    setup.wait_synced()
    setup.wait_sentinels_know_replica()


@pytest.mark.timeout(300)
async def test_the_redis_primary_killed_sentinel_promotes_the_replica(
    faulty: Stack, redis_sentinel: RedisSentinel, rabbit_cluster: RabbitCluster
):
    await asyncio.to_thread(ready_for_failover, redis_sentinel)
    before = pids(faulty)
    mark = LogMark(faulty)
    killed: dict[str, object] = {}

    async def fault() -> object:
        old = await asyncio.to_thread(redis_sentinel.kill_primary)
        killed["old"] = old
        took = await asyncio.to_thread(redis_sentinel.wait_failover, old)
        # Proven: Sentinel names the other server primary, and it answers as one.
        assert await asyncio.to_thread(redis_sentinel.master_addr) != old.addr
        return took

    async def back() -> None:
        # The old primary returns as a replica of the new one, for the scenarios after this.
        await asyncio.to_thread(redis_sentinel.restart_server, killed["old"])  # type: ignore[arg-type]

    load, back_at, in_flight, took = await with_load(faulty, fault, back)
    verdict = await check_afterwards(
        faulty, redis_sentinel, rabbit_cluster, load, back_at, before, mark, "primary killed",
        f"({in_flight} in flight, failover in {took:.1f} s)",
    )  # fmt: skip
    assert verdict.sent > 0


@pytest.mark.timeout(300)
async def test_redis_restarted_outright_its_state_gone(
    faulty: Stack, redis_sentinel: RedisSentinel, rabbit_cluster: RabbitCluster
):
    await asyncio.to_thread(ready_for_failover, redis_sentinel)
    before = pids(faulty)
    mark = LogMark(faulty)
    run_id = await asyncio.to_thread(primary_run_id, redis_sentinel)

    async def fault() -> object:
        keys = [k for k in await namespace_keys(primary_url(redis_sentinel), faulty.namespace) if ":req:" in k]
        assert keys, "requests in flight hold state in Redis"
        await asyncio.to_thread(redis_sentinel.restart_all)
        # Proven: another Redis process, and the in-flight state gone with the old one.
        assert await asyncio.to_thread(primary_run_id, redis_sentinel) != run_id
        return len(keys)

    async def back() -> None:
        return None

    load, back_at, in_flight, keys = await with_load(faulty, fault, back)
    await check_afterwards(
        faulty, redis_sentinel, rabbit_cluster, load, back_at, before, mark, "Redis restarted",
        f"({in_flight} in flight, {keys} request keys lost)",
    )  # fmt: skip


async def audit_rows(server: PgServer, namespace: str) -> dict[str, tuple[int, int]]:
    """Per request id of the namespace's lookup records: (rows, distinct (event, subject) pairs)."""
    url = with_database(server.admin_url, DatabaseNames.of(namespace).database)
    async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
        cursor = await conn.execute(
            "SELECT request_id, count(*), count(DISTINCT (event_id, object_id)) "
            "FROM audit_disclosure WHERE kind = 'lookup' GROUP BY request_id"
        )
        return {str(r[0]): (int(r[1]), int(r[2])) for r in await cursor.fetchall()}


@pytest.mark.timeout(300)
async def test_the_audit_database_stopped_and_started_loses_no_record(
    faulty: Stack, redis_sentinel: RedisSentinel, rabbit_cluster: RabbitCluster, pg: PgServer
):
    before = pids(faulty)

    async def fault() -> object:
        await asyncio.to_thread(pg.stop)
        assert not pg.running
        await asyncio.sleep(6.0)
        assert faulty.is_running("audit", 0), "the audit service outlives its database's outage"
        return None

    async def back() -> None:
        await asyncio.to_thread(pg.start)

    load, _back_at, in_flight, _ = await with_load(faulty, fault, back)
    print(timeline(load.outcomes, load.marks))
    verdict = judged(load.outcomes, load.retry_after)
    answered = {m.group(1) for o in load.outcomes if o.http_status == 200 and (m := REQUEST_ID.search(o.body))}
    assert len(answered) == verdict.complete + verdict.partial
    started = time.monotonic()
    while True:
        try:
            rows = await audit_rows(pg, faulty.namespace)
        except psycopg.OperationalError:
            rows = {}
        missing = answered - set(rows)
        if not missing:
            break
        assert time.monotonic() - started < 60, f"{len(missing)} of {len(answered)} audit records missing"
        await asyncio.sleep(0.5)
    stored_s = time.monotonic() - started
    duplicates = {r: n for r, n in rows.items() if n[0] != n[1]}
    print(
        f"audit database stopped ({in_flight} in flight): {verdict}; {len(answered)} answers, every record stored "
        f"{stored_s:.1f} s after the load ended, {len(duplicates)} duplicated\n{verdict.table_row()}"
    )
    assert duplicates == {}
    # The gateway needs no database to answer: lookups go on complete while it is down.
    assert verdict.complete + verdict.partial >= verdict.sent * 0.9, verdict
    assert_no_restart(faulty, before)
    log = faulty.log_path("audit", 0).read_text(encoding="utf-8", errors="replace")
    assert "audit.store.unavailable" in log, "the outage was noticed and logged"
