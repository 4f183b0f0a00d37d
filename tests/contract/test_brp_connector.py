"""BRP-specific behaviour: what reaches the BRP (fields, protocol headers) and batching of Raadpleeg lookups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from iko_sandbox.brp.app import create_brp_app
from iko_shared.connector import FETCH_DEADLINE
from iko_shared.connector.fragments import fetch_fragment
from iko_shared.connector.source import FetchContext
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested, RequestContext
from iko_shared.testing.contract_kit import Harness, Scenario, Simulator, lookup_for, serve_simulator

from tests.contract.cases import API_KEY, BRP, BSN

BSNS = ["999993653", "999990408", "999994086", "999991838", "999992557"]


@pytest.fixture(scope="module")
def brp_simulator() -> Iterator[Simulator]:
    with serve_simulator(create_brp_app(api_key=API_KEY)) as simulator:
        yield simulator


@pytest.fixture
def simulator(brp_simulator: Simulator) -> Iterator[Simulator]:
    brp_simulator.reset()
    yield brp_simulator
    brp_simulator.reset()


@pytest.fixture
async def harness(simulator: Simulator) -> AsyncIterator[Harness]:
    running = Harness(BRP.with_settings(origin_oin="00000001234567890000", batch_window_ms=5), simulator)
    yield running
    await running.aclose()


def raadpleeg(bsn: str, fields: list[str], context: RequestContext | None = None) -> Scenario:
    return Scenario(
        "raadpleeg",
        "RaadpleegMetBurgerservicenummer",
        Identifier(type="bsn", value=bsn),
        fields=fields,
        context=context or RequestContext(),
    )


async def test_profile_fields_and_protocol_headers_reach_the_brp(harness: Harness, simulator: Simulator):
    context = RequestContext(doelbinding="BRPACT-Wmo", verwerking="Beoordelen aanvraag", gebruiker="medewerker-17")
    fragment = await harness.run(raadpleeg(BSN.value, ["naam.voornamen", "geboorte.datum"], context))
    assert fragment is not None
    assert fragment.status == "ok"
    assert set(fragment.data) == {"naam", "geboorte"}, "nothing beyond the fields asked"
    [received] = simulator.received()
    assert received["path"] == "/personen"
    # The profile's fields, plus the one the batcher needs to hand answers back (and removes again).
    assert received["json"]["fields"] == ["naam.voornamen", "geboorte.datum", "burgerservicenummer"]
    assert received["json"]["burgerservicenummer"] == [BSN.value]
    assert BSN.value not in received["path"] + received["query"], "the BSN travels in the body only"
    headers = received["headers"]
    assert headers["x-api-key"] == API_KEY
    assert headers["x-doelbinding"] == "BRPACT-Wmo"
    assert headers["x-verwerking"] == "Beoordelen aanvraag"
    assert headers["x-gebruiker"] == "medewerker-17"
    assert headers["x-origin-oin"] == "00000001234567890000"


async def test_concurrent_lookups_share_one_call_and_each_gets_its_own_person(harness, simulator):
    fragments = await asyncio.gather(*(harness.run(raadpleeg(bsn, ["naam"])) for bsn in BSNS))
    calls = simulator.received()
    assert len(calls) == 1
    assert sorted(calls[0]["json"]["burgerservicenummer"]) == sorted(BSNS)
    assert all(f is not None and f.status == "ok" for f in fragments)
    # burgerservicenummer was added to route the answers and taken out again: the profile asked only naam.
    assert all(set(f.data) == {"naam"} for f in fragments if f is not None)
    names = {f.data["naam"]["geslachtsnaam"] for f in fragments if f is not None}
    assert len(names) > 1, "each lookup got its own person"


async def test_different_purposes_are_never_batched_together(harness, simulator):
    await asyncio.gather(
        harness.run(raadpleeg(BSNS[0], ["naam"], RequestContext(doelbinding="A"))),
        harness.run(raadpleeg(BSNS[1], ["naam"], RequestContext(doelbinding="B"))),
    )
    calls = simulator.received()
    assert len(calls) == 2
    assert {c["headers"]["x-doelbinding"] for c in calls} == {"A", "B"}


async def test_a_batch_of_21_is_split_at_the_brp_maximum_of_20(harness, simulator):
    bsns = [f"99999{n:04d}" for n in range(21)]
    await asyncio.gather(*(harness.run(raadpleeg(bsn, ["naam"])) for bsn in bsns))
    sizes = sorted(len(c["json"]["burgerservicenummer"]) for c in simulator.received())
    assert sizes == [1, 20]


async def test_unknown_person_in_a_batch_is_not_found_for_that_lookup_only(harness):
    found, missing = await asyncio.gather(
        harness.run(raadpleeg(BSNS[0], ["naam"])), harness.run(raadpleeg("999990007", ["naam"]))
    )
    assert found is not None
    assert missing is not None
    assert (found.status, missing.status) == ("ok", "not_found")


async def test_a_refused_batch_is_asked_bsn_by_bsn(simulator):
    # A field the BRP refuses fails the whole batch; split up, each lookup gets its own 400 error.
    running = Harness(BRP.with_settings(batch_window_ms=5), simulator)
    try:
        fragments = await asyncio.gather(*(running.run(raadpleeg(bsn, ["bestaatNiet"])) for bsn in BSNS[:3]))
    finally:
        await running.aclose()
    assert all(f is not None and f.error is not None and f.error.code == "paramsValidation" for f in fragments)
    assert len(simulator.received()) == 1 + 3


async def test_a_lone_lookup_is_not_held_back_and_later_ones_gather_while_a_call_is_out(simulator):
    # A long window: if a lone lookup waited for it, this test would take half a second.
    running = Harness(BRP.with_settings(batch_window_ms=500), simulator)
    try:
        started = time.perf_counter()
        fragment = await running.run(raadpleeg(BSNS[0], ["naam"]))
        assert fragment is not None
        assert fragment.status == "ok"
        assert time.perf_counter() - started < 0.3
        # With the BRP slow, the first lookup's call is out while four more arrive: they share the next call.
        simulator.set_behaviour("ok", latency_ms=150)
        first = asyncio.ensure_future(running.run(raadpleeg(BSNS[0], ["naam"])))
        await asyncio.sleep(0.05)
        rest = await asyncio.gather(*(running.run(raadpleeg(bsn, ["naam"])) for bsn in BSNS[1:]))
        await first
        assert all(f is not None and f.status == "ok" for f in rest)
    finally:
        await running.aclose()
    sizes = [len(r["json"]["burgerservicenummer"]) for r in simulator.received()]
    assert sizes == [1, 1, 4]


async def test_a_purpose_and_user_outside_ascii_reach_the_brp_percent_encoded(harness: Harness, simulator: Simulator):
    # Before, httpx refused to encode these headers: every such lookup was an internal_error.
    context = RequestContext(doelbinding="BRPACT-Wmo", verwerking="Beëindiging uitkering", gebruiker="jösé 100%")
    fragment = await harness.run(raadpleeg(BSN.value, ["naam"], context))
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    [received] = simulator.received()
    assert received["headers"]["x-verwerking"] == "Be%C3%ABindiging uitkering"
    assert received["headers"]["x-gebruiker"] == "j%C3%B6s%C3%A9 100%25"
    assert received["headers"]["x-doelbinding"] == "BRPACT-Wmo"


async def test_a_long_purpose_with_a_line_break_reaches_the_brp_cut_and_in_one_header(harness, simulator):
    injected = "Beoordelen\r\nx-injected: 1"  # 25 characters
    context = RequestContext(doelbinding="BRPACT-Wmo", verwerking=injected + "v" * 1000)
    fragment = await harness.run(raadpleeg(BSN.value, ["naam"], context))
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    [received] = simulator.received()
    assert received["headers"]["x-verwerking"] == "Beoordelen%0D%0Ax-injected: 1" + "v" * (242 - 25)
    assert "x-injected" not in received["headers"]


async def fetch_as_the_runtime_does(harness: Harness, request: LookupRequested) -> FragmentProduced:
    # The adapter's own outcome: the runtime would drop a fragment finished at its deadline unpublished.
    token = FETCH_DEADLINE.set(request.deadline)
    try:
        ctx = FetchContext(harness.client, request.queries[0], request, timeout=request.deadline - time.time())
        return await fetch_fragment(harness.source, ctx)
    finally:
        FETCH_DEADLINE.reset(token)


async def test_a_lookup_in_a_batch_with_a_shorter_deadline_is_answered_by_its_own(harness, simulator):
    # The probe's case: a lookup with 5 s failed after 30 ms because it shared a batch with a 30 ms one.
    simulator.set_behaviour("ok", latency_ms=300)
    hurried = lookup_for(harness.case, raadpleeg(BSNS[0], ["naam"]), deadline_s=0.08)
    patient = lookup_for(harness.case, raadpleeg(BSNS[1], ["naam"]), deadline_s=5.0)
    started = time.perf_counter()
    short, long = await asyncio.gather(
        fetch_as_the_runtime_does(harness, hurried), fetch_as_the_runtime_does(harness, patient)
    )
    assert long.status == "ok", long.error
    assert long.data["naam"]["geslachtsnaam"]
    assert short.error is not None
    assert short.error.code == "timeout"
    assert short.duration_ms < 200, "the hurried lookup stopped at its own deadline"
    assert time.perf_counter() - started < 1.0
    [call] = simulator.received()
    assert sorted(call["json"]["burgerservicenummer"]) == sorted(BSNS[:2]), "both went in one call"


# Boterdiep 31 Rotterdam: the adresseerbaar object and nummeraanduiding test person 999993653 is registered at.
BOTERDIEP_OBJECT = Identifier(type="adresseerbaarobject", value="0599010000208579")
BOTERDIEP_ADDRESS = Identifier(type="nummeraanduiding", value="0599200000219678")


@pytest.mark.parametrize(
    ("operation", "identifier", "param"),
    [
        ("ZoekMetAdresseerbaarObjectIdentificatie", BOTERDIEP_OBJECT, "adresseerbaarObjectIdentificatie"),
        ("ZoekMetNummeraanduidingIdentificatie", BOTERDIEP_ADDRESS, "nummeraanduidingIdentificatie"),
    ],
)
async def test_a_relation_identifier_drives_the_address_searches(harness, simulator, operation, identifier, param):
    """A branch that follows a BAG identifier asks who lives there: the identifier fills the search's parameter."""
    scenario = Scenario("residents", operation, identifier, fields=["burgerservicenummer", "naam.volledigeNaam"])
    fragment = await harness.run(scenario)
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    assert "999993653" in [p["burgerservicenummer"] for p in fragment.data["personen"]]
    [received] = simulator.received()
    assert received["json"]["type"] == operation
    assert received["json"][param] == identifier.value
    assert received["json"]["fields"] == ["burgerservicenummer", "naam.volledigeNaam"]


async def test_an_address_search_by_a_person_identifier_is_refused_without_a_call(harness, simulator):
    scenario = Scenario("residents by bsn", "ZoekMetAdresseerbaarObjectIdentificatie", BSN, fields=["naam"])
    fragment = await harness.run(scenario)
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert fragment.error.code == "unsupported_identifier"
    assert simulator.received() == []


async def test_an_address_search_with_its_parameter_given_keeps_it(harness, simulator):
    scenario = Scenario(
        "residents by param",
        "ZoekMetAdresseerbaarObjectIdentificatie",
        BSN,
        params={"adresseerbaarObjectIdentificatie": BOTERDIEP_OBJECT.value},
        fields=["burgerservicenummer"],
    )
    fragment = await harness.run(scenario)
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    [received] = simulator.received()
    assert received["json"]["adresseerbaarObjectIdentificatie"] == BOTERDIEP_OBJECT.value
