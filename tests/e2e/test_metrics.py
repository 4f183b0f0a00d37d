"""Metrics and probes of every process of the running stack (the session stack: other tests run lookups too, so
the counters are compared before and after what this test does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aio_pika
import httpx
import pytest
from iko_shared.contracts import FragmentProduced
from iko_shared.sources import source_names
from iko_shared.topology import Topology
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.lookup_driver import LookupDriver
from tests.infra import namespace_keys

pytestmark = pytest.mark.e2e

PERSOON = {"identifier": {"type": "bsn", "value": "999993653"}}
BEDRIJF = {"identifier": {"type": "kvk", "value": "69599084"}}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient, url: str) -> Samples:
    response = await client.get(f"{url}/metrics")
    assert response.status_code == 200, f"{url}/metrics answered {response.status_code}"
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def scrape_all(client: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Samples]:
    found = await asyncio.gather(*(scrape(client, url) for url in urls.values()))
    return dict(zip(urls, found, strict=True))


def total(all_samples: dict[str, Samples], prefix: str, name: str, **labels: str) -> float:
    return sum(value(s, name, **labels) for key, s in all_samples.items() if key.startswith(prefix))


async def eventually(check: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Connectors record a fetch when it ends, which may be a moment after the answer went out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                await result
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)


async def test_every_process_exports_its_series_matching_what_was_done(gateway, stack, sandbox):
    urls = stack.ops_urls
    expected = {"gateway-0", "audit-0", *(f"{s}-connector-0" for s in source_names())}
    assert expected | {"assembler-0", "assembler-1"} <= set(urls)
    async with httpx.AsyncClient(timeout=5) as client:
        before = await scrape_all(client, urls)

        for _ in range(3):
            response = await gateway.post("/api/v1/profiles/persoon/lookups", json=PERSOON)
            assert response.json()["status"] == "complete"
        response = await gateway.post("/api/v1/profiles/bedrijf/lookups", json=BEDRIJF)
        assert response.json()["status"] == "complete"
        # Refused: fails the elfproef.
        bad = {"identifier": {"type": "bsn", "value": "999999245"}}
        assert (await gateway.post("/api/v1/profiles/persoon/lookups", json=bad)).status_code == 422
        # A deadline: the BRP hangs.
        sandbox.put("/__sandbox__/behaviour", json={"mode": "hang"}).raise_for_status()
        response = await gateway.post("/api/v1/profiles/persoon/lookups", json={**PERSOON, "timeout_ms": 1000})
        assert (response.json()["status"], response.json()["completed_by"]) == ("partial", "deadline")
        # A source error: complete, with brp's error in it.
        sandbox.put("/__sandbox__/behaviour", json={"mode": "error"}).raise_for_status()
        response = await gateway.post("/api/v1/profiles/persoon/lookups", json={**PERSOON, "timeout_ms": 3000})
        assert response.json()["status"] == "complete"
        assert response.json()["sources"]["brp"]["status"] == "error"
        sandbox.delete("/__sandbox__/behaviour").raise_for_status()

        async def gateway_counts() -> None:
            after = await scrape_all(client, urls)
            g0, g1 = before["gateway-0"], after["gateway-0"]

            def delta(name: str, **labels: str) -> float:
                return value(g1, name, **labels) - value(g0, name, **labels)

            assert delta("iko_lookups_total", profile="persoon", outcome="complete") == 4
            assert delta("iko_lookups_total", profile="persoon", outcome="partial") == 1
            assert delta("iko_lookups_total", profile="persoon", outcome="refused") == 1
            assert delta("iko_lookups_total", profile="persoon", outcome="error") == 0
            assert delta("iko_lookups_total", profile="bedrijf", outcome="complete") == 1
            assert delta("iko_lookup_duration_seconds_count", profile="persoon") == 5
            # The deadline lookup alone took a second.
            assert delta("iko_lookup_duration_seconds_sum", profile="persoon") >= 1.0
            assert delta("iko_lookup_duration_seconds_bucket", profile="persoon", le="+Inf") == 5
            assert value(g1, "iko_lookups_in_flight") == 0
            assert delta("iko_audit_publish_failures_total") == 0

        await eventually(gateway_counts)

        async def connector_counts() -> None:
            after = await scrape_all(client, urls)
            b0, b1 = before["brp-connector-0"], after["brp-connector-0"]

            def delta(name: str, **labels: str) -> float:
                return value(b1, name, **labels) - value(b0, name, **labels)

            # Three complete lookups, and the partners they follow (relations ask the BRP again).
            assert delta("iko_source_fetches_total", source="brp", status="ok") >= 3
            assert delta("iko_source_fetches_total", source="brp", status="timeout") == 1
            assert delta("iko_source_fetches_total", source="brp", status="error") == 1
            fetches = sum(delta("iko_source_fetches_total", source="brp", status=s) for s in ("ok", "timeout", "error"))
            assert delta("iko_source_fetches_total", source="brp", status="not_found") + fetches == delta(
                "iko_source_fetch_duration_seconds_count", source="brp"
            )
            assert value(b1, "iko_circuit_state", source="brp") == 0
            k0, k1 = before["kvk-connector-0"], after["kvk-connector-0"]
            assert (
                value(k1, "iko_source_fetches_total", source="kvk", status="ok")
                - value(k0, "iko_source_fetches_total", source="kvk", status="ok")
                == 1
            )
            # Every lookup asked the ZGW (bedrijf and persoon alike).
            z0, z1 = before["zgw-connector-0"], after["zgw-connector-0"]
            assert (
                value(z1, "iko_source_fetches_total", source="zgw", status="ok")
                - value(z0, "iko_source_fetches_total", source="zgw", status="ok")
                >= 6
            )

        await eventually(connector_counts)

        after = await scrape_all(client, urls)
        # Exactly one deadline fired, by whichever assembler replica swept it.
        assert (
            total(after, "assembler", "iko_deadlines_fired_total")
            - total(before, "assembler", "iko_deadlines_fired_total")
            == 1
        )
        for key in ("assembler-0", "assembler-1"):
            assert ("iko_fragments_late_total", frozenset()) in after[key]
            assert ("iko_fragments_duplicate_total", frozenset()) in after[key]

    # Every service: one consumer attached on every queue it subscribes to.
    for key, samples in after.items():
        attached = series(samples, "iko_consumers_attached")
        assert attached, f"{key} reports no consumers"
        assert set(attached.values()) == {1.0}, f"{key}: {attached}"
    assert len(series(after["assembler-0"], "iko_consumers_attached")) == 2
    for source in source_names():
        queues = {dict(labels)["queue"] for labels in series(after[f"{source}-connector-0"], "iko_consumers_attached")}
        assert queues == {f"{stack.namespace}.connector.{source}"}


async def test_every_probe_answers_200(gateway, stack):
    async with httpx.AsyncClient(timeout=5) as client:
        for key, url in stack.ops_urls.items():
            if key.startswith("gateway"):
                # The gateway's probes are on its API port; its ops port serves /metrics only.
                assert (await client.get(f"{url}/livez")).status_code == 404
                continue
            for probe in ("/livez", "/readyz"):
                response = await client.get(f"{url}{probe}")
                assert response.status_code == 200, f"{key}{probe}: {response.text}"
                assert all(v == "ok" for v in response.json()["checks"].values()), response.text
    assert (await gateway.get("/healthz")).status_code == 200
    assert (await gateway.get("/readyz")).status_code == 200


async def test_late_and_duplicate_fragments_are_counted_as_such(stack, sandbox, rabbitmq_url, redis_url):
    """A copy of a fragment for a request still open is a duplicate; one for a request answered already is late."""
    topology = Topology(namespace=stack.namespace)
    assemblers = {k: u for k, u in stack.ops_urls.items() if k.startswith("assembler")}
    async with httpx.AsyncClient(timeout=5) as client:
        before = await scrape_all(client, assemblers)
        # The BRP takes 2 s, so the request stays open after the ZGW's fragment is in, and closes complete well
        # before its deadline (a hanging BRP would send its own timeout fragment about when the sweep closes the
        # request: late or not by a hair, which would make the count a race).
        sandbox.put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 2000}).raise_for_status()
        async with LookupDriver(rabbitmq_url, stack.namespace) as driver:
            request_id = await driver.send(0, timeout_s=6.0)

            async def registered() -> None:
                # The copies must find the request registered: one before it would be held as an early fragment.
                keys = await namespace_keys(redis_url, stack.namespace)
                assert any(request_id in key for key in keys)

            await eventually(registered)
            connection = await aio_pika.connect(rabbitmq_url)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.get_exchange(topology.fragments.name)

                async def copy_of_zgw() -> None:
                    now = time.time()
                    fragment = FragmentProduced(
                        request_id=request_id,
                        key="zgw",
                        source="zgw",
                        status="ok",
                        data={"count": 0, "zaken": []},
                        retrieved_at=datetime.now(UTC),
                        duration_ms=1.0,
                        deadline=now + 6.0,
                    )
                    message = aio_pika.Message(fragment.model_dump_json().encode(), content_type="application/json")
                    await exchange.publish(message, routing_key=topology.fragment_routing_key)

                # Two copies while the request is open: with the connector's own, two of the three are duplicates.
                await copy_of_zgw()
                await copy_of_zgw()
                await driver.wait_for_all(timeout_s=10)
                assert driver.views[request_id].completed_by == "all_sources"
                # One after the answer went out: late.
                await copy_of_zgw()
        sandbox.delete("/__sandbox__/behaviour").raise_for_status()

        async def counted() -> None:
            after = await scrape_all(client, assemblers)
            duplicates = total(after, "", "iko_fragments_duplicate_total") - total(
                before, "", "iko_fragments_duplicate_total"
            )
            late = total(after, "", "iko_fragments_late_total") - total(before, "", "iko_fragments_late_total")
            assert (duplicates, late) == (2, 1)

        await eventually(counted, timeout_s=10)
