"""One trace per lookup across the broker: the gateway's request span is the root, each connector's handling (with
its HTTP call as a child) a child of the publish that reached it — relation follow-ups included — and the
assembler's completion, by a deadline sweep too, in the same trace; no identifier in any span name or attribute.

A stack of its own exports to an OTLP/HTTP receiver of the test's own (``tests/otlp_receiver.py``), with the ZGW
connector in ``list`` mode (the BSN in the Zaken API's query string: it must not reach a span)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import closing

import httpx
import pytest
from iko_shared.contracts import LookupCompleted
from iko_stack import Stack

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

# A person whose address the BAG gives by a relation from her BRP answer, and a company.
PARTNERED = "999993653"
KVK = "69599084"
LOOKUPS_ROUTE = "POST /api/v1/profiles/{profile}/lookups"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def traced(rabbitmq_url, redis_url, receiver) -> AsyncIterator[Stack]:
    stack = start_stack(
        rabbitmq_url,
        redis_url,
        "trace",
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "IKO_ZGW_SEARCH_METHOD": "list",
        },
    )
    try:
        yield stack
    finally:
        await stop_stack(stack, rabbitmq_url, redis_url)


def roots(receiver: OtlpReceiver) -> list[ReceivedSpan]:
    return [s for s in receiver.spans if s.name == LOOKUPS_ROUTE and not s.parent_id]


async def traced_lookup(stack, receiver, profile: str, body: dict) -> tuple[LookupCompleted, list[ReceivedSpan]]:
    """One lookup and its whole trace, once every service's spans of it have arrived."""
    before = {s.trace_id for s in roots(receiver)}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=15, headers=DEV_HEADERS) as client:
        response = await client.post(f"/api/v1/profiles/{profile}/lookups", json=body)
    assert response.status_code == 200, response.text
    assert "traceparent" not in response.text, "trace contexts stay out of the answer"
    view = LookupCompleted.model_validate_json(response.content)
    receiver.wait_for(lambda: {s.trace_id for s in roots(receiver)} - before)
    [trace_id] = {s.trace_id for s in roots(receiver)} - before

    def complete() -> bool:
        """The assembler's answer (or its deadline sweep) is in: the last hop of a lookup."""
        return any(
            s.service == "iko-assembler" and (".gateway.replies." in s.name or s.name.startswith("deadline"))
            for s in receiver.trace(trace_id)
        )

    try:
        receiver.wait_for(complete)
    except AssertionError:
        raise AssertionError(sorted((s.service, s.kind, s.name) for s in receiver.trace(trace_id))) from None
    return view, receiver.trace(trace_id)


def by_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in spans}


def ancestors(span: ReceivedSpan, spans: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    found = []
    while span.parent_id and span.parent_id in spans:
        span = spans[span.parent_id]
        found.append(span)
    return found


def connector_handling(spans: list[ReceivedSpan], source: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == f"iko-{source}-connector" and s.kind == "consumer"]


def assert_connector_hop(spans: list[ReceivedSpan], source: str) -> None:
    """The connector's handling is a child of a publish, and its HTTP calls are children of the handling."""
    index = by_id(spans)
    handling = connector_handling(spans, source)
    assert handling, f"no {source} connector span in {sorted({s.service for s in spans})}"
    for span in handling:
        parent = index.get(span.parent_id)
        assert parent is not None, f"{span.name}: its parent is not in the trace"
        assert parent.kind == "producer", f"{span.name} is a child of {parent.name} ({parent.kind})"
    http = [s for s in spans if s.service == f"iko-{source}-connector" and s.kind == "client"]
    assert http, f"no HTTP client span of the {source} connector"
    handling_ids = {s.span_id for s in handling}
    for call in http:
        assert any(a.span_id in handling_ids for a in ancestors(call, index)), f"{call.name} outside the handling"
        assert "url.full" not in call.attributes
        assert call.attributes["http.request.method"] in ("GET", "POST")


def assert_no_identifier(spans: list[ReceivedSpan], *identifiers: str) -> None:
    raw = json.dumps([[s.name, s.attributes, s.events] for s in spans], default=str)
    for identifier in identifiers:
        assert identifier not in raw, f"{identifier} appears in a span"


async def test_a_persoon_lookup_with_a_relation_is_one_trace_across_every_hop(traced, receiver):
    view, spans = await traced_lookup(traced, receiver, "persoon", {"identifier": {"type": "bsn", "value": PARTNERED}})
    assert view.status == "complete"
    services = {s.service for s in spans}
    assert {"iko-gateway", "iko-assembler", "iko-brp-connector", "iko-zgw-connector"} <= services, services
    [root] = [s for s in spans if not s.parent_id]
    assert (root.service, root.kind, root.name) == ("iko-gateway", "server", LOOKUPS_ROUTE)
    assert_connector_hop(spans, "brp")
    assert_connector_hop(spans, "zgw")
    # The relation's follow-up (the BAG address): a connector's handling whose publish came from the assembler.
    index = by_id(spans)
    assert view.branches, "the lookup followed a relation"
    followed = [s for s in connector_handling(spans, "bag") if index[s.parent_id].service == "iko-assembler"]
    assert followed, "the relation's follow-up did not reach the BAG connector within the trace"
    # The answer goes back to the gateway in the same trace, its span linked to every fragment's handling.
    assert any(s.service == "iko-assembler" and ".gateway.replies." in s.name for s in spans)
    [answered] = [s for s in spans if s.service == "iko-assembler" and s.name == "lookup answered"]
    fragment_handlings = {
        (s.trace_id, s.span_id) for s in spans if s.service == "iko-assembler" and ".fragments." in s.name
    }
    assert len(answered.links) == len(view.sources)
    assert set(answered.links) <= fragment_handlings
    assert_no_identifier(spans, PARTNERED, *(b.identifier.value for b in view.branches.values()))


async def test_a_bedrijf_lookup_is_one_trace_without_its_kvk_number(traced, receiver):
    view, spans = await traced_lookup(traced, receiver, "bedrijf", {"identifier": {"type": "kvk", "value": KVK}})
    assert view.status == "complete"
    assert_connector_hop(spans, "kvk")
    # KVK's paths carry the kvkNummer: no URL is recorded.
    assert_no_identifier(spans, KVK)


async def test_a_deadline_sweep_completes_the_lookup_within_its_trace(traced, receiver):
    with closing(httpx.Client(base_url=traced.sandbox_urls["brp"], timeout=5)) as brp:
        brp.put("/__sandbox__/behaviour", json={"mode": "hang"}).raise_for_status()
        try:
            view, spans = await traced_lookup(
                traced, receiver, "persoon", {"identifier": {"type": "bsn", "value": PARTNERED}, "timeout_ms": 1000}
            )
        finally:
            brp.delete("/__sandbox__/behaviour")
    assert (view.status, view.completed_by) == ("partial", "deadline")
    sweep = [s for s in spans if s.service == "iko-assembler" and s.name.startswith("deadline")]
    assert sweep, f"the sweep's completion is not in the lookup's trace: {sorted((s.service, s.name) for s in spans)}"
    assert_no_identifier(spans, PARTNERED)
