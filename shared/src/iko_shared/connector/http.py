"""How a connector reaches its source: base URL, credentials and TLS, from the environment or mounted files."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from iko_shared.connector.answers import AnswerCheck
from iko_shared.connector.breaker import CircuitBreaker
from iko_shared.connector.resilience import ResilientTransport, RetryPolicy
from iko_shared.tracing import TracedTransport


class SourceHttpSettings(BaseSettings):
    """Settings of one source; subclasses set the ``IKO_<SOURCE>_`` env prefix and the sandbox default URL.

    Secrets may also come from files: with ``IKO_SECRETS_DIR=/run/secrets``, a file named ``iko_brp_api_key``
    there is read as ``IKO_BRP_API_KEY`` (as Kubernetes mounts secrets).
    """

    model_config = SettingsConfigDict(extra="ignore")

    base_url: str
    api_key: SecretStr | None = None
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    max_connections: int = 100


S = TypeVar("S", bound=SourceHttpSettings)


class SourceTransport(AiohttpTransport):
    """httpx on aiohttp's pool, with aiohttp's connection failures told apart as httpx tells them.

    httpx-aiohttp maps every ``aiohttp.ClientConnectionError`` that is not more specific in its table to
    ``httpx.ConnectTimeout``, so a refused connection would read as a timeout; the retry and the error code
    (``unreachable`` versus ``timeout``) depend on the difference.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ServerTimeoutError) or not isinstance(cause, aiohttp.ClientConnectionError):
                raise
            raise _connection_error(cause)(str(cause) or type(cause).__name__, request=request) from cause


def _connection_error(cause: aiohttp.ClientConnectionError) -> type[httpx.TransportError]:
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError
    return httpx.ReadError


def load_source_settings(cls: type[S], **overrides: Any) -> S:
    secrets_dir = os.environ.get("IKO_SECRETS_DIR")
    if secrets_dir and Path(secrets_dir).is_dir():
        return cls(_secrets_dir=secrets_dir, **overrides)
    return cls(**overrides)


def tls_context(settings: SourceHttpSettings) -> ssl.SSLContext | bool:
    if not (settings.ca_bundle or settings.client_cert):
        return True
    context = ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)
    if settings.client_cert:
        context.load_cert_chain(str(settings.client_cert), str(settings.client_key) if settings.client_key else None)
    return context


def make_client(
    settings: SourceHttpSettings,
    source: str = "source",
    policy: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    inner: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One pooled client per process (connection reuse is most of a fast fetch), with retries and a breaker."""
    limits = httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
    # The client span wraps each attempt, so a retried call shows as two HTTP spans under the connector's.
    checked = AnswerCheck(inner or SourceTransport(verify=tls_context(settings), limits=limits), source)
    attempt = TracedTransport(checked, source)
    transport = ResilientTransport(
        attempt,
        source,
        policy=policy,
        breaker=breaker,
    )
    return httpx.AsyncClient(base_url=settings.base_url, transport=transport, timeout=None)
