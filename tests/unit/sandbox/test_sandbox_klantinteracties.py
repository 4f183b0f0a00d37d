from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from iko_sandbox.control.middleware import ConnectionRefusedByBehaviourError
from iko_sandbox.klantinteracties import DEFAULT_PORT
from iko_sandbox.klantinteracties.app import (
    DEFAULT_TOKEN,
    KLANTCONTACT_EXPANDS,
    create_app,
    create_klantinteracties_app,
)

from tests.unit.sandbox.spec_check import (
    HOST,
    declared_properties,
    undeclared_keys,
    validate_request,
    validate_response,
)

LIST = "/klantinteracties/api/v1/klantcontacten"
SOORT = "hadBetrokkene__wasPartij__partijIdentificator__codeSoortObjectId"
OBJECT_ID = "hadBetrokkene__wasPartij__partijIdentificator__objectId"


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_klantinteracties_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Token {DEFAULT_TOKEN}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST, headers=headers) as c:
        yield c
        await c.delete("/__sandbox__/behaviour")
        await c.delete("/__sandbox__/requests")


async def get(client: httpx.AsyncClient, url: str, **kwargs: object) -> httpx.Response:
    response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    validate_request("klantinteracties", response.request)
    validate_response("klantinteracties", response)
    return response


def test_package_shape() -> None:
    assert DEFAULT_PORT == 8104
    assert create_app is create_klantinteracties_app


async def test_klantcontacten_of_a_person_by_bsn(client: httpx.AsyncClient) -> None:
    response = await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "999993653"})

    assert response.status_code == 200
    assert response.headers["api-version"] == "0.9.0"
    body = response.json()
    assert body["count"] == 6
    assert body["next"] is None
    assert body["previous"] is None
    dates = [kc["plaatsgevondenOp"] for kc in body["results"]]
    assert dates == sorted(dates, reverse=True)
    assert all(kc["url"].startswith(f"{HOST}/klantinteracties/api/v1/klantcontacten/") for kc in body["results"])


async def test_klantcontacten_of_a_company_by_kvk_nummer(client: httpx.AsyncClient) -> None:
    body = (await get(client, LIST, params={SOORT: "kvk_nummer", OBJECT_ID: "69599084"})).json()
    wrong_code = (await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "69599084"})).json()

    assert body["count"] == 4
    assert wrong_code["count"] == 0


async def test_the_fixture_person_is_served(client: httpx.AsyncClient) -> None:
    body = (
        await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "296648875", "expand": "hadBetrokkenen.wasPartij"})
    ).json()

    assert body["count"] == 1
    kc = body["results"][0]
    assert kc["uuid"] == "33549ba5-95f0-44d2-9c63-776ec126bc55"
    assert kc["onderwerp"] == "Vraag over vergunningsaanvraag"
    partij = kc["_expand"]["hadBetrokkenen"][0]["_expand"]["wasPartij"]
    assert partij["partijIdentificatie"]["volledigeNaam"] == "Lucas Boom"


async def test_expand_betrokkenen_partij_and_onderwerpobjecten(client: httpx.AsyncClient) -> None:
    params = {
        SOORT: "bsn",
        OBJECT_ID: "999993653",
        "expand": "hadBetrokkenen,hadBetrokkenen.wasPartij,gingOverOnderwerpobjecten",
    }
    body = (await get(client, LIST, params=params)).json()

    kc = body["results"][0]
    betrokkene = kc["_expand"]["hadBetrokkenen"][0]
    assert betrokkene["volledigeNaam"]
    identificator = betrokkene["_expand"]["wasPartij"]["partijIdentificatoren"][0]["partijIdentificator"]
    assert identificator == {
        "codeObjecttype": "natuurlijk_persoon",
        "codeSoortObjectId": "bsn",
        "objectId": "999993653",
        "codeRegister": "brp",
    }
    assert "gingOverOnderwerpobjecten" in kc["_expand"]


async def test_no_expand_has_no_expand_key(client: httpx.AsyncClient) -> None:
    body = (await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "999993409"})).json()

    assert body["count"] == 3
    assert all("_expand" not in kc for kc in body["results"])


async def test_unknown_expand_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get(LIST, params={"expand": "nietBestaand"})

    assert response.status_code == 400
    assert "expand" in response.json()


async def test_pagination_of_a_person_with_two_pages(client: httpx.AsyncClient) -> None:
    first = (await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "999990068"})).json()
    assert first["count"] == 120
    assert len(first["results"]) == 100
    assert first["next"].startswith(f"{HOST}{LIST}?")
    assert "page=2" in first["next"]
    assert "999990068" in first["next"]

    second = (await get(client, first["next"])).json()
    assert len(second["results"]) == 20
    assert second["next"] is None
    assert second["previous"] == f"{HOST}{LIST}?{SOORT}=bsn&{OBJECT_ID}=999990068"
    uuids = {kc["uuid"] for kc in first["results"]} | {kc["uuid"] for kc in second["results"]}
    assert len(uuids) == 120


async def test_page_size(client: httpx.AsyncClient) -> None:
    body = (await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "999990068", "pageSize": 50, "page": 3})).json()

    assert len(body["results"]) == 20
    assert "pageSize=50" in body["previous"]
    assert "page=2" in body["previous"]


async def test_page_beyond_the_last_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(LIST, params={SOORT: "bsn", OBJECT_ID: "999993653", "page": 2})

    assert response.status_code == 404
    assert response.json() == {"detail": "Ongeldige pagina."}


async def test_data_is_deterministic(client: httpx.AsyncClient) -> None:
    params = {SOORT: "bsn", OBJECT_ID: "999993653", "expand": "hadBetrokkenen"}
    assert (await get(client, LIST, params=params)).json() == (await get(client, LIST, params=params)).json()


async def test_detail_routes_the_list_links_to(client: httpx.AsyncClient) -> None:
    kc = (await get(client, LIST, params={SOORT: "kvk_nummer", OBJECT_ID: "69599084"})).json()["results"][0]
    detail = await get(client, kc["url"], params={"expand": "hadBetrokkenen"})
    betrokkene = await get(client, kc["hadBetrokkenen"][0]["url"])
    partij = await get(client, betrokkene.json()["wasPartij"]["url"])

    assert detail.json()["uuid"] == kc["uuid"]
    assert partij.json()["partijIdentificatie"] == {"naam": "Test EMZ Dagobert"}
    assert (await client.get(f"{LIST}/00000000-0000-0000-0000-000000000000")).status_code == 404


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authenticatiegegevens zijn niet opgegeven."),
        (f"Bearer {DEFAULT_TOKEN}", "Authenticatiegegevens zijn niet opgegeven."),
        ("Token", "Ongeldige token header. Geen credentials verstrekt."),
        ("Token wrong", "Ongeldige token."),
    ],
)
async def test_token_is_required(app: FastAPI, authorization: str | None, detail: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as bare:
        response = await bare.get(LIST, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    assert response.json() == {"detail": detail}


async def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_SANDBOX_KLANTINTERACTIES_TOKEN", "from-env")
    app = create_klantinteracties_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as bare:
        ok = await bare.get(LIST, headers={"Authorization": "Token from-env"})
        default = await bare.get(LIST, headers={"Authorization": f"Token {DEFAULT_TOKEN}"})

    assert ok.status_code == 200
    assert default.status_code == 401


async def test_behaviour_modes_and_request_log(client: httpx.AsyncClient) -> None:
    await client.delete("/__sandbox__/requests")
    await client.put("/__sandbox__/behaviour", json={"mode": "error"})
    error = await client.get(LIST, params={SOORT: "bsn", OBJECT_ID: "999993653"})
    assert error.status_code == 500
    assert error.json() == {"detail": "Er is een serverfout opgetreden."}

    await client.put("/__sandbox__/behaviour", json={"mode": "refuse"})
    with pytest.raises(ConnectionRefusedByBehaviourError):
        await client.get(LIST)
    await client.delete("/__sandbox__/behaviour")

    log = (await client.get("/__sandbox__/requests")).json()
    assert [entry["path"] for entry in log] == [LIST, LIST]
    assert "objectId=999993653" in log[0]["query"]
    assert log[0]["headers"]["authorization"] == f"Token {DEFAULT_TOKEN}"


async def test_answers_use_only_declared_properties(client: httpx.AsyncClient) -> None:
    # The schemas allow additional properties, so a misspelt key would pass validation; this catches it.
    expand = ",".join(sorted(KLANTCONTACT_EXPANDS))
    lists = [
        (await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: bsn, "expand": expand})).json()
        for bsn in ("296648875", "999993653")
    ]
    fixture_org = (await get(client, LIST, params={"expand": expand, "pageSize": 500})).json()

    declared = declared_properties("klantinteracties") | {"_expand"}
    for body in (*lists, fixture_org):
        assert undeclared_keys(body, declared) == []


async def test_partijen_by_identificator_with_their_klantcontacten(client: httpx.AsyncClient) -> None:
    partijen = "/klantinteracties/api/v1/partijen"
    params = {
        "partijIdentificator__codeSoortObjectId": "bsn",
        "partijIdentificator__objectId": "999993653",
        "expand": "betrokkenen,betrokkenen.hadKlantcontact,digitaleAdressen",
    }
    body = (await get(client, partijen, params=params)).json()
    organisaties = (await get(client, partijen, params={"soortPartij": "organisatie"})).json()

    assert body["count"] == 1
    partij = body["results"][0]
    assert partij["soortPartij"] == "persoon"
    contacts = [b["_expand"]["hadKlantcontact"] for b in partij["_expand"]["betrokkenen"]]
    assert len(contacts) == 6
    assert {c["uuid"] for c in contacts} == {
        kc["uuid"] for kc in (await get(client, LIST, params={SOORT: "bsn", OBJECT_ID: "999993653"})).json()["results"]
    }
    assert {p["partijIdentificatie"]["naam"] for p in organisaties["results"]} == {
        "Maykin",
        "Test EMZ Dagobert",
        "Test BV Donald",
    }
    detail = (await get(client, partij["url"], params={"expand": "betrokkenen"})).json()
    assert len(detail["_expand"]["betrokkenen"]) == 6
