"""Coalescing on the production-mode stack with restricted API keys: a Valtimo tab's five identical calls, made
while the BRP is slow so that they overlap, send one LookupRequested (counted on a queue of the test's own bound
to the lookups exchange) and get five answers, each under its own request id, with five audit records; a call by
another client with the same roles, or stating another purpose, gets a run of its own; and a Valtimo tab (five
calls of the IKO Server compatible API, each with its own containerParam) is one run, each widget paged as asked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing

import aio_pika
import httpx
import orjson
import pytest
from iko_shared.topology import Topology
from iko_stack import Stack

from tests.e2e.production import KEYS, PURPOSE
from tests.e2e.test_compat import container_param
from tests.faults.stack_checks import set_brp_latency

pytestmark = pytest.mark.e2e

BSN = "999993653"
BRP_LATENCY_MS = 1500


@pytest.fixture
def slow_brp(production_stack: Stack) -> Iterator[None]:
    set_brp_latency(production_stack, BRP_LATENCY_MS)
    try:
        yield
    finally:
        with closing(httpx.Client(base_url=production_stack.sandbox_urls["brp"], timeout=5)) as brp:
            brp.delete("/__sandbox__/behaviour")


@pytest.fixture
async def sent(production_stack: Stack, rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """Every LookupRequested published from now on, on a queue of the test's own bound to the lookups exchange."""
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(Topology(namespace=production_stack.namespace).lookups.name)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    # A headers exchange: a binding that names no header takes every message.
    await queue.bind(exchange, arguments={"x-match": "all"})
    yield queue
    await connection.close()


async def drain(queue: aio_pika.abc.AbstractQueue, settle_s: float = 1.0) -> list[dict[str, object]]:
    """What is on the queue once nothing more arrived for ``settle_s``."""
    bodies: list[dict[str, object]] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle_s:
        message = await queue.get(fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        bodies.append(orjson.loads(message.body))
        await message.ack()
        quiet_since = time.monotonic()
    return bodies


async def lookup(client: httpx.AsyncClient, who: str, **purpose: str) -> httpx.Response:
    """``purpose``: doelbinding / verwerking stated in the body, which goes before the headers."""
    return await client.post(
        "/api/v1/profiles/persoon/lookups",
        headers={"X-API-Key": KEYS[who][0], **PURPOSE},
        json={"identifier": {"type": "bsn", "value": BSN}, "timeout_ms": 5000, **purpose},
    )


async def test_five_identical_calls_share_one_run_each_answered_and_audited(
    production_stack: Stack, slow_brp: None, sent, audit
) -> None:
    async with httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=20) as client:
        responses = await asyncio.gather(*(lookup(client, "persoon") for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert all(a["status"] == "complete" for a in answers)
    assert all(a["sources"]["brp"]["data"]["burgerservicenummer"] == BSN for a in answers)
    request_ids = {a["request_id"] for a in answers}
    assert len(request_ids) == 5, "each call is answered under a request id of its own"

    requests = [body for body in await drain(sent) if body.get("identifier")]
    assert len(requests) == 1, f"five identical calls, {len(requests)} pipeline runs"
    assert requests[0]["request_id"] in request_ids

    records = await audit(5)
    assert len(records) == 5, "every call is audited on its own"
    assert {r.request_id for r in records} == request_ids
    assert all(r.outcome == "complete" for r in records)


async def test_another_client_or_another_purpose_is_not_coalesced(
    production_stack: Stack, slow_brp: None, sent, audit
) -> None:
    async with httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=20) as client:
        responses = await asyncio.gather(
            lookup(client, "attacker"),
            # The same roles, another client: its own run, never the first one's answer.
            lookup(client, "victim"),
            lookup(client, "attacker", verwerking="Beëindiging uitkering"),
        )
    assert [r.status_code for r in responses] == [200] * 3, [r.text for r in responses]
    requests = [body for body in await drain(sent) if body.get("identifier")]
    assert len(requests) == 3
    assert sorted(r["context"]["verwerking"] for r in requests) == sorted(
        ["Vraag burger", "Vraag burger", "Beëindiging uitkering"]
    )
    assert len({r["context"]["caller"] for r in requests}) == 2
    records = await audit(3)
    assert {r.request_id for r in records} == {r.json()["request_id"] for r in responses}


async def test_a_valtimo_tab_of_five_widgets_is_one_run_each_widget_paged_as_it_asked(
    production_stack: Stack, slow_brp: None, sent, audit
) -> None:
    widgets = [[], *[[container_param("zaken", page, 1)] for page in range(3)], [container_param("zaken", 0, 2)]]
    async with httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=20) as client:
        responses = await asyncio.gather(
            *(
                client.get(
                    "/aggregated-data-profiles/persoon",
                    params=[*(("containerParam", p) for p in params), ("id", BSN)],
                    headers={"X-API-Key": KEYS["zaken"][0], **PURPOSE},
                )
                for params in widgets
            )
        )
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    views = [r.json() for r in responses]
    everything = views[0]["zaken"]
    assert isinstance(everything, list)
    assert len(everything) >= 3, "the sandbox has zaken for this person"
    # Each widget's containerParam shaped its own answer only.
    pages = [[z["identificatie"] for z in v["zaken"]["content"]] for v in views[1:]]
    assert [len(p) for p in pages] == [1, 1, 1, 2]
    assert len({p[0] for p in pages[:3]}) == 3, "three pages of one, three different zaken"
    assert [r.headers["x-iko-status"] for r in responses] == ["complete"] * 5

    requests = [body for body in await drain(sent) if body.get("identifier")]
    assert len(requests) == 1, f"one tab, {len(requests)} pipeline runs"
    records = await audit(5)
    assert len(records) == 5
    assert len({r.request_id for r in records}) == 5
