"""Holding a message while its store is down: try again, with backoff, until it works or the process stops."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from iko_shared.failures import OutageLog

T = TypeVar("T")


def backoff_delays(first_s: float = 0.1, cap_s: float = 5.0) -> Iterator[float]:
    """0.1, 0.2, 0.4, ... doubling up to ``cap_s``, then ``cap_s`` for ever."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, cap_s)


class ShuttingDownError(Exception):
    """The process stops while a message waits for its store: it goes back to the queue, unharmed."""


class HeldTooLongError(Exception):
    """A message was held for the hold limit: it goes back to the queue and comes again, before the broker's
    consumer timeout (30 minutes by default) closes the channel over it."""


class Holder:
    """Runs an attempt until it succeeds. Between tries it sleeps (jittered, so replicas do not knock on the
    database in step); ``stop()`` wakes every waiting attempt with ``ShuttingDownError``.

    The message is neither acked nor rejected meanwhile: it stays with this consumer, the rest wait in the
    queue, and no delivery count is spent — until ``hold_limit_s``, when ``HeldTooLongError`` sends it back
    (the audit queue has no delivery limit, so that costs nothing).
    """

    def __init__(self, first_s: float = 0.1, cap_s: float = 5.0, hold_limit_s: float = 600.0) -> None:
        self._first = first_s
        self._cap = cap_s
        self._hold_limit = hold_limit_s
        self._stopping = asyncio.Event()
        # One warning when the store goes away, one line when a record is stored again: with many records held
        # through an outage, not a line per record (the flap window: records held at once do not all succeed at
        # the same moment when it comes back).
        self.outage = OutageLog("audit.store", flap_s=10.0)

    def stop(self) -> None:
        self._stopping.set()

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        give_up_on: tuple[type[BaseException], ...] = (),
        **log_context: Any,
    ) -> T:
        delays = backoff_delays(self._first, self._cap)
        tries = 0
        give_back_at = time.monotonic() + self._hold_limit
        while True:
            if self._stopping.is_set():
                raise ShuttingDownError
            if tries and time.monotonic() >= give_back_at:
                raise HeldTooLongError
            try:
                result = await attempt()
            except give_up_on:
                raise
            except Exception as exc:
                tries += 1
                delay = next(delays)
                self.outage.failed(exc, **log_context)
            else:
                self.outage.recovered()
                return result
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay * random.uniform(0.8, 1.0))
            except TimeoutError:
                continue
            raise ShuttingDownError
