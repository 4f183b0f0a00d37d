"""A per-process cache of objecttypen (Objecttypen API resources), with a time to live.

Objecttypen describe kinds of registrations, not people: keeping them is allowed and saves a call per object.
Concurrent requests for the same objecttype share one fetch; a failed fetch is not kept, so the next request
tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


class ObjecttypeCache:
    def __init__(self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._inflight: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.loads = 0  # fetches actually made, for tests and metrics

    async def get(self, key: str, load: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, load))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._done(key, done))
        # Shielded: one waiter giving up (its deadline) does not cancel the fetch the others wait for.
        return await asyncio.shield(task)

    def _done(self, key: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter has gone

    async def _load(self, key: str, load: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        self.loads += 1
        value = await load()
        if self._ttl > 0:
            if len(self._entries) >= self._max:
                now = self._clock()
                for old in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                    del self._entries[old]
                while len(self._entries) >= self._max:
                    del self._entries[next(iter(self._entries))]
            self._entries[key] = (self._clock() + self._ttl, value)
        return value
