"""Batching concurrent ``RaadpleegMetBurgerservicenummer`` lookups into one call of up to 20 BSNs.

Lookups that ask the same fields with the same protocol headers share one request; each waiter gets its own
person back. The BRP counts calls, and one call with twenty BSNs costs about as much as one with one.

The batch adapts to the load: with no call of its kind in flight, a lookup goes out at once (in the same turn of
the event loop, so the follow-ups of one relation still travel together); while a call is in flight, new lookups
gather and go out when it returns, when twenty have gathered, or after the window at the latest.

A batch the BRP refuses as a whole (one bad BSN is a 400 for all) is retried BSN by BSN, so each waiter gets its
own answer or its own error.

Deadlines: a waiter is never failed by another waiter's deadline. The call runs to the latest deadline of the
waiters still waiting when it goes out, and each waiter stops waiting at its own deadline with a timeout of its own
(``WaitTimeout``, an ``httpx.TimeoutException``, reported as the ``timeout`` a fetch of its own would give). The call
goes out as every caller in it (``FETCH_CALLERS``): the circuit breaker sees one call, with the batch's budget, made
by all of them, and a failure of it counts against each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from iko_shared.connector import FETCH_CALLERS, FETCH_DEADLINE, Caller

Person = dict[str, Any]
BatchKey = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
# One call for these BSNs; returns the person found for each BSN.
SendBatch = Callable[[httpx.AsyncClient, list[str], list[str], dict[str, str]], Awaitable[dict[str, Person]]]

MAX_BSNS = 20


class WaitTimeout(httpx.TimeoutException):
    """This waiter's deadline passed before the batch it is in was answered."""


@dataclass
class _Waiter:
    future: asyncio.Future[Person | None]
    deadline: float
    caller: Caller


@dataclass
class _Batch:
    client: httpx.AsyncClient
    fields: list[str]
    headers: dict[str, str]
    waiters: dict[str, list[_Waiter]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | asyncio.Handle | None = None

    def waiting(self, bsns: list[str]) -> list[_Waiter]:
        return [w for bsn in bsns for w in self.waiters[bsn] if not w.future.done()]


class RaadpleegBatcher:
    def __init__(
        self,
        send: SendBatch,
        window_s: float = 0.002,
        max_size: int = MAX_BSNS,
        split_on: Callable[[Exception], bool] = lambda exc: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self._clock = clock
        self._window = window_s
        self._max = max_size
        self._split_on = split_on
        self._open: dict[BatchKey, _Batch] = {}
        self._in_flight: dict[BatchKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0

    async def lookup(
        self,
        client: httpx.AsyncClient,
        bsn: str,
        fields: list[str],
        headers: dict[str, str],
        deadline: float,
        caller: Caller = None,
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
        batch.waiters.setdefault(bsn, []).append(_Waiter(future, deadline, caller))
        if len(batch.waiters) >= self._max:
            self._flush(key)
        try:
            # On timeout wait_for cancels the future: the batch's answer, when it comes, skips this waiter.
            return await asyncio.wait_for(future, timeout=deadline - self._clock())
        except TimeoutError:
            raise WaitTimeout("the BRP did not answer before this lookup's deadline") from None

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
        # Only those still waiting: a BSN whose every waiter has given up is not asked for.
        bsns = [bsn for bsn in batch.waiters if batch.waiting([bsn])]
        if not bsns:
            return
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
        if not batch.waiting([bsn]):
            return
        try:
            self._resolve(batch, await self._call(batch, [bsn]), only=[bsn])
        except Exception as exc:
            self._settle(batch, [bsn], exc)

    async def _call(self, batch: _Batch, bsns: list[str]) -> dict[str, Person]:
        waiting = batch.waiting(bsns)
        # Runs in a task of its own (``_run``, or gather's for ``_run_one``): these settings are the call's alone.
        FETCH_DEADLINE.set(max(w.deadline for w in waiting))
        FETCH_CALLERS.set(frozenset(w.caller for w in waiting))
        self.calls += 1
        return await self._send(batch.client, bsns, batch.fields, batch.headers)

    @staticmethod
    def _resolve(batch: _Batch, found: dict[str, Person], only: list[str] | None = None) -> None:
        for bsn in only or list(batch.waiters):
            for waiter in batch.waiters[bsn]:
                if not waiter.future.done():
                    waiter.future.set_result(found.get(bsn))

    @staticmethod
    def _settle(batch: _Batch, bsns: list[str], exc: Exception) -> None:
        for bsn in bsns:
            for waiter in batch.waiters[bsn]:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
