"""The outbox leases a replica holds: what it closed and has not forgotten yet, renewed while it lives.

A closed request sits in the outbox under a short lease; when the lease runs out, another replica's sweep
publishes it again, for the replica that closed it may have died. A replica that is alive but slow (a loaded
machine, a burst of deadlines published one after another) must not lose its lease to that: it would be
answered twice. So the replica renews the leases of what it holds every fraction of a lease, and only a replica
that stopped renewing (dead, or its loop stalled for longer than a lease) has its requests published by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from iko_shared.failures import OutageLog, Throttled, log_loop_failure
from iko_shared.logging import get_logger

log = get_logger()


class Holdings:
    """The requests this replica closed (or took from the outbox) and has not forgotten or given up yet.

    Bounded in time: a request held past ``max_hold_s`` is no longer renewed (a publish that never ended would
    otherwise keep its lease for ever), so that another replica publishes it."""

    def __init__(self, max_hold_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_hold_s = max_hold_s
        self._clock = clock
        self._held: dict[str, float] = {}

    def take(self, *request_ids: str) -> None:
        now = self._clock()
        for request_id in request_ids:
            self._held.setdefault(request_id, now)

    def release(self, *request_ids: str) -> None:
        for request_id in request_ids:
            self._held.pop(request_id, None)

    def current(self) -> list[str]:
        """The ids whose leases are to be renewed; those held too long are let go here."""
        oldest = self._clock() - self._max_hold_s
        expired = [rid for rid, since in self._held.items() if since < oldest]
        if expired:
            self.release(*expired)
            log.warning("lease.given_up", requests=len(expired), held_over_s=self._max_hold_s)
        return list(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._held


class LeaseRenewer:
    """Renews the leases of what ``holdings`` holds every ``every_s``, in one Redis call."""

    def __init__(
        self,
        holdings: Holdings,
        renew: Callable[[list[str]], Awaitable[None]],
        every_s: float,
    ) -> None:
        self._holdings = holdings
        self._renew = renew
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog("lease.redis")
        self._throttle = Throttled(every_s=5.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lease-renewer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def renew_once(self) -> None:
        held = self._holdings.current()
        if held:
            await self._renew(held)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self.renew_once()
            except Exception as exc:
                # Redis away: the leases lapse as a dead replica's would; what is still held is renewed once
                # Redis is back, and a copy published meanwhile by another replica is taken by the gateway as
                # a no-op.
                log_loop_failure(exc, self._outage, self._throttle, "lease.renew_failed", held=len(self._holdings))
            else:
                self._outage.recovered()
