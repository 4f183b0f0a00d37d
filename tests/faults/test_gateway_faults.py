"""Scenario 3 of issue 14 on the clustered broker: one of two gateway replicas SIGKILLed with lookups in flight, the
suite's callers spread over both. The killed one's callers get an error (their connection drops), the other gateway
serves on with every invariant, and nothing is left in Redis or in the work queues."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest
from iko_stack import Stack

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack
from tests.faults.stack_checks import set_brp_latency
from tests.faults.steady_load import SteadyLoad, judge
from tests.faults.test_process_faults import (
    MARGIN_S,
    REPLY_GRACE_S,
    drained,
    wait_until,
)
from tests.infra import namespace_keys

KILLED = 1
# Slower than scenarios 1 and 2: with the load spread over two gateways, 20+ lookups are in the killed one's hands.
# Two of the six persons have relations, fetched by a follow-up: 2 x 1.5 s, inside the deadline.
# 20/s spread over two gateways (it passed at this rate, unlike scenarios 1, 2, 4 and 5 on the cluster since).
GATEWAY_RATE = 20.0
GATEWAY_BRP_LATENCY_MS = 1500
# And a deadline to match, so that the survivor's answers are complete unless something is wrong (partial is on time).
GATEWAY_TIMEOUT_MS = 4000


@pytest.fixture
async def two_gateways(rabbit_cluster, redis_url) -> AsyncIterator[Stack]:
    stack = start_stack(rabbit_cluster.url, redis_url, "fault-gw", assemblers=2, gateways=2, ready_timeout=150)
    try:
        set_brp_latency(stack, GATEWAY_BRP_LATENCY_MS)
        yield stack
    finally:
        await stop_stack(stack, rabbit_cluster.url, redis_url)


async def test_one_of_two_gateways_killed_its_callers_get_an_error_the_other_serves_on(
    two_gateways, rabbit_cluster, redis_url
):
    stack = two_gateways
    assert len(stack.gateway_urls) == 2
    # Request i goes to gateway i % 2.
    spread = SteadyLoad(stack.gateway_urls, DEV_HEADERS, rate=GATEWAY_RATE, timeout_ms=GATEWAY_TIMEOUT_MS)
    running = asyncio.create_task(spread.run(duration_s=30))

    def at_killed() -> int:
        return sum(1 for o in spread.outcomes if o.answered is None and o.index % 2 == KILLED)

    await wait_until(lambda: at_killed() >= 20, 15, "20 lookups in flight at the gateway to be killed")
    in_flight_at_killed = [o.index for o in spread.outcomes if o.answered is None and o.index % 2 == KILLED]
    killed_at = time.monotonic()
    stack.kill("gateway", KILLED)
    assert not stack.is_running("gateway", KILLED), "the gateway is gone"
    # The suite's callers stop sending to it (as a Service's endpoints drop a dead pod): from now on the survivor only.
    spread._stop.set()
    survivor = SteadyLoad(
        [stack.gateway_urls[1 - KILLED]], DEV_HEADERS, rate=GATEWAY_RATE / 2, timeout_ms=GATEWAY_TIMEOUT_MS
    )
    outcomes = await running
    after = await survivor.run(duration_s=10)

    verdict = judge(
        outcomes, GATEWAY_TIMEOUT_MS, margin_s=MARGIN_S, reply_grace_s=REPLY_GRACE_S, allow_connection_errors=True
    )
    print(f"gateway killed, load over both: {verdict}; {len(in_flight_at_killed)} in flight at the killed one")
    assert verdict.violations == [], verdict.violations[:10]
    assert verdict.lost == 0
    errors = [o for o in outcomes if o.error is not None]
    assert errors, "the killed gateway's callers got an error"
    assert {o.index % 2 for o in errors} == {KILLED}, [(o.index, o.error) for o in errors]
    # Only requests in flight at the kill failed, and the one the driver had already due when told to stop (it checks
    # the stop between requests): sent to the dead gateway, its connection refused.
    late = [o for o in errors if o.sent > killed_at]
    assert len(late) <= 1, [(o.index, o.error) for o in late]
    assert all(o.error == "ConnectError" for o in late), [(o.index, o.error) for o in late]
    # Every request in the killed gateway's hands at the kill got an error, none an answer from elsewhere.
    by_index = {o.index: o for o in outcomes}
    assert all(
        by_index[i].error is not None or (by_index[i].answered or 0) <= killed_at for i in in_flight_at_killed
    ), [(i, by_index[i].http_status, by_index[i].error) for i in in_flight_at_killed]
    # The survivor's share of the first load, and the whole second load: answered by every invariant.
    survived = [o for o in outcomes if o.index % 2 != KILLED]
    assert all(o.error is None for o in survived)
    partial = [
        (round(o.due - after[0].due, 1), [k for k, v in o.sources.items() if v == "timeout"])
        for o in after
        if o.status == "partial"
    ]
    print(f"gateway killed: load average {os.getloadavg()}; survivor-only partials (sent at s, timed out): {partial}")
    later = judge(
        after, GATEWAY_TIMEOUT_MS, margin_s=MARGIN_S, reply_grace_s=REPLY_GRACE_S, allow_connection_errors=False
    )
    print(f"gateway killed, the survivor alone afterwards: {later}")
    assert later.violations == [], later.violations[:10]
    assert later.complete >= later.sent * 0.9 or all(all("[" in k for k in slots) for _, slots in partial), later
    # The survivor never stopped serving: its answers around the kill, to say so in figures.
    around = [o for o in survived if o.answered is not None and o.answered >= killed_at]
    print(f"gateway killed: the survivor answered {len(around)} of the first load's lookups after the kill, all ok")

    # The killed gateway's lookups were finished by the assemblers (their replies had no one to go to): no request
    # left in Redis once their deadlines and the sweeper have passed.
    async def req_keys() -> list[str]:
        return [k for k in await namespace_keys(redis_url, stack.namespace) if ":req:" in k]

    end = time.monotonic() + 15
    left = await req_keys()
    while left and time.monotonic() < end:
        await asyncio.sleep(0.5)
        left = await req_keys()
    assert left == []
    assert set((await drained(rabbit_cluster.url, stack)).values()) == {0}
