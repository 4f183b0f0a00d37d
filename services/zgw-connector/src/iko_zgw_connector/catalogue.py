"""A per-process cache of Catalogi API resources (zaaktypen, statustypen), with a time to live.

Catalogue data describes case types, not people, so keeping it is allowed and saves a call per zaak. Concurrent
requests for the same resource share one fetch; a failed fetch is not kept, so the next request tries again. A
shared fetch runs within the deadline of the request that started it: when it times out, a request that only
joined it tries once more on its own, within its own deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


class CatalogueCache:
    def __init__(self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._inflight: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.loads = 0  # fetches actually made, for tests and metrics

    async def get(
        self, url: str, load: Callable[[], Awaitable[dict[str, Any]]], retry_joined: bool = True
    ) -> dict[str, Any]:
        entry = self._entries.get(url)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        task = self._inflight.get(url)
        joined = task is not None
        if task is None:
            task = asyncio.ensure_future(self._load(url, load))
            self._inflight[url] = task
            task.add_done_callback(lambda done: self._done(url, done))
        try:
            # Shielded: one waiter giving up (its deadline) does not cancel the fetch the others wait for.
            return await asyncio.shield(task)
        except httpx.TimeoutException:
            if not (joined and retry_joined):
                raise
        return await self.get(url, load, retry_joined=False)

    def _done(self, url: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self._inflight.pop(url, None)
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter has gone

    async def _load(self, url: str, load: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        self.loads += 1
        value = await load()
        if self._ttl > 0:
            if len(self._entries) >= self._max:
                self._evict()
            self._entries[url] = (self._clock() + self._ttl, value)
        return value

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
