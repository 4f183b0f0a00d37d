"""How a connector reaches its source: base URL, credentials and TLS, from the environment only."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SourceHttpSettings(BaseSettings):
    """Settings of one source; subclasses set the ``IKO_<SOURCE>_`` env prefix and the sandbox default URL."""

    model_config = SettingsConfigDict(extra="ignore", secrets_dir=None)

    base_url: str
    api_key: SecretStr | None = None
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    max_connections: int = 100


def make_client(settings: SourceHttpSettings) -> httpx.AsyncClient:
    """One pooled client per process: connection reuse is most of a fast fetch."""
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle or settings.client_cert:
        context = ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)
        if settings.client_cert:
            context.load_cert_chain(
                str(settings.client_cert), str(settings.client_key) if settings.client_key else None
            )
        verify = context
    limits = httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
    return httpx.AsyncClient(base_url=settings.base_url, verify=verify, limits=limits, timeout=None)
