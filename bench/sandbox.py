"""The BRP and ZGW simulators, and how the benchmark sets their behaviour (latency, hang)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from bench import processes


async def set_behaviour(urls: Mapping[str, str], behaviour: Mapping[str, Any] | None) -> None:
    """``PUT /__sandbox__/behaviour`` on each simulator (``None``: reset with ``DELETE``)."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        for url in urls.values():
            if behaviour is None:
                response = await client.delete(f"{url}/__sandbox__/behaviour")
            else:
                response = await client.put(f"{url}/__sandbox__/behaviour", json=dict(behaviour))
            response.raise_for_status()


async def set_latency(urls: Mapping[str, str], latency_ms: int) -> None:
    await set_behaviour(urls, {"mode": "ok", "latency_ms": latency_ms})


class Simulators:
    """The BRP and ZGW simulators as processes of their own (for the direct fan-out and the floor)."""

    def __init__(self, log_dir: Path, sources: tuple[str, ...] = ("brp", "zgw")) -> None:
        self._log_dir = log_dir
        self._sources = sources
        self.children: list[processes.Child] = []
        self.urls: dict[str, str] = {}

    async def start(self) -> None:
        for source in self._sources:
            port = processes.free_port()
            args = ["-m", "iko_sandbox", source, "--host", "127.0.0.1", "--port", str(port)]
            self.children.append(processes.launch(f"sandbox-{source}", args, self._log_dir, port=port))
            self.urls[source] = f"http://127.0.0.1:{port}"
        try:
            await processes.wait_ready(self.children, 30)
        except processes.StartError:
            await self.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.children]

    async def stop(self) -> None:
        await processes.stop(self.children)
        self.children.clear()
