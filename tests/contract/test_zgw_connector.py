"""ZGW-specific behaviour of the connector, against the ZGW simulator over real HTTP."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from iko_sandbox.zgw import app as zgw_app
from iko_sandbox.zgw.app import DEFAULT_SECRET as SANDBOX_DEFAULT_SECRET
from iko_sandbox.zgw.app import create_zgw_app
from iko_sandbox.zgw.store import store_for
from iko_sandbox.zgw.zaakobjecten import ADRESSEERBARE_OBJECTEN, BAG_BASE_URL, NUMMERAANDUIDINGEN, bag_uri
from iko_sandbox.zgw.zaken import zaak_uuid_of
from iko_shared.connector import ResilientTransport, SourceError
from iko_shared.connector.urls import UrlGuard
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Harness, Scenario, Simulator, serve_simulator
from iko_zgw_connector.catalogue import CatalogueCache
from iko_zgw_connector.objects import DEFAULT_OBJECT_URLS
from iko_zgw_connector.source import KVK_NUMMER_FILTER, ZgwSettings, ZgwSource
from iko_zgw_connector.token import ZgwToken
from pydantic import ValidationError

from tests.contract.cases import BSN, KVK, ZGW, ZGW_SECRET, zgw_source
from tests.contract.cases.zgw import BOTERDIEP_31, BOTERDIEP_31_ADRES, NO_ZAKEN_OBJECT

MANY = Identifier(type="kvk", value="90006577")  # 250 zaken: three pages of 100
LIST_PATH = "/zaken/api/v1/zaken"
ZOEK_PATH = "/zaken/api/v1/zaken/_zoek"
BSN_FILTER = "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn"
NNP_FILTER = "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId"
VESTIGING_FILTER = "rol__betrokkeneIdentificatie__vestiging__vestigingsNummer"
ZAAKTYPE_PATH = "/catalogi/api/v1/zaaktypen/"
STATUSTYPE_PATH = "/catalogi/api/v1/statustypen/"


def zgw_case(token: ZgwToken | None = None, cache: CatalogueCache | None = None, **settings: Any) -> ConnectorCase:
    """The ZGW case with its own token or catalogue cache, and ``settings`` over the case's own."""

    def make(base_url: str, /, **overrides: Any) -> tuple[ZgwSource, ZgwSettings]:
        _, s = zgw_source(base_url, **{**settings, **overrides})
        return ZgwSource(s, token=token, cache=cache), s

    return replace(ZGW, make_source=make)


@pytest.fixture(scope="module")
def zgw_simulator() -> Iterator[Simulator]:
    with serve_simulator(ZGW.make_simulator()) as simulator:
        yield simulator


@pytest.fixture
def sim(zgw_simulator: Simulator) -> Iterator[Simulator]:
    zgw_simulator.reset()
    yield zgw_simulator
    zgw_simulator.reset()


@pytest.fixture
async def zgw(sim: Simulator) -> AsyncIterator[Harness]:
    harness = Harness(zgw_case(), sim)
    yield harness
    await harness.aclose()


def zaken(identifier: Identifier = BSN, **params: Any) -> Scenario:
    return Scenario("zaken", "zaken", identifier, params=params)


def requests_to(sim: Simulator, prefix: str) -> list[dict[str, Any]]:
    return [r for r in sim.received() if r["path"].startswith(prefix)]


def ok(fragment: FragmentProduced | None) -> dict[str, Any]:
    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    data: dict[str, Any] = fragment.data
    return data


# --- which zaken: filters, pages -------------------------------------------------------------------------------


async def test_a_person_is_searched_by_inp_bsn_in_the_body_with_both_crs_headers(zgw: Harness, sim: Simulator):
    ok(await zgw.run(zaken()))
    [searched] = requests_to(sim, LIST_PATH)
    assert (searched["method"], searched["path"], searched["query"]) == ("POST", ZOEK_PATH, "")
    assert searched["json"] == {BSN_FILTER: "999993653"}
    headers = searched["headers"]
    assert (headers["accept-crs"], headers["content-crs"]) == ("EPSG:4326", "EPSG:4326")
    assert headers["content-type"] == "application/json"


async def test_the_bsn_is_in_no_url_only_in_the_body(sim: Simulator):
    # Every call of a lookup — the search, the catalogue, the statuses — as the ZGW server (and its access log)
    # sees it.
    harness = Harness(zgw_case(catalogi_ttl_s=0), sim)
    try:
        data = ok(await harness.run(zaken(include=["status"])))
    finally:
        await harness.aclose()
    received = sim.received()
    assert data["zaken"]
    assert len(received) > 1
    assert all(BSN.value not in r["path"] + "?" + r["query"] for r in received)
    assert [r["json"] for r in received if BSN.value in repr(r["json"])] == [{BSN_FILTER: BSN.value}]


async def test_a_company_is_found_by_inn_nnp_id(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(zaken(KVK)))
    assert data["count"] == 3
    [searched] = requests_to(sim, LIST_PATH)
    assert searched["json"] == {NNP_FILTER: "69599084"}


async def test_the_kvk_filter_of_later_zaken_versions_can_be_chosen(sim: Simulator):
    harness = Harness(zgw_case(kvk_filter=KVK_NUMMER_FILTER), sim)
    try:
        data = ok(await harness.run(zaken(KVK)))
    finally:
        await harness.aclose()
    assert data["count"] == 3
    [searched] = requests_to(sim, LIST_PATH)
    assert searched["json"] == {KVK_NUMMER_FILTER: "69599084"}


async def test_a_vestigingsnummer_in_params_replaces_the_identifier(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(zaken(KVK, vestigingsnummer="000038509520")))
    assert data["count"] == 1
    [searched] = requests_to(sim, LIST_PATH)
    assert searched["json"] == {VESTIGING_FILTER: "000038509520"}


async def test_next_is_followed_with_the_same_body_until_the_last_page(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(zaken(MANY)))
    assert (data["count"], len(data["zaken"]), data["complete"]) == (250, 250, True)
    assert len({z["url"] for z in data["zaken"]}) == 250
    searched = requests_to(sim, LIST_PATH)
    assert [(r["method"], r["path"], r["query"]) for r in searched] == [
        ("POST", ZOEK_PATH, ""),
        ("POST", ZOEK_PATH, "page=2"),
        ("POST", ZOEK_PATH, "page=3"),
    ]
    assert all(r["json"] == {NNP_FILTER: "90006577"} for r in searched)
    assert all(r["headers"]["content-crs"] == r["headers"]["accept-crs"] == "EPSG:4326" for r in searched)


async def test_the_list_method_keeps_the_filter_in_the_query_for_servers_without_zoek(sim: Simulator):
    harness = Harness(zgw_case(search_method="list"), sim)
    try:
        data = ok(await harness.run(zaken(MANY)))
    finally:
        await harness.aclose()
    assert (data["count"], len(data["zaken"]), data["complete"]) == (250, 250, True)
    listed = requests_to(sim, LIST_PATH)
    assert [(r["method"], r["path"]) for r in listed] == [("GET", LIST_PATH)] * 3
    assert [parse_qs(r["query"]) for r in listed] == [
        {NNP_FILTER: ["90006577"]},
        {NNP_FILTER: ["90006577"], "page": ["2"]},
        {NNP_FILTER: ["90006577"], "page": ["3"]},
    ]
    assert all(r["headers"]["accept-crs"] == "EPSG:4326" and r["json"] is None for r in listed)


def test_the_search_method_is_zoek_unless_set_to_list(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("IKO_ZGW_SEARCH_METHOD", raising=False)
    assert ZgwSettings().search_method == "zoek"
    monkeypatch.setenv("IKO_ZGW_SEARCH_METHOD", "list")
    assert ZgwSettings().search_method == "list"
    monkeypatch.setenv("IKO_ZGW_SEARCH_METHOD", "query-string")
    with pytest.raises(ValidationError):
        ZgwSettings()


async def test_max_pages_stops_following_next(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(zaken(MANY, max_pages=2)))
    assert (data["count"], len(data["zaken"]), data["complete"]) == (250, 200, False)
    assert len(requests_to(sim, LIST_PATH)) == 2


async def test_max_pages_defaults_to_the_setting(sim: Simulator):
    harness = Harness(zgw_case(max_pages=1), sim)
    try:
        data = ok(await harness.run(zaken(MANY)))
    finally:
        await harness.aclose()
    assert (len(data["zaken"]), data["complete"]) == (100, False)


@pytest.mark.parametrize("value", [0, -1, "many"])
async def test_a_senseless_max_pages_is_refused(zgw: Harness, sim: Simulator, value: Any):
    fragment = await zgw.run(zaken(max_pages=value))
    assert fragment is not None
    assert fragment.error is not None
    assert fragment.error.code == "invalid_query"
    assert sim.received() == []


# --- catalogue names and status ------------------------------------------------------------------------------


async def zaaktype_names(sim: Simulator) -> dict[str, str]:
    """The simulator's zaaktypen, read directly (not through the connector)."""
    token = ZgwToken("iko", ZGW_SECRET).bearer()
    async with httpx.AsyncClient(base_url=sim.url, headers={"Authorization": f"Bearer {token}"}) as client:
        listed = (await client.get("/catalogi/api/v1/zaaktypen", params={"status": "alles"})).json()
    return {z["url"]: z["omschrijving"] for z in listed["results"]}


async def test_every_zaak_is_named_from_its_zaaktype(zgw: Harness, sim: Simulator):
    names = await zaaktype_names(sim)
    sim.reset()
    data = ok(await zgw.run(zaken(MANY)))
    assert all(z["zaaktype_omschrijving"] == names[z["zaaktype"]] for z in data["zaken"])
    # 250 zaken, a handful of zaaktypen: one call per zaaktype, concurrent zaken sharing it.
    assert len(requests_to(sim, ZAAKTYPE_PATH)) == len({z["zaaktype"] for z in data["zaken"]})


async def test_the_catalogue_is_kept_between_lookups(zgw: Harness, sim: Simulator):
    ok(await zgw.run(zaken()))
    first = len(requests_to(sim, ZAAKTYPE_PATH))
    assert first >= 1
    sim.reset()
    data = ok(await zgw.run(zaken()))
    assert requests_to(sim, ZAAKTYPE_PATH) == []
    assert all(z["zaaktype_omschrijving"] for z in data["zaken"])


async def test_concurrent_lookups_share_one_catalogue_fetch(zgw: Harness, sim: Simulator):
    await asyncio.gather(*(zgw.run(zaken()) for _ in range(5)))
    paths = [r["path"] for r in requests_to(sim, ZAAKTYPE_PATH)]
    assert paths
    assert len(paths) == len(set(paths))


async def test_the_catalogue_is_fetched_again_after_its_ttl(sim: Simulator):
    now = [1000.0]
    cache = CatalogueCache(ttl_s=60, clock=lambda: now[0])
    harness = Harness(zgw_case(cache=cache), sim)
    try:
        ok(await harness.run(zaken()))
        first = len(requests_to(sim, ZAAKTYPE_PATH))
        now[0] += 59
        ok(await harness.run(zaken()))
        assert len(requests_to(sim, ZAAKTYPE_PATH)) == first, "still fresh"
        now[0] += 2
        ok(await harness.run(zaken()))
        assert len(requests_to(sim, ZAAKTYPE_PATH)) == 2 * first, "expired: fetched again"
    finally:
        await harness.aclose()


async def test_status_is_read_only_when_asked(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(zaken()))
    assert requests_to(sim, "/zaken/api/v1/statussen") == []
    assert all("status_omschrijving" not in z for z in data["zaken"])


async def test_the_current_status_is_named_from_its_statustype(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(zaken(include=["status"])))
    token = ZgwToken("iko", ZGW_SECRET).bearer()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        for zaak in data["zaken"]:
            status = (await client.get(zaak["status"])).json()
            statustype = (await client.get(status["statustype"])).json()
            assert zaak["status_omschrijving"] == statustype["omschrijving"]
            assert zaak["status_datum_gezet"] == status["datumStatusGezet"]
    assert len(requests_to(sim, "/zaken/api/v1/statussen/")) >= 2 * len(data["zaken"])


async def test_include_as_a_string_works(zgw: Harness):
    data = ok(await zgw.run(zaken(include="status")))
    assert all(z["status_omschrijving"] for z in data["zaken"])


# --- absolute URLs: the same client, never another host ------------------------------------------------------


class FailingTransport(httpx.AsyncBaseTransport):
    """Lets requests through to the simulator, except those ``fail`` picks, answered with ``response``."""

    def __init__(self, fail: Any, status: int, body: dict[str, Any] | None = None, times: int = 10**6) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._fail = fail
        self._status = status
        self._body = body or {}
        self._times = times
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failed < self._times and self._fail(request):
            self.failed += 1
            return httpx.Response(self._status, json=self._body, headers={"Retry-After": "0"}, request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_catalogue_urls_go_through_the_retrying_client(sim: Simulator):
    # The first catalogue call answers 503: the retry of the shared transport must cover absolute URLs too.
    flaky = FailingTransport(lambda r: r.url.path.startswith(ZAAKTYPE_PATH), 503, times=1)
    harness = Harness(zgw_case(), sim, inner=flaky)
    try:
        data = ok(await harness.run(zaken()))
        transport = harness.client._transport
        assert isinstance(transport, ResilientTransport)
        assert transport.attempts == len(sim.received()) + 1
    finally:
        await harness.aclose()
    assert flaky.failed == 1
    assert (data["warnings"], all(z["zaaktype_omschrijving"] for z in data["zaken"])) == ([], True)


async def test_a_catalogue_error_leaves_the_name_empty_with_a_warning(sim: Simulator):
    problem = {"code": "not_found", "detail": "Niet gevonden."}
    failing = FailingTransport(lambda r: r.url.path.startswith(ZAAKTYPE_PATH), 404, problem)
    harness = Harness(zgw_case(), sim, inner=failing)
    try:
        data = ok(await harness.run(zaken()))
    finally:
        await harness.aclose()
    assert data["zaken"]
    assert all(z["zaaktype_omschrijving"] is None for z in data["zaken"])
    assert data["warnings"] == [{"code": "not_found", "message": "Niet gevonden."}]


class ElsewhereTransport(httpx.AsyncBaseTransport):
    """Makes the simulator believe it is addressed as another host, so every URL it hands out points there.

    Whatever host a request names, it is delivered to the simulator: what reaches it is what the connector asked.
    """

    def __init__(self, sim: Simulator, host: str = "zgw.elsewhere.example") -> None:
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


async def test_a_next_link_to_another_host_is_refused(sim: Simulator):
    harness = Harness(zgw_case(), sim, inner=ElsewhereTransport(sim))
    try:
        fragment = await harness.run(zaken(MANY))
    finally:
        await harness.aclose()
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert fragment.error.code == "foreign_url"
    assert fragment.error.details == {"host": "zgw.elsewhere.example"}
    assert "90006577" not in fragment.error.message, "the refused URL's query (an identifier) is not repeated"
    assert len(requests_to(sim, LIST_PATH)) == 1, "the second page was not asked anywhere"


async def test_catalogue_and_status_urls_on_another_host_are_not_followed(sim: Simulator):
    harness = Harness(zgw_case(), sim, inner=ElsewhereTransport(sim))
    try:
        data = ok(await harness.run(zaken(include=["status"])))
    finally:
        await harness.aclose()
    assert data["zaken"]
    assert all(z["zaaktype_omschrijving"] is None and z["status_omschrijving"] is None for z in data["zaken"])
    assert {w["code"] for w in data["warnings"]} == {"foreign_url"}
    assert [r["path"] for r in sim.received()] == [ZOEK_PATH], "nothing but the search was asked"


def test_url_guard_admits_only_urls_under_a_trusted_base():
    guard = UrlGuard(["https://zgw.example/api", "https://catalogi.example:8443"])
    assert guard.admit("https://zgw.example/api/zaken/api/v1/zaken?page=2")
    assert guard.admit("https://zgw.example:443/api/catalogi/x")
    assert guard.admit("https://catalogi.example:8443/catalogi/api/v1/zaaktypen/1")
    assert guard.admit("/zaken/api/v1/zaken") == "/zaken/api/v1/zaken"
    for foreign in (
        "http://zgw.example/api/zaken",  # another scheme: the token would travel in clear
        "https://zgw.example/apix/zaken",
        "https://zgw.example/other",
        "https://zgw.example.evil/api/zaken",
        "https://catalogi.example/catalogi",  # another port
    ):
        for _ in range(2):  # refused again: only admitted URLs are remembered
            with pytest.raises(SourceError) as refused:
                guard.admit(foreign)
            assert refused.value.code == "foreign_url"
    assert guard.admit("https://zgw.example/api/zaken/api/v1/zaken?page=2"), "admitted again from memory"


async def test_a_trusted_url_elsewhere_may_be_followed(sim: Simulator):
    elsewhere = ElsewhereTransport(sim)
    harness = Harness(zgw_case(trusted_urls=["http://zgw.elsewhere.example"]), sim, inner=elsewhere)
    try:
        data = ok(await harness.run(zaken()))
    finally:
        await harness.aclose()
    assert (data["warnings"], all(z["zaaktype_omschrijving"] for z in data["zaken"])) == ([], True)
    assert elsewhere.hosts[0] == "127.0.0.1"
    assert set(elsewhere.hosts[1:]) == {"zgw.elsewhere.example"}, "catalogue calls went to the trusted host"


# --- authorisation ------------------------------------------------------------------------------------------


async def test_the_connectors_default_secret_is_the_sandboxs_and_signs_without_a_warning(monkeypatch):
    monkeypatch.delenv("IKO_ZGW_SECRET", raising=False)
    monkeypatch.delenv("IKO_SANDBOX_ZGW_SECRET", raising=False)
    settings = ZgwSettings()
    assert settings.secret.get_secret_value() == SANDBOX_DEFAULT_SECRET
    assert len(SANDBOX_DEFAULT_SECRET.encode()) >= 32, "RFC 7518: an HS256 key of at least 256 bits"
    app = create_zgw_app()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token = ZgwToken(settings.client_id, settings.secret.get_secret_value()).bearer()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://zgw") as client:
            answer = await client.post(
                ZOEK_PATH,
                json={BSN_FILTER: BSN.value},
                headers={"Authorization": f"Bearer {token}", "Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"},
            )
    assert answer.status_code == 200


def test_the_token_carries_the_zgw_claims_signed_hs256():
    token = ZgwToken("iko", ZGW_SECRET, lifetime_s=600, clock=lambda: 1_700_000_000.0).bearer()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, ZGW_SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {
        "iss": "iko",
        "iat": 1_700_000_000,
        "exp": 1_700_000_600,
        "client_id": "iko",
        "user_id": "iko",
        "user_representation": "IKO",
    }


def test_the_token_is_kept_and_renewed_shortly_before_it_expires():
    now = [1_700_000_000.0]
    token = ZgwToken("iko", ZGW_SECRET, lifetime_s=600, renew_margin_s=60, clock=lambda: now[0])
    first = token.bearer()
    now[0] += 539
    assert token.bearer() == first
    now[0] += 1  # 540 s: 60 s before it expires
    second = token.bearer()
    assert second != first
    assert jwt.decode(second, ZGW_SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})[
        "iat"
    ] == int(now[0])
    now[0] += 539
    assert token.bearer() == second


async def test_a_renewed_token_is_used_and_accepted(sim: Simulator):
    # A token issued almost an hour ago (it expires in 30 s) is used until the renewal margin, then replaced.
    real_now = time.time()
    clock = [real_now - 3600 + 30]
    token = ZgwToken("iko", ZGW_SECRET, lifetime_s=3600, renew_margin_s=60, clock=lambda: clock[0])
    harness = Harness(zgw_case(token=token), sim)
    try:
        ok(await harness.run(zaken()))
        clock[0] = real_now  # now within 60 s of its expiry
        ok(await harness.run(zaken()))
    finally:
        await harness.aclose()
    bearers = [r["headers"]["authorization"] for r in requests_to(sim, LIST_PATH)]
    assert len(bearers) == 2
    assert bearers[0] != bearers[1]
    issued = [jwt.decode(b.split()[1], options={"verify_signature": False})["iat"] for b in bearers]
    assert issued == [int(real_now - 3600 + 30), int(real_now)]


# --- the cache on its own --------------------------------------------------------------------------------------


async def test_the_cache_shares_one_load_and_does_not_keep_failures():
    cache = CatalogueCache(ttl_s=60)
    release = asyncio.Event()
    calls = 0

    async def load() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await release.wait()
        if calls == 1:
            raise SourceError("error", "boom")
        return {"omschrijving": "Zaaktype"}

    waiting = [asyncio.ensure_future(cache.get("u", load)) for _ in range(3)]
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, SourceError) for r in results)
    assert await cache.get("u", load) == {"omschrijving": "Zaaktype"}
    assert calls == 2
    assert await cache.get("u", load) == {"omschrijving": "Zaaktype"}
    assert calls == 2


async def test_a_waiter_giving_up_does_not_cancel_the_shared_load():
    cache = CatalogueCache(ttl_s=60)
    release = asyncio.Event()

    async def load() -> dict[str, Any]:
        await release.wait()
        return {"omschrijving": "Zaaktype"}

    impatient = asyncio.ensure_future(cache.get("u", load))
    patient = asyncio.ensure_future(cache.get("u", load))
    await asyncio.sleep(0.01)
    impatient.cancel()
    release.set()
    assert await patient == {"omschrijving": "Zaaktype"}
    assert cache.loads == 1


async def test_a_request_that_joined_a_timed_out_load_tries_once_on_its_own():
    cache = CatalogueCache(ttl_s=60)
    release = asyncio.Event()
    calls = 0

    async def load() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
            raise httpx.ReadTimeout("the first request's deadline")
        return {"omschrijving": "Zaaktype"}

    starter = asyncio.ensure_future(cache.get("u", load))
    await asyncio.sleep(0.01)
    joiner = asyncio.ensure_future(cache.get("u", load))
    await asyncio.sleep(0.01)
    release.set()
    with pytest.raises(httpx.ReadTimeout):
        await starter
    assert await joiner == {"omschrijving": "Zaaktype"}
    assert calls == 2


# --- zaken about a BAG object: zaakobjecten, then their zaken ---------------------------------------------------

ZAAKOBJECTEN_PATH = "/zaken/api/v1/zaakobjecten"
ZAAK_PATH = "/zaken/api/v1/zaken/"
BOTERDIEP_31_URI = f"{BAG_BASE_URL}/adresseerbareobjecten/{BOTERDIEP_31.value}"
ZUIDERPARKLAAN_12 = Identifier(type="adresseerbaarobject", value="0518010000679502")


def about(identifier: Identifier = BOTERDIEP_31, **params: Any) -> Scenario:
    return Scenario("zaken by object", "zaken_by_object", identifier, params=params)


def seeded_identificaties(sim: Simulator, bsn: str, indexes: list[int]) -> list[str]:
    """The identificaties of a person's seeded zaken, as the simulator serves them."""
    store = store_for(f"{sim.url}/", date.today())
    return [store.zaken_by_uuid[zaak_uuid_of("bsn", bsn, i)].resource["identificatie"] for i in indexes]


async def test_zaken_by_object_reads_the_objects_zaakobjecten_then_each_zaak_named(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(about()))
    assert (data["count"], data["complete"], data["warnings"]) == (2, True, [])
    assert [z["identificatie"] for z in data["zaken"]] == seeded_identificaties(sim, "999993653", [0, 1])
    assert all(z["zaaktype_omschrijving"] for z in data["zaken"])
    [listed] = requests_to(sim, ZAAKOBJECTEN_PATH)
    assert parse_qs(listed["query"]) == {"object": [BOTERDIEP_31_URI]}
    zaken_read = requests_to(sim, ZAAK_PATH)
    assert sorted(r["path"] for r in zaken_read) == sorted(httpx.URL(z["url"]).path for z in data["zaken"])
    assert all(r["method"] == "GET" and r["headers"]["accept-crs"] == "EPSG:4326" for r in zaken_read)


async def test_zaken_by_nummeraanduiding_and_of_another_address(zgw: Harness, sim: Simulator):
    by_adres = ok(await zgw.run(about(BOTERDIEP_31_ADRES)))
    elsewhere = ok(await zgw.run(about(ZUIDERPARKLAAN_12)))
    assert [z["identificatie"] for z in by_adres["zaken"]] == seeded_identificaties(sim, "999993653", [2])
    assert [z["identificatie"] for z in elsewhere["zaken"]] == seeded_identificaties(sim, "999990068", [0])


async def test_zaken_by_object_with_status(zgw: Harness):
    data = ok(await zgw.run(about(include=["status"])))
    assert data["zaken"]
    assert all(z["status_omschrijving"] and z["status_datum_gezet"] for z in data["zaken"])


async def test_zaken_by_object_follows_next_within_max_pages(zgw: Harness, sim: Simulator, monkeypatch):
    monkeypatch.setattr(zgw_app, "PAGE_SIZE", 1)  # the simulator runs in this process: one zaakobject a page
    every = ok(await zgw.run(about()))
    sim.reset()
    first = ok(await zgw.run(about(max_pages=1)))
    assert (every["count"], every["complete"], len(every["zaken"])) == (2, True, 2)
    assert (first["count"], first["complete"], len(first["zaken"])) == (2, False, 1)
    assert len(requests_to(sim, ZAAKOBJECTEN_PATH)) == 1


async def test_an_object_without_zaken_is_ok_with_an_empty_list(zgw: Harness, sim: Simulator):
    data = ok(await zgw.run(about(NO_ZAKEN_OBJECT)))
    assert data == {"count": 0, "complete": True, "zaken": [], "warnings": []}
    assert [r["path"] for r in sim.received()] == [ZAAKOBJECTEN_PATH]


@pytest.mark.parametrize("identifier", [BSN, KVK], ids=["bsn", "kvk"])
async def test_zaken_by_object_refuses_a_person_or_company(zgw: Harness, sim: Simulator, identifier: Identifier):
    fragment = await zgw.run(about(identifier))
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert fragment.error.code == "unsupported_identifier"
    assert "adresseerbaarobject or nummeraanduiding" in fragment.error.message
    assert sim.received() == [], "nothing was asked"


async def test_zaken_refuses_a_bag_object(zgw: Harness, sim: Simulator):
    fragment = await zgw.run(zaken(BOTERDIEP_31))
    assert fragment is not None
    assert fragment.error is not None
    assert (fragment.status, fragment.error.code) == ("error", "unsupported_identifier")
    assert sim.received() == []


async def test_a_zaak_on_another_host_is_refused(sim: Simulator):
    # Every URL the simulator hands out names another host: the zaakobjecten' zaken too.
    harness = Harness(zgw_case(), sim, inner=ElsewhereTransport(sim))
    try:
        fragment = await harness.run(about())
    finally:
        await harness.aclose()
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert (fragment.error.code, fragment.error.details) == ("foreign_url", {"host": "zgw.elsewhere.example"})
    assert [r["path"] for r in sim.received()] == [ZAAKOBJECTEN_PATH], "no zaak was asked anywhere"


async def test_a_zaak_gone_since_is_left_out_with_a_warning(zgw: Harness, sim: Simulator):
    [_, kept] = seeded_identificaties(sim, "999993653", [0, 1])
    gone_path = f"{ZAAK_PATH}{zaak_uuid_of('bsn', '999993653', 0)}"
    problem = {"code": "not_found", "detail": "Niet gevonden."}
    harness = Harness(zgw_case(), sim, inner=FailingTransport(lambda r: r.url.path == gone_path, 404, problem))
    try:
        data = ok(await harness.run(about()))
    finally:
        await harness.aclose()
    assert [z["identificatie"] for z in data["zaken"]] == [kept]
    assert (data["count"], data["complete"]) == (2, True)
    [warning] = data["warnings"]
    assert warning["code"] == "zaak_gone"
    assert gone_path in warning["message"]


async def test_the_object_urls_setting_names_the_object_as_the_case_systems_do(sim: Simulator, monkeypatch):
    monkeypatch.setenv("IKO_ZGW_OBJECT_URLS", '{"adresseerbaarobject": "https://bag.gemeente.example/vbo/{id}"}')
    settings = ZgwSettings()
    assert settings.object_urls == {"adresseerbaarobject": "https://bag.gemeente.example/vbo/{id}"}
    harness = Harness(zgw_case(object_urls=settings.object_urls), sim)
    try:
        data = ok(await harness.run(about()))
        fragment = await harness.run(about(BOTERDIEP_31_ADRES))
    finally:
        await harness.aclose()
    assert data["zaken"] == [], "the simulator registered Boterdiep 31 under the public BAG URL"
    [listed] = requests_to(sim, ZAAKOBJECTEN_PATH)
    assert parse_qs(listed["query"]) == {"object": ["https://bag.gemeente.example/vbo/0599010000208579"]}
    assert fragment is not None
    assert fragment.error is not None
    assert (fragment.status, fragment.error.code) == ("error", "unsupported_identifier")


def test_an_object_url_template_needs_the_id():
    with pytest.raises(ValidationError):
        ZgwSettings(object_urls={"nummeraanduiding": "https://bag.example/nummeraanduidingen/"})


def test_the_default_object_urls_are_those_the_simulator_registers(monkeypatch):
    monkeypatch.delenv("IKO_ZGW_OBJECT_URLS", raising=False)
    assert (
        ZgwSettings().object_urls
        == DEFAULT_OBJECT_URLS
        == {
            "adresseerbaarobject": bag_uri(ADRESSEERBARE_OBJECTEN, "{id}"),
            "nummeraanduiding": bag_uri(NUMMERAANDUIDINGEN, "{id}"),
        }
    )
