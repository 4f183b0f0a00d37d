from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from iko_sandbox.control.middleware import ConnectionRefusedByBehaviourError
from iko_sandbox.objecten import DEFAULT_PORT
from iko_sandbox.objecten.app import DEFAULT_TOKEN, create_app, create_objecten_app
from iko_sandbox.objecten.store import OBJECTTYPE_UUIDS

from tests.unit.sandbox.spec_check import (
    HOST,
    declared_properties,
    undeclared_keys,
    validate_request,
    validate_response,
)

OBJECTS = "/objects/api/v2/objects"
OBJECTTYPES = "/objecttypes/api/v2/objecttypes"


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_objecten_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Token {DEFAULT_TOKEN}", "Accept-Crs": "EPSG:4326"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST, headers=headers) as c:
        yield c
        await c.delete("/__sandbox__/behaviour")
        await c.delete("/__sandbox__/requests")


async def get(client: httpx.AsyncClient, spec: str, url: str, **kwargs: object) -> httpx.Response:
    response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    validate_request(spec, response.request)
    validate_response(spec, response)
    return response


async def type_url(client: httpx.AsyncClient, name: str) -> str:
    body = (await get(client, "objecttypen", OBJECTTYPES)).json()
    return next(t["url"] for t in body["results"] if t["name"] == name)


def test_package_shape() -> None:
    assert DEFAULT_PORT == 8105
    assert create_app is create_objecten_app


async def test_objecttypes_list_and_detail(client: httpx.AsyncClient) -> None:
    body = (await get(client, "objecttypen", OBJECTTYPES)).json()

    assert body["count"] == 3
    assert {t["name"] for t in body["results"]} == {
        "parkeervergunning",
        "melding openbare ruimte",
        "bedrijfsvergunning",
    }
    for objecttype in body["results"]:
        assert objecttype["url"] == f"{HOST}{OBJECTTYPES}/{objecttype['uuid']}"
        detail = (await get(client, "objecttypen", objecttype["url"])).json()
        assert detail == objecttype
    assert (await client.get(f"{OBJECTTYPES}/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_objecttype_versions_carry_the_json_schema(client: httpx.AsyncClient) -> None:
    melding = (await get(client, "objecttypen", await type_url(client, "melding openbare ruimte"))).json()
    assert len(melding["versions"]) == 2

    first = (await get(client, "objecttypen", melding["versions"][0])).json()
    second = (await get(client, "objecttypen", melding["versions"][1])).json()
    listed = (await get(client, "objecttypen", f"{melding['url']}/versions")).json()

    assert first["jsonSchema"]["title"] == "Het objecttype Melding Openbare Ruimte"
    assert "nummeraanduidingIdentificatie" in second["jsonSchema"]["properties"]
    assert second["status"] == "published"
    assert [v["version"] for v in listed["results"]] == [2, 1]


async def test_objecttypes_filter_on_data_classification(client: httpx.AsyncClient) -> None:
    body = (await get(client, "objecttypen", OBJECTTYPES, params={"dataClassification": "open"})).json()

    assert [t["name"] for t in body["results"]] == ["melding openbare ruimte"]


async def test_parkeervergunningen_of_a_person(client: httpx.AsyncClient) -> None:
    parkeervergunning = await type_url(client, "parkeervergunning")
    response = await get(
        client, "objecten", OBJECTS, params={"type": parkeervergunning, "data_attr": "bsn__exact__999993653"}
    )

    assert response.headers["content-crs"] == "EPSG:4326"
    body = response.json()
    assert body["count"] == 2
    assert {o["record"]["data"]["kenteken"] for o in body["results"]} == {"AB-123-C", "XY-987-Z"}
    assert all(o["type"] == parkeervergunning for o in body["results"])
    assert all(o["url"].startswith(f"{HOST}{OBJECTS}/") for o in body["results"])


# openapi-core warns about the deprecated parameter the test uses on purpose.
@pytest.mark.filterwarnings("ignore:data_attrs parameter is deprecated")
async def test_several_data_attr_expressions_and_deprecated_data_attrs(client: httpx.AsyncClient) -> None:
    both = [("data_attr", "bsn__exact__999993653"), ("data_attr", "status__exact__actief")]
    body = (await get(client, "objecten", OBJECTS, params=both)).json()
    deprecated = (
        await get(client, "objecten", OBJECTS, params={"data_attrs": "bsn__exact__999993653,status__exact__actief"})
    ).json()

    assert [o["record"]["data"]["kenteken"] for o in body["results"]] == ["AB-123-C"]
    assert deprecated == body


async def test_meldingen_at_an_address(client: httpx.AsyncClient) -> None:
    melding = await type_url(client, "melding openbare ruimte")
    body = (
        await get(
            client,
            "objecten",
            OBJECTS,
            params={"type": melding, "data_attr": "nummeraanduidingIdentificatie__exact__0599200000219678"},
        )
    ).json()

    assert body["count"] == 2
    assert all(o["record"]["geometry"]["type"] == "Point" for o in body["results"])
    assert all(o["record"]["typeVersion"] == 2 for o in body["results"])


async def test_bedrijfsvergunningen_of_a_company(client: httpx.AsyncClient) -> None:
    vergunning = await type_url(client, "bedrijfsvergunning")
    body = (
        await get(client, "objecten", OBJECTS, params={"type": vergunning, "data_attr": "kvkNummer__exact__69599084"})
    ).json()
    other_type = (
        await get(
            client,
            "objecten",
            OBJECTS,
            params={"type": await type_url(client, "parkeervergunning"), "data_attr": "kvkNummer__exact__69599084"},
        )
    ).json()

    assert body["count"] == 2
    assert {o["record"]["data"]["vestigingsnummer"] for o in body["results"]} == {"000038509504", "000038509520"}
    assert other_type["count"] == 0


async def test_other_operators(client: httpx.AsyncClient) -> None:
    later = (await get(client, "objecten", OBJECTS, params={"data_attr": "geldigVan__gte__2025-06-01"})).json()
    part = (await get(client, "objecten", OBJECTS, params={"data_attr": "kenteken__icontains__ab-1"})).json()
    one_of = (await get(client, "objecten", OBJECTS, params={"data_attr": "bsn__in__999990068|123456782"})).json()

    assert {o["record"]["data"]["vergunningnummer"] for o in later["results"]} == {"PV-2025-000233", "BV-2026-000003"}
    assert [o["record"]["data"]["kenteken"] for o in part["results"]] == ["AB-123-C"]
    assert [o["record"]["data"]["kenteken"] for o in one_of["results"]] == ["GH-45-JK"]


@pytest.mark.parametrize("expression", ["bsn__999993653", "bsn__like__9999", "__exact__1"])
async def test_invalid_data_attr_is_a_400(client: httpx.AsyncClient, expression: str) -> None:
    response = await client.get(OBJECTS, params={"data_attr": expression})

    assert response.status_code == 400
    assert "data_attr" in response.json()


async def test_pagination(client: httpx.AsyncClient) -> None:
    first = (await get(client, "objecten", OBJECTS, params={"pageSize": 4})).json()
    third = (await get(client, "objecten", OBJECTS, params={"pageSize": 4, "page": 3})).json()

    assert first["count"] == 9
    assert first["next"] == f"{HOST}{OBJECTS}?pageSize=4&page=2"
    assert len(third["results"]) == 1
    assert third["next"] is None
    assert third["previous"] == f"{HOST}{OBJECTS}?pageSize=4&page=2"
    assert (await client.get(OBJECTS, params={"page": 2})).status_code == 404


async def test_object_detail_and_determinism(client: httpx.AsyncClient) -> None:
    listed = (await get(client, "objecten", OBJECTS)).json()
    obj = listed["results"][0]

    assert (await get(client, "objecten", obj["url"])).json() == obj
    assert (await get(client, "objecten", OBJECTS)).json() == listed
    assert (await client.get(f"{OBJECTS}/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_another_crs_is_a_406(client: httpx.AsyncClient) -> None:
    response = await client.get(OBJECTS, headers={"Accept-Crs": "EPSG:28992"})

    assert response.status_code == 406


@pytest.mark.parametrize("authorization", [None, f"Bearer {DEFAULT_TOKEN}", "Token", "Token wrong"])
async def test_token_is_required(app: FastAPI, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as bare:
        objects = await bare.get(OBJECTS, headers=headers)
        objecttypes = await bare.get(OBJECTTYPES, headers=headers)

    for response in (objects, objecttypes):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Token"
        assert "detail" in response.json()


async def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_SANDBOX_OBJECTEN_TOKEN", "from-env")
    app = create_objecten_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as bare:
        ok = await bare.get(OBJECTS, headers={"Authorization": "Token from-env"})
        default = await bare.get(OBJECTS, headers={"Authorization": f"Token {DEFAULT_TOKEN}"})

    assert ok.status_code == 200
    assert default.status_code == 401


async def test_behaviour_modes_and_request_log(client: httpx.AsyncClient) -> None:
    await client.delete("/__sandbox__/requests")
    await client.put("/__sandbox__/behaviour", json={"mode": "error"})
    error = await client.get(OBJECTS, params={"data_attr": "bsn__exact__999993653"})
    assert error.status_code == 500
    assert error.json() == {"detail": "Er is een serverfout opgetreden."}

    await client.put("/__sandbox__/behaviour", json={"mode": "refuse"})
    with pytest.raises(ConnectionRefusedByBehaviourError):
        await client.get(OBJECTTYPES)
    await client.delete("/__sandbox__/behaviour")

    log = (await client.get("/__sandbox__/requests")).json()
    assert [entry["path"] for entry in log] == [OBJECTS, OBJECTTYPES]
    assert log[0]["query"] == "data_attr=bsn__exact__999993653"


async def test_answers_use_only_declared_properties(client: httpx.AsyncClient) -> None:
    # record.data and jsonSchema are free-form; everything around them must be what the specs declare.
    objects = (await get(client, "objecten", OBJECTS)).json()
    objecttypes = (await get(client, "objecttypen", OBJECTTYPES)).json()
    versions = [(await get(client, "objecttypen", url)).json() for t in objecttypes["results"] for url in t["versions"]]
    for obj in objects["results"]:
        obj["record"]["data"] = {}
    for version in versions:
        version["jsonSchema"] = {}

    assert undeclared_keys(objects, declared_properties("objecten")) == []
    assert undeclared_keys([objecttypes, versions], declared_properties("objecttypen")) == []


async def test_type_filter_by_fixed_uuid_on_any_host(client: httpx.AsyncClient) -> None:
    assert OBJECTTYPE_UUIDS == {
        "parkeervergunning": "47fce971-535b-5b83-8248-75f19b07e539",
        "melding-openbare-ruimte": "cb01fb71-3e9b-5043-b1d9-8039198894a7",
        "bedrijfsvergunning": "9de98ca2-e6f0-5cc6-ac04-6dbc3c10b116",
    }
    other_host = f"http://objecttypen.example:8105{OBJECTTYPES}/{OBJECTTYPE_UUIDS['parkeervergunning']}"
    body = (await get(client, "objecten", OBJECTS, params={"type": other_host})).json()
    unknown = (await get(client, "objecten", OBJECTS, params={"type": f"{HOST}{OBJECTTYPES}/unknown"})).json()

    assert body["count"] == 3
    assert {o["record"]["data"]["bsn"] for o in body["results"]} == {"999993653", "999990068"}
    assert unknown["count"] == 0
