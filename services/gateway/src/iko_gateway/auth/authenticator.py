"""Who calls: a bearer JWT, else an API key (or, in dev mode only, the development key), else 401."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

import httpx
from iko_shared.logging import get_logger

from iko_gateway.auth.api_keys import ApiKeyStore, load_api_keys
from iko_gateway.auth.caller import Caller
from iko_gateway.auth.errors import AuthError, AuthProblem, auth_problem
from iko_gateway.auth.jwks import Clock, JwksCache
from iko_gateway.auth.settings import AuthSettings
from iko_gateway.auth.tokens import TokenVerifier

__all__ = ["AuthError", "AuthProblem", "Authenticator", "auth_problem"]

log = get_logger()

DEV_CALLER = Caller(kind="dev", subject="dev", client="dev", user="dev", all_roles=True)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """``name`` from ``headers``, case-insensitively (Starlette's Headers already are; a dict is not)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


class Authenticator:
    """Built once per process (it loads the keys file and holds the JWKS cache); ``aclose`` at shutdown."""

    def __init__(
        self, settings: AuthSettings, http_client: httpx.AsyncClient | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self.settings = settings
        self.jwks: JwksCache | None = None
        self._tokens: TokenVerifier | None = None
        if settings.jwks_url:
            self.jwks = JwksCache(
                settings.jwks_url,
                http_client=http_client,
                cache_s=settings.jwks_cache_s,
                min_refresh_s=settings.jwks_min_refresh_s,
                timeout_s=settings.jwks_timeout_s,
                clock=clock,
            )
            self._tokens = TokenVerifier(settings, self.jwks)
        # A bad keys file fails here, at start-up, naming the file.
        self._api_keys = load_api_keys(settings.api_keys_file) if settings.api_keys_file else ApiKeyStore()
        self._dev_key = settings.dev_api_key.get_secret_value().encode() if settings.dev_mode else None
        if settings.dev_mode:
            log.warning("auth.dev_mode_on", note="the development API key is accepted with every role")

    async def aclose(self) -> None:
        if self.jwks is not None:
            await self.jwks.aclose()

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller ``headers`` prove; AuthError(401) otherwise. Logs rejections without the credential."""
        try:
            return await self._authenticate(headers)
        except AuthError as exc:
            log.info("auth.rejected", reason=exc.detail)
            raise

    async def _authenticate(self, headers: Mapping[str, str]) -> Caller:
        authorization = header_value(headers, "authorization")
        if authorization is not None and authorization.strip():
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                return await self._bearer(credentials.strip())
            if header_value(headers, "x-api-key") is None:
                raise AuthError("unsupported authorization scheme; use Bearer or X-API-Key")
        api_key = header_value(headers, "x-api-key")
        if api_key is not None:
            return self._api_key(api_key.strip())
        raise AuthError("authentication required: send a bearer token or an X-API-Key")

    async def _bearer(self, token: str) -> Caller:
        if self._tokens is None:
            raise AuthError("bearer tokens are not accepted here")
        if not token:
            raise AuthError("the bearer token is empty", token_rejected=True)
        return await self._tokens.verify(token)

    def _api_key(self, presented: str) -> Caller:
        if not presented:
            raise AuthError("the API key is empty")
        entry = self._api_keys.lookup(presented)
        if entry is not None:
            return entry.caller()
        if self._dev_key is not None and hmac.compare_digest(presented.encode(), self._dev_key):
            return DEV_CALLER
        raise AuthError("the API key is not valid")
