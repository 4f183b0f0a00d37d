"""Objecten-specific behaviour of the connector, against the Objecten simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from iko_objecten_connector.catalogue import ObjecttypeCache
from iko_objecten_connector.source import SANDBOX_TOKEN, ObjectenSettings, ObjectenSource, _error, under
from iko_sandbox.objecten.store import OBJECTTYPE_UUIDS
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Harness, Scenario, Simulator, serve_simulator
from pydantic import SecretStr

from tests.contract.cases.objecten import CASE, NUMMERAANDUIDING, PARAMS, TOKEN

BSN = Identifier(type="bsn", value="999993653")
KVK = Identifier(type="kvk", value="69599084")
OBJECTS_PATH = "/objects/api/v2/objects"
OBJECTTYPES_PATH = "/objecttypes/api/v2/objecttypes/"
PARKEERVERGUNNING = OBJECTTYPE_UUIDS["parkeervergunning"]


def objecten_case(cache: ObjecttypeCache | None = None, **settings: Any) -> ConnectorCase:
    def make(base_url: str, /, **overrides: Any) -> tuple[ObjectenSource, ObjectenSettings]:
        s = ObjectenSettings(**{"base_url": base_url, "token": SecretStr(TOKEN), **settings, **overrides})
        return ObjectenSource(s, cache=cache), s

    return replace(CASE, make_source=make)


@pytest.fixture(scope="module")
def objecten_simulator() -> Iterator[Simulator]:
    with serve_simulator(CASE.make_simulator()) as simulator:
        yield simulator


@pytest.fixture
def sim(objecten_simulator: Simulator) -> Iterator[Simulator]:
    objecten_simulator.reset()
    yield objecten_simulator
    objecten_simulator.reset()


@pytest.fixture
async def objecten(sim: Simulator) -> AsyncIterator[Harness]:
    harness = Harness(objecten_case(), sim)
    yield harness
    await harness.aclose()


def registraties(identifier: Identifier, params: dict[str, Any] | None = None) -> Scenario:
    return Scenario("registraties", "registraties", identifier, params=PARAMS if params is None else params)


def ok(fragment: FragmentProduced | None) -> dict[str, Any]:
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    data: dict[str, Any] = fragment.data
    return data


def requests_to(sim: Simulator, prefix: str) -> list[dict[str, Any]]:
    return [r for r in sim.received() if r["path"].startswith(prefix)]


async def test_the_parkeervergunningen_of_a_bsn_named_from_objecttypen(objecten: Harness, sim: Simulator):
    data = ok(await objecten.run(registraties(BSN)))
    assert data["count"] == 2
    assert data["complete"] is True
    assert data["warnings"] == []
    assert sorted(o["record"]["data"]["kenteken"] for o in data["objecten"]) == ["AB-123-C", "XY-987-Z"]
    assert {o["objecttypeNaam"] for o in data["objecten"]} == {"parkeervergunning"}
    assert all(o["record"]["data"]["bsn"] == "999993653" for o in data["objecten"])
    # Only the objecttype configured for a bsn is asked, by the configured path, with the Token.
    (search,) = requests_to(sim, OBJECTS_PATH)
    query = parse_qs(search["query"])
    assert query["data_attr"] == ["bsn__exact__999993653"]
    assert query["type"] == [f"{sim.url}{OBJECTTYPES_PATH}{PARKEERVERGUNNING}"]
    assert search["headers"]["authorization"] == f"Token {TOKEN}"
    (objecttype,) = requests_to(sim, OBJECTTYPES_PATH)
    assert objecttype["path"] == f"{OBJECTTYPES_PATH}{PARKEERVERGUNNING}"
    assert objecttype["headers"]["authorization"] == f"Token {TOKEN}"


async def test_the_meldingen_at_a_nummeraanduiding(objecten: Harness):
    data = ok(await objecten.run(registraties(NUMMERAANDUIDING)))
    assert data["count"] == 2
    assert [o["record"]["data"]["nummeraanduidingIdentificatie"] for o in data["objecten"]] == [
        "0599200000219678",
        "0599200000219678",
    ]
    assert {o["objecttypeNaam"] for o in data["objecten"]} == {"melding openbare ruimte"}


async def test_the_bedrijfsvergunningen_of_a_kvk_nummer(objecten: Harness):
    data = ok(await objecten.run(registraties(KVK)))
    assert data["count"] == 2
    assert {o["record"]["data"]["kvkNummer"] for o in data["objecten"]} == {"69599084"}
    assert {o["objecttypeNaam"] for o in data["objecten"]} == {"bedrijfsvergunning"}


async def test_an_objecttype_url_and_an_entry_for_every_identifier_type(objecten: Harness, sim: Simulator):
    url = f"{sim.url}{OBJECTTYPES_PATH}{PARKEERVERGUNNING}"
    data = ok(
        await objecten.run(
            registraties(
                Identifier(type="bsn", value="999990068"),
                {
                    "types": [
                        {"objecttype": url, "data_attr": "bsn"},
                    ]
                },
            )
        )
    )
    assert [o["record"]["data"]["kenteken"] for o in data["objecten"]] == ["GH-45-JK"]


async def test_no_entry_for_the_identifier_type_is_unsupported(objecten: Harness, sim: Simulator):
    only_kvk = {"types": [t for t in PARAMS["types"] if t["identifier_type"] == "kvk"]}
    fragment = await objecten.run(registraties(BSN, only_kvk))
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "unsupported_identifier"
    assert sim.received() == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"types": []},
        {"types": ["parkeervergunning"]},
        {"types": [{"objecttype": PARKEERVERGUNNING}]},
        {"types": [{"objecttype": PARKEERVERGUNNING, "data_attr": "bsn__exact__1,x"}]},
        {"types": [{"objecttype": PARKEERVERGUNNING, "data_attr": "bsn", "identifier_type": "rsin"}]},
        {**PARAMS, "max_pages": 0},
    ],
)
async def test_a_malformed_configuration_is_an_invalid_query(objecten: Harness, sim: Simulator, params: Any):
    fragment = await objecten.run(registraties(BSN, params))
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "invalid_query"
    assert sim.received() == []


async def test_a_second_lookup_reads_the_objecttype_from_the_cache(sim: Simulator):
    now = [0.0]
    cache = ObjecttypeCache(ttl_s=60, clock=lambda: now[0])
    harness = Harness(objecten_case(cache=cache), sim)
    try:
        ok(await harness.run(registraties(BSN)))
        assert len(requests_to(sim, OBJECTTYPES_PATH)) == 1
        sim.reset()
        data = ok(await harness.run(registraties(BSN)))
        assert {o["objecttypeNaam"] for o in data["objecten"]} == {"parkeervergunning"}
        assert requests_to(sim, OBJECTTYPES_PATH) == [], "the objecttype came from the cache"
        assert len(requests_to(sim, OBJECTS_PATH)) == 1, "the objects are asked every time"
        now[0] = 61.0
        sim.reset()
        ok(await harness.run(registraties(BSN)))
        assert len(requests_to(sim, OBJECTTYPES_PATH)) == 1, "after the TTL it is read again"
    finally:
        await harness.aclose()
    assert cache.loads == 2


async def test_pages_are_followed_up_to_max_pages(sim: Simulator):
    harness = Harness(objecten_case(page_size=1), sim)
    try:
        data = ok(await harness.run(registraties(BSN)))
        assert (data["count"], len(data["objecten"]), data["complete"]) == (2, 2, True)
        assert len(requests_to(sim, OBJECTS_PATH)) == 2
        sim.reset()
        bounded = ok(await harness.run(registraties(BSN, {**PARAMS, "max_pages": 1})))
        assert (bounded["count"], len(bounded["objecten"]), bounded["complete"]) == (2, 1, False)
        assert len(requests_to(sim, OBJECTS_PATH)) == 1
    finally:
        await harness.aclose()
    assert ObjectenSettings().max_pages == 5


class ElsewhereTransport(httpx.AsyncBaseTransport):
    """Sends every request to the simulator with another Host, so the links it answers point to that host."""

    def __init__(self, sim: Simulator, host: str = "objecten.elsewhere.example") -> None:
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


async def test_a_next_link_to_another_host_gets_no_token(sim: Simulator):
    elsewhere = ElsewhereTransport(sim)
    harness = Harness(objecten_case(page_size=1), sim, inner=elsewhere)
    try:
        fragment = await harness.run(registraties(BSN))
    finally:
        await harness.aclose()
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "foreign_url"
    assert fragment.error.details == {"host": "objecten.elsewhere.example"}
    assert "999993653" not in fragment.error.message
    assert elsewhere.hosts == ["127.0.0.1"], "nothing was sent to the other host"
    assert len(requests_to(sim, OBJECTS_PATH)) == 1


def test_urls_under_the_base_only():
    base = "http://127.0.0.1:8105/objects/api/v2"
    assert under("http://127.0.0.1:8105/objects/api/v2/objects?page=2", base)
    assert not under("http://127.0.0.1:8105/objects/api/v2evil/objects", base)
    assert not under("http://127.0.0.1:8106/objects/api/v2/objects", base)
    assert not under("https://127.0.0.1:8105/objects/api/v2/objects", base)
    assert not under("http://evil.example/objects/api/v2/objects", base)
    assert not under("/objects/api/v2/objects", base)


async def test_a_wrong_objecttypen_token_leaves_the_names_out_with_a_warning(sim: Simulator):
    harness = Harness(objecten_case(objecttypen_token=SecretStr("not-the-token")), sim)
    try:
        data = ok(await harness.run(registraties(BSN)))
    finally:
        await harness.aclose()
    assert len(data["objecten"]) == 2
    assert {o["objecttypeNaam"] for o in data["objecten"]} == {None}
    assert [w["code"] for w in data["warnings"]] == ["authentication"]
    (objecttype,) = requests_to(sim, OBJECTTYPES_PATH)
    assert objecttype["headers"]["authorization"] == "Token not-the-token"


async def test_the_source_failing_is_an_error_with_its_status(objecten: Harness, sim: Simulator):
    sim.set_behaviour("error")
    fragment = await objecten.run(registraties(BSN))
    assert fragment is not None
    assert fragment.error is not None
    assert (fragment.error.details or {}).get("status") == 500


@pytest.mark.parametrize(("status", "code"), [(401, "authentication"), (403, "authentication"), (400, "invalid_query")])
def test_error_answers(status: int, code: str):
    response = httpx.Response(status, json={"data_attr": ["ongeldig"]} if status == 400 else {"detail": "Nee."})
    error = _error(response, "Objecten API")
    assert error.code == code
    assert (error.details or {})["status"] == status
    if status == 400:
        assert (error.details or {})["errors"] == {"data_attr": ["ongeldig"]}


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch):
    for name in ("IKO_OBJECTEN_TOKEN", "IKO_OBJECTTYPEN_TOKEN", "IKO_OBJECTEN_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = ObjectenSettings()
    assert settings.base_url == "http://127.0.0.1:8105"
    assert settings.objects_api == "http://127.0.0.1:8105/objects/api/v2"
    assert settings.objecttypen_api == "http://127.0.0.1:8105/objecttypes/api/v2"
    assert settings.token.get_secret_value() == SANDBOX_TOKEN
    assert settings.objecttypen_token is None
    assert settings.objecttypen_ttl_s == 3600
    monkeypatch.setenv("IKO_OBJECTEN_TOKEN", "t1")
    monkeypatch.setenv("IKO_OBJECTTYPEN_TOKEN", "t2")
    monkeypatch.setenv("IKO_OBJECTEN_OBJECTTYPEN_BASE_URL", "https://objecttypen.example")
    monkeypatch.setenv("IKO_OBJECTEN_MAX_PAGES", "3")
    monkeypatch.setenv("IKO_OBJECTEN_OBJECTTYPEN_TTL_S", "10")
    settings = ObjectenSettings()
    assert settings.token.get_secret_value() == "t1"
    assert settings.objecttypen_token is not None
    assert settings.objecttypen_token.get_secret_value() == "t2"
    assert settings.objecttypen_api == "https://objecttypen.example/objecttypes/api/v2"
    assert (settings.max_pages, settings.objecttypen_ttl_s) == (3, 10)
