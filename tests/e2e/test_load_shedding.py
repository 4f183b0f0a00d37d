"""The gateway's cap on lookups in flight, attacked on a production-mode stack with restricted API keys: one caller
cannot take the whole replica (its own cap refuses it first, 429), and past the replica's cap every caller gets
503 ``Too busy`` with ``Retry-After`` at once, nothing sent on, until lookups end and room comes back."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from iko_stack import Stack

from tests.e2e.conftest import start_stack, stop_stack
from tests.faults.stack_checks import set_brp_latency

pytestmark = pytest.mark.e2e

KEYS = {"greedy": "key-greedy", "other": "key-other", "third": "key-third"}
PURPOSE = {"x-doelbinding": "klantcontact", "x-verwerking": "Vraag burger"}
PER_CALLER = 3
REPLICA = 5
BRP_LATENCY_MS = 2500


@pytest.fixture
async def capped(rabbitmq_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    keys_file = tmp_path / "api-keys.yaml"
    keys_file.write_text(
        yaml.safe_dump(
            [
                {"client": name, "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "roles": ["iko-persoon"]}
                for name, key in KEYS.items()
            ]
        )
    )
    stack = start_stack(
        rabbitmq_url,
        redis_url,
        "shed",
        production=True,
        env={
            "IKO_AUTH_API_KEYS_FILE": str(keys_file),
            "IKO_GATEWAY_MAX_IN_FLIGHT": str(REPLICA),
            "IKO_GATEWAY_MAX_IN_FLIGHT_PER_CALLER": str(PER_CALLER),
            # The replica's cap counts pipeline runs; these identical calls would share one run each caller.
            "IKO_GATEWAY_COALESCE_TOLERANCE_MS": "0",
        },
    )
    try:
        set_brp_latency(stack, BRP_LATENCY_MS)
        yield stack
    finally:
        await stop_stack(stack, rabbitmq_url, redis_url)


async def lookup(client: httpx.AsyncClient, who: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post(
        "/api/v1/profiles/persoon/lookups",
        headers={"X-API-Key": KEYS[who], **PURPOSE},
        json={"identifier": {"type": "bsn", "value": "999993653"}, "timeout_ms": 5000},
    )
    return response, time.monotonic() - started


async def test_one_caller_cannot_fill_the_replica_and_past_its_cap_everyone_is_shed_at_once(capped: Stack) -> None:
    async with httpx.AsyncClient(base_url=capped.gateway_url, timeout=20) as client:
        greedy = [asyncio.create_task(lookup(client, "greedy")) for _ in range(PER_CALLER + 2)]
        await asyncio.sleep(0.5)
        other = [asyncio.create_task(lookup(client, "other")) for _ in range(2)]
        await asyncio.sleep(0.5)
        # The replica holds PER_CALLER + 2 = REPLICA lookups now: the next caller, whoever it is, is shed.
        shed, shed_in = await lookup(client, "third")
        greedy_answers = await asyncio.gather(*greedy)
        other_answers = await asyncio.gather(*other)
        # Room again once they ended.
        after, _ = await lookup(client, "third")

    statuses = sorted(r.status_code for r, _ in greedy_answers)
    # The greedy caller's own cap refused what it sent past it; it did not take the replica's whole capacity.
    assert statuses == [200] * PER_CALLER + [429] * 2, statuses
    assert [r.status_code for r, _ in other_answers] == [200, 200], "another caller is served beside it"
    assert shed.status_code == 503, shed.text
    assert shed.json()["title"] == "Too busy"
    assert shed.headers["retry-after"] == "1"
    assert shed.headers["content-type"].startswith("application/problem+json")
    # At once: not after the BRP's 2.5 s, which is what an admitted lookup waits for.
    assert shed_in < BRP_LATENCY_MS / 1000, shed_in
    assert after.status_code == 200, after.text
