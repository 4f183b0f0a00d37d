"""Klantinteracties-specific behaviour of the connector, against the Open Klant simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from iko_klantinteracties_connector.source import KlantinteractiesSettings
from iko_sandbox.klantinteracties.app import DEFAULT_TOKEN
from iko_shared.connector import SourceError
from iko_shared.connector.urls import UrlGuard
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Harness, Scenario, Simulator, serve_simulator

from tests.contract.cases.common import BSN, KVK
from tests.contract.cases.klantinteracties import (
    KLANTINTERACTIES,
    KLANTINTERACTIES_TOKEN,
    MANY,
    klantinteracties_source,
)

PATH = "/klantinteracties/api/v1/klantcontacten"
SOORT = "hadBetrokkene__wasPartij__partijIdentificator__codeSoortObjectId"
OBJECT_ID = "hadBetrokkene__wasPartij__partijIdentificator__objectId"


def case(**settings: Any) -> ConnectorCase:
    def make(base_url: str, /, **overrides: Any) -> Any:
        return klantinteracties_source(base_url, **{**settings, **overrides})

    return replace(KLANTINTERACTIES, make_source=make)


@pytest.fixture(scope="module")
def ki_simulator() -> Iterator[Simulator]:
    with serve_simulator(KLANTINTERACTIES.make_simulator()) as simulator:
        yield simulator


@pytest.fixture
def sim(ki_simulator: Simulator) -> Iterator[Simulator]:
    ki_simulator.reset()
    yield ki_simulator
    ki_simulator.reset()


@pytest.fixture
async def ki(sim: Simulator) -> AsyncIterator[Harness]:
    harness = Harness(case(), sim)
    yield harness
    await harness.aclose()


def contactmomenten(identifier: Identifier = BSN, **params: Any) -> Scenario:
    return Scenario("contactmomenten", "contactmomenten", identifier, params=params)


def ok(fragment: FragmentProduced | None) -> dict[str, Any]:
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    data: dict[str, Any] = fragment.data
    return data


def queries(sim: Simulator) -> list[dict[str, list[str]]]:
    return [parse_qs(r["query"]) for r in sim.received() if r["path"] == PATH]


async def test_a_person_is_asked_by_bsn_with_the_token_and_the_default_expand(ki: Harness, sim: Simulator):
    data = ok(await ki.run(contactmomenten()))
    assert data["count"] == 6
    [asked] = [r for r in sim.received() if r["path"] == PATH]
    assert asked["method"] == "GET"
    assert parse_qs(asked["query"]) == {
        SOORT: ["bsn"],
        OBJECT_ID: [BSN.value],
        "expand": ["hadBetrokkenen,gingOverOnderwerpobjecten"],
    }
    assert asked["headers"]["authorization"] == f"Token {KLANTINTERACTIES_TOKEN}"


async def test_a_company_is_asked_by_kvk_nummer(ki: Harness, sim: Simulator):
    data = ok(await ki.run(contactmomenten(KVK)))
    assert (data["count"], len(data["klantcontacten"])) == (4, 4)
    [query] = queries(sim)
    assert (query[SOORT], query[OBJECT_ID]) == (["kvk_nummer"], [KVK.value])


async def test_next_is_followed_to_the_second_page(ki: Harness, sim: Simulator):
    data = ok(await ki.run(contactmomenten(MANY)))
    assert (data["count"], len(data["klantcontacten"]), data["complete"]) == (120, 120, True)
    assert len({c["uuid"] for c in data["klantcontacten"]}) == 120
    pages = queries(sim)
    assert len(pages) == 2
    assert "page" not in pages[0]
    assert pages[1]["page"] == ["2"]
    assert pages[1][OBJECT_ID] == [MANY.value], "next repeats the query"


async def test_max_pages_1_stops_after_the_first_page(ki: Harness, sim: Simulator):
    data = ok(await ki.run(contactmomenten(MANY, max_pages=1)))
    assert (data["count"], len(data["klantcontacten"]), data["complete"]) == (120, 100, False)
    assert len(queries(sim)) == 1


async def test_the_configured_max_pages_bounds_the_query_param(sim: Simulator):
    harness = Harness(case(max_pages=1), sim)
    try:
        data = ok(await harness.run(contactmomenten(MANY, max_pages=5)))
    finally:
        await harness.aclose()
    assert (len(data["klantcontacten"]), data["complete"]) == (100, False)
    assert len(queries(sim)) == 1


@pytest.mark.parametrize("bad", [0, -1, "x"])
async def test_a_bad_max_pages_is_an_invalid_query(ki: Harness, sim: Simulator, bad: Any):
    fragment = await ki.run(contactmomenten(max_pages=bad))
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "invalid_query"
    assert sim.received() == []


@pytest.mark.parametrize(
    ("expand", "sent"),
    [
        (["hadBetrokkenen.wasPartij"], "hadBetrokkenen.wasPartij"),
        ("leiddeTotInterneTaken,omvatteBijlagen", "leiddeTotInterneTaken,omvatteBijlagen"),
    ],
)
async def test_expand_is_passed_through(ki: Harness, sim: Simulator, expand: Any, sent: str):
    data = ok(await ki.run(contactmomenten(expand=expand)))
    [query] = queries(sim)
    assert query["expand"] == [sent]
    assert all("_expand" in c for c in data["klantcontacten"])
    if expand == ["hadBetrokkenen.wasPartij"]:
        betrokkene = data["klantcontacten"][0]["_expand"]["hadBetrokkenen"][0]
        assert betrokkene["_expand"]["wasPartij"]["uuid"]


async def test_an_empty_expand_asks_for_no_expansion(ki: Harness, sim: Simulator):
    data = ok(await ki.run(contactmomenten(expand=[])))
    [query] = queries(sim)
    assert "expand" not in query
    assert all("_expand" not in c for c in data["klantcontacten"])


async def test_the_default_expand_is_a_setting(sim: Simulator):
    harness = Harness(case(expand="omvatteBijlagen"), sim)
    try:
        ok(await harness.run(contactmomenten()))
    finally:
        await harness.aclose()
    [query] = queries(sim)
    assert query["expand"] == ["omvatteBijlagen"]


class ElsewhereTransport(httpx.AsyncBaseTransport):
    """Makes the simulator believe it is addressed as another host, so the ``next`` links it hands out point there;
    every request still reaches the simulator, so what it receives is what the connector asked."""

    def __init__(self, sim: Simulator, host: str = "klant.elsewhere.example") -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._sim = httpx.URL(sim.url)
        self._host = host
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        request.url = request.url.copy_with(host=self._sim.host, port=self._sim.port)
        request.headers["Host"] = self._host
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_no_token_goes_to_another_host(sim: Simulator):
    elsewhere = ElsewhereTransport(sim)
    harness = Harness(case(), sim, inner=elsewhere)
    try:
        fragment = await harness.run(contactmomenten(MANY))
    finally:
        await harness.aclose()
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "foreign_url"
    assert fragment.error.details == {"host": "klant.elsewhere.example"}
    assert MANY.value not in fragment.error.message, "the refused URL's query (a BSN) is not repeated"
    assert elsewhere.hosts == ["127.0.0.1"], "the second page was not asked anywhere"


def test_url_guard_admits_only_urls_under_the_base_url():
    guard = UrlGuard(["https://klant.example/api"])
    assert guard.admit("https://klant.example/api/klantinteracties/api/v1/klantcontacten?page=2")
    assert guard.admit("https://klant.example:443/api/x")
    assert guard.admit("/klantinteracties/api/v1/klantcontacten") == "/klantinteracties/api/v1/klantcontacten"
    for foreign in (
        "http://klant.example/api/x",  # another scheme: the token would travel in clear
        "https://klant.example/apix/x",
        "https://klant.example.evil/api/x",
        "https://klant.example:8443/api/x",
    ):
        with pytest.raises(SourceError) as refused:
            guard.admit(foreign)
        assert refused.value.code == "foreign_url"


async def test_a_403_is_forbidden(sim: Simulator):
    transport = httpx.MockTransport(lambda request: httpx.Response(403, json={"detail": "Geen toegang."}))
    harness = Harness(case(), sim, inner=transport)
    try:
        fragment = await harness.run(contactmomenten())
    finally:
        await harness.aclose()
    assert fragment is not None
    assert fragment.error is not None
    assert (fragment.error.code, fragment.error.message) == ("forbidden", "Geen toegang.")
    assert fragment.error.details == {"status": 403}


def test_the_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IKO_KLANTINTERACTIES_TOKEN", "from-env")
    monkeypatch.setenv("IKO_KLANTINTERACTIES_MAX_PAGES", "2")
    monkeypatch.delenv("IKO_KLANTINTERACTIES_BASE_URL", raising=False)
    settings = KlantinteractiesSettings()
    assert settings.token is not None
    assert settings.token.get_secret_value() == "from-env"
    assert (settings.max_pages, settings.base_url) == (2, "http://127.0.0.1:8104")
    assert "from-env" not in repr(settings)


def test_the_default_token_is_the_one_the_sandbox_accepts():
    """Out of the box (``make up``) the connector and the simulator agree; any deployment sets its own."""
    token = KlantinteractiesSettings().token
    assert token is not None
    assert token.get_secret_value() == DEFAULT_TOKEN
