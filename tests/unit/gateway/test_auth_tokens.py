"""Bearer JWTs against a real JWKS endpoint over HTTP (127.0.0.1): what is accepted, what is refused and why."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from iko_gateway.auth import Authenticator, AuthError, AuthSettings, auth_problem
from structlog.testing import capture_logs

from tests.unit.gateway.jwks_server import JwksServer, SigningKey

ISSUER = "https://idp.example/realms/gemeente"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture
def server(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[JwksServer]:
    srv = JwksServer().start()
    srv.serve(rsa_key, ec_key)
    yield srv
    srv.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeAuth = Callable[..., Authenticator]


@pytest.fixture
async def make_auth(server: JwksServer, clock: FakeClock) -> AsyncIterator[MakeAuth]:
    made: list[Authenticator] = []

    def make(**overrides: Any) -> Authenticator:
        values: dict[str, Any] = {"jwks_url": server.url, "issuer": ISSUER, "audience": "iko"}
        values.update(overrides)
        auth = Authenticator(AuthSettings(**values), clock=clock)
        made.append(auth)
        return auth

    yield make
    for auth in made:
        await auth.aclose()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "iko",
        "sub": "3f1c-user",
        "azp": "valtimo",
        "preferred_username": "jdoe",
        "iat": now,
        "exp": now + 300,
        "resource_access": {"iko": {"roles": ["persoon-lezen"]}},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def rejected(auth: Authenticator, headers: dict[str, str]) -> AuthError:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(headers)
    error = info.value
    assert error.status == 401
    for value in headers.values():
        token = value.removeprefix("Bearer ")
        assert token not in error.detail
        assert token not in json.dumps(auth_problem(error).body)
    return error


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


async def test_rs256_token_gives_caller_with_keycloak_client_roles(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth()
    caller = await auth.authenticate(bearer(rsa_key.sign(claims())))
    assert caller.kind == "jwt"
    assert caller.subject == "3f1c-user"
    assert caller.client == "valtimo"
    assert caller.user == "jdoe"
    assert caller.roles == frozenset({"persoon-lezen"})
    assert not caller.all_roles
    assert caller.has_any(["persoon-lezen", "other"])
    assert not caller.has_any(["beheer"])


async def test_es256_token_with_plain_roles_and_user_falling_back_to_sub(
    make_auth: MakeAuth, ec_key: SigningKey
) -> None:
    auth = make_auth()
    token = ec_key.sign(
        claims(resource_access=None, preferred_username=None, azp=None, client_id="zac", roles=["a", "b"])
    )
    caller = await auth.authenticate(bearer(token))
    assert caller.roles == frozenset({"a", "b"})
    assert caller.user == "3f1c-user"
    assert caller.client == "zac"


async def test_roles_paths_are_tried_in_order(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth()
    both = claims(realm_access={"roles": ["offline_access"]}, roles=["plain"])
    assert (await auth.authenticate(bearer(rsa_key.sign(both)))).roles == {"persoon-lezen"}
    realm_only = claims(resource_access={"other-client": {"roles": ["x"]}}, realm_access={"roles": ["r1"]})
    assert (await auth.authenticate(bearer(rsa_key.sign(realm_only)))).roles == {"r1"}
    custom = make_auth(roles_claim="groups.iko")
    assert (await custom.authenticate(bearer(rsa_key.sign(claims(groups={"iko": ["g"]}))))).roles == {"g"}
    none_present = claims(resource_access=None)
    assert (await auth.authenticate(bearer(rsa_key.sign(none_present)))).roles == frozenset()


async def test_lowercase_header_names_work(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth()
    caller = await auth.authenticate({"authorization": f"bearer {rsa_key.sign(claims())}"})
    assert caller.subject == "3f1c-user"


async def test_no_credentials_is_401_with_plain_bearer_challenge(make_auth: MakeAuth) -> None:
    error = await rejected(make_auth(), {})
    problem = auth_problem(error)
    assert problem.status == 401
    assert problem.headers == {"WWW-Authenticate": "Bearer"}
    assert problem.media_type == "application/problem+json"
    assert set(problem.body) == {"type", "title", "status", "detail"}
    assert problem.body["status"] == 401


async def test_rejected_token_gets_invalid_token_challenge(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    error = await rejected(make_auth(), bearer(rsa_key.sign(claims(aud="someone-else"))))
    assert auth_problem(error).headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}


async def test_bad_signature(make_auth: MakeAuth) -> None:
    impostor = SigningKey.rsa("rsa-1")  # same kid, another private key
    error = await rejected(make_auth(), bearer(impostor.sign(claims())))
    assert "signature" in error.detail


async def test_tampered_payload(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    header, _, signature = rsa_key.sign(claims()).split(".")
    forged = b64(json.dumps(claims(resource_access={"iko": {"roles": ["beheer"]}})).encode())
    error = await rejected(make_auth(), bearer(f"{header}.{forged}.{signature}"))
    assert "signature" in error.detail


async def test_expiry_with_leeway(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth(leeway_s=30)
    now = int(time.time())
    assert await auth.authenticate(bearer(rsa_key.sign(claims(exp=now - 10, iat=now - 400))))
    error = await rejected(auth, bearer(rsa_key.sign(claims(exp=now - 60, iat=now - 400))))
    assert "expired" in error.detail


async def test_exp_is_required(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    error = await rejected(make_auth(), bearer(rsa_key.sign(claims(exp=None))))
    assert "'exp'" in error.detail


async def test_sub_is_required(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    await rejected(make_auth(), bearer(rsa_key.sign(claims(sub=None))))


async def test_not_before_and_issued_in_the_future(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth()
    now = int(time.time())
    assert "not valid yet" in (await rejected(auth, bearer(rsa_key.sign(claims(nbf=now + 120))))).detail
    assert "not valid yet" in (await rejected(auth, bearer(rsa_key.sign(claims(iat=now + 120))))).detail


async def test_audience(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth()
    assert await auth.authenticate(bearer(rsa_key.sign(claims(aud=["account", "iko"]))))
    assert "audience" in (await rejected(auth, bearer(rsa_key.sign(claims(aud="account"))))).detail
    assert "'aud'" in (await rejected(auth, bearer(rsa_key.sign(claims(aud=None))))).detail


async def test_issuer(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    auth = make_auth()
    error = await rejected(auth, bearer(rsa_key.sign(claims(iss="https://evil.example/realms/gemeente"))))
    assert "issuer" in error.detail
    assert "'iss'" in (await rejected(auth, bearer(rsa_key.sign(claims(iss=None))))).detail


async def test_unknown_kid_is_refused_after_one_refetch(
    make_auth: MakeAuth, server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    auth = make_auth()
    await auth.authenticate(bearer(rsa_key.sign(claims())))
    assert server.fetches == 1
    clock.now += 10
    error = await rejected(auth, bearer(rsa_key.sign(claims(), kid="not-published")))
    assert "unknown key" in error.detail
    assert server.fetches == 2


async def test_alg_none_is_refused(make_auth: MakeAuth, rsa_key: SigningKey) -> None:
    token = hand_made({"alg": "none", "typ": "JWT", "kid": rsa_key.kid}, claims(), lambda _: b"")
    error = await rejected(make_auth(), bearer(token))
    assert "algorithm" in error.detail
    unsigned = token.rsplit(".", 1)[0] + "."
    await rejected(make_auth(), bearer(unsigned))


async def test_hs256_signed_with_the_public_key_is_refused(
    make_auth: MakeAuth, server: JwksServer, rsa_key: SigningKey
) -> None:
    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(rsa_key.jwk()).encode()
    for secret in (pem, jwk_text):

        def sign(data: bytes, secret: bytes = secret) -> bytes:
            return hmac.new(secret, data, hashlib.sha256).digest()

        token = hand_made({"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}, claims(), sign)
        error = await rejected(make_auth(), bearer(token))
        assert "algorithm" in error.detail
    assert server.fetches == 0  # refused before any key was looked up


async def test_token_algorithm_must_fit_the_key(make_auth: MakeAuth, server: JwksServer, ec_key: SigningKey) -> None:
    bare = SigningKey.rsa("rsa-bare", declare_alg=False)  # a JWK without "alg": bound to the token's algorithm
    server.serve(ec_key, bare)
    auth = make_auth(algorithms="RS256,RS384,ES256")
    assert await auth.authenticate(bearer(bare.sign(claims(), alg="RS384")))
    # An RSA-signed token that names the EC key.
    error = await rejected(auth, bearer(bare.sign(claims(), kid=ec_key.kid)))
    assert "algorithm" in error.detail
    # An algorithm that is allowed but is not the one the JWK declares.
    twin = SigningKey(ec_key.kid, "RS256", bare.private)
    assert "algorithm" in (await rejected(auth, bearer(twin.sign(claims())))).detail


async def test_algorithm_not_in_the_allowed_list(make_auth: MakeAuth, ec_key: SigningKey) -> None:
    auth = make_auth(algorithms=["RS256"])
    assert "algorithm" in (await rejected(auth, bearer(ec_key.sign(claims())))).detail


async def test_garbage_and_empty_tokens(make_auth: MakeAuth) -> None:
    auth = make_auth()
    assert "malformed" in (await rejected(auth, bearer("not.a.jwt"))).detail
    assert "malformed" in (await rejected(auth, bearer("garbage"))).detail
    assert "empty" in (await rejected(auth, {"Authorization": "Bearer   "})).detail
    assert "too large" in (await rejected(auth, bearer("a" * 20_000))).detail
    error = await rejected(auth, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert "scheme" in error.detail


async def test_key_rotation_is_picked_up_on_refetch(
    make_auth: MakeAuth, server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    auth = make_auth(jwks_min_refresh_s=10)
    await auth.authenticate(bearer(rsa_key.sign(claims())))
    rotated = SigningKey.rsa("rsa-2")
    server.serve(rsa_key, rotated)
    clock.now += 11
    caller = await auth.authenticate(bearer(rotated.sign(claims())))
    assert caller.subject == "3f1c-user"
    assert server.fetches == 2
    # The old key stays good while it is published; once withdrawn it is gone after the next fetch.
    assert await auth.authenticate(bearer(rsa_key.sign(claims())))
    server.serve(rotated)
    clock.now += 301
    await rejected(auth, bearer(rsa_key.sign(claims())))
    assert await auth.authenticate(bearer(rotated.sign(claims())))


async def test_refetch_on_unknown_kid_is_rate_limited(
    make_auth: MakeAuth, server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    auth = make_auth(jwks_min_refresh_s=10)
    await auth.authenticate(bearer(rsa_key.sign(claims())))
    assert server.fetches == 1
    clock.now += 10
    for i in range(5):
        await rejected(auth, bearer(rsa_key.sign(claims(), kid=f"made-up-{i}")))
        clock.now += 1
    assert server.fetches == 2  # one refetch for five unknown kids within ten seconds
    # Known keys keep working without any fetch.
    assert await auth.authenticate(bearer(rsa_key.sign(claims())))
    assert server.fetches == 2
    clock.now += 10
    await rejected(auth, bearer(rsa_key.sign(claims(), kid="made-up-later")))
    assert server.fetches == 3
    # A key published meanwhile is only seen at the next allowed refetch.
    late = SigningKey.ec("ec-late")
    server.serve(rsa_key, late)
    await rejected(auth, bearer(late.sign(claims())))
    assert server.fetches == 3
    clock.now += 10
    assert await auth.authenticate(bearer(late.sign(claims())))
    assert server.fetches == 4


async def test_keys_are_refetched_when_the_cache_expires(
    make_auth: MakeAuth, server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    auth = make_auth(jwks_cache_s=300)
    token = rsa_key.sign(claims())
    await auth.authenticate(bearer(token))
    clock.now += 299
    await auth.authenticate(bearer(token))
    assert server.fetches == 1
    clock.now += 2
    await auth.authenticate(bearer(token))
    assert server.fetches == 2


async def test_concurrent_verifications_share_one_fetch(
    make_auth: MakeAuth, server: JwksServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    auth = make_auth()
    server.delay_s = 0.2
    tokens = [rsa_key.sign(claims()), ec_key.sign(claims())] * 10
    callers = await asyncio.gather(*(auth.authenticate(bearer(t)) for t in tokens))
    assert len(callers) == 20
    assert server.fetches == 1


async def test_jwks_failure_is_401_and_a_warning_without_the_token(
    make_auth: MakeAuth, server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    auth = make_auth()
    server.status = 500
    token = rsa_key.sign(claims())
    with capture_logs() as logs:
        error = await rejected(auth, bearer(token))
    assert "unavailable" in error.detail
    warnings = [entry for entry in logs if entry["event"] == "auth.jwks_fetch_failed"]
    assert warnings
    assert warnings[0]["log_level"] == "warning"
    assert "HTTP 500" in warnings[0]["reason"]
    assert all(token not in json.dumps(entry, default=str) for entry in logs)
    # Once the provider answers again, the next allowed fetch recovers.
    server.status = 200
    clock.now += 10
    assert await auth.authenticate(bearer(token))


async def test_jwks_garbage_or_unreachable_is_401(make_auth: MakeAuth, server: JwksServer, rsa_key: SigningKey) -> None:
    server.body = b"<html>login</html>"
    assert "unavailable" in (await rejected(make_auth(), bearer(rsa_key.sign(claims())))).detail
    server.body = json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}]}).encode()
    assert "unavailable" in (await rejected(make_auth(), bearer(rsa_key.sign(claims())))).detail
    unreachable = make_auth(jwks_url="http://127.0.0.1:9/certs", jwks_timeout_s=0.5)
    assert "unavailable" in (await rejected(unreachable, bearer(rsa_key.sign(claims())))).detail


async def test_keys_held_stay_in_use_while_the_provider_is_down(
    make_auth: MakeAuth, server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    auth = make_auth()
    await auth.authenticate(bearer(rsa_key.sign(claims())))
    server.status = 503
    clock.now += 301
    assert await auth.authenticate(bearer(rsa_key.sign(claims())))
    assert server.fetches == 2


async def test_bearer_refused_without_a_jwks_url(rsa_key: SigningKey) -> None:
    auth = Authenticator(AuthSettings(_env_file=None))
    try:
        error = await rejected(auth, bearer(rsa_key.sign(claims())))
        assert error.detail == "bearer tokens are not accepted here"
    finally:
        await auth.aclose()
