"""BRP Personen Bevragen v2: one ``POST /personen`` per query, the identifier in the body, never in the URL."""

from __future__ import annotations

from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from pydantic_settings import SettingsConfigDict


class BrpSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_BRP_", extra="ignore")

    base_url: str = "http://127.0.0.1:8101"
    # Sent as x-origin-oin: the OIN of the municipality that asks.
    origin_oin: str | None = None


RAADPLEEG = "RaadpleegMetBurgerservicenummer"


def problem_error(response: httpx.Response) -> SourceError:
    """Map a problem+json answer to an error carrying the BRP's own code and invalidParams."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    details: dict[str, Any] = {"status": response.status_code}
    if body.get("invalidParams"):
        details["invalidParams"] = body["invalidParams"]
    code = str(body.get("code") or f"http_{response.status_code}")
    message = str(body.get("detail") or body.get("title") or f"BRP answered {response.status_code}")
    return SourceError(code, message, details)


class BrpSource:
    name = "brp"

    def __init__(self, settings: BrpSettings) -> None:
        self._settings = settings

    def operations(self) -> frozenset[str]:
        return frozenset({RAADPLEEG})

    def _headers(self, ctx: FetchContext) -> dict[str, str]:
        headers = {"Accept": "application/json", **ctx.extra_headers}
        if self._settings.api_key is not None:
            headers["X-API-KEY"] = self._settings.api_key.get_secret_value()
        if self._settings.origin_oin:
            headers["x-origin-oin"] = self._settings.origin_oin
        return headers

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        if ctx.request.identifier.type != "bsn":
            raise SourceError("unsupported_identifier", "the BRP is searched by BSN")
        body = {
            "type": RAADPLEEG,
            "burgerservicenummer": [ctx.request.identifier.value],
            "fields": ctx.query.fields or ["burgerservicenummer"],
        }
        response = await ctx.client.post("/personen", json=body, headers=self._headers(ctx), timeout=ctx.timeout)
        if response.status_code != 200:
            raise problem_error(response)
        personen = response.json().get("personen") or []
        if not personen:
            return FetchResult.not_found()
        return FetchResult.ok(personen[0])
