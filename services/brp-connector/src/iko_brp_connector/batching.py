"""Batching concurrent ``RaadpleegMetBurgerservicenummer`` lookups into one call of up to 20 BSNs.

Lookups that ask the same fields with the same protocol headers share one request; each waiter gets its own
person back. The BRP counts calls, and one call with twenty BSNs costs about as much as one with one.

The batch adapts to the load: with no call of its kind in flight, a lookup goes out at once (in the same turn of
the event loop, so the follow-ups of one relation still travel together); while a call is in flight, new lookups
gather and go out when it returns, when twenty have gathered, or after the window at the latest.

A batch the BRP refuses as a whole (one bad BSN is a 400 for all) is retried BSN by BSN, so each waiter gets its
own answer or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from iko_shared.connector import FETCH_DEADLINE

Person = dict[str, Any]
BatchKey = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
# One call for these BSNs; returns the person found for each BSN.
SendBatch = Callable[[httpx.AsyncClient, list[str], list[str], dict[str, str]], Awaitable[dict[str, Person]]]

MAX_BSNS = 20


@dataclass
class _Batch:
    client: httpx.AsyncClient
    fields: list[str]
    headers: dict[str, str]
    waiters: dict[str, list[asyncio.Future[Person | None]]] = field(default_factory=dict)
    deadline: float = float("inf")
    timer: asyncio.TimerHandle | asyncio.Handle | None = None


class RaadpleegBatcher:
    def __init__(
        self,
        send: SendBatch,
        window_s: float = 0.002,
        max_size: int = MAX_BSNS,
        split_on: Callable[[Exception], bool] = lambda exc: False,
    ) -> None:
        self._send = send
        self._window = window_s
        self._max = max_size
        self._split_on = split_on
        self._open: dict[BatchKey, _Batch] = {}
        self._in_flight: dict[BatchKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0

    async def lookup(
        self, client: httpx.AsyncClient, bsn: str, fields: list[str], headers: dict[str, str], deadline: float
    ) -> Person | None:
        loop = asyncio.get_running_loop()
        key: BatchKey = (tuple(sorted(fields)), tuple(sorted(headers.items())))
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(client=client, fields=fields, headers=headers)
            if self._in_flight.get(key, 0) == 0:
                # Nothing to wait for: go out now, with whatever joins in this same turn of the loop.
                batch.timer = loop.call_soon(self._flush, key)
            else:
                batch.timer = loop.call_later(self._window, self._flush, key)
        future: asyncio.Future[Person | None] = loop.create_future()
        batch.waiters.setdefault(bsn, []).append(future)
        batch.deadline = min(batch.deadline, deadline)
        if len(batch.waiters) >= self._max:
            self._flush(key)
        return await future

    def _flush(self, key: BatchKey) -> None:
        batch = self._open.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight[key] -= 1
            if self._in_flight[key] == 0:
                del self._in_flight[key]
                # What gathered while this call was out goes now.
                self._flush(key)

        task.add_done_callback(done)

    async def _run(self, batch: _Batch) -> None:
        # The batch answers by its earliest deadline: nobody in it may wait longer than they asked.
        FETCH_DEADLINE.set(batch.deadline)
        bsns = list(batch.waiters)
        try:
            found = await self._call(batch, bsns)
        except Exception as exc:
            if len(bsns) > 1 and self._split_on(exc):
                await asyncio.gather(*(self._run_one(batch, bsn) for bsn in bsns))
            else:
                self._settle(batch, bsns, exc)
            return
        self._resolve(batch, found)

    async def _run_one(self, batch: _Batch, bsn: str) -> None:
        try:
            self._resolve(batch, await self._call(batch, [bsn]), only=[bsn])
        except Exception as exc:
            self._settle(batch, [bsn], exc)

    async def _call(self, batch: _Batch, bsns: list[str]) -> dict[str, Person]:
        self.calls += 1
        return await self._send(batch.client, bsns, batch.fields, batch.headers)

    @staticmethod
    def _resolve(batch: _Batch, found: dict[str, Person], only: list[str] | None = None) -> None:
        for bsn in only or list(batch.waiters):
            for future in batch.waiters[bsn]:
                if not future.done():
                    future.set_result(found.get(bsn))

    @staticmethod
    def _settle(batch: _Batch, bsns: list[str], exc: Exception) -> None:
        for bsn in bsns:
            for future in batch.waiters[bsn]:
                if not future.done():
                    future.set_exception(exc)
