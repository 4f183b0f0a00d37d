"""The direct fan-out: what a team would write without a broker — one process asking the sources in parallel.

``python -m bench.direct --port P --brp-url U --zgw-url U --ready-file F`` serves the same lookup endpoint as the
gateway and answers it by calling the BRP and the ZGW simulators with one pooled httpx client and
``asyncio.gather``: the BRP ``POST /personen`` (RaadpleegMetBurgerservicenummer with the persoon profile's fields)
and the ZGW ``POST /zaken/api/v1/zaken/_zoek`` with the JWT the ZGW connector makes. It does the same source work
as the pipeline's connectors for the persoon profile: each zaak gets its zaaktype's name from a per-process
catalogue cache, and its status too when the profile asks ``include: [status]``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
import yaml
from iko_zgw_connector.source import BSN_FILTER, ZgwSettings
from iko_zgw_connector.token import ZgwToken

from bench import processes
from bench.http1 import serve
from bench.loadgen import Target
from bench.sandbox import Simulators, set_latency
from bench.system import DEV_HEADERS, LOOKUP_PATH, complete, lookup_body

PROFILE = processes.ROOT / "deploy" / "config" / "profiles" / "persoon.yaml"
ZAKEN_PATH = "/zaken/api/v1"
MAX_PAGES = 5


def profile_sources(path: Path = PROFILE) -> dict[str, Any]:
    """The persoon profile's root sources: BRP fields and ZGW params, as the gateway would plan them."""
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    sources: dict[str, Any] = profile["sources"]
    return sources


class DirectFanOut:
    def __init__(self, client: httpx.AsyncClient, brp_url: str, zgw_url: str, timeout_s: float = 2.0) -> None:
        self._client = client
        self._brp = brp_url.rstrip("/")
        self._zgw = zgw_url.rstrip("/")
        self._timeout = timeout_s
        sources = profile_sources()
        self._brp_fields: list[str] = list(sources["brp"]["fields"])
        self._with_status = "status" in (sources["zgw"].get("params", {}).get("include") or [])
        settings = ZgwSettings()
        self._token = ZgwToken(settings.client_id, settings.secret.get_secret_value())
        self._catalogue: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def lookup(self, bsn: str) -> dict[str, Any]:
        started = time.time()
        names = ("brp", "zgw")
        results: list[dict[str, Any]]
        try:
            async with asyncio.timeout(self._timeout):
                results = list(await asyncio.gather(self._source(self.brp, bsn), self._source(self.zgw, bsn)))
        except TimeoutError:
            results = [{"status": "timeout", "data": None}] * 2
        sources = dict(zip(names, results, strict=True))
        whole = all(r["status"] in ("ok", "not_found", "error") for r in results)
        return {
            "status": "complete" if whole else "partial",
            "requested_at": started,
            "completed_at": time.time(),
            "sources": sources,
        }

    @staticmethod
    async def _source(fetch: Any, bsn: str) -> dict[str, Any]:
        started = time.time()
        try:
            data = await fetch(bsn)
            status = "ok" if data is not None else "not_found"
        except httpx.HTTPError as exc:
            data, status = {"error": type(exc).__name__}, "error"
        return {"status": status, "retrieved_at": started, "duration_ms": (time.time() - started) * 1000, "data": data}

    async def brp(self, bsn: str) -> Any:
        body = {"type": "RaadpleegMetBurgerservicenummer", "burgerservicenummer": [bsn], "fields": self._brp_fields}
        headers = {"Accept": "application/json", "x-doelbinding": "demo"}
        response = await self._client.post(f"{self._brp}/personen", json=body, headers=headers)
        response.raise_for_status()
        personen = response.json().get("personen") or []
        return personen[0] if personen else None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.bearer()}", "Accept": "application/json"}

    async def _get(self, url: str) -> dict[str, Any]:
        response = await self._client.get(url, headers=self._headers())
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

    async def zgw(self, bsn: str) -> Any:
        headers = {**self._headers(), "Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
        url: str | None = f"{self._zgw}{ZAKEN_PATH}/zaken/_zoek"
        zaken: list[dict[str, Any]] = []
        count, pages = 0, 0
        while url is not None and pages < MAX_PAGES:
            response = await self._client.post(url, json={BSN_FILTER: bsn}, headers=headers)
            response.raise_for_status()
            page = response.json()
            count = int(page.get("count") or 0)
            zaken.extend(z for z in page.get("results") or [] if isinstance(z, dict))
            url, pages = page.get("next") or None, pages + 1
        enriched = await asyncio.gather(*(self._enrich(z) for z in zaken))
        return {"count": count, "complete": url is None, "zaken": enriched}


async def run(port: int, brp_url: str, zgw_url: str, ready_file: Path) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=5.0, limits=limits, trust_env=False) as client:
        fan_out = DirectFanOut(client, brp_url, zgw_url)

        async def handle(_method: str, _path: str, body: bytes) -> tuple[int, bytes]:
            bsn = str(orjson.loads(body)["identifier"]["value"])
            return 200, orjson.dumps(await fan_out.lookup(bsn))

        server = await serve(handle, "127.0.0.1", port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        processes.mark_ready(ready_file)
        await stop.wait()
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.direct")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--brp-url", required=True)
    p.add_argument("--zgw-url", required=True)
    p.add_argument("--ready-file", type=Path, required=True)
    args = p.parse_args()
    uvloop.run(run(args.port, args.brp_url, args.zgw_url, args.ready_file))


class DirectSystem:
    """The direct fan-out process and the two simulators it calls (their CPU is reported as the sources')."""

    name = "direct"

    def __init__(self, run_dir: Path) -> None:
        self._run_dir = run_dir / "direct"
        self.simulators = Simulators(self._run_dir)
        self.port = processes.free_port()
        self._child: processes.Child | None = None

    async def start(self) -> None:
        await self.simulators.start()
        ready = self._run_dir / "direct.ready"
        args = ["-m", "bench.direct", "--port", str(self.port), "--ready-file", str(ready)]
        args += ["--brp-url", self.simulators.urls["brp"], "--zgw-url", self.simulators.urls["zgw"]]
        self._child = processes.launch("direct", args, self._run_dir, ready_file=ready)
        try:
            await processes.wait_ready([self._child])
        except BaseException:
            await self.stop()
            raise

    def target(self, timeout_ms: int | None = None, keep_bodies: bool = False) -> Target:
        return Target("127.0.0.1", self.port, LOOKUP_PATH, lookup_body(timeout_ms), DEV_HEADERS, complete, keep_bodies)

    def cpu_groups(self) -> dict[str, list[int]]:
        return {"direct": [self._child.pid]} if self._child is not None else {}

    def source_pids(self) -> list[int]:
        return self.simulators.pids

    async def set_latency(self, latency_ms: int) -> None:
        await set_latency(self.simulators.urls, latency_ms)

    async def stop(self) -> None:
        if self._child is not None:
            await processes.stop([self._child])
            self._child = None
        await self.simulators.stop()


if __name__ == "__main__":
    main()
