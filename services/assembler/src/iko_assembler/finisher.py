"""Forgets published requests in batches, off the path of the message that closed them.

Forgetting a request (its keys, its outbox entry) is the last Redis call of every lookup. It need not hold up
the handler, and under load one script call can forget every request published meanwhile. A request not yet
forgotten when the replica dies is republished from the outbox after its lease, as one whose publisher died
before forgetting it always was: the gateway answers each request once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from iko_shared.failures import OutageLog, Throttled, log_loop_failure
from iko_shared.logging import get_logger

log = get_logger()


class Finisher:
    def __init__(
        self,
        finish: Callable[..., Awaitable[None]],
        *,
        max_batch: int = 500,
        retry_after_s: float = 0.2,
    ) -> None:
        self._finish = finish
        self._max_batch = max_batch
        self._retry_after_s = retry_after_s
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog("finish.redis")
        self._throttle = Throttled(every_s=5.0)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, request_id: str) -> None:
        self._pending.append(request_id)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="finisher")

    async def stop(self) -> None:
        """Forget what is pending (one last try), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception as exc:
                # Redis is away: the ids stay pending (and in the outbox); try again shortly. One warning per
                # outage (a bug: one traceback every few seconds at most), not one per try.
                log_loop_failure(exc, self._outage, self._throttle, "finish.failed", pending=len(self._pending))
                await asyncio.sleep(self._retry_after_s)
                self._wake.set()
            else:
                self._outage.recovered()

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            await self._finish(*batch)
            del self._pending[: len(batch)]
