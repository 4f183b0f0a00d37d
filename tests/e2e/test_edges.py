"""Trust at the edges, attacked on a stack in production mode: no development mode, API keys and tokens with few
roles, the default breaker, rate-limit and in-flight settings. One stack for the whole module.

Each test reproduces a finding of the security probe (issue 10) as it was made, and asserts what must hold now
— also on what reached the sources (the simulators' ``/__sandbox__/requests``) where the finding was about that.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from iko_shared.contracts import AuditRecorded
from iko_stack import Stack

from tests.e2e.conftest import ISSUER
from tests.e2e.production import KEYS, headers
from tests.unit.gateway.jwks_server import JwksServer

pytestmark = pytest.mark.e2e

BSN = "999993653"
FAMILY = "999990068"  # partner 999993409, child 999993781
PARTNER, CHILD = "999993409", "999993781"
KVK = "69599084"
KVK_ERROR = "90004973"  # the KVK simulator answers 500 for this number
# Documentation addresses (RFC 5737), only ever sent as X-Forwarded-For header values.
ATTACKER_ADDRESS, VICTIM_ADDRESS = "203.0.113.7", "203.0.113.8"


@pytest.fixture
async def client(production_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=15) as http:
        yield http


@pytest.fixture
def sources(production_stack: Stack) -> Iterator[dict[str, httpx.Client]]:
    """The simulators, their request logs cleared first and their behaviour reset after."""
    clients = {name: httpx.Client(base_url=url, timeout=5) for name, url in production_stack.sandbox_urls.items()}
    try:
        for http in clients.values():
            http.delete("/__sandbox__/requests")
        yield clients
    finally:
        for http in clients.values():
            http.delete("/__sandbox__/behaviour")
            http.close()


def received(source: httpx.Client) -> list[dict[str, Any]]:
    return [r for r in source.get("/__sandbox__/requests").json() if not r["path"].startswith("/__sandbox__")]


def lookup(bsn: str = BSN, **extra: Any) -> dict[str, Any]:
    return {"identifier": {"type": "bsn", "value": bsn}, **extra}


async def poll(condition, timeout_s: float = 10.0, interval_s: float = 0.05):
    end = time.monotonic() + timeout_s
    while True:
        value = await condition()
        if value or time.monotonic() > end:
            return value
        await asyncio.sleep(interval_s)


# --- 1. roles on the compatible API --------------------------------------------------------------------------


async def test_a_bedrijf_caller_gets_no_zaken_of_a_person_and_zgw_is_not_called(client, sources):
    response = await client.get(f"/endpoints/zgw/default/zaken/{BSN}", headers=headers("bedrijf"))
    assert response.status_code == 403, response.text
    assert set(response.json()) == {"message", "correlationId"}
    assert received(sources["zgw"]) == []


async def test_a_person_caller_without_the_zaken_role_gets_no_zaken(client, sources):
    response = await client.get(f"/endpoints/zgw/default/zaken/{BSN}", headers=headers("persoon"))
    assert response.status_code == 403
    assert received(sources["zgw"]) == []
    allowed = await client.get(f"/endpoints/zgw/default/zaken/{BSN}", headers=headers("zaken"))
    assert allowed.status_code == 200, allowed.text
    assert len(received(sources["zgw"])) >= 1


async def test_a_bedrijf_caller_cannot_search_persons_through_endpoints(client, sources):
    response = await client.get(
        "/endpoints/brp/default/ZoekMetGeslachtsnaamEnGeboortedatum",
        params={"geslachtsnaam": "Moulin", "geboortedatum": "1985-12-01"},
        headers=headers("bedrijf"),
    )
    assert response.status_code == 403
    assert received(sources["brp"]) == []


# --- 2. data minimisation on the compatible API --------------------------------------------------------------


async def test_fields_no_profile_grants_are_refused_and_never_asked(client, sources):
    response = await client.get(
        f"/endpoints/brp/default/RaadpleegMetBurgerservicenummer/{BSN}",
        params={"fields": "nationaliteiten,ouders,gezag"},
        headers=headers("persoon"),
    )
    assert response.status_code == 403, response.text
    assert received(sources["brp"]) == []


async def test_fields_within_the_grant_are_what_the_brp_is_asked(client, sources):
    response = await client.get(
        f"/endpoints/brp/default/RaadpleegMetBurgerservicenummer/{BSN}",
        params={"fields": "naam.voornamen,geboorte"},
        headers=headers("persoon"),
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) <= {"naam", "geboorte", "geheimhoudingPersoonsgegevens", "inOnderzoek"}
    [call] = received(sources["brp"])
    # The connector adds the BSN to route a batched answer, and takes it out again (it was not asked).
    assert [f for f in call["json"]["fields"] if f != "burgerservicenummer"] == ["naam.voornamen", "geboorte"]
    assert "burgerservicenummer" not in response.json()
    default = await client.get(
        f"/endpoints/brp/default/RaadpleegMetBurgerservicenummer/{BSN}", headers=headers("persoon")
    )
    assert default.status_code == 200
    asked = received(sources["brp"])[-1]["json"]["fields"]
    assert "nationaliteiten" not in asked
    assert "ouders" not in asked


async def test_a_list_of_bsns_is_not_sent(client, sources):
    for path in (f"RaadpleegMetBurgerservicenummer/{BSN}", "RaadpleegMetBurgerservicenummer"):
        response = await client.get(
            f"/endpoints/brp/default/{path}",
            params={"burgerservicenummer": f"{BSN},999995248,{FAMILY}"},
            headers=headers("persoon"),
        )
        assert response.status_code in (400, 403), response.text
    assert received(sources["brp"]) == []


async def test_connector_params_beyond_the_grant_make_no_source_calls(client, sources):
    response = await client.get(
        f"/endpoints/zgw/default/zaken/{BSN}",
        params={"include": "status", "max_pages": "1000"},
        headers=headers("zaken"),
    )
    assert response.status_code == 403
    assert received(sources["zgw"]) == []


# --- 3 and 6. one caller cannot harm another ----------------------------------------------------------------


async def test_short_deadlines_and_error_input_do_not_cut_a_source_off_for_others(client, sources):
    # A BRP that answers in 150 ms: the attacker's 60 ms lookups time out, which says nothing of the BRP.
    sources["brp"].put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 150})
    short = [
        client.post("/api/v1/profiles/persoon/lookups", json=lookup(timeout_ms=60), headers=headers("attacker"))
        for _ in range(8)
    ]
    for answer in await asyncio.gather(*short):
        assert answer.status_code == 200
        assert answer.json()["sources"]["brp"]["status"] == "timeout"
    victim = await client.post(
        "/api/v1/profiles/persoon/lookups", json=lookup(timeout_ms=2000), headers=headers("victim")
    )
    assert victim.status_code == 200
    assert victim.json()["sources"]["brp"]["status"] == "ok", victim.json()["sources"]["brp"]
    sources["brp"].delete("/__sandbox__/behaviour")

    # A KVK number that makes KVK answer 500: the attacker's input, not KVK's state, fails those calls.
    for _ in range(4):
        failing = await client.post(
            "/api/v1/profiles/bedrijf/lookups",
            json={"identifier": {"type": "kvk", "value": KVK_ERROR}},
            headers=headers("attacker"),
        )
        assert failing.json()["sources"]["kvk"]["status"] == "error"
    served = await client.post(
        "/api/v1/profiles/bedrijf/lookups",
        json={"identifier": {"type": "kvk", "value": KVK}},
        headers=headers("victim"),
    )
    assert served.json()["sources"]["kvk"]["status"] == "ok", served.json()["sources"]["kvk"]


async def test_a_long_deadline_is_not_failed_by_a_short_one_in_the_same_batch(client, sources):
    sources["brp"].put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 150})
    bsns = ["999993653", "999995248", "999990408", "999994086", "999991772", "999992168"]
    calls = []
    for bsn in bsns:
        calls.append(
            client.post("/api/v1/profiles/persoon/lookups", json=lookup(bsn, timeout_ms=40), headers=headers("zaken"))
        )
        calls.append(
            client.post("/api/v1/profiles/persoon/lookups", json=lookup(bsn, timeout_ms=4000), headers=headers("zaken"))
        )
    answers = await asyncio.gather(*calls)
    long_ones = answers[1::2]
    for answer in long_ones:
        assert answer.status_code == 200
        assert answer.json()["sources"]["brp"]["status"] == "ok", answer.json()["sources"]["brp"]
    batched = [r for r in received(sources["brp"]) if len(r["json"].get("burgerservicenummer") or []) > 1]
    assert batched, "the BRP connector batched these lookups (else this test proves nothing)"


async def test_a_flood_of_slow_lookups_by_one_caller_leaves_others_served(client, sources):
    # Slow enough that the flood is still in flight when the victim asks, fast enough for the victim's relations.
    sources["brp"].put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 800})
    flood = [
        client.post("/api/v1/profiles/persoon/lookups", json=lookup(timeout_ms=5000), headers=headers("attacker"))
        for _ in range(70)
    ]
    flooding = asyncio.gather(*flood)
    await asyncio.sleep(0.3)  # the flood is in flight; the victim comes in behind it
    victim = await client.post(
        "/api/v1/profiles/persoon/lookups", json=lookup(timeout_ms=5000), headers=headers("victim")
    )
    answers = await flooding
    assert victim.status_code == 200, victim.text
    assert victim.json()["status"] == "complete", victim.json()
    refused = [a for a in answers if a.status_code == 429]
    assert refused, "one caller's lookups in flight are capped"
    assert all("in flight" in a.text for a in refused)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert all(a.status_code in (200, 429) for a in answers)


def _token(identity: JwksServer, subject: str, username: str = "medewerker") -> str:
    now = int(time.time())
    return identity.keys[0].sign(
        {
            "iss": ISSUER,
            "aud": "iko",
            "sub": subject,
            "azp": "valtimo",
            "preferred_username": username,
            "iat": now,
            "exp": now + 300,
            "resource_access": {"iko": {"roles": ["iko-persoon"]}},
        }
    )


async def test_the_rate_limit_counts_per_user_not_per_client(client, identity):
    heavy = {"Authorization": f"Bearer {_token(identity, 'user-heavy')}"}
    other = {"Authorization": f"Bearer {_token(identity, 'user-other')}"}
    limited = None
    # Batches under the in-flight cap, so that a 429 here is the rate limit's; enough of them for a window that
    # rolls over halfway (the limit is 600 a minute, counted in fixed windows).
    for _ in range(150):
        batch = await asyncio.gather(*(client.get("/api/v1/profiles", headers=heavy) for _ in range(10)))
        limited = next((r for r in batch if r.status_code == 429), None)
        if limited is not None:
            break
    assert limited is not None, "the default limit (600 a minute) is reached by one user"
    assert "in flight" not in limited.text
    assert int(limited.headers["Retry-After"]) >= 1
    served = await client.get("/api/v1/profiles", headers=other)
    assert served.status_code == 200, "another user of the same client (azp) is still served"


async def test_failed_authentication_is_limited_per_address_and_only_that_address(client):
    attacker = {"X-API-Key": "guessed", "X-Forwarded-For": ATTACKER_ADDRESS}
    statuses = [(await client.get("/api/v1/profiles", headers=attacker)).status_code for _ in range(40)]
    assert statuses[0] == 401
    assert statuses[-1] == 429
    # Forging another address in front does not help: the right-most untrusted address is the caller.
    forged = {"X-API-Key": "guessed", "X-Forwarded-For": f"{VICTIM_ADDRESS}, {ATTACKER_ADDRESS}"}
    assert (await client.get("/api/v1/profiles", headers=forged)).status_code == 429
    # Another address behind the same ingress, and the ingress itself, are served.
    victim = {**headers("victim"), "X-Forwarded-For": VICTIM_ADDRESS}
    assert (await client.get("/api/v1/profiles", headers=victim)).status_code == 200
    assert (await client.get("/api/v1/profiles", headers=headers("victim"))).status_code == 200


# --- 4 (above), 5. every subject audited ---------------------------------------------------------------------


def subjects(record: AuditRecorded) -> dict[str, set[str]]:
    return {s.identifier.value: {d.source for d in s.sources} for s in record.subjects}


def no_fetched_values(record: AuditRecorded, answer: dict[str, Any]) -> None:
    raw = record.model_dump_json()
    for key, result in answer["sources"].items():
        naam = ((result.get("data") or {}).get("naam") or {}) if key.endswith("brp") else {}
        if naam.get("geslachtsnaam"):
            assert naam["geslachtsnaam"] not in raw
        if naam.get("voornamen"):
            assert naam["voornamen"] not in raw


async def test_a_lookup_records_the_partner_and_the_child(client, audit):
    response = await client.post("/api/v1/profiles/persoon/lookups", json=lookup(FAMILY), headers=headers("zaken"))
    assert response.status_code == 200
    answer = response.json()
    [record] = await audit(1)
    named = subjects(record)
    assert named[FAMILY] == {"brp", "zgw"}
    assert named[PARTNER] == {"brp", "zgw"}
    assert named[CHILD] == {"brp"}
    no_fetched_values(record, answer)


async def test_a_search_records_every_person_in_its_rows(client, audit):
    response = await client.post(
        "/api/v1/profiles/persoon/searches",
        json={"action": "postcode-huisnummer", "filters": {"postcode": "2596TW", "huisnummer": 1}},
        headers=headers("persoon"),
    )
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert rows
    [record] = await audit(1)
    assert set(subjects(record)) == {row["bsn"] for row in rows}
    assert all(s == {"brp"} for s in subjects(record).values())
    assert rows[0]["naam"] not in record.model_dump_json()


async def test_an_endpoint_search_records_every_person_it_returns(client, audit):
    response = await client.get(
        "/endpoints/brp/default/ZoekMetPostcodeEnHuisnummer",
        params={"postcode": "2596TW", "huisnummer": "1"},
        headers=headers("persoon"),
    )
    assert response.status_code == 200, response.text
    personen = response.json()["personen"]
    [record] = await audit(1)
    assert set(subjects(record)) == {p["burgerservicenummer"] for p in personen}


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], orjson.loads(lines["data"])))
    return events


async def test_a_streamed_lookup_records_what_it_sent(client, audit):
    response = await client.post(
        "/api/v1/profiles/persoon/lookups",
        json=lookup(FAMILY),
        headers={**headers("zaken"), "Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    events = _events(response.text)
    assert events[-1][0] == "view"
    started, ended = await audit(2)
    assert started.outcome == "stream_started"
    assert ended.outcome == "streamed: complete"
    assert ended.request_id == started.request_id == events[-1][1]["request_id"]
    named = subjects(ended)
    assert named[FAMILY] == {"brp", "zgw"}
    assert named[PARTNER] == {"brp", "zgw"}
    assert named[CHILD] == {"brp"}
    no_fetched_values(ended, events[-1][1])


async def test_a_stream_the_client_leaves_records_what_was_sent_until_then(production_stack, sources, audit):
    # ZGW slow: the BRP fragments (the person, the partner, the child) stream first, then the client goes.
    sources["zgw"].put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": 2500})
    seen: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=15) as http,
        http.stream(
            "POST",
            "/api/v1/profiles/persoon/lookups",
            json=lookup(FAMILY, timeout_ms=5000),
            headers={**headers("zaken"), "Accept": "text/event-stream"},
        ) as response,
    ):
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            seen = [data for event, data in _events(buffer) if event == "fragment"]
            if {f["key"] for f in seen} >= {"brp", "partners[0].brp", "kinderen[0].brp"}:
                break
    started, ended = await audit(2, timeout_s=15)
    assert started.outcome == "stream_started"
    assert ended.outcome == "stream ended: disconnected"
    named = subjects(ended)
    for fragment in seen:
        whom = fragment["subject"]["value"] if fragment.get("subject") else FAMILY
        assert fragment["result"]["source"] in named[whom]
    assert {FAMILY, PARTNER, CHILD} <= set(named)
    assert "zgw" not in named[FAMILY], "the zaken were not sent before the client left"
    raw = ended.model_dump_json()
    for fragment in seen:
        naam = (fragment["result"].get("data") or {}).get("naam") or {}
        assert not naam.get("geslachtsnaam") or naam["geslachtsnaam"] not in raw


# --- 7. any text in the BRP protocol headers -----------------------------------------------------------------


async def test_non_ascii_purpose_and_user_reach_the_brp_encoded(client, identity, sources):
    token = _token(identity, "user-jose", username="jösé")
    response = await client.post(
        "/api/v1/profiles/persoon/lookups",
        json=lookup(doelbinding="klantcontact", verwerking="Beëindiging uitkering"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["sources"]["brp"]["status"] == "ok", response.json()["sources"]["brp"]
    call = received(sources["brp"])[0]
    assert call["headers"]["x-verwerking"] == "Be%C3%ABindiging uitkering"
    assert call["headers"]["x-gebruiker"] == "j%C3%B6s%C3%A9"


# --- 8. bad input answered rightly ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "999993653\n",
        "\u0669\u0669\u0669\u0669\u0669\u0669\u0663\u0666\u0665",
        "\uff19\uff19\uff19\uff19\uff19\uff13\uff16\uff15\uff13",
    ],
)
async def test_identifiers_of_anything_but_ascii_digits_are_422(client, value, sources):
    response = await client.post("/api/v1/profiles/persoon/lookups", json=lookup(value), headers=headers("persoon"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    compat = await client.get("/aggregated-data-profiles/persoon", params={"id": value}, headers=headers("persoon"))
    assert compat.status_code == 400
    assert received(sources["brp"]) == []


async def test_a_number_beyond_64_bits_in_a_filter_is_422(client):
    response = await client.post(
        "/api/v1/profiles/persoon/searches",
        json={"action": "postcode-huisnummer", "filters": {"postcode": "2596TW", "huisnummer": 2**70}},
        headers=headers("persoon"),
    )
    assert response.status_code == 422, response.text


async def test_an_unknown_operation_is_404(client):
    response = await client.get(f"/endpoints/brp/default/Onbekend/{BSN}", headers=headers("persoon"))
    assert response.status_code == 404
    assert set(response.json()) == {"message", "correlationId"}


async def test_no_redirect_for_a_trailing_slash_and_no_echo_of_the_host(client):
    for auth in ({}, headers("persoon")):
        response = await client.get("/api/v1/profiles/", headers={**auth, "Host": "evil.example"})
        assert response.status_code == 404
        assert "location" not in response.headers
        assert "evil.example" not in response.text


async def test_a_chunked_body_over_the_limit_is_413(client):
    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"9" * 8192

    response = await client.post(
        "/api/v1/profiles/persoon/lookups",
        content=body(),
        headers={**headers("persoon"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_405_names_the_allowed_methods(client):
    response = await client.delete("/api/v1/profiles/persoon/lookups", headers=headers("persoon"))
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


# --- 9. no caller text in logs -------------------------------------------------------------------------------


async def test_a_container_id_holding_a_bsn_and_a_name_is_not_logged(client, production_stack):
    marker = "Janssen-Geheim"
    container = {"containerId": f"{BSN}-{marker}", "pageable": {"page": 0, "size": 5}}
    param = base64.urlsafe_b64encode(orjson.dumps(container)).decode()
    response = await client.get(
        "/aggregated-data-profiles/persoon", params={"id": BSN, "containerParam": param}, headers=headers("persoon")
    )
    assert response.status_code == 200, response.text

    async def logged() -> bool:
        return "compat.unknown_containers" in production_stack.log_path("gateway").read_text()

    assert await poll(logged)
    text = production_stack.log_path("gateway").read_text()
    assert marker not in text
    assert BSN not in text


# --- 10. a relation back to the looked-up person ---------------------------------------------------------------


async def test_a_relation_leading_back_to_the_root_does_not_ask_it_again(client, sources):
    response = await client.post(
        "/api/v1/profiles/terug/lookups",
        json=lookup(FAMILY, doelbinding="test"),
        headers={"X-API-Key": KEYS["persoon"][0]},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "complete"
    assert answer["sources"]["partners[0].brp"]["status"] == "ok"
    asking_root = [r for r in received(sources["brp"]) if FAMILY in (r["json"].get("burgerservicenummer") or [])]
    assert len(asking_root) == 1, asking_root
