"""Security through the running stack: who may call, what they see, for which purpose, and the audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import aio_pika
import httpx
import orjson
import pytest
from iko_shared.contracts import AuditRecorded
from iko_shared.topology import Topology

from tests.e2e.conftest import ISSUER
from tests.unit.gateway.jwks_server import SigningKey

pytestmark = pytest.mark.e2e

BSN = "999993653"
LOOKUP = {"identifier": {"type": "bsn", "value": BSN}, "doelbinding": "klantcontact", "verwerking": "Vraag burger"}


def token(identity, roles=("iko-persoon", "iko-zaken"), key=None, claims=None, **overrides) -> str:
    """A token as Keycloak issues it for client iko; ``overrides`` replace or add claims."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": "iko",
        "sub": "8c4c6d1e",
        "azp": "valtimo",
        "preferred_username": "medewerker-17",
        "iat": now,
        "exp": now + 300,
        "resource_access": {"iko": {"roles": list(roles)}},
        **overrides,
        **(claims or {}),
    }
    return (key or identity.keys[0]).sign(payload)


@pytest.fixture
async def anonymous(stack):
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
        yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/profiles/persoon/lookups", LOOKUP),
        ("POST", "/api/v1/profiles/nobody/lookups", LOOKUP),
        ("GET", "/api/v1/profiles", None),
        ("GET", "/api/v1/profiles/persoon/schema", None),
        ("POST", "/api/v1/profiles/persoon/searches", {"action": "bsn", "filters": {"burgerservicenummer": BSN}}),
        ("GET", f"/aggregated-data-profiles/persoon?id={BSN}", None),
        ("GET", "/endpoints/brp/default/ZoekMetGeslachtsnaamEnGeboortedatum?geslachtsnaam=x", None),
    ],
)
async def test_no_credentials_is_401_everywhere_and_says_nothing_of_profiles(anonymous, method, path, body):
    response = await anonymous.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "persoon" not in response.text
    assert BSN not in response.text


async def test_health_and_readiness_need_no_credentials(anonymous):
    assert (await anonymous.get("/healthz")).status_code == 200
    assert (await anonymous.get("/readyz")).status_code == 200


async def test_a_valid_token_looks_up_with_its_roles(anonymous, identity):
    response = await anonymous.post("/api/v1/profiles/persoon/lookups", json=LOOKUP, headers=bearer(token(identity)))
    assert response.status_code == 200, response.text
    assert set(response.json()["sources"]) >= {"brp", "zgw"}


async def test_a_plain_roles_claim_works_too(anonymous, identity):
    plain = token(identity, resource_access={}, claims={"roles": ["iko-persoon"]})
    response = await anonymous.post("/api/v1/profiles/persoon/lookups", json=LOOKUP, headers=bearer(plain))
    assert response.status_code == 200, response.text


async def test_a_wrong_role_is_403_and_the_profile_is_not_listed(anonymous, identity):
    only_bedrijf = bearer(token(identity, roles=("iko-bedrijf",)))
    response = await anonymous.post("/api/v1/profiles/persoon/lookups", json=LOOKUP, headers=only_bedrijf)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert BSN not in response.text
    listed = await anonymous.get("/api/v1/profiles", headers=only_bedrijf)
    assert [p["name"] for p in listed.json()] == ["bedrijf"]
    assert (await anonymous.get("/api/v1/profiles/persoon/schema", headers=only_bedrijf)).status_code == 403


async def test_a_source_the_caller_may_not_receive_is_never_asked(anonymous, identity, simulators):
    no_zaken = bearer(token(identity, roles=("iko-persoon",)))
    response = await anonymous.post(
        "/api/v1/profiles/persoon/lookups",
        json={**LOOKUP, "identifier": {"type": "bsn", "value": "999995248"}},
        headers=no_zaken,
    )
    assert response.status_code == 200, response.text
    keys = set(response.json()["sources"])
    assert "brp" in keys
    assert not any(k.endswith("zgw") for k in keys), keys
    assert simulators["zgw"].get("/__sandbox__/requests").json() == [], "the ZGW API was never called"


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("bad signature", lambda identity: token(identity, key=SigningKey.rsa(kid=identity.keys[0].kid))),
        ("expired", lambda identity: token(identity, exp=int(time.time()) - 120, iat=int(time.time()) - 600)),
        ("wrong audience", lambda identity: token(identity, aud="someone-else")),
        ("wrong issuer", lambda identity: token(identity, iss="another-issuer")),
        ("unknown key id", lambda identity: token(identity, key=SigningKey.rsa())),
        ("not a token", lambda identity: "not.a.token"),
    ],
)
async def test_bad_tokens_are_401(anonymous, identity, name, make):
    response = await anonymous.post("/api/v1/profiles/persoon/lookups", json=LOOKUP, headers=bearer(make(identity)))
    assert response.status_code == 401, name
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_key_rotation_at_the_jwks_url_is_picked_up(anonymous, identity):
    old = identity.keys[0]
    new = SigningKey.ec()
    identity.serve(old, new)
    await asyncio.sleep(0.3)  # past IKO_AUTH_JWKS_MIN_REFRESH_S
    try:
        response = await anonymous.post(
            "/api/v1/profiles/persoon/lookups", json=LOOKUP, headers=bearer(token(identity, key=new))
        )
        assert response.status_code == 200, response.text
    finally:
        identity.serve(old)


async def test_a_purpose_the_profile_does_not_serve_is_403_and_none_is_422(gateway):
    wrong = await gateway.post("/api/v1/profiles/persoon/lookups", json={**LOOKUP, "doelbinding": "nieuwsgierigheid"})
    assert wrong.status_code == 403
    assert "purpose" in wrong.json()["title"].lower()
    no_purpose = await gateway.post(
        "/api/v1/profiles/persoon/lookups",
        json={"identifier": LOOKUP["identifier"]},
        headers={"x-doelbinding": ""},
    )
    assert no_purpose.status_code == 422


async def test_purpose_and_user_reach_the_brp_as_its_protocol_headers(anonymous, identity, simulators):
    response = await anonymous.post("/api/v1/profiles/persoon/lookups", json=LOOKUP, headers=bearer(token(identity)))
    assert response.status_code == 200
    [call] = [r for r in simulators["brp"].get("/__sandbox__/requests").json() if r["path"] == "/personen"]
    assert call["headers"]["x-doelbinding"] == "klantcontact"
    assert call["headers"]["x-verwerking"] == "Vraag burger"
    assert call["headers"]["x-gebruiker"] == "medewerker-17"


@pytest.fixture
async def audit_queue(stack, rabbitmq_url):
    """The records published from now on (a tap on the audit exchange); yields a reader of what arrived since."""
    topology = Topology(namespace=stack.namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    # A tap of our own on the audit exchange: the audit service consumes the audit queue itself.
    exchange = await channel.get_exchange(topology.audit.name)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="#")

    async def read(expected: int, timeout_s: float = 3.0) -> list[AuditRecorded]:
        records: list[AuditRecorded] = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            message = await queue.get(fail=False)
            if message is None:
                if len(records) >= expected:
                    await asyncio.sleep(0.3)  # a second record for the same lookup would come now
                    if (extra := await queue.get(fail=False)) is None:
                        break
                    message = extra
                else:
                    await asyncio.sleep(0.05)
                    continue
            records.append(AuditRecorded.model_validate_json(message.body))
            await message.ack()
        return records

    yield read
    await connection.close()


async def test_exactly_one_audit_record_per_lookup_with_who_why_what_and_no_data(anonymous, identity, audit_queue):
    response = await anonymous.post(
        "/api/v1/profiles/persoon/lookups",
        json={**LOOKUP, "identifier": {"type": "bsn", "value": "999995248"}},
        headers=bearer(token(identity)),
    )
    assert response.status_code == 200
    answer = response.json()
    [record] = await audit_queue(expected=1)
    assert record.request_id == answer["request_id"]
    assert (record.kind, record.profile, record.identifier.value) == ("lookup", "persoon", "999995248")
    assert (record.doelbinding, record.verwerking, record.gebruiker) == (
        "klantcontact",
        "Vraag burger",
        "medewerker-17",
    )
    assert (record.subject, record.client, record.caller_kind) == ("8c4c6d1e", "valtimo", "jwt")
    assert record.roles == ["iko-persoon", "iko-zaken"]
    for fact in (record.vertrouwelijkheid, record.bewaartermijn, record.uitvoerder, record.systeem):
        assert fact
    assert set(record.gegevensbron) == {"brp", "zgw"}
    disclosed = {d.key: d for d in record.disclosed}
    assert set(disclosed) == set(answer["sources"])
    assert "naam" in disclosed["brp"].fields
    assert disclosed["partners[0].brp"].fields == ["burgerservicenummer", "naam", "geboorte", "overlijden"]
    assert record.outcome == answer["status"]
    # The record names every data subject (the partner too), and holds no other fetched data: not the name.
    raw = record.model_dump_json()
    assert answer["sources"]["brp"]["data"]["naam"]["geslachtsnaam"] not in raw
    partner = answer["branches"]["partners[0]"]["identifier"]["value"]
    assert partner in {s.identifier.value for s in record.subjects}


async def test_a_search_is_recorded_too(gateway, audit_queue):
    response = await gateway.post(
        "/api/v1/profiles/persoon/searches",
        json={"action": "postcode-huisnummer", "filters": {"postcode": "2596TW", "huisnummer": 1}},
    )
    assert response.status_code == 200
    [record] = await audit_queue(expected=1)
    assert (record.kind, record.search["action"], record.caller_kind) == ("search", "postcode-huisnummer", "dev")
    assert record.disclosed[0].source == "brp"


async def test_without_an_audit_trail_nothing_is_disclosed(gateway, stack, rabbitmq_url, simulators):
    topology = Topology(namespace=stack.namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(topology.audit_queue.name)
        # Held by this connection, unbound: the audit service's consumer (aio-pika and the watchdog re-declare a
        # cancelled queue at once) cannot bring the trail back while the lookup runs.
        held = await channel.declare_queue(topology.audit_queue.name, exclusive=True)
        response = await gateway.post("/api/v1/profiles/persoon/lookups", json=LOOKUP)
        assert response.status_code == 503
        assert BSN not in response.text
        assert "naam" not in response.text
        exchange = await channel.get_exchange(topology.audit.name)
        await channel.exchange_delete(topology.audit.name)
        response = await gateway.post("/api/v1/profiles/persoon/lookups", json=LOOKUP)
        assert response.status_code == 503
    finally:
        # Put the trail back as the gateway declared it, for the tests after this one.
        channel = await connection.channel()
        with contextlib.suppress(Exception):
            await held.delete(if_unused=False, if_empty=False)
        exchange = await channel.declare_exchange(topology.audit.name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            topology.audit_queue.name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="#")
        await connection.close()
    assert (await gateway.post("/api/v1/profiles/persoon/lookups", json=LOOKUP)).status_code == 200


async def test_the_dev_key_is_a_dev_caller_and_a_wrong_key_is_401(stack):
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
        wrong = await client.post("/api/v1/profiles/persoon/lookups", json=LOOKUP, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401
        request_id = str(uuid.uuid4())
        ok = await client.post(
            "/api/v1/profiles/persoon/lookups",
            json={**LOOKUP, "doelbinding": "demo"},
            headers={"X-API-Key": "iko-dev-key", "X-Request-Id": request_id},
        )
        assert ok.status_code == 200
        assert orjson.loads(ok.content)["status"] == "complete"


async def test_an_oversized_body_is_413_before_it_is_read(gateway):
    response = await gateway.post(
        "/api/v1/profiles/persoon/lookups",
        content=b'{"identifier": {"type": "bsn", "value": "' + b"9" * 100_000 + b'"}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
