"""Service clients by hashed API key, the development key, settings from the environment, Caller roles."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from iko_gateway.auth import (
    ApiKeyEntry,
    ApiKeysFileError,
    Authenticator,
    AuthError,
    AuthSettings,
    Caller,
    auth_problem,
    hash_api_key,
    load_api_keys,
)
from pydantic import ValidationError

ZAAK_KEY = "zs-7Qm2vX9pLkR4tY8wB1nC6dF3gH5jK0aS"
PORTAL_KEY = "portal-Xe4rT6yU8iO0pA2sD4fG6hJ8kL0zX2c"


def keys_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "api-keys.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    return keys_file(
        tmp_path,
        f"""
- client: zaaksysteem
  key_sha256: {hashlib.sha256(ZAAK_KEY.encode()).hexdigest()}
  roles: [persoon-lezen, zaken-lezen]
- client: portaal
  key_sha256: {hashlib.sha256(PORTAL_KEY.encode()).hexdigest().upper()}
""",
    )


def settings(**values: Any) -> AuthSettings:
    return AuthSettings(_env_file=None, **values)


async def authenticate(auth: Authenticator, headers: dict[str, str]) -> Caller:
    try:
        return await auth.authenticate(headers)
    finally:
        await auth.aclose()


async def refused(auth: Authenticator, headers: dict[str, str]) -> AuthError:
    with pytest.raises(AuthError) as info:
        await authenticate(auth, headers)
    assert info.value.status == 401
    for value in headers.values():
        assert not value or value not in info.value.detail
    return info.value


async def test_api_key_is_accepted_by_its_hash(good_file: Path) -> None:
    caller = await authenticate(Authenticator(settings(api_keys_file=good_file)), {"X-API-Key": ZAAK_KEY})
    assert caller == Caller(
        kind="api_key",
        subject="zaaksysteem",
        client="zaaksysteem",
        user="zaaksysteem",
        roles=frozenset({"persoon-lezen", "zaken-lezen"}),
    )
    portal = await authenticate(Authenticator(settings(api_keys_file=good_file)), {"x-api-key": PORTAL_KEY})
    assert portal.client == "portaal"
    assert portal.roles == frozenset()


async def test_wrong_key_is_refused(good_file: Path) -> None:
    error = await refused(Authenticator(settings(api_keys_file=good_file)), {"X-API-Key": ZAAK_KEY + "x"})
    assert error.detail == "the API key is not valid"
    assert auth_problem(error).headers == {"WWW-Authenticate": "Bearer"}
    # The stored hash is not a key: presenting it gets nowhere.
    await refused(Authenticator(settings(api_keys_file=good_file)), {"X-API-Key": hash_api_key(ZAAK_KEY)})
    await refused(Authenticator(settings(api_keys_file=good_file)), {"X-API-Key": ""})


async def test_no_keys_configured_refuses_every_key() -> None:
    await refused(Authenticator(settings()), {"X-API-Key": ZAAK_KEY})
    await refused(Authenticator(settings()), {"X-API-Key": "iko-dev-key"})


async def test_bearer_takes_precedence_over_an_api_key(good_file: Path) -> None:
    auth = Authenticator(settings(api_keys_file=good_file))
    error = await refused(auth, {"Authorization": "Bearer abc", "X-API-Key": ZAAK_KEY})
    assert error.detail == "bearer tokens are not accepted here"


async def test_store_lookup_compares_hashes(good_file: Path) -> None:
    store = load_api_keys(good_file)
    assert len(store) == 2
    found = store.lookup(PORTAL_KEY)
    assert found is not None
    assert found.client == "portaal"
    assert store.lookup("") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- client: a\n  key: plain-text-key\n", "key_sha256"),
        ("- client: a\n  key_sha256: abc\n", "key_sha256"),
        ("- {client: '', key_sha256: " + "0" * 64 + "}\n", "client"),
        ("client: a\n", "list"),
        ("- client: a\n  key_sha256: [unclosed\n", "not valid YAML"),
        (f"- {{client: a, key_sha256: {'a' * 64}}}\n- {{client: a, key_sha256: {'b' * 64}}}\n", "twice"),
        (f"- {{client: a, key_sha256: {'a' * 64}}}\n- {{client: b, key_sha256: {'a' * 64}}}\n", "twice"),
    ],
)
def test_bad_keys_file_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = keys_file(tmp_path, text)
    with pytest.raises(ApiKeysFileError) as info:
        Authenticator(settings(api_keys_file=path))
    assert str(path) in str(info.value)
    assert expected in str(info.value)
    assert "plain-text-key" not in str(info.value)


def test_missing_keys_file(tmp_path: Path) -> None:
    with pytest.raises(ApiKeysFileError, match="cannot be read"):
        load_api_keys(tmp_path / "absent.yaml")


def test_empty_keys_file_has_no_clients(tmp_path: Path) -> None:
    assert len(load_api_keys(keys_file(tmp_path, ""))) == 0


async def test_dev_key_only_in_dev_mode() -> None:
    caller = await authenticate(Authenticator(settings(dev_mode=True)), {"X-API-Key": "iko-dev-key"})
    assert caller.kind == "dev"
    assert caller.user == "dev"
    assert caller.all_roles
    assert caller.has_any(["beheer"])
    await refused(Authenticator(settings(dev_mode=False)), {"X-API-Key": "iko-dev-key"})
    await refused(Authenticator(settings()), {"X-API-Key": "iko-dev-key"})
    await refused(Authenticator(settings(dev_mode=True)), {"X-API-Key": "iko-dev-key-2"})
    custom = Authenticator(settings(dev_mode=True, dev_api_key="s3cret-dev"))
    assert (await authenticate(custom, {"X-API-Key": "s3cret-dev"})).kind == "dev"


async def test_dev_mode_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_DEV_MODE", "true")
    monkeypatch.setenv("IKO_DEV_API_KEY", "from-env")
    loaded = AuthSettings()
    assert loaded.dev_mode
    assert loaded.dev_api_key.get_secret_value() == "from-env"
    assert "from-env" not in repr(loaded)
    assert (await authenticate(Authenticator(loaded), {"X-API-Key": "from-env"})).kind == "dev"
    monkeypatch.delenv("IKO_DEV_MODE")
    assert not AuthSettings().dev_mode


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IKO_AUTH_JWKS_URL", "https://idp.example/realms/g/protocol/openid-connect/certs")
    monkeypatch.setenv("IKO_AUTH_ISSUER", "https://idp.example/realms/g")
    monkeypatch.setenv("IKO_AUTH_AUDIENCE", "iko-test")
    monkeypatch.setenv("IKO_AUTH_ALGORITHMS", "ES256")
    monkeypatch.setenv("IKO_AUTH_ROLES_CLAIM", "roles")
    monkeypatch.setenv("IKO_AUTH_JWKS_MIN_REFRESH_S", "5")
    monkeypatch.setenv("IKO_AUTH_API_KEYS_FILE", str(tmp_path / "k.yaml"))
    loaded = AuthSettings()
    assert loaded.audience == "iko-test"
    assert loaded.algorithms == ["ES256"]
    assert loaded.roles_claim == ["roles"]
    assert loaded.jwks_min_refresh_s == 5
    assert loaded.api_keys_file == tmp_path / "k.yaml"
    monkeypatch.setenv("IKO_AUTH_ROLES_CLAIM", '["resource_access.zac.roles", "roles"]')
    assert AuthSettings().roles_claim == ["resource_access.zac.roles", "roles"]


def test_defaults() -> None:
    defaults = settings()
    assert defaults.jwks_url is None
    assert defaults.audience == "iko"
    assert defaults.algorithms == ["RS256", "ES256"]
    assert defaults.roles_claim == ["resource_access.iko.roles", "realm_access.roles", "roles"]
    assert defaults.user_claim == "preferred_username"
    assert (defaults.jwks_cache_s, defaults.jwks_min_refresh_s, defaults.leeway_s) == (300, 10, 30)
    assert not defaults.dev_mode


@pytest.mark.parametrize("algorithms", [["none"], ["HS256"], ["RS256", "HS512"], []])
def test_symmetric_and_none_algorithms_cannot_be_configured(algorithms: list[str]) -> None:
    with pytest.raises(ValidationError):
        settings(algorithms=algorithms)


def test_jwks_url_needs_an_issuer() -> None:
    with pytest.raises(ValidationError, match="IKO_AUTH_ISSUER"):
        settings(jwks_url="https://idp.example/certs")


def test_bad_roles_claim_path() -> None:
    with pytest.raises(ValidationError):
        settings(roles_claim="resource_access..roles")


def test_caller_has_any() -> None:
    reader = Caller(kind="jwt", subject="s", client="c", user="u", roles=frozenset({"lezen"}))
    assert reader.has_any([])  # no role required: any authenticated caller
    assert reader.has_any({"lezen", "beheer"})
    assert not reader.has_any(["beheer"])
    assert not Caller(kind="jwt", subject="s", client=None, user="u").has_any(["lezen"])
    assert Caller(kind="dev", subject="dev", client="dev", user="dev", all_roles=True).has_any(["x"])
    assert reader.rate_key == "jwt:c:s"
    assert Caller(kind="jwt", subject="s", client=None, user="u").rate_key == "jwt::s"


def test_rate_key_is_per_user_within_a_client() -> None:
    def key(client: str | None, subject: str) -> str:
        return Caller(kind="jwt", subject=subject, client=client, user="u").rate_key

    # Every Valtimo user carries azp=valtimo: each counts on their own.
    assert key("valtimo", "user-1") != key("valtimo", "user-2")
    assert key("valtimo", "user-1") != key("zac", "user-1")
    # A ':' in a client or subject cannot make two callers share a key.
    assert key("a:b", "c") != key("a", "b:c")
    assert key("a%3Ab", "c") != key("a:b", "c")
    entry = ApiKeyEntry(client="zaaksysteem", key_sha256="0" * 64)
    assert entry.caller().rate_key == "api_key:zaaksysteem:zaaksysteem"


def test_problem_for_a_forbidden_caller() -> None:
    problem = auth_problem(AuthError("the caller lacks the role persoon-lezen", status=403))
    assert problem.status == 403
    assert problem.body == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "the caller lacks the role persoon-lezen",
    }
