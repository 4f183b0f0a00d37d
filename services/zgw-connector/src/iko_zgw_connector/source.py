"""ZGW Zaken API 1.5: the zaken in which the person or company has a role, following ``next`` page by page."""

from __future__ import annotations

from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from iko_zgw_connector.token import ZgwToken


class ZgwSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_ZGW_", extra="ignore")

    base_url: str = "http://127.0.0.1:8103"
    zaken_path: str = "/zaken/api/v1"
    client_id: str = "iko"
    secret: SecretStr = SecretStr("iko-sandbox-secret")
    max_pages: int = 5


# Zaken 1.5 has no kvkNummer filter: a company's rol carries its number as the niet-natuurlijk persoon's
# innNnpId, as zaakafhandelcomponenten register it.
FILTER_BY_IDENTIFIER = {
    "bsn": "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn",
    "kvk": "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId",
}


def problem_error(response: httpx.Response) -> SourceError:
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or f"http_{response.status_code}")
    message = str(body.get("detail") or body.get("title") or f"ZGW answered {response.status_code}")
    details: dict[str, Any] = {"status": response.status_code}
    if body.get("invalidParams"):
        details["invalidParams"] = body["invalidParams"]
    return SourceError(code, message, details)


class ZgwSource:
    name = "zgw"

    def __init__(self, settings: ZgwSettings) -> None:
        self._settings = settings
        self._token = ZgwToken(settings.client_id, settings.secret.get_secret_value())

    def operations(self) -> frozenset[str]:
        return frozenset({"zaken"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        kind, value = ctx.identifier(*FILTER_BY_IDENTIFIER)
        filter_name = FILTER_BY_IDENTIFIER[kind]
        headers = {
            "Authorization": f"Bearer {self._token.bearer()}",
            "Accept": "application/json",
            "Accept-Crs": "EPSG:4326",
            **ctx.extra_headers,
        }
        max_pages = int(ctx.query.params.get("max_pages", self._settings.max_pages))
        url: str | None = f"{self._settings.zaken_path}/zaken"
        params: dict[str, str] | None = {filter_name: value}
        zaken: list[Any] = []
        count = 0
        pages = 0
        while url is not None and pages < max_pages:
            response = await ctx.client.get(url, params=params, headers=headers, timeout=ctx.remaining())
            if response.status_code != 200:
                raise problem_error(response)
            page = response.json()
            count = int(page.get("count", 0))
            zaken.extend(page.get("results") or [])
            # ``next`` is an absolute URL carrying the filter already.
            url, params = page.get("next"), None
            pages += 1
        return FetchResult.ok({"count": count, "zaken": zaken, "complete": url is None})
