"""The identity provider's signing keys (JWKS), fetched over HTTP and cached by ``kid``.

* Keys are kept for ``cache_s``; after that the next verification refetches them.
* A token naming a ``kid`` the cache does not know refetches at once (the provider rotated its keys), but at
  most once per ``min_refresh_s``: a stream of tokens with made-up ``kid`` values cannot make the gateway
  hammer the provider. Failed fetches are retried at the same pace.
* Concurrent verifications that need a fetch share one fetch.
* When a fetch fails the keys already held stay in use (a provider outage does not lock everyone out); a
  token whose key is not held is refused with 401 and the failure is logged as a warning, without the token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from iko_shared.logging import get_logger

from iko_gateway.auth.errors import AuthError

log = get_logger()

Clock = Callable[[], float]


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        cache_s: float = 300.0,
        min_refresh_s: float = 10.0,
        timeout_s: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.url = url
        self._own_client = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._jwks: dict[str, dict[str, Any]] = {}
        # PyJWK binds one algorithm; a JWK without "alg" is bound per token algorithm, on first use.
        self._bound: dict[tuple[str, str], jwt.PyJWK] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._last_failed = False
        self._inflight: asyncio.Task[None] | None = None
        # Fetches attempted (successful or not): lets operators and tests see the refetch rate.
        self.fetches = 0

    async def aclose(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
        if self._own_client:
            await self._http.aclose()

    def _fresh(self, now: float) -> bool:
        return self._loaded_at is not None and now - self._loaded_at < self._cache_s

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_refresh_s

    async def key(self, kid: str, alg: str) -> jwt.PyJWK:
        """The key ``kid`` bound to ``alg``; AuthError(401) when unknown, unavailable or of another algorithm."""
        if self._inflight is not None and self._needs_fetch(kid):
            await asyncio.shield(self._inflight)  # a fetch is under way: its answer may hold the key
        if self._needs_fetch(kid) and self._may_fetch(self._clock()):
            await self._refresh()
        data = self._jwks.get(kid)
        if data is None:
            if self._last_failed:
                raise AuthError("the signing keys are unavailable", token_rejected=True)
            raise AuthError("the token is signed with an unknown key", token_rejected=True)
        return self._bind(kid, data, alg)

    def _needs_fetch(self, kid: str) -> bool:
        return kid not in self._jwks or not self._fresh(self._clock())

    def _bind(self, kid: str, data: dict[str, Any], alg: str) -> jwt.PyJWK:
        declared = data.get("alg")
        if declared is not None and declared != alg:
            raise AuthError("the token's algorithm does not match its signing key", token_rejected=True)
        bound = self._bound.get((kid, alg))
        if bound is None:
            try:
                bound = jwt.PyJWK(data, algorithm=alg)
            except jwt.PyJWTError:
                raise AuthError("the token's algorithm does not match its signing key", token_rejected=True) from None
            self._bound[(kid, alg)] = bound
        return bound

    async def _refresh(self) -> None:
        # One fetch at a time: every verification that needs keys meanwhile waits for this one's answer.
        if self._inflight is None:
            self._attempted_at = self._clock()
            self.fetches += 1
            self._inflight = asyncio.create_task(self._load())
        await asyncio.shield(self._inflight)

    async def _load(self) -> None:
        try:
            keys = await self._fetch()
        except Exception as exc:  # whatever goes wrong, the caller gets a 401, the operator a warning
            self._inflight = None
            self._last_failed = True
            reason = str(exc) if isinstance(exc, _FetchError) else type(exc).__name__
            log.warning("auth.jwks_fetch_failed", url=self.url, reason=reason, keys_held=len(self._jwks))
            return
        self._inflight = None
        held = self._jwks
        # A key bound to an algorithm stays bound only while its JWK is unchanged.
        self._bound = {bound: key for bound, key in self._bound.items() if held.get(bound[0]) == keys.get(bound[0])}
        self._jwks = keys
        self._loaded_at = self._clock()
        self._last_failed = False
        log.info("auth.jwks_fetched", url=self.url, kids=sorted(keys))

    async def _fetch(self) -> dict[str, dict[str, Any]]:
        try:
            response = await self._http.get(self.url, timeout=self._timeout_s, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _FetchError(type(exc).__name__) from None
        if response.status_code != 200:
            raise _FetchError(f"HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise _FetchError("not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise _FetchError("not a JWK set")
        keys: dict[str, dict[str, Any]] = {}
        for entry in document["keys"]:
            if not isinstance(entry, dict):
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid or kid in keys or entry.get("use", "sig") != "sig":
                continue
            try:
                jwt.PyJWK(entry)  # parses the key: skips what PyJWT cannot use (unknown kty, bad numbers)
            except jwt.PyJWTError:
                continue
            if entry.get("kty") == "oct":
                continue  # a symmetric key has no place in a public key set
            keys[kid] = entry
        if not keys:
            raise _FetchError("no usable signing keys")
        return keys


class _FetchError(Exception):
    pass
