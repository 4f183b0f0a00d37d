"""The source work of one persoon lookup, the same in the direct fan-out and in the floor's workers.

For the BRP: ``POST /personen`` (RaadpleegMetBurgerservicenummer with the benchmark profile's fields), concurrent
lookups batched by the pipeline BRP connector's own ``RaadpleegBatcher``. For the ZGW:
``POST /zaken/api/v1/zaken/_zoek`` with the JWT the ZGW connector makes, following ``next`` pages; each zaak gets
its zaaktype's name from a per-process catalogue cache, and its status too when the profile asks
``include: [status]``. That is what the pipeline's connectors do for ``bench/profiles/bench-persoon.yaml`` (the persoon
profile's two root sources, without its relations and other sources), the profile the pipeline is asked for.

Every system reaches the sources through the same HTTP client as the pipeline's connectors: ``httpx.AsyncClient``
on ``SourceTransport`` (httpx-aiohttp's ``AiohttpTransport``, aiohttp's connection pool), one pooled client per
source with the connector's ``max_connections``, so the comparison is about the architecture, not the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from iko_brp_connector.batching import RaadpleegBatcher
from iko_brp_connector.source import BrpSettings
from iko_shared.connector.http import SourceHttpSettings, SourceTransport
from iko_zgw_connector.source import BSN_FILTER, ZgwSettings
from iko_zgw_connector.token import ZgwToken

from bench import processes

# The benchmark's two-source profile, which the pipeline is asked for too: one definition of the source work.
PROFILE = processes.ROOT / "bench" / "profiles" / "bench-persoon.yaml"
SOURCES = ("brp", "zgw")
ZAKEN_PATH = "/zaken/api/v1"
MAX_PAGES = 5
# The connectors' settings: each source's pool gets the connector's max_connections.
SETTINGS: dict[str, type[SourceHttpSettings]] = {"brp": BrpSettings, "zgw": ZgwSettings}
# A source answered: with data, with none, or with an error (the lookup is still complete); else it timed out.
ANSWERED = ("ok", "not_found", "error")


def profile_sources(path: Path = PROFILE) -> dict[str, Any]:
    """The benchmark profile's sources: BRP fields and ZGW params, as the gateway would plan them."""
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    sources: dict[str, Any] = profile["sources"]
    return sources


def requested_bsn(body: bytes) -> str:
    """The BSN of a lookup request body (``{"identifier": {"type": "bsn", "value": ...}}``)."""
    return str(orjson.loads(body)["identifier"]["value"])


def source_client(settings: SourceHttpSettings) -> httpx.AsyncClient:
    """One pooled client for one source, set up as the connectors' (``make_client``) without retries or breaker."""
    limits = httpx.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
    return httpx.AsyncClient(transport=SourceTransport(limits=limits), timeout=None)


class SourceWork:
    """The source work for the sources given (name → base URL), with a client of its own for each."""

    def __init__(self, urls: Mapping[str, str], profile: Path = PROFILE) -> None:
        unknown = set(urls) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown sources {sorted(unknown)}; known: {', '.join(SOURCES)}")
        self._urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._clients = {name: source_client(SETTINGS[name]()) for name in urls}
        self._fetchers: dict[str, Callable[[str, float], Awaitable[Any]]] = {"brp": self.brp, "zgw": self.zgw}
        sources = profile_sources(profile)
        self._brp_fields: list[str] = list(sources["brp"]["fields"])
        self._with_status = "status" in (sources["zgw"].get("params", {}).get("include") or [])
        settings = ZgwSettings()
        self._token = ZgwToken(settings.client_id, settings.secret.get_secret_value())
        self._catalogue: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # The pipeline's own batcher, with its default window: under load the systems compared with the pipeline
        # make one BRP call per twenty lookups as it does, not one per lookup.
        self._brp_batches = RaadpleegBatcher(self._brp_call)

    async def __aenter__(self) -> SourceWork:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def fetch(self, source: str, bsn: str, timeout_s: float) -> dict[str, Any]:
        """One source's part of a lookup, as a fragment carries it: status, retrieved_at, duration_ms, data."""
        started = time.time()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                data = await self._fetchers[source](bsn, started + max(timeout_s, 0.0))
            status = "ok" if data is not None else "not_found"
        except TimeoutError:
            data, status = None, "timeout"
        except httpx.HTTPError as exc:
            data, status = {"error": type(exc).__name__}, "error"
        return {"status": status, "retrieved_at": started, "duration_ms": (time.time() - started) * 1000, "data": data}

    async def brp(self, bsn: str, deadline: float) -> Any:
        headers = {"Accept": "application/json", "x-doelbinding": "demo"}
        return await self._brp_batches.lookup(self._clients["brp"], bsn, self._brp_fields, headers, deadline)

    async def _brp_call(
        self, client: httpx.AsyncClient, bsns: list[str], fields: list[str], headers: dict[str, str]
    ) -> dict[str, Any]:
        body = {"type": "RaadpleegMetBurgerservicenummer", "burgerservicenummer": bsns, "fields": fields}
        response = await client.post(f"{self._urls['brp']}/personen", json=body, headers=headers)
        response.raise_for_status()
        personen = response.json().get("personen") or []
        return {str(p.get("burgerservicenummer")): p for p in personen if isinstance(p, dict)}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.bearer()}", "Accept": "application/json"}

    async def _get(self, url: str) -> dict[str, Any]:
        response = await self._clients["zgw"].get(url, headers=self._headers())
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def _catalogued(self, url: Any) -> str | None:
        if not isinstance(url, str) or not url:
            return None
        future = self._catalogue.get(url)
        if future is None:
            future = asyncio.ensure_future(self._get(url))
            self._catalogue[url] = future
        try:
            resource = await asyncio.shield(future)
        except httpx.HTTPError:
            self._catalogue.pop(url, None)
            return None
        name = resource.get("omschrijving")
        return str(name) if name is not None else None

    async def _enrich(self, zaak: dict[str, Any]) -> dict[str, Any]:
        out = {**zaak, "zaaktype_omschrijving": await self._catalogued(zaak.get("zaaktype"))}
        if self._with_status and isinstance(zaak.get("status"), str):
            status = await self._get(zaak["status"])
            out["status_datum_gezet"] = status.get("datumStatusGezet")
            out["status_omschrijving"] = await self._catalogued(status.get("statustype"))
        return out

    async def zgw(self, bsn: str, _deadline: float) -> Any:
        headers = {**self._headers(), "Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
        url: str | None = f"{self._urls['zgw']}{ZAKEN_PATH}/zaken/_zoek"
        zaken: list[dict[str, Any]] = []
        count, pages = 0, 0
        while url is not None and pages < MAX_PAGES:
            response = await self._clients["zgw"].post(url, json={BSN_FILTER: bsn}, headers=headers)
            response.raise_for_status()
            page = response.json()
            count = int(page.get("count") or 0)
            zaken.extend(z for z in page.get("results") or [] if isinstance(z, dict))
            url, pages = page.get("next") or None, pages + 1
        enriched = await asyncio.gather(*(self._enrich(z) for z in zaken))
        return {"count": count, "complete": url is None, "zaken": enriched}
