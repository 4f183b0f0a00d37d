"""The direct fan-out: what a team would write without a broker — one process asking the sources in parallel.

``python -m bench.direct --port P --brp-url U --zgw-url U --ready-file F`` serves the same lookup endpoint as the
gateway and answers it by doing the pipeline connectors' source work for the persoon profile (``bench.sources``:
the BRP ``POST /personen`` and the ZGW ``POST /zaken/api/v1/zaken/_zoek`` with each zaak's zaaktype name from a
per-process catalogue cache) for both sources at once with ``asyncio.gather``, through the same httpx client on
aiohttp's pool as the connectors and the floor's workers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench import processes
from bench.http1 import serve
from bench.loadgen import Target
from bench.sandbox import Simulators, set_latency
from bench.sources import ANSWERED, SOURCES, SourceWork, requested_bsn
from bench.system import DEV_HEADERS, LOOKUP_PATH, complete, lookup_body


class DirectFanOut:
    def __init__(self, work: SourceWork, timeout_s: float = 2.0) -> None:
        self._work = work
        self._timeout = timeout_s

    async def lookup(self, bsn: str) -> dict[str, Any]:
        started = time.time()
        results = await asyncio.gather(*(self._work.fetch(source, bsn, self._timeout) for source in SOURCES))
        whole = all(r["status"] in ANSWERED for r in results)
        return {
            "status": "complete" if whole else "partial",
            "requested_at": started,
            "completed_at": time.time(),
            "sources": dict(zip(SOURCES, results, strict=True)),
        }


async def run(port: int, brp_url: str, zgw_url: str, ready_file: Path) -> None:
    async with SourceWork({"brp": brp_url, "zgw": zgw_url}) as work:
        fan_out = DirectFanOut(work)

        async def handle(_method: str, _path: str, body: bytes) -> tuple[int, bytes]:
            return 200, orjson.dumps(await fan_out.lookup(requested_bsn(body)))

        server = await serve(handle, "127.0.0.1", port)
        await processes.ready_until_terminated(ready_file)
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
