"""KVK-specific behaviour of the connector, against the KVK simulator over real HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from iko_kvk_connector.source import KvkSettings, KvkSource, normalise_links
from iko_shared.connector import CircuitBreaker, RetryPolicy
from iko_shared.contracts import Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Harness, Scenario, Simulator, by, serve_simulator

from tests.contract.cases import API_KEY, KVK, KVK_CASE, kvk_source

JSON = "application/json"
HAL = "application/hal+json"
SUB_RESOURCES = ("hoofdvestiging", "vestigingen", "eigenaar")


def kvk_case(accept: str = JSON, prefix: str = "") -> ConnectorCase:
    """The KVK case asking for ``accept``, on the simulator's URL plus ``prefix``."""

    def make(base_url: str, /, **overrides: Any) -> tuple[KvkSource, KvkSettings]:
        return kvk_source(base_url + prefix, **{"accept": accept, **overrides})

    return replace(KVK_CASE, make_source=make)


@pytest.fixture(scope="module")
def kvk_simulator() -> Iterator[Simulator]:
    with serve_simulator(KVK_CASE.make_simulator()) as simulator:
        yield simulator


@pytest.fixture
def sim(kvk_simulator: Simulator) -> Iterator[Simulator]:
    kvk_simulator.reset()
    yield kvk_simulator
    kvk_simulator.reset()


@pytest.fixture
async def kvk(sim: Simulator) -> AsyncIterator[Harness]:
    harness = Harness(kvk_case(), sim)
    yield harness
    await harness.aclose()


def basisprofiel(params: dict[str, Any], identifier: Identifier = KVK) -> Scenario:
    return Scenario("basisprofiel", "basisprofiel", identifier, params=params)


@pytest.mark.parametrize(
    "include",
    [[], ["hoofdvestiging"], ["vestigingen", "eigenaar"], ["hoofdvestiging", "vestigingen", "eigenaar"]],
)
async def test_include_adds_exactly_the_sub_resources_asked_for(kvk: Harness, sim: Simulator, include: list[str]):
    fragment = await kvk.run(basisprofiel({"include": include}))

    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    data = fragment.data
    assert data["kvkNummer"] == "69599084"
    assert {name for name in SUB_RESOURCES if name in data} == set(include)
    paths = sorted(r["path"] for r in sim.received())
    assert paths == sorted(["/v1/basisprofielen/69599084", *(f"/v1/basisprofielen/69599084/{n}" for n in include)])
    if "hoofdvestiging" in include:
        # The full Vestiging, not the shortened embedded one.
        assert data["hoofdvestiging"]["vestigingsnummer"] == "000038509504"
        assert data["hoofdvestiging"]["handelsnamen"]
    if "vestigingen" in include:
        assert data["vestigingen"]["totaalAantalVestigingen"] == 2
        assert {v["vestigingsnummer"] for v in data["vestigingen"]["vestigingen"]} == {"000038509504", "000038509520"}
    if "eigenaar" in include:
        assert data["eigenaar"]["rechtsvorm"] == "Eenmanszaak"


async def test_include_as_a_comma_separated_string(kvk: Harness):
    fragment = await kvk.run(basisprofiel({"include": "eigenaar, hoofdvestiging"}))
    assert fragment is not None
    assert {"eigenaar", "hoofdvestiging"} <= set(fragment.data)
    assert "vestigingen" not in fragment.data


async def test_sub_resources_are_fetched_concurrently(kvk: Harness, sim: Simulator):
    sim.set_behaviour("ok", latency_ms=200)
    started = time.monotonic()
    fragment = await kvk.run(basisprofiel({"include": list(SUB_RESOURCES)}))
    elapsed = time.monotonic() - started

    assert fragment is not None
    assert fragment.status == "ok"
    assert len(sim.received()) == 4
    assert elapsed < 0.6, "four calls of 200 ms each in sequence would take 800 ms"


async def test_unknown_include_is_refused_before_any_call(kvk: Harness, sim: Simulator):
    fragment = await kvk.run(basisprofiel({"include": ["hoofdvestiging", "aandeelhouders"]}))
    assert fragment is not None
    assert (fragment.status, fragment.error.code if fragment.error else None) == ("error", "invalid_query")
    assert sim.received() == []


async def test_a_company_without_hoofdvestiging_has_it_as_null(kvk: Harness):
    # A Vereniging van Eigenaars (90000749) has no hoofdvestiging: KVK answers 404 IPD0005 for it.
    fragment = await kvk.run(
        basisprofiel({"include": ["hoofdvestiging", "eigenaar"]}, Identifier(type="kvk", value="90000749"))
    )
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    assert fragment.data["hoofdvestiging"] is None
    assert fragment.data["eigenaar"]["adressen"][0]["plaats"] == "Dordrecht"


async def test_a_failing_sub_resource_fails_the_fragment(kvk: Harness):
    # 90004973 is KVK's published error scenario: every resource of it answers 500 IPD1999.
    fragment = await kvk.run(basisprofiel({"include": ["vestigingen"]}, Identifier(type="kvk", value="90004973")))
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert (fragment.error.code, fragment.error.details) == ("IPD1999", {"status": 500})


async def test_geo_data_is_asked_where_the_api_offers_it(kvk: Harness, sim: Simulator):
    fragment = await kvk.run(basisprofiel({"include": list(SUB_RESOURCES), "geoData": True}))

    assert fragment is not None
    assert fragment.status == "ok"
    assert "geoData" in fragment.data["hoofdvestiging"]["adressen"][0]
    queries = {r["path"]: r["query"] for r in sim.received()}
    assert queries["/v1/basisprofielen/69599084"] == "geoData=true"
    assert queries["/v1/basisprofielen/69599084/hoofdvestiging"] == "geoData=true"
    assert queries["/v1/basisprofielen/69599084/eigenaar"] == "geoData=true"
    assert queries["/v1/basisprofielen/69599084/vestigingen"] == ""


async def test_without_geo_data_none_is_asked(kvk: Harness, sim: Simulator):
    fragment = await kvk.run(basisprofiel({"include": ["hoofdvestiging"]}))
    assert fragment is not None
    assert "geoData" not in fragment.data["hoofdvestiging"]["adressen"][0]
    assert all(r["query"] == "" for r in sim.received())


@pytest.mark.parametrize(
    "scenario",
    [
        basisprofiel({"include": list(SUB_RESOURCES)}),
        Scenario("vestigingsprofiel", "vestigingsprofiel", params={"vestigingsnummer": "000038509504"}),
        Scenario("zoeken", "zoeken", params={"kvkNummer": "69599084"}),
    ],
    ids=["basisprofiel", "vestigingsprofiel", "zoeken"],
)
async def test_json_and_hal_answers_give_the_same_data(sim: Simulator, scenario: Scenario):
    data = {}
    for accept in (JSON, HAL):
        harness = Harness(kvk_case(accept=accept), sim)
        try:
            fragment = await harness.run(scenario)
        finally:
            await harness.aclose()
        assert fragment is not None
        assert fragment.status == "ok", fragment.error
        data[accept] = fragment.data
    # The simulator really answered in both styles: the test compares two different representations.
    assert {r["headers"]["accept"] for r in sim.received()} == {JSON, HAL}
    assert data[JSON] == data[HAL]
    assert "'_links'" not in repr(data[HAL])
    linked = data[HAL]["resultaten"][0] if scenario.operation == "zoeken" else data[HAL]
    assert {link["rel"] for link in linked["links"]} >= {"basisprofiel" if scenario.operation == "zoeken" else "self"}


def test_normalise_links_reads_every_shape():
    hal = {
        "kvkNummer": "1",
        "_links": {
            "self": {"href": "https://k/1"},
            "vestigingen": [{"href": "https://k/v1"}, {"href": "https://k/v2"}],
        },
        "_embedded": {"eigenaar": {"_links": {"self": {"href": "https://k/1/eigenaar"}}}},
        "lijst": [{"links": [{"rel": "self", "href": "https://k/x"}]}],
    }
    assert normalise_links(hal) == {
        "kvkNummer": "1",
        "links": [
            {"rel": "self", "href": "https://k/1"},
            {"rel": "vestigingen", "href": "https://k/v1"},
            {"rel": "vestigingen", "href": "https://k/v2"},
        ],
        "_embedded": {"eigenaar": {"links": [{"rel": "self", "href": "https://k/1/eigenaar"}]}},
        "lijst": [{"links": [{"rel": "self", "href": "https://k/x"}]}],
    }
    # Both at once (a proxy adding one): merged, without duplicates.
    both = {"links": [{"rel": "self", "href": "https://k/1"}], "_links": {"self": {"href": "https://k/1"}}}
    assert normalise_links(both) == {"links": [{"rel": "self", "href": "https://k/1"}]}


async def test_the_api_key_travels_in_the_apikey_header(kvk: Harness, sim: Simulator):
    await kvk.run(basisprofiel({}))
    assert [r["headers"].get("apikey") for r in sim.received()] == [API_KEY]


async def test_a_bare_404_is_an_error_not_an_absent_company(sim: Simulator):
    # A wrong base URL answers 404 without KVK's error body: that must not read as "no such company".
    harness = Harness(kvk_case(prefix="/no-such-api"), sim)
    try:
        fragment = await harness.run(basisprofiel({}))
    finally:
        await harness.aclose()
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert (fragment.error.code, fragment.error.details) == ("http_404", {"status": 404})


@pytest.mark.parametrize("nummer", ["12345", "00003850950A", "../basisprofielen/69599084", 38509504, None])
async def test_a_malformed_vestigingsnummer_never_reaches_a_url(kvk: Harness, sim: Simulator, nummer: Any):
    fragment = await kvk.run(Scenario("v", "vestigingsprofiel", params={"vestigingsnummer": nummer}))
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "IPD0006"
    assert sim.received() == []


async def test_vestigingsprofiel_reads_the_number_from_params(kvk: Harness, sim: Simulator):
    fragment = await kvk.run(
        Scenario("v", "vestigingsprofiel", KVK, params={"vestigingsnummer": "000038509504", "geoData": "true"})
    )
    assert fragment is not None
    assert fragment.data["vestigingsnummer"] == "000038509504"
    assert "geoData" in fragment.data["adressen"][0]
    assert [(r["path"], r["query"]) for r in sim.received()] == [
        ("/v1/vestigingsprofielen/000038509504", "geoData=true")
    ]


async def test_zoeken_passes_paging_and_filters_through(kvk: Harness, sim: Simulator):
    fragment = await kvk.run(
        Scenario(
            "z",
            "zoeken",
            params={
                "kvkNummer": "69599084",
                "type": ["hoofdvestiging", "nevenvestiging"],
                "pagina": 2,
                "resultatenPerPagina": 1,
            },
        )
    )
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    page = fragment.data
    assert (page["pagina"], page["resultatenPerPagina"], page["totaal"], len(page["resultaten"])) == (2, 1, 2, 1)
    assert "vorige" in page
    assert "volgende" not in page
    # Compared decoded: a comma in a query may travel as "," or "%2C" (aiohttp's URL sends the former).
    assert parse_qsl(sim.received()[0]["query"]) == [
        ("kvkNummer", "69599084"),
        ("type", "hoofdvestiging,nevenvestiging"),
        ("pagina", "2"),
        ("resultatenPerPagina", "1"),
    ]


async def test_zoeken_refuses_a_parameter_kvk_does_not_have(kvk: Harness, sim: Simulator):
    fragment = await kvk.run(Scenario("z", "zoeken", params={"kvknummer": "69599084"}))
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "invalid_query"
    assert sim.received() == []


async def test_zoeken_past_the_last_page_is_not_found_with_an_empty_page(kvk: Harness):
    fragment = await kvk.run(Scenario("z", "zoeken", params={"kvkNummer": "69599084", "pagina": 5}))
    assert fragment is not None
    assert fragment.status == "not_found"
    assert fragment.data == {"pagina": 5, "resultatenPerPagina": 10, "totaal": 0, "resultaten": []}


async def test_a_number_kvk_fails_on_does_not_shut_out_the_other_callers(sim: Simulator):
    # The probe's attack: 90004973 makes KVK answer 500, and one lookup with every include makes four calls, so
    # two such lookups were enough to open the circuit for every caller of the connector.
    harness = Harness(kvk_case(), sim, policy=RetryPolicy(max_attempts=1), breaker=CircuitBreaker())
    failing = basisprofiel({"include": list(SUB_RESOURCES)}, Identifier(type="kvk", value="90004973"))
    try:
        for _ in range(5):
            attack = await harness.run(by("attacker", failing))
            assert attack is not None
            assert attack.error is not None
            assert attack.error.code == "IPD1999"
            victim = await harness.run(by("victim", basisprofiel({"include": ["hoofdvestiging"]})))
            assert victim is not None
            assert victim.status == "ok", victim.error
    finally:
        await harness.aclose()
    assert len(sim.received()) == 5 * 4 + 5 * 2, "every call went to KVK: none failed fast"
