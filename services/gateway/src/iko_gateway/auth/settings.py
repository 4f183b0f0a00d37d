"""Authentication settings, read from the environment (prefix ``IKO_AUTH_``; dev mode from ``IKO_DEV_*``).

Nothing is accepted unless configured: without ``IKO_AUTH_JWKS_URL`` no bearer token is accepted, without
``IKO_AUTH_API_KEYS_FILE`` no API key, and the development key only with ``IKO_DEV_MODE=true``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Asymmetric signature algorithms only: ``none`` and the HMAC family (HS*) can never be switched on, since an
# HMAC "secret" would have to be shared with every token issuer and invites key confusion with public keys.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def string_list(value: Any) -> Any:
    """Env values: a JSON list (``["a", "b"]``) or a comma-separated string (``a, b``)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_AUTH_", extra="ignore", populate_by_name=True)

    # Where the identity provider publishes its signing keys, e.g. Keycloak's
    # https://<host>/realms/<realm>/protocol/openid-connect/certs. Unset: bearer tokens are refused.
    jwks_url: str | None = None
    # The exact ``iss`` of accepted tokens (required with jwks_url), e.g. https://<host>/realms/<realm>.
    issuer: str | None = None
    # Accepted tokens must name this in ``aud``.
    audience: str = "iko"
    algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256", "ES256"])
    # Dotted claim paths, tried in order; the first one present gives the caller's roles.
    roles_claim: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["resource_access.iko.roles", "realm_access.roles", "roles"]
    )
    # The claim (dotted path) naming the user, sent on as ``x-gebruiker``; falls back to ``sub``.
    user_claim: str = "preferred_username"
    jwks_cache_s: float = Field(300.0, gt=0)
    # A token naming an unknown ``kid`` refetches the JWKS at most this often (key rotation).
    jwks_min_refresh_s: float = Field(10.0, ge=0)
    jwks_timeout_s: float = Field(2.0, gt=0)
    # Clock skew allowed on exp, nbf and iat.
    leeway_s: float = Field(30.0, ge=0, le=300)
    # YAML list of service clients: [{client: name, key_sha256: <hex>, roles: [...]}].
    api_keys_file: Path | None = None
    # Development only: the key below, in X-API-Key, is a caller with every role.
    dev_mode: bool = Field(False, validation_alias="IKO_DEV_MODE")
    dev_api_key: SecretStr = Field(SecretStr("iko-dev-key"), validation_alias="IKO_DEV_API_KEY")

    @field_validator("algorithms", "roles_claim", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return string_list(value)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is needed")
        refused = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"not allowed: {', '.join(refused)}; use asymmetric algorithms only "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        return list(dict.fromkeys(value))

    @field_validator("roles_claim")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        paths = [path.strip() for path in value]
        if not paths or any(not path or "" in path.split(".") for path in paths):
            raise ValueError("give one or more dotted claim paths, e.g. resource_access.iko.roles")
        return paths

    @model_validator(mode="after")
    def _consistent(self) -> AuthSettings:
        if self.jwks_url and not self.issuer:
            raise ValueError("IKO_AUTH_ISSUER is required when IKO_AUTH_JWKS_URL is set")
        if self.jwks_url and not self.audience:
            raise ValueError("IKO_AUTH_AUDIENCE must not be empty when IKO_AUTH_JWKS_URL is set")
        if self.dev_mode and not self.dev_api_key.get_secret_value():
            raise ValueError("IKO_DEV_API_KEY must not be empty when IKO_DEV_MODE is on")
        return self
