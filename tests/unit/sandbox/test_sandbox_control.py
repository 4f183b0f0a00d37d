"""Behaviour control and request recording, the same on every simulator."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from iko_sandbox.control.middleware import ConnectionRefusedByBehaviourError

from tests.unit.sandbox.spec_check import validate_response

BRP_BODY = {"type": "RaadpleegMetBurgerservicenummer", "burgerservicenummer": ["999993653"], "fields": ["naam"]}


async def call_api(name: str, client: httpx.AsyncClient) -> httpx.Response:
    if name == "brp":
        return await client.post("/personen", json=BRP_BODY)
    if name == "kvk":
        return await client.get("/v1/basisprofielen/69599084")
    return await client.get(
        "/zaken/api/v1/zaken", params={"rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn": "999993653"}
    )


@pytest.fixture(params=["brp", "kvk", "zgw"])
def simulator(request: pytest.FixtureRequest) -> tuple[str, httpx.AsyncClient]:
    name: str = request.param
    return name, request.getfixturevalue(name)


async def test_behaviour_defaults_to_ok(simulator: tuple[str, httpx.AsyncClient]) -> None:
    _, client = simulator
    response = await client.get("/__sandbox__/behaviour")

    assert response.json() == {"mode": "ok", "latency_ms": 0}


async def test_put_get_and_delete_behaviour(simulator: tuple[str, httpx.AsyncClient]) -> None:
    _, client = simulator
    put = await client.put("/__sandbox__/behaviour", json={"mode": "error", "latency_ms": 5})
    got = await client.get("/__sandbox__/behaviour")
    deleted = await client.delete("/__sandbox__/behaviour")

    assert put.status_code == 200
    assert got.json() == {"mode": "error", "latency_ms": 5}
    assert deleted.json() == {"mode": "ok", "latency_ms": 0}
    assert (await client.get("/__sandbox__/behaviour")).json() == {"mode": "ok", "latency_ms": 0}


@pytest.mark.parametrize(
    "body",
    [{"mode": "sleepy"}, {"mode": "ok", "latency_ms": -1}, {"mode": "ok", "latency_ms": "slow"}, {"extra": 1}],
)
async def test_invalid_behaviour_is_422_and_changes_nothing(
    simulator: tuple[str, httpx.AsyncClient], body: dict[str, Any]
) -> None:
    _, client = simulator
    response = await client.put("/__sandbox__/behaviour", json=body)

    assert response.status_code == 422
    assert (await client.get("/__sandbox__/behaviour")).json() == {"mode": "ok", "latency_ms": 0}


async def test_error_mode_answers_500_in_the_sources_own_shape(simulator: tuple[str, httpx.AsyncClient]) -> None:
    name, client = simulator
    await client.put("/__sandbox__/behaviour", json={"mode": "error"})
    response = await call_api(name, client)

    assert response.status_code == 500
    if name == "kvk":
        assert response.json()["fout"][0]["code"]
        validate_response("basisprofiel", response)
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 500
        validate_response("brp" if name == "brp" else "zaken", response)


async def test_latency_delays_api_answers_but_not_control(simulator: tuple[str, httpx.AsyncClient]) -> None:
    name, client = simulator
    await client.put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 300})

    started = time.monotonic()
    response = await call_api(name, client)
    api_elapsed = time.monotonic() - started
    started = time.monotonic()
    await client.get("/__sandbox__/behaviour")
    control_elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert api_elapsed >= 0.3
    assert control_elapsed < 0.3


async def test_hang_never_answers_yet_control_keeps_working(simulator: tuple[str, httpx.AsyncClient]) -> None:
    name, client = simulator
    await client.put("/__sandbox__/behaviour", json={"mode": "hang"})

    hanging = asyncio.create_task(call_api(name, client))
    await asyncio.sleep(0.2)
    control = await asyncio.wait_for(client.get("/__sandbox__/behaviour"), timeout=2)
    # Another API request hangs as well, independently of the first.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call_api(name, client), timeout=0.3)

    assert control.json()["mode"] == "hang"
    assert not hanging.done()
    hanging.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hanging


async def test_refuse_in_process_raises_a_connection_error(simulator: tuple[str, httpx.AsyncClient]) -> None:
    name, client = simulator
    await client.put("/__sandbox__/behaviour", json={"mode": "refuse"})

    with pytest.raises(ConnectionResetError) as raised:
        await call_api(name, client)

    assert isinstance(raised.value, ConnectionRefusedByBehaviourError)
    assert (await client.get("/__sandbox__/behaviour")).json()["mode"] == "refuse"


async def test_requests_are_recorded_with_headers_and_body(brp: httpx.AsyncClient) -> None:
    await brp.delete("/__sandbox__/requests")
    await brp.post("/personen", json=BRP_BODY, headers={"x-doelbinding": "BRPACT-Test", "X-API-KEY": "k"})
    await brp.get("/__sandbox__/behaviour")

    recorded = (await brp.get("/__sandbox__/requests")).json()

    assert len(recorded) == 1
    [entry] = recorded
    assert entry["method"] == "POST"
    assert entry["path"] == "/personen"
    assert entry["headers"]["x-doelbinding"] == "BRPACT-Test"
    assert entry["headers"]["x-api-key"] == "k"
    assert entry["json"]["fields"] == ["naam"]


async def test_requests_record_query_and_clear(zgw: httpx.AsyncClient) -> None:
    await zgw.get(
        "/zaken/api/v1/zaken", params={"rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn": "999993653"}
    )
    recorded = (await zgw.get("/__sandbox__/requests")).json()
    cleared = await zgw.delete("/__sandbox__/requests")

    assert recorded[-1]["query"] == "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn=999993653"
    assert recorded[-1]["headers"]["accept-crs"] == "EPSG:4326"
    assert cleared.status_code == 204
    assert (await zgw.get("/__sandbox__/requests")).json() == []


async def test_request_log_keeps_the_last_200(kvk: httpx.AsyncClient) -> None:
    for index in range(205):
        await kvk.get(f"/v1/basisprofielen/{10000000 + index}")

    recorded = (await kvk.get("/__sandbox__/requests")).json()

    assert len(recorded) == 200
    assert recorded[0]["path"] == "/v1/basisprofielen/10000005"
    assert recorded[-1]["path"] == "/v1/basisprofielen/10000204"


async def test_requests_are_recorded_even_when_the_answer_is_an_error(kvk: httpx.AsyncClient) -> None:
    await kvk.put("/__sandbox__/behaviour", json={"mode": "error"})
    await kvk.get("/v1/basisprofielen/69599084")

    recorded = (await kvk.get("/__sandbox__/requests")).json()

    assert recorded[-1]["path"] == "/v1/basisprofielen/69599084"


@pytest.mark.parametrize(
    ("mode", "content_type", "is_json"),
    [("garbage", "application/json", False), ("wrong_type", "text/html", False), ("broken", "application/json", True)],
)
async def test_the_misbehaviours_answer_200_with_what_the_api_never_sends(
    simulator: tuple[str, httpx.AsyncClient], mode: str, content_type: str, is_json: bool
) -> None:
    name, client = simulator
    (await client.put("/__sandbox__/behaviour", json={"mode": mode})).raise_for_status()
    response = await call_api(name, client)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    if is_json:
        assert isinstance(response.json(), list), "an array where every API answers an object"
    else:
        with pytest.raises(json.JSONDecodeError):
            response.json()
