"""KVK Basisprofiel: ``GET /v1/basisprofielen/{kvkNummer}`` with the ``apikey`` header."""

from __future__ import annotations

from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from pydantic_settings import SettingsConfigDict


class KvkSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_KVK_", extra="ignore")

    base_url: str = "http://127.0.0.1:8102"


# KVK's codes for "nothing under this number" (basisprofiel) and "search without results" (zoeken).
NOT_FOUND_CODES = frozenset({"IPD0005", "IPD5200"})


def fout_codes(response: httpx.Response) -> list[dict[str, str]]:
    try:
        body: Any = response.json()
    except ValueError:
        return []
    fout = body.get("fout") if isinstance(body, dict) else None
    return [f for f in fout if isinstance(f, dict)] if isinstance(fout, list) else []


class KvkSource:
    name = "kvk"

    def __init__(self, settings: KvkSettings) -> None:
        self._settings = settings

    def operations(self) -> frozenset[str]:
        return frozenset({"basisprofiel"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        _, kvk_nummer = ctx.identifier("kvk")
        headers = {"Accept": "application/json", **ctx.extra_headers}
        if self._settings.api_key is not None:
            headers["apikey"] = self._settings.api_key.get_secret_value()
        response = await ctx.client.get(
            f"/v1/basisprofielen/{kvk_nummer}", headers=headers, timeout=ctx.timeout
        )
        if response.status_code == 200:
            return FetchResult.ok(response.json())
        fout = fout_codes(response)
        codes = [f.get("code", "") for f in fout]
        if response.status_code == 404 and (not codes or NOT_FOUND_CODES.intersection(codes)):
            return FetchResult.not_found()
        code = codes[0] if codes else f"http_{response.status_code}"
        message = fout[0].get("omschrijving", "") if fout else f"KVK answered {response.status_code}"
        raise SourceError(code, message or f"KVK answered {response.status_code}", {"status": response.status_code})
