from __future__ import annotations

import warnings

import httpx
import pytest
from iko_sandbox.zgw.app import DEFAULT_SECRET, create_zgw_app
from iko_sandbox.zgw.auth import JwtSettings, check_authorization

from tests.unit.sandbox.conftest import zgw_token
from tests.unit.sandbox.spec_check import HOST, validate_request, validate_response

ZAKEN = "/zaken/api/v1/zaken"
ZOEK = "/zaken/api/v1/zaken/_zoek"
BSN_FILTER = "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn"
NNP_FILTER = "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId"
VESTIGING_FILTER = "rol__betrokkeneIdentificatie__vestiging__vestigingsNummer"


async def get(client: httpx.AsyncClient, spec: str, url: str, **kwargs: object) -> httpx.Response:
    response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    validate_request(spec, response.request)
    validate_response(spec, response)
    return response


async def zoek(client: httpx.AsyncClient, body: object, url: str = ZOEK, **kwargs: object) -> httpx.Response:
    response = await client.post(url, json=body, **kwargs)  # type: ignore[arg-type]
    validate_request("zaken", response.request)
    validate_response("zaken", response)
    return response


async def test_zaken_of_the_demo_person(zgw: httpx.AsyncClient) -> None:
    response = await get(zgw, "zaken", ZAKEN, params={BSN_FILTER: "999993653"})

    assert response.status_code == 200
    assert response.headers["content-crs"] == "EPSG:4326"
    body = response.json()
    assert body["count"] >= 1
    assert body["next"] is None
    assert any(zaak["einddatum"] is None for zaak in body["results"])
    for zaak in body["results"]:
        assert zaak["zaaktype"].startswith(f"{HOST}/catalogi/api/v1/zaaktypen/")


async def test_zaken_are_deterministic(zgw: httpx.AsyncClient) -> None:
    first = (await get(zgw, "zaken", ZAKEN, params={BSN_FILTER: "999993653"})).json()
    second = (await get(zgw, "zaken", ZAKEN, params={BSN_FILTER: "999993653"})).json()

    assert first == second


async def test_zaken_of_the_demo_company_by_kvk_nummer_and_vestiging(zgw: httpx.AsyncClient) -> None:
    by_kvk = (await get(zgw, "zaken", ZAKEN, params={NNP_FILTER: "69599084"})).json()
    by_vestiging = (await get(zgw, "zaken", ZAKEN, params={VESTIGING_FILTER: "000038509504"})).json()

    assert by_kvk["count"] >= 1
    assert by_vestiging["count"] >= 1
    assert not {z["url"] for z in by_kvk["results"]} & {z["url"] for z in by_vestiging["results"]}


async def test_unknown_bsn_has_no_zaken(zgw: httpx.AsyncClient) -> None:
    body = (await get(zgw, "zaken", ZAKEN, params={BSN_FILTER: "123456782"})).json()

    assert body == {"count": 0, "next": None, "previous": None, "results": []}


async def test_open_and_closed_zaken_exist_across_the_test_persons(zgw: httpx.AsyncClient) -> None:
    body = (await get(zgw, "zaken", ZAKEN)).json()

    assert body["count"] > 500
    assert len(body["results"]) == 100
    statuses = {zaak["einddatum"] is None for zaak in body["results"]}
    assert statuses == {True, False}
    assert len({zaak["zaaktype"] for zaak in body["results"]}) >= 3


async def test_pagination_follows_next(zgw: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = f"{ZAKEN}?{NNP_FILTER}=90006577"
    pages = 0
    while url:
        body = (await get(zgw, "zaken", url)).json()
        seen.extend(zaak["url"] for zaak in body["results"])
        url = body["next"]
        pages += 1

    assert pages == 3
    assert len(seen) == len(set(seen)) == 250


async def test_page_beyond_the_last_is_404(zgw: httpx.AsyncClient) -> None:
    # Not spec-validated: the spec lists no 404 for the list, but Django REST framework (and
    # so Open Zaak) answers an invalid page with one.
    response = await zgw.get(ZAKEN, params={BSN_FILTER: "999993653", "page": 9})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_accept_crs_is_required(zgw: httpx.AsyncClient) -> None:
    response = await zgw.get(ZAKEN, params={BSN_FILTER: "999993653"}, headers={"Accept-Crs": ""})
    del response
    client_headers = {k: v for k, v in zgw.headers.items() if k.lower() != "accept-crs"}
    async with httpx.AsyncClient(transport=zgw._transport, base_url=HOST, headers=client_headers) as bare:
        missing = await bare.get(ZAKEN, params={BSN_FILTER: "999993653"})
    wrong = await zgw.get(ZAKEN, params={BSN_FILTER: "999993653"}, headers={"Accept-Crs": "EPSG:28992"})

    validate_response("zaken", missing)
    assert missing.status_code == 412
    assert missing.json()["code"] == "precondition_failed"
    assert wrong.status_code == 406


async def test_too_long_bsn_filter_is_a_400(zgw: httpx.AsyncClient) -> None:
    response = await zgw.get(ZAKEN, params={BSN_FILTER: "9999936530"})
    validate_response("zaken", response)

    assert response.status_code == 400
    assert response.json()["invalidParams"][0]["name"] == BSN_FILTER


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        f"Bearer {zgw_token(secret='a-wrong-secret-that-is-long-enough-for-hs256')}",
        f"Bearer {zgw_token(client_id='someone-else')}",
        f"Token {zgw_token()}",
    ],
)
async def test_invalid_authorization_is_403(zgw_app: object, authorization: str | None) -> None:
    headers = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
    if authorization:
        headers["Authorization"] = authorization
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=zgw_app), base_url=HOST) as client:  # type: ignore[arg-type]
        response = await client.get(ZAKEN, params={BSN_FILTER: "999993653"}, headers=headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"


async def test_secret_and_client_id_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_SANDBOX_ZGW_SECRET", "another-secret-of-sufficient-length")
    monkeypatch.setenv("IKO_SANDBOX_ZGW_CLIENT_ID", "pipeline")
    app = create_zgw_app()
    good = zgw_token(secret="another-secret-of-sufficient-length", client_id="pipeline")
    headers = {"Accept-Crs": "EPSG:4326", "Authorization": f"Bearer {good}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as client:
        accepted = await client.get(ZAKEN, params={BSN_FILTER: "999993653"}, headers=headers)
        refused = await client.get(
            ZAKEN, params={BSN_FILTER: "999993653"}, headers={**headers, "Authorization": f"Bearer {zgw_token()}"}
        )

    assert accepted.status_code == 200
    assert refused.status_code == 403


async def test_zaaktype_status_and_statustype_resolve(zgw: httpx.AsyncClient) -> None:
    zaken = (await get(zgw, "zaken", ZAKEN, params={BSN_FILTER: "999993653"})).json()["results"]
    zaak = next(z for z in zaken if z["status"])

    zaaktype = await get(zgw, "catalogi", zaak["zaaktype"])
    status = await get(zgw, "zaken", zaak["status"])
    statustype = await get(zgw, "catalogi", status.json()["statustype"])

    assert zaaktype.status_code == status.status_code == statustype.status_code == 200
    assert zaaktype.json()["omschrijving"]
    assert zaaktype.json()["concept"] is False
    assert status.json()["zaak"] == zaak["url"]
    assert status.json()["indicatieLaatstGezetteStatus"] is True
    assert statustype.json()["zaaktype"] == zaak["zaaktype"]


async def test_closed_zaken_end_in_the_final_status(zgw: httpx.AsyncClient) -> None:
    zaken = (await get(zgw, "zaken", ZAKEN)).json()["results"]
    closed = [z for z in zaken if z["einddatum"]]

    assert closed
    for zaak in closed[:5]:
        status = (await zgw.get(zaak["status"])).json()
        statustype = (await zgw.get(status["statustype"])).json()
        assert statustype["isEindstatus"] is True


async def test_zaaktypen_list_defaults_to_definitief(zgw: httpx.AsyncClient) -> None:
    default = (await get(zgw, "catalogi", "/catalogi/api/v1/zaaktypen")).json()
    concept = (await get(zgw, "catalogi", "/catalogi/api/v1/zaaktypen", params={"status": "concept"})).json()

    assert default["count"] == 4
    assert {z["omschrijving"] for z in default["results"]} >= {
        "Aanvraag financiële ondersteuning ondernemers behandelen v4"
    }
    assert concept["count"] == 0


async def test_unknown_zaak_and_zaaktype_are_404(zgw: httpx.AsyncClient) -> None:
    zaak = await get(zgw, "zaken", f"{ZAKEN}/00000000-0000-4000-8000-000000000000")
    zaaktype = await zgw.get("/catalogi/api/v1/zaaktypen/00000000-0000-4000-8000-000000000000")

    assert zaak.status_code == zaaktype.status_code == 404


# --- POST /zaken/_zoek: the filters in the body ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (BSN_FILTER, "999993653"),
        (NNP_FILTER, "69599084"),
        (VESTIGING_FILTER, "000038509504"),
        (BSN_FILTER, "123456782"),
    ],
)
async def test_zoek_finds_what_the_list_finds(zgw: httpx.AsyncClient, name: str, value: str) -> None:
    listed = (await get(zgw, "zaken", ZAKEN, params={name: value})).json()
    found = await zoek(zgw, {name: value})

    assert found.status_code == 200
    assert found.headers["content-crs"] == "EPSG:4326"
    assert found.headers["api-version"] == "1.5.1"
    assert found.json() == listed


async def test_zoek_orders_and_filters_like_the_list(zgw: httpx.AsyncClient) -> None:
    # Not request-validated: the spec's enum for the list's ordering is nested one level too deep.
    listed = (await zgw.get(ZAKEN, params={NNP_FILTER: "90006577", "ordering": "-startdatum"})).json()
    zaaktype = listed["results"][0]["zaaktype"]
    found = (await zoek(zgw, {NNP_FILTER: "90006577", "ordering": "-startdatum"})).json()
    narrowed = (await zoek(zgw, {NNP_FILTER: "90006577", "zaaktype": zaaktype})).json()

    assert [z["url"] for z in found["results"]] == [z["url"] for z in listed["results"]]
    assert 0 < narrowed["count"] < found["count"]
    assert {z["zaaktype"] for z in narrowed["results"]} == {zaaktype}


async def test_zoek_pages_carry_only_the_page_number(zgw: httpx.AsyncClient) -> None:
    body = {NNP_FILTER: "90006577"}
    seen: list[str] = []
    links: list[tuple[str | None, str | None]] = []
    url: str | None = ZOEK
    while url:
        page = (await zoek(zgw, body, url)).json()
        seen.extend(zaak["url"] for zaak in page["results"])
        links.append((page["previous"], page["next"]))
        url = page["next"]

    assert len(seen) == len(set(seen)) == 250
    assert links == [
        (None, f"{HOST}{ZOEK}?page=2"),
        (f"{HOST}{ZOEK}", f"{HOST}{ZOEK}?page=3"),
        (f"{HOST}{ZOEK}?page=2", None),
    ]


async def test_zoek_keeps_the_identifier_out_of_the_url(zgw: httpx.AsyncClient) -> None:
    await zgw.delete("/__sandbox__/requests")
    await zoek(zgw, {NNP_FILTER: "90006577"})
    await zoek(zgw, {NNP_FILTER: "90006577"}, f"{ZOEK}?page=2")

    recorded = (await zgw.get("/__sandbox__/requests")).json()
    assert [(r["method"], r["path"], r["query"]) for r in recorded] == [("POST", ZOEK, ""), ("POST", ZOEK, "page=2")]
    assert all(r["json"] == {NNP_FILTER: "90006577"} for r in recorded)


@pytest.mark.parametrize("missing", ["accept-crs", "content-crs"])
async def test_zoek_requires_both_crs_headers(zgw: httpx.AsyncClient, missing: str) -> None:
    client_headers = {k: v for k, v in zgw.headers.items() if k.lower() != missing}
    async with httpx.AsyncClient(transport=zgw._transport, base_url=HOST, headers=client_headers) as bare:
        response = await bare.post(ZOEK, json={BSN_FILTER: "999993653"})

    validate_response("zaken", response)
    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"
    assert missing.title() in response.json()["detail"]


async def test_zoek_refuses_another_crs(zgw: httpx.AsyncClient) -> None:
    response = await zgw.post(ZOEK, json={BSN_FILTER: "999993653"}, headers={"Content-Crs": "EPSG:28992"})

    validate_response("zaken", response)
    assert response.status_code == 406


async def test_zoek_validates_its_body(zgw: httpx.AsyncClient) -> None:
    too_long = await zgw.post(ZOEK, json={BSN_FILTER: "9999936530"})
    not_a_string = await zgw.post(ZOEK, json={BSN_FILTER: 999993653})
    not_an_object = await zgw.post(ZOEK, json=["999993653"])
    not_json = await zgw.post(ZOEK, content=b"{", headers={"Content-Type": "application/json"})
    form = await zgw.post(ZOEK, data={BSN_FILTER: "999993653"})

    assert too_long.status_code == 400
    assert too_long.json()["invalidParams"][0] == {
        "name": BSN_FILTER,
        "code": "max_length",
        "reason": "Zorg ervoor dat dit veld niet meer dan 9 karakters bevat.",
    }
    assert not_a_string.status_code == not_an_object.status_code == not_json.status_code == 400
    assert not_a_string.json()["invalidParams"][0]["name"] == BSN_FILTER
    for response in (too_long, not_a_string, not_an_object, not_json, form):
        validate_response("zaken", response)
    assert form.status_code == 415


async def test_zoek_page_beyond_the_last_is_404(zgw: httpx.AsyncClient) -> None:
    # As for the list: Django REST framework answers an invalid page with a 404 the spec does not list.
    response = await zgw.post(ZOEK, params={"page": 2}, json={BSN_FILTER: "999993653"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_zoek_without_a_valid_token_is_403(zgw_app: object) -> None:
    headers = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=zgw_app), base_url=HOST) as client:  # type: ignore[arg-type]
        response = await client.post(ZOEK, json={BSN_FILTER: "999993653"}, headers=headers)

    validate_response("zaken", response)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_the_default_secret_is_long_enough_for_hs256() -> None:
    assert len(DEFAULT_SECRET.encode()) >= 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token = zgw_token()
        assert check_authorization(f"Bearer {token}", JwtSettings(DEFAULT_SECRET, "iko")) is None


def test_a_configured_short_secret_works_without_a_warning_per_request() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = zgw_token(secret="short")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_authorization(f"Bearer {token}", JwtSettings("short", "iko")) is None


# --- zaakobjecten -----------------------------------------------------------------------------------------------

ZAAKOBJECTEN = "/zaken/api/v1/zaakobjecten"
BAG = "https://api.bag.kadaster.nl/lvbag/individuelebevragingen/v2"
BOTERDIEP_31 = f"{BAG}/adresseerbareobjecten/0599010000208579"
BOTERDIEP_31_ADRES = f"{BAG}/nummeraanduidingen/0599200000219678"
ZUIDERPARKLAAN_12 = f"{BAG}/adresseerbareobjecten/0518010000679502"


async def test_zaakobjecten_filtered_by_object_name_zaken_that_list_them(zgw: httpx.AsyncClient) -> None:
    body = (await get(zgw, "zaken", ZAAKOBJECTEN, params={"object": BOTERDIEP_31})).json()

    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    assert {z["object"] for z in body["results"]} == {BOTERDIEP_31}
    assert {z["objectType"] for z in body["results"]} == {"terrein_gebouwd_object"}
    assert len({z["zaak"] for z in body["results"]}) == 2
    for zaakobject in body["results"]:
        zaak = (await get(zgw, "zaken", zaakobject["zaak"])).json()
        assert zaakobject["url"] in zaak["zaakobjecten"]
        assert zaak["zaaktype"].startswith(f"{HOST}/catalogi/api/v1/zaaktypen/")
        read = await get(zgw, "zaken", zaakobject["url"])
        assert read.json() == zaakobject


async def test_zaakobjecten_of_the_nummeraanduiding_and_of_another_address(zgw: httpx.AsyncClient) -> None:
    adres = (await get(zgw, "zaken", ZAAKOBJECTEN, params={"object": BOTERDIEP_31_ADRES})).json()
    elsewhere = (await get(zgw, "zaken", ZAAKOBJECTEN, params={"object": ZUIDERPARKLAAN_12})).json()
    by_type = (await get(zgw, "zaken", ZAAKOBJECTEN, params={"objectType": "adres"})).json()

    assert [z["objectType"] for z in adres["results"]] == ["adres"]
    assert elsewhere["count"] == 1
    assert adres["results"] == by_type["results"]


async def test_zaakobjecten_filter_on_zaak_and_are_deterministic(zgw: httpx.AsyncClient) -> None:
    every = (await get(zgw, "zaken", ZAAKOBJECTEN)).json()
    again = (await get(zgw, "zaken", ZAAKOBJECTEN)).json()
    first = every["results"][0]
    of_zaak = (await get(zgw, "zaken", ZAAKOBJECTEN, params={"zaak": first["zaak"]})).json()
    both = {"zaak": first["zaak"], "object": ZUIDERPARKLAAN_12}
    none = (await get(zgw, "zaken", ZAAKOBJECTEN, params=both)).json()

    assert every == again
    assert every["count"] == 4
    assert of_zaak["results"] == [first]
    assert none == {"count": 0, "next": None, "previous": None, "results": []}


async def test_zaakobjecten_pages_keep_the_filter(zgw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from iko_sandbox.zgw import app

    monkeypatch.setattr(app, "PAGE_SIZE", 1)
    first = (await get(zgw, "zaken", ZAAKOBJECTEN, params={"object": BOTERDIEP_31})).json()
    second = (await get(zgw, "zaken", first["next"])).json()

    assert (first["count"], len(first["results"])) == (2, 1)
    assert second["next"] is None
    assert second["results"][0]["object"] == BOTERDIEP_31
    assert second["results"] != first["results"]


@pytest.mark.parametrize(
    ("params", "name", "code"),
    [
        ({"bsn": "999993653"}, "nonFieldErrors", "unknown-parameters"),
        ({"objectType": "verblijfsobject"}, "objectType", "invalid_choice"),
        ({"object": "0599010000208579"}, "object", "invalid"),
    ],
)
async def test_zaakobjecten_refuse_unknown_and_invalid_filters(
    zgw: httpx.AsyncClient, params: dict[str, str], name: str, code: str
) -> None:
    # Not request-validated: the spec does not declare these values, which is the point.
    response = await zgw.get(ZAAKOBJECTEN, params=params)
    validate_response("zaken", response)

    assert response.status_code == 400
    [invalid] = response.json()["invalidParams"]
    assert (invalid["name"], invalid["code"]) == (name, code)


async def test_unknown_zaakobject_is_404_and_no_token_is_403(zgw_app: object) -> None:
    transport = httpx.ASGITransport(app=zgw_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as bare:
        denied = await bare.get(ZAAKOBJECTEN, params={"object": BOTERDIEP_31})
        missing = await bare.get(
            f"{ZAAKOBJECTEN}/00000000-0000-4000-8000-000000000000",
            headers={"Authorization": f"Bearer {zgw_token()}"},
        )
    validate_response("zaken", denied)

    assert denied.status_code == 403
    assert missing.status_code == 404
