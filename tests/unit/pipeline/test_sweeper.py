"""The assembler's deadline sweeper: a deadline learnt while a sweep is out is not slept past."""

from __future__ import annotations

import asyncio
import time

from iko_assembler.app import Sweeper
from iko_assembler.store import ClosedRequest, SweepResult


class SlowStore:
    """Each sweep waits for ``release``; records when each sweep started."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.release = asyncio.Event()
        self.in_sweep = asyncio.Event()

    async def sweep(self) -> SweepResult:
        self.started.append(time.monotonic())
        self.in_sweep.set()
        await self.release.wait()
        # Nothing due as far as this sweep saw: it read the deadlines before the new one was registered.
        return SweepResult(closed=[], now=time.time(), next_due=None)


async def no_publish(closed: ClosedRequest) -> None:
    raise AssertionError("nothing closes here")


async def test_a_deadline_noticed_during_a_sweep_wakes_the_next_sweep_by_that_deadline():
    store = SlowStore()
    sweeper = Sweeper(store, no_publish, max_interval=2.0)  # type: ignore[arg-type]
    store.release.set()
    sweeper.start()
    try:
        await asyncio.wait_for(store.in_sweep.wait(), 1)
        await asyncio.sleep(0.05)  # the first sweep is done; the sweeper sleeps up to max_interval
        store.release.clear()
        store.in_sweep.clear()
        sweeper.notice_deadline(time.time() + 0.01)  # wakes it: a sweep goes out and waits on Redis
        await asyncio.wait_for(store.in_sweep.wait(), 1)
        noticed_at = time.monotonic()
        sweeper.notice_deadline(time.time() + 0.05)  # registered meanwhile: this sweep cannot have seen it
        store.release.set()
        for _ in range(40):
            if len(store.started) >= 3:
                break
            await asyncio.sleep(0.01)
        assert len(store.started) >= 3, "the deadline noticed during the sweep was slept past"
        assert store.started[2] - noticed_at < 0.3
    finally:
        await sweeper.stop()
