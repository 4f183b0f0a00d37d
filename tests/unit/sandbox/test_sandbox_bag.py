from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from iko_sandbox.bag import DEFAULT_PORT
from iko_sandbox.bag.app import DEFAULT_API_KEY, create_app, create_bag_app
from iko_sandbox.bag.register import BagRegister
from iko_sandbox.brp.app import create_brp_app
from iko_sandbox.control.middleware import ConnectionRefusedByBehaviourError
from iko_sandbox.paths import data_file

from tests.unit.sandbox.bag_spec import declared_bag_properties, validate_bag
from tests.unit.sandbox.spec_check import HOST, undeclared_keys

CRS = {"Accept-Crs": "epsg:28992"}
# BSN 999993653 of the BRP mock: Boterdiep 31, 3077AW Rotterdam.
NUMMERAANDUIDING = "0599200000219678"
VERBLIJFSOBJECT = "0599010000208579"
PAND = "0599101470483735"
# Mock persons whose address contradicts the majority registered under the same nummeraanduiding.
CONTRADICTING = {"999971207", "999992740", "999993987", "999994505"}


@pytest.fixture(scope="module")
def bag_app() -> FastAPI:
    return create_bag_app()


@pytest.fixture
async def bag(bag_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bag_app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST, headers={"X-Api-Key": DEFAULT_API_KEY}) as client:
        yield client
        await client.delete("/__sandbox__/behaviour")
        await client.delete("/__sandbox__/requests")


async def get(client: httpx.AsyncClient, url: str, *, request: bool = True, **kwargs: Any) -> httpx.Response:
    response = await client.get(url, **kwargs)
    validate_bag(response, request=request)
    return response


def test_package_shape() -> None:
    assert DEFAULT_PORT == 8106
    assert create_app is create_bag_app


async def test_address_by_nummeraanduiding(bag: httpx.AsyncClient) -> None:
    response = await get(bag, f"/adressen/{NUMMERAANDUIDING}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/hal+json"
    assert response.headers["api-version"] == "2.0.0"
    body = response.json()
    assert body["nummeraanduidingIdentificatie"] == NUMMERAANDUIDING
    assert (body["postcode"], body["huisnummer"]) == ("3077AW", 31)
    assert (body["openbareRuimteNaam"], body["woonplaatsNaam"]) == ("Boterdiep", "Rotterdam")
    assert body["adresseerbaarObjectIdentificatie"] == VERBLIJFSOBJECT
    assert body["pandIdentificaties"] == [PAND]
    assert body["_links"]["self"] == {"href": f"{HOST}/adressen/{NUMMERAANDUIDING}"}
    assert body["_links"]["adresseerbaarObject"] == {"href": f"{HOST}/verblijfsobjecten/{VERBLIJFSOBJECT}"}
    assert body["_links"]["panden"] == [{"href": f"{HOST}/panden/{PAND}"}]
    assert undeclared_keys(body, declared_bag_properties()) == []


async def test_links_lead_to_served_resources(bag: httpx.AsyncClient) -> None:
    body = (await get(bag, f"/adressen/{NUMMERAANDUIDING}")).json()

    hrefs = [link["href"] for rel, link in body["_links"].items() if rel != "panden"]
    hrefs += [link["href"] for link in body["_links"]["panden"]]
    for href in hrefs:
        followed = await get(bag, href, headers=CRS)
        assert followed.status_code == 200, href


async def test_expand_embeds_nummeraanduiding_openbare_ruimte_and_woonplaats(bag: httpx.AsyncClient) -> None:
    body = (await get(bag, f"/adressen/{NUMMERAANDUIDING}", params={"expand": "true"})).json()
    partial = (await get(bag, f"/adressen/{NUMMERAANDUIDING}", params={"expand": "woonplaats"})).json()

    embedded = body["_embedded"]
    assert embedded["nummeraanduiding"]["nummeraanduiding"]["postcode"] == "3077AW"
    assert embedded["openbareRuimte"]["openbareRuimte"]["naam"] == "Boterdiep"
    assert embedded["woonplaats"]["woonplaats"]["naam"] == "Rotterdam"
    assert set(partial["_embedded"]) == {"woonplaats"}
    assert "_embedded" not in (await get(bag, f"/adressen/{NUMMERAANDUIDING}")).json()


async def test_unknown_expand_is_400(bag: httpx.AsyncClient) -> None:
    response = await get(bag, f"/adressen/{NUMMERAANDUIDING}", params={"expand": "panden"})

    assert response.status_code == 400
    assert response.json()["invalid-params"][0]["name"] == "expand"


async def test_search_by_postcode_and_huisnummer(bag: httpx.AsyncClient) -> None:
    response = await get(bag, "/adressen", params={"postcode": "3077aw", "huisnummer": "31"})

    assert response.status_code == 200
    assert response.headers["x-pagination-page"] == "1"
    assert response.headers["x-pagination-limit"] == "20"
    body = response.json()
    assert [a["nummeraanduidingIdentificatie"] for a in body["_embedded"]["adressen"]] == [NUMMERAANDUIDING]
    assert body["_links"]["self"]["href"].startswith(f"{HOST}/adressen?")


async def test_huisletter_narrows_and_exacte_match_excludes_other_letters(bag: httpx.AsyncClient) -> None:
    everything = (await get(bag, "/adressen", params={"postcode": "1074HK", "huisnummer": 1})).json()
    letter_b = (await get(bag, "/adressen", params={"postcode": "1074HK", "huisnummer": 1, "huisletter": "b"})).json()
    exact = (await get(bag, "/adressen", params={"postcode": "1074HK", "huisnummer": 1, "exacteMatch": "true"})).json()

    letters = sorted(a.get("huisletter", "") for a in everything["_embedded"]["adressen"])
    assert len(letters) == 3
    assert [a["huisletter"].upper() for a in letter_b["_embedded"]["adressen"]] == ["B"]
    assert all("huisletter" not in a for a in exact["_embedded"]["adressen"])
    assert len(exact["_embedded"]["adressen"]) == letters.count("")


async def test_search_by_woonplaats_openbare_ruimte_and_huisnummer(bag: httpx.AsyncClient) -> None:
    params = {"woonplaatsNaam": "rotterdam", "openbareRuimteNaam": "Boterdiep", "huisnummer": 31}
    body = (await get(bag, "/adressen", params=params)).json()

    assert [a["nummeraanduidingIdentificatie"] for a in body["_embedded"]["adressen"]] == [NUMMERAANDUIDING]


async def test_search_by_adresseerbaar_object_and_by_pand(bag: httpx.AsyncClient) -> None:
    by_object = (await get(bag, "/adressen", params={"adresseerbaarObjectIdentificatie": VERBLIJFSOBJECT})).json()
    by_pand = (await get(bag, "/adressen", params={"pandIdentificatie": PAND})).json()

    assert [a["nummeraanduidingIdentificatie"] for a in by_object["_embedded"]["adressen"]] == [NUMMERAANDUIDING]
    assert NUMMERAANDUIDING in [a["nummeraanduidingIdentificatie"] for a in by_pand["_embedded"]["adressen"]]


async def test_search_without_result_is_an_empty_list(bag: httpx.AsyncClient) -> None:
    response = await get(bag, "/adressen", params={"postcode": "9999ZZ", "huisnummer": 1})

    assert response.status_code == 200
    assert response.json()["_embedded"]["adressen"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "paramsRequired"),
        ({"postcode": "3077AW"}, "paramsCombination"),
        ({"huisletter": "A"}, "paramsCombination"),
        ({"huisletter": "A", "adresseerbaarObjectIdentificatie": VERBLIJFSOBJECT}, "unsupportedCombination"),
        (
            {"postcode": "3077AW", "huisnummer": "31", "adresseerbaarObjectIdentificatie": VERBLIJFSOBJECT},
            "unsupportedCombination",
        ),
    ],
)
async def test_search_parameter_combinations(bag: httpx.AsyncClient, params: dict[str, str], code: str) -> None:
    response = await get(bag, "/adressen", params=params)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"postcode": "0123AB", "huisnummer": "1"}, "postcode"),
        ({"postcode": "3077AW", "huisnummer": "x"}, "huisnummer"),
        ({"postcode": "3077AW", "huisnummer": "100000"}, "huisnummer"),
        ({"postcode": "3077AW", "huisnummer": "31", "huisletter": "AB"}, "huisletter"),
        ({"postcode": "3077AW", "huisnummer": "31", "pageSize": "5"}, "pageSize"),
    ],
)
async def test_invalid_search_parameter_is_400_with_invalid_params(
    bag: httpx.AsyncClient, params: dict[str, str], name: str
) -> None:
    response = await get(bag, "/adressen", params=params, request=False)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "paramsValidation"
    assert [p["name"] for p in body["invalid-params"]] == [name]


async def test_paging_links_and_a_page_past_the_last(bag: httpx.AsyncClient) -> None:
    params = {"postcode": "3089KG", "huisnummer": 20, "pageSize": 10}
    first = (await get(bag, "/adressen", params=params)).json()
    past = await get(bag, "/adressen", params={**params, "page": 2})

    assert len(first["_embedded"]["adressen"]) == 4
    # One page: only self, as Kadaster's paginering feature says.
    assert set(first["_links"]) == {"self"}
    assert past.status_code == 400
    assert past.json()["invalid-params"][0]["code"] == "page"


async def test_unknown_query_parameter_is_400(bag: httpx.AsyncClient) -> None:
    response = await get(bag, f"/panden/{PAND}", params={"bestaatniet": "fout"}, headers=CRS)

    assert response.status_code == 400
    param = response.json()["invalid-params"][0]
    assert (param["name"], param["code"]) == ("bestaatniet", "unknownParam")


async def test_nummeraanduiding_and_openbare_ruimte_expand(bag: httpx.AsyncClient) -> None:
    nummer = (await get(bag, f"/nummeraanduidingen/{NUMMERAANDUIDING}", params={"expand": "true"})).json()
    ruimte_id = nummer["nummeraanduiding"]["ligtAan"]
    ruimte = (await get(bag, f"/openbareruimten/{ruimte_id}", params={"expand": "ligtInWoonplaats"})).json()

    assert nummer["_embedded"]["ligtAanOpenbareRuimte"]["openbareRuimte"]["naam"] == "Boterdiep"
    assert nummer["_embedded"]["ligtInWoonplaats"]["woonplaats"]["naam"] == "Rotterdam"
    assert (
        ruimte["_embedded"]["ligtInWoonplaats"]["woonplaats"]["identificatie"] == nummer["nummeraanduiding"]["ligtIn"]
    )


async def test_adresseerbaar_object_with_gebruiksdoelen_oppervlakte_and_pand(bag: httpx.AsyncClient) -> None:
    response = await get(bag, f"/adresseerbareobjecten/{VERBLIJFSOBJECT}", headers=CRS, params={"expand": "true"})

    assert response.status_code == 200
    assert response.headers["content-crs"] == "epsg:28992"
    outer = response.json()["verblijfsobject"]
    vbo = outer["verblijfsobject"]
    assert vbo["identificatie"] == VERBLIJFSOBJECT
    assert vbo["heeftAlsHoofdAdres"] == NUMMERAANDUIDING
    assert vbo["maaktDeelUitVan"] == [PAND]
    assert "woonfunctie" in vbo["gebruiksdoelen"]
    assert 25 <= vbo["oppervlakte"] <= 250
    assert outer["_embedded"]["maaktDeelUitVan"][0]["pand"]["identificatie"] == PAND
    assert outer["_embedded"]["heeftAlsHoofdAdres"]["nummeraanduiding"]["identificatie"] == NUMMERAANDUIDING
    assert outer["_links"]["maaktDeelUitVan"] == [{"href": f"{HOST}/panden/{PAND}"}]
    assert undeclared_keys(response.json(), declared_bag_properties()) == []


async def test_verblijfsobject_and_pand(bag: httpx.AsyncClient) -> None:
    vbo = (await get(bag, f"/verblijfsobjecten/{VERBLIJFSOBJECT}", headers=CRS)).json()
    pand = (await get(bag, f"/panden/{PAND}", headers=CRS)).json()

    assert vbo["verblijfsobject"]["identificatie"] == VERBLIJFSOBJECT
    assert "_embedded" not in vbo
    bouwjaar = pand["pand"]["oorspronkelijkBouwjaar"]
    assert bouwjaar.isdigit()
    assert 1880 <= int(bouwjaar) <= 2022
    assert pand["pand"]["geometrie"]["type"] == "Polygon"


async def test_adres_uitgebreid_has_object_and_pand_details(bag: httpx.AsyncClient) -> None:
    body = (await get(bag, f"/adressenuitgebreid/{NUMMERAANDUIDING}", headers=CRS)).json()
    listed = (
        await get(bag, "/adressenuitgebreid", headers=CRS, params={"postcode": "3077AW", "huisnummer": 31})
    ).json()
    vbo = (await get(bag, f"/verblijfsobjecten/{VERBLIJFSOBJECT}", headers=CRS)).json()["verblijfsobject"]
    pand = (await get(bag, f"/panden/{PAND}", headers=CRS)).json()["pand"]

    assert body["typeAdresseerbaarObject"] == "Verblijfsobject"
    assert body["gebruiksdoelen"] == vbo["gebruiksdoelen"]
    assert body["oppervlakte"] == vbo["oppervlakte"]
    assert body["oorspronkelijkBouwjaar"] == [pand["oorspronkelijkBouwjaar"]]
    assert listed["_embedded"]["adressen"] == [body | {"_links": listed["_embedded"]["adressen"][0]["_links"]}]


async def test_geometry_resources_require_accept_crs(bag: httpx.AsyncClient) -> None:
    missing = await get(bag, f"/panden/{PAND}")
    other = await get(bag, f"/panden/{PAND}", headers={"Accept-Crs": "epsg:4326"}, request=False)

    assert missing.status_code == 412
    assert missing.json()["code"] == "acceptCrsMissing"
    assert other.status_code == 406


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/adressen/0599200000000000", 404),
        ("/adressen/12345", 400),
        ("/panden/059910147048373", 400),
        ("/adresseerbareobjecten/0599020000000000", 404),
        ("/adresseerbareobjecten/0599200000219678", 400),
        ("/panden/0599100000000000", 404),
        ("/nummeraanduidingen/0599200000000000", 404),
    ],
)
async def test_unknown_and_malformed_identifications(bag: httpx.AsyncClient, url: str, status: int) -> None:
    response = await get(bag, url, headers=CRS, request=status != 400)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


async def test_api_key_is_required(bag_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=bag_app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        missing = await client.get(f"/adressen/{NUMMERAANDUIDING}")
        wrong = await client.get(f"/adressen/{NUMMERAANDUIDING}", headers={"X-Api-Key": "wrong"})
    validate_bag(missing, request=False)
    validate_bag(wrong)

    assert (missing.status_code, missing.json()["code"]) == (401, "authentication")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "autorisation")


async def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_SANDBOX_BAG_API_KEY", "from-env")
    transport = httpx.ASGITransport(app=create_bag_app())
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        ok = await client.get(f"/adressen/{NUMMERAANDUIDING}", headers={"X-Api-Key": "from-env"})
        default = await client.get(f"/adressen/{NUMMERAANDUIDING}", headers={"X-Api-Key": DEFAULT_API_KEY})

    assert (ok.status_code, default.status_code) == (200, 403)


async def test_error_mode_and_request_log(bag: httpx.AsyncClient) -> None:
    await bag.put("/__sandbox__/behaviour", json={"mode": "error"})
    response = await bag.get(f"/adressen/{NUMMERAANDUIDING}")
    log = (await bag.get("/__sandbox__/requests")).json()

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "serverError"
    assert log[-1]["path"] == f"/adressen/{NUMMERAANDUIDING}"
    assert log[-1]["headers"]["x-api-key"] == DEFAULT_API_KEY


def _brp_addresses() -> dict[str, dict[str, Any]]:
    raw = orjson.loads(data_file("brp", "personen-mock-test-data.json").read_bytes())
    return {p["burgerservicenummer"]: p.get("verblijfplaats") or {} for p in raw}


@pytest.mark.parametrize("bsn", ["999993653", "999990408", "999970392", "999971165", "010245741"])
async def test_a_brp_persons_nummeraanduiding_resolves_to_their_address(bsn: str, bag: httpx.AsyncClient) -> None:
    transport = httpx.ASGITransport(app=create_brp_app(api_key=""))
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as brp:
        query = {"type": "RaadpleegMetBurgerservicenummer", "burgerservicenummer": [bsn], "fields": ["verblijfplaats"]}
        persoon = (await brp.post("/personen", json=query)).json()["personen"][0]
    verblijfplaats = persoon["verblijfplaats"]

    adres = (await get(bag, f"/adressen/{verblijfplaats['nummeraanduidingIdentificatie']}")).json()

    assert adres["postcode"] == verblijfplaats["verblijfadres"]["postcode"]
    assert adres["huisnummer"] == verblijfplaats["verblijfadres"]["huisnummer"]
    assert adres.get("huisletter") == verblijfplaats["verblijfadres"].get("huisletter")
    assert adres["adresseerbaarObjectIdentificatie"] == verblijfplaats["adresseerbaarObjectIdentificatie"]


def test_every_brp_nummeraanduiding_resolves_to_the_same_postcode_and_huisnummer() -> None:
    register = BagRegister.load()
    checked = 0
    for bsn, plaats in _brp_addresses().items():
        # The BRP simulator leaves out damaged ids (" 051820000162525"), so does this check.
        nummeraanduiding = str(plaats.get("nummeraanduidingIdentificatie") or "")
        if not (len(nummeraanduiding) == 16 and nummeraanduiding.isdigit()) or bsn in CONTRADICTING:
            continue
        adres = register.adres(nummeraanduiding)
        assert adres is not None, bsn
        assert (adres.postcode, adres.huisnummer) == (plaats["postcode"], int(plaats["huisnummer"])), bsn
        checked += 1
    assert checked > 600


async def test_a_person_without_bag_ids_is_found_by_postcode_and_huisnummer(bag: httpx.AsyncClient) -> None:
    plaats = _brp_addresses()["999994086"]
    assert "nummeraanduidingIdentificatie" not in plaats

    body = (
        await get(bag, "/adressen", params={"postcode": plaats["postcode"], "huisnummer": plaats["huisnummer"]})
    ).json()

    assert [a["openbareRuimteNaam"] for a in body["_embedded"]["adressen"]] == [plaats["straat"]]


def test_the_register_is_deterministic() -> None:
    first, second = BagRegister.load(), BagRegister.load()

    assert first.adressen() == second.adressen()


async def test_refuse_and_latency_modes(bag: httpx.AsyncClient) -> None:
    await bag.put("/__sandbox__/behaviour", json={"mode": "refuse"})
    with pytest.raises(ConnectionRefusedByBehaviourError):
        await bag.get(f"/adressen/{NUMMERAANDUIDING}")
    await bag.put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 200})
    started = time.monotonic()
    response = await bag.get(f"/adressen/{NUMMERAANDUIDING}")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("refinement", "expected"),
    [
        ({}, [(None, None), ("A", None), ("B", "73c"), ("f", None)]),
        ({"exacteMatch": "true"}, [(None, None)]),
        ({"huisnummertoevoeging": "73C"}, [("B", "73c")]),
        ({"huisnummertoevoeging": "73c", "exacteMatch": "true"}, []),
        ({"huisletter": "a", "exacteMatch": "true"}, [("A", None)]),
        ({"huisnummertoevoeging": "B"}, []),
    ],
)
async def test_exacte_match_as_kadasters_feature(
    bag: httpx.AsyncClient, refinement: dict[str, str], expected: list[tuple[str | None, str | None]]
) -> None:
    # 3225TD 555 has four addresses in the BRP mock: 555, 555A, 555B-73c and 555f.
    params = {"postcode": "3225TD", "huisnummer": "555", **refinement}
    body = (await get(bag, "/adressen", params=params)).json()

    found = [(a.get("huisletter"), a.get("huisnummertoevoeging")) for a in body["_embedded"]["adressen"]]
    assert found == expected
