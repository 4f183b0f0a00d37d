"""Rolling upgrades and scale-downs send SIGTERM: a connector or an assembler with a second replica, and the gateway
itself, stop during load and lose no lookup. Real signals to real processes (``Stack.kill`` with SIGTERM)."""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import closing

import httpx
import pytest
from iko_shared.contracts import LookupCompleted

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack

pytestmark = pytest.mark.e2e

PERSOON = {"identifier": {"type": "bsn", "value": "999993653"}, "timeout_ms": 8000}


def wait_gone(stack, name: str, index: int, timeout_s: float) -> float:
    """Seconds until the process exited (it must, within its grace period)."""
    started = time.monotonic()
    while stack.is_running(name, index):
        assert time.monotonic() - started < timeout_s, f"{name}-{index} still runs {timeout_s} s after SIGTERM"
        time.sleep(0.1)
    return time.monotonic() - started


async def lookup(client: httpx.AsyncClient) -> LookupCompleted:
    response = await client.post("/api/v1/profiles/persoon/lookups", json=PERSOON)
    assert response.status_code == 200, response.text
    return LookupCompleted.model_validate_json(response.content)


@pytest.fixture
async def replicated(rabbitmq_url, redis_url):
    stack = start_stack(rabbitmq_url, redis_url, "term", assemblers=2, connector_replicas=2)
    try:
        yield stack
    finally:
        await stop_stack(stack, rabbitmq_url, redis_url)


async def test_sigterm_to_a_connector_and_an_assembler_during_load_loses_no_lookup(replicated):
    stack = replicated
    with closing(httpx.Client(base_url=stack.sandbox_urls["brp"], timeout=5)) as brp:
        # Each BRP call takes a while, so lookups are in the connectors' hands when the signals arrive.
        brp.put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 200}).raise_for_status()
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=DEV_HEADERS) as client:
            tasks = []
            for i in range(60):
                tasks.append(asyncio.create_task(lookup(client)))
                if i == 20:
                    stack.kill("brp-connector", 0, signal.SIGTERM)
                    stack.kill("assembler", 0, signal.SIGTERM)
                await asyncio.sleep(0.05)
            views = await asyncio.gather(*tasks)
    statuses = [(view.status, view.sources["brp"].status) for view in views]
    assert statuses == [("complete", "ok")] * 60, [s for s in statuses if s != ("complete", "ok")]
    # Both stopped by themselves, well within the 45 s grace period the manifests give them.
    assert wait_gone(stack, "brp-connector", 0, 30) < 30
    assert wait_gone(stack, "assembler", 0, 30) < 30
    assert stack.is_running("brp-connector", 1)
    assert stack.is_running("assembler", 1)


async def test_sigterm_to_the_gateway_answers_the_lookups_it_holds_then_exits(replicated):
    stack = replicated
    with closing(httpx.Client(base_url=stack.sandbox_urls["brp"], timeout=5)) as brp:
        brp.put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 1500}).raise_for_status()
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=DEV_HEADERS) as client:
            held = [asyncio.create_task(lookup(client)) for _ in range(5)]
            # The lookups are in flight (the BRP takes 1.5 s) when the signal arrives.
            await asyncio.sleep(0.5)
            stack.kill("gateway", 0, signal.SIGTERM)
            views = await asyncio.gather(*held)
    assert [(v.status, v.sources["brp"].status) for v in views] == [("complete", "ok")] * 5
    assert wait_gone(stack, "gateway", 0, 30) < 30
    # Gone: a new caller is refused at the door, not left waiting.
    async with httpx.AsyncClient(timeout=2) as late:
        with pytest.raises(httpx.ConnectError):
            await late.get(f"{stack.gateway_url}/healthz")
