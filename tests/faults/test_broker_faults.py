"""Scenario 4 of issue 14 on the clustered broker: the RabbitMQ node that leads the connector and assembler queues
killed (SIGKILL) under a steady load and brought back; later the whole cluster stopped and started. Every service
reconnects and re-attaches its consumers by itself (no process restarted), lookups resume within 15 s of the node's
or the cluster's return, and every request is judged by the suite's invariants."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from iko_shared.sources import source_names
from iko_shared.topology import Topology
from iko_stack import Stack

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack
from tests.faults.rabbit_cluster import RabbitCluster
from tests.faults.stack_checks import assert_no_restart, pids, resumed_after, set_brp_latency
from tests.faults.steady_load import Outcome, SteadyLoad, judge
from tests.faults.test_process_faults import REPLY_GRACE_S, drained
from tests.faults.test_process_faults import wait_until as wait_for
from tests.infra import namespace_keys

# Three RabbitMQ nodes, HAProxy, a dozen service processes and the load generator share two cores here (with
# Redis's five processes and a PostgreSQL beside them in scenario 5): at the other scenarios' 20/s the pipeline
# was saturated before any fault, and at 12/s (BRP 2 s, deadline 3 s) it stalled for a second or two every so
# often with nothing broken (runs of 2026-12-01 16:40-16:47), which says nothing about a failover. 8/s with the BRP
# at 2 s and a deadline of 4 s keeps 20+ lookups in flight (those with relations wait to the deadline).
RATE = 8.0
BRP_LATENCY_MS = 2000
TIMEOUT_MS = 4000
# As scenario 5's: three RabbitMQ nodes settling after a restart beside everything else on two cores put a few
# answers up to 1.4 s past the deadline a minute after the cluster's return (run of 2026-12-01 16:55); reported.
MARGIN_S = 2.0
# Lookups resume within this long of the node's or the cluster's return (issue 14).
RESUME_WITHIN_S = 15.0
# The node's start (Erlang's boot, the quorum queues' followers catching up) takes a core of this machine for ~30 s
# after it: until then, answers are held to the failover's bound.
SETTLED_AFTER_RETURN_S = 30.0
# After the whole cluster's start every quorum queue recovers its log from disk and re-forms its members on all
# three nodes at once: answers were measured up to 2.5 s past the deadline 30-36 s after the ports opened.
SETTLED_AFTER_CLUSTER_RETURN_S = 45.0
# In a failover the gateway may wait for the reply to the end of its grace and then for the audit record's
# confirm (AuditPublisher's 2 s) before it answers or refuses.
AUDIT_PUBLISH_S = 2.0
# The load runs on this long after the return, so that the resumption is measured and steady answers follow it.
AFTER_RETURN_S = SETTLED_AFTER_RETURN_S + 10.0


@pytest.fixture
async def faulty(rabbit_cluster: RabbitCluster, redis_url: str) -> AsyncIterator[Stack]:
    stack = start_stack(rabbit_cluster.url, redis_url, "brokerfault", assemblers=2)
    try:
        set_brp_latency(stack, BRP_LATENCY_MS)
        yield stack
    finally:
        await stop_stack(stack, rabbit_cluster.url, redis_url)


class _Recording:
    """A client of the driver's gateway with no pool limit (the driver's default of 100 connections would queue
    lookups inside the generator once a gateway is slow, which is not the system's time), that keeps each answer's
    ``Retry-After`` header by request index (the driver keeps the body only)."""

    def __init__(self, client: httpx.AsyncClient, index: int, sink: dict[int, str | None]) -> None:
        self.client, self.index, self.sink = client, index, sink

    async def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
        response = await self.client.post(*args, **kwargs)
        self.sink[self.index] = response.headers.get("retry-after")
        return response


@dataclass
class Load(SteadyLoad):
    """``SteadyLoad`` over unlimited connection pools, with the ``Retry-After`` of every answer."""

    retry_after: dict[int, str | None] = field(default_factory=dict)
    # When the fault was applied, proven, undone (monotonic), for the timeline.
    marks: dict[str, float] = field(default_factory=dict)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def _one(self, client: httpx.AsyncClient, outcome: Outcome) -> None:
        base = str(client.base_url)
        if base not in self._clients:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
            self._clients[base] = httpx.AsyncClient(base_url=base, headers=self.headers, timeout=30, limits=limits)
        mine = _Recording(self._clients[base], outcome.index, self.retry_after)
        await super()._one(mine, outcome)  # type: ignore[arg-type]

    async def run(self, duration_s: float) -> list[Outcome]:
        try:
            return await super().run(duration_s)
        finally:
            for client in self._clients.values():
                await client.aclose()

    def stop(self) -> None:
        self._stop.set()


async def stop_load_after(load: Load, seconds: float) -> None:
    await asyncio.sleep(seconds)
    load.stop()


def timeline(outcomes: list[Outcome], marks: dict[str, float], bucket_s: float = 2.0) -> str:
    """Per ``bucket_s`` of sending: how many were sent, answered complete / partial / refused / other, the slowest."""
    if not outcomes:
        return ""
    t0 = outcomes[0].sent
    rows: dict[int, list[Outcome]] = {}
    for o in outcomes:
        rows.setdefault(int((o.sent - t0) // bucket_s), []).append(o)
    lines = [f"marks: {', '.join(f'{k} +{v - t0:.1f}s' for k, v in marks.items())}"]
    for b, group in sorted(rows.items()):
        kinds = Counter(o.status or str(o.http_status or o.error) for o in group)
        slowest = max((o.elapsed_s or 0.0) for o in group)
        lines.append(f"  +{b * bucket_s:5.0f}s sent {len(group):3d} {dict(kinds)} slowest {slowest:.2f}s")
    return "\n".join(lines)


async def judged_afterwards(
    stack: Stack,
    cluster: RabbitCluster,
    redis_url: str,
    outcomes: list[Outcome],
    marks: dict[str, float],
    failover: tuple[float, float],
):
    print(timeline(outcomes, marks))
    verdict = judge(
        outcomes,
        TIMEOUT_MS,
        margin_s=MARGIN_S,
        reply_grace_s=REPLY_GRACE_S,
        allow_connection_errors=False,
        failover=failover,
        failover_extra_s=AUDIT_PUBLISH_S,
    )
    print(f"{verdict}\n{verdict.table_row()}")
    assert verdict.violations == [], verdict.violations[:10]
    assert verdict.lost == 0
    # Nothing of a finished request left in Redis (the sweeper closes what a broker outage left open).
    await wait_for_async(lambda: _req_keys(redis_url, stack.namespace), 20, "no Redis key of a finished request left")
    left = await drained(cluster.url, stack)
    assert set(left.values()) == {0}, left
    return verdict


async def _req_keys(redis_url: str, namespace: str) -> bool:
    return [k for k in await namespace_keys(redis_url, namespace) if ":req:" in k] == []


async def wait_for_async(condition, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < end, f"{what} did not happen within {timeout_s} s"
        await asyncio.sleep(0.2)


def work_queue_names(stack: Stack) -> list[str]:
    return [q.name for q in Topology(namespace=stack.namespace).work_queues(source_names())]


# Fixed: for ~160 s after the kill every lookup's publish was nacked, then not confirmed, because the channels that
# aio-pika restored during the quorum queues' re-election keep nacking (ExchangePublisher now retires a channel on a
# nack or a missing confirm). See docs/reliability.md, scenario 4.
@pytest.mark.timeout(400)
async def test_the_leading_node_killed_and_brought_back(faulty: Stack, rabbit_cluster: RabbitCluster, redis_url: str):
    queues = work_queue_names(faulty)
    target = rabbit_cluster.nodes[0]
    for name in queues:
        await asyncio.to_thread(rabbit_cluster.transfer_leader, name, target)
    assert {await asyncio.to_thread(rabbit_cluster.leader, name) for name in queues} == {target.name}
    before = pids(faulty)

    load = Load([faulty.gateway_url], DEV_HEADERS, rate=RATE, timeout_ms=TIMEOUT_MS)
    running = asyncio.create_task(load.run(duration_s=600))
    await wait_for(lambda: load.in_flight() >= 20, 10, "20 lookups in flight")
    in_flight = load.in_flight()
    await asyncio.to_thread(rabbit_cluster.kill, target)
    killed_at = time.monotonic()
    # Proven: the node is out of the cluster, and every queue it led has a leader elsewhere.
    others = [n for n in rabbit_cluster.nodes if n is not target]
    assert target.name not in await asyncio.to_thread(rabbit_cluster.running_nodes, others[0])
    # One list_queues per poll, a second apart: each rabbitmqctl call is an Erlang VM of its own, a core for a
    # second on this machine, taken from the system under test.
    end = time.monotonic() + 30
    while True:
        rows = await asyncio.to_thread(rabbit_cluster.queues, others[0])
        leaders = {str(r["name"]): str(r.get("leader")) for r in rows if r.get("name") in queues}
        if len(leaders) == len(queues) and target.name not in leaders.values():
            break
        assert time.monotonic() < end, f"leaders did not move: {leaders}"
        await asyncio.sleep(1.0)
    moved_s = time.monotonic() - killed_at
    await asyncio.sleep(3.0)
    await asyncio.to_thread(rabbit_cluster.restart, target)
    back_at = time.monotonic()
    assert target.name in await asyncio.to_thread(rabbit_cluster.running_nodes, others[0])
    stopper = asyncio.create_task(stop_load_after(load, AFTER_RETURN_S))
    outcomes = await running
    await stopper

    marks = {"killed": killed_at, "leaders moved": killed_at + moved_s, "back": back_at}
    # From the kill until the node is back and its start (a core for seconds here) is over.
    failover = (killed_at - TIMEOUT_MS / 1000, back_at + SETTLED_AFTER_RETURN_S)
    verdict = await judged_afterwards(faulty, rabbit_cluster, redis_url, outcomes, marks, failover)
    resumed = resumed_after(outcomes, back_at)
    print(
        f"node killed ({in_flight} in flight, leaders moved in {moved_s:.1f} s, down {back_at - killed_at:.1f} s): "
        f"{verdict}; resumed {resumed} s after its return\n{verdict.table_row()}"
    )
    assert resumed is not None
    assert resumed < RESUME_WITHIN_S
    assert_no_restart(faulty, before)
    # One node of three lost: the queues keep a quorum, so nearly every lookup is answered throughout, and many
    # complete (two of the six persons' address relation does not fit behind the BRP's 2 s: partial even so).
    assert verdict.complete + verdict.partial >= verdict.sent * 0.9, verdict
    assert verdict.complete >= verdict.sent * 0.4, verdict


@pytest.mark.timeout(600)
async def test_the_whole_cluster_stopped_and_started(faulty: Stack, rabbit_cluster: RabbitCluster, redis_url: str):
    before = pids(faulty)
    load = Load([faulty.gateway_url], DEV_HEADERS, rate=RATE, timeout_ms=TIMEOUT_MS)
    running = asyncio.create_task(load.run(duration_s=900))
    await wait_for(lambda: load.in_flight() >= 20, 10, "20 lookups in flight")
    in_flight = load.in_flight()
    stopped_at = time.monotonic()
    await asyncio.to_thread(rabbit_cluster.stop_all)
    assert not any([await asyncio.to_thread(rabbit_cluster.running, n) for n in rabbit_cluster.nodes]), "all down"
    down_at = time.monotonic()
    await asyncio.sleep(3.0)
    await asyncio.to_thread(rabbit_cluster.start_all)
    back_at = time.monotonic()
    assert len(await asyncio.to_thread(rabbit_cluster.running_nodes)) == len(rabbit_cluster.nodes)
    stopper = asyncio.create_task(stop_load_after(load, SETTLED_AFTER_CLUSTER_RETURN_S + 10.0))
    outcomes = await running
    await stopper

    marks = {"stopping": stopped_at, "down": down_at, "back": back_at}
    failover = (stopped_at - TIMEOUT_MS / 1000, back_at + SETTLED_AFTER_CLUSTER_RETURN_S)
    verdict = await judged_afterwards(faulty, rabbit_cluster, redis_url, outcomes, marks, failover)
    resumed = resumed_after(outcomes, back_at)
    print(
        f"cluster stopped ({in_flight} in flight, stop took {down_at - stopped_at:.1f} s, "
        f"down {back_at - down_at:.1f} s): {verdict}; resumed {resumed} s after its return\n{verdict.table_row()}"
    )
    assert resumed is not None
    assert resumed < RESUME_WITHIN_S
    assert_no_restart(faulty, before)
    # The outage was seen: refusals while it lasted.
    assert verdict.refused > 0, verdict
    # Once back, steady again: the last lookups all answered, most complete (two of the six persons' address
    # relation does not fit in the deadline behind the BRP's 2 s: partial, on time, there as before the fault).
    tail = [o.status for o in outcomes[-40:]]
    assert None not in tail, tail
    assert tail.count("complete") >= 20, tail
