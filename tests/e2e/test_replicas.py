"""Assembler replicas: each view is published exactly once, and a replica killed mid-flight loses nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.lookup_driver import LookupDriver
from tests.infra import namespace_keys

pytestmark = pytest.mark.e2e


async def test_two_assembler_replicas_answer_exactly_once_over_1000_lookups(stack, rabbitmq_url, redis_url):
    async with LookupDriver(rabbitmq_url, stack.namespace) as driver:
        # Paced below what two cores carry, with a generous deadline: this test is about exactly-once, not speed.
        for batch in range(50):
            await asyncio.gather(*(driver.send(batch * 20 + i, timeout_s=20.0) for i in range(20)))
            await asyncio.sleep(0.1)
        await driver.wait_for_all(timeout_s=60)
    assert len(driver.sent) == 1000
    assert driver.unanswered() == []
    duplicates = {r: n for r, n in driver.replies.items() if n != 1}
    assert duplicates == {}
    statuses = Counter(view.status for view in driver.views.values())
    assert statuses == {"complete": 1000}
    # Both replicas took part: the work was shared, not done by one while the other idled.
    logs = [stack.log_path("assembler", i).read_text() for i in (0, 1)]
    assert all(log.count("lookup.completed") > 50 for log in logs)
    keys = await namespace_keys(redis_url, stack.namespace)
    assert [k for k in keys if ":req:" in k] == []


async def test_killing_an_assembler_mid_flight_loses_no_lookup(rabbitmq_url, redis_url):
    stack = start_stack(rabbitmq_url, redis_url, "kill", assemblers=2)
    try:
        async with LookupDriver(rabbitmq_url, stack.namespace) as driver:
            for batch in range(30):
                await asyncio.gather(*(driver.send(batch * 10 + i, timeout_s=3.0) for i in range(10)))
                if batch == 10:
                    stack.kill("assembler", 0)
                await asyncio.sleep(0.03)
            await driver.wait_for_all(timeout_s=30)
        assert not stack.is_running("assembler", 0)
        assert len(driver.sent) == 300
        assert driver.unanswered() == []
        keys = await namespace_keys(redis_url, stack.namespace)
        assert [k for k in keys if ":req:" in k] == []
    finally:
        await stop_stack(stack, rabbitmq_url, redis_url)
