"""Protocollering that lands: lookups (with relations), a search and a stream by restricted callers on the
production-mode stack, then the inzage of the partner and of the child through the gateway — who, why and what,
none of the fetched data — and the citizen's form without the case worker's name, the system or the source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import ISSUER
from tests.e2e.production import headers
from tests.unit.gateway.jwks_server import JwksServer

pytestmark = pytest.mark.e2e

FAMILY = "999990068"  # partner 999993409 (Kouwenhoven), child 999993781
PARTNER, CHILD = "999993409", "999993781"
PARTNER_SURNAME = "Kouwenhoven"
CASE_WORKER = "medewerker-42"


@pytest.fixture
async def client(production_stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=15) as http:
        yield http


def case_worker(identity: JwksServer) -> dict[str, str]:
    now = int(time.time())
    token = identity.keys[0].sign(
        {
            "iss": ISSUER,
            "aud": "iko",
            "sub": "inzage-test-user",
            "azp": "valtimo",
            "preferred_username": CASE_WORKER,
            "iat": now,
            "exp": now + 300,
            "resource_access": {"iko": {"roles": ["iko-persoon", "iko-zaken"]}},
        }
    )
    return {"Authorization": f"Bearer {token}", "x-doelbinding": "wmo", "x-verwerking": "Aanvraag Wmo"}


async def inzage(client: httpx.AsyncClient, bsn: str, who: str = "privacy", form: str = "") -> httpx.Response:
    return await client.post(
        f"/api/v1/inzage{form}",
        json={"identifier": {"type": "bsn", "value": bsn}, "page_size": 200},
        headers=headers(who),
    )


async def disclosures_until(client, bsn: str, request_ids: set[str], timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """The officer's inzage of ``bsn``, polled until it holds every request id asked (records land asynchronously)."""
    end = time.monotonic() + timeout_s
    while True:
        response = await inzage(client, bsn)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["disclosures"]
        if request_ids <= {r["request_id"] for r in rows} or time.monotonic() > end:
            return rows
        await asyncio.sleep(0.2)


async def test_the_partner_and_the_child_find_every_disclosure_about_them(client, identity):
    worker = case_worker(identity)
    looked_up = await client.post(
        "/api/v1/profiles/persoon/lookups", json={"identifier": {"type": "bsn", "value": FAMILY}}, headers=worker
    )
    assert looked_up.status_code == 200, looked_up.text
    assert PARTNER_SURNAME in looked_up.text
    searched = await client.post(
        "/api/v1/profiles/persoon/searches",
        json={"action": "bsn", "filters": {"burgerservicenummer": PARTNER}},
        headers=headers("persoon"),
    )
    assert searched.status_code == 200, searched.text
    streamed = await client.post(
        "/api/v1/profiles/persoon/lookups",
        json={"identifier": {"type": "bsn", "value": FAMILY}},
        headers={**headers("persoon"), "Accept": "text/event-stream"},
    )
    assert streamed.status_code == 200
    lookup_id, search_id = looked_up.json()["request_id"], searched.json()["request_id"]
    [view] = [block for block in streamed.text.split("\n\n") if block.startswith("event: view")]
    stream_id = orjson.loads(view.split("data: ", 1)[1])["request_id"]

    partner = await disclosures_until(client, PARTNER, {lookup_id, search_id, stream_id})
    by_request = {r["request_id"]: r for r in partner if r["kind"] != "inzage"}
    assert {lookup_id, search_id, stream_id} <= set(by_request), partner
    lookup = by_request[lookup_id]
    assert (lookup["gebruiker"], lookup["doelbinding"], lookup["verwerking"]) == (CASE_WORKER, "wmo", "Aanvraag Wmo")
    assert lookup["identifier"] == {"type": "bsn", "value": PARTNER}
    sources = {s["source"]: s for s in lookup["sources"]}
    assert set(sources) == {"brp", "zgw"}
    assert sources["brp"]["fields"] == ["burgerservicenummer", "naam", "geboorte", "overlijden"]
    assert by_request[search_id]["kind"] == "search"
    assert by_request[search_id]["gebruiker"] == "persoon"
    assert by_request[stream_id]["outcome"] == "streamed: complete"
    started = [r["started_at"] for r in partner]
    assert started == sorted(started, reverse=True), "newest first"

    child = await disclosures_until(client, CHILD, {lookup_id, stream_id})
    child_requests = {r["request_id"]: r for r in child}
    assert {lookup_id, stream_id} <= set(child_requests)
    assert {s["source"] for s in child_requests[lookup_id]["sources"]} == {"brp"}, "the child's zaken are not asked"

    answer = await inzage(client, PARTNER)
    assert PARTNER_SURNAME not in answer.text, "the audit trail holds no fetched data"

    citizen = await inzage(client, PARTNER, who="portaal", form="/burger")
    assert citizen.status_code == 200, citizen.text
    rows = citizen.json()["verwerkingen"]
    assert any(r["doelbinding"] == "wmo" and r["verwerking"] == "Aanvraag Wmo" for r in rows)
    assert any("naam" in r["gegevens"] for r in rows)
    for hidden in (CASE_WORKER, '"brp"', "IKO gateway", "valtimo", PARTNER_SURNAME):
        assert hidden not in citizen.text


async def test_only_the_inzage_roles_read_the_trail_and_each_inzage_is_recorded(client):
    for who in ("zaken", "persoon", "bedrijf"):
        assert (await inzage(client, PARTNER, who=who)).status_code == 403
    assert (await inzage(client, PARTNER, who="portaal")).status_code == 403, "a portal gets the citizen's form only"
    first = await inzage(client, CHILD)
    assert first.status_code == 200

    async def recorded() -> bool:
        rows = (await inzage(client, CHILD)).json()["disclosures"]
        return any(r["kind"] == "inzage" and r["gebruiker"] == "privacy" for r in rows)

    end = time.monotonic() + 20
    while not await recorded():
        assert time.monotonic() < end, "the inzage itself is in the trail"
        await asyncio.sleep(0.2)
