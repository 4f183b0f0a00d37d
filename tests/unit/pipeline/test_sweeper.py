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


class ClosingStore:
    """The first sweep closes one request and says the next deadline is ``due_in`` seconds away; later sweeps
    find nothing."""

    def __init__(self, due_in: float) -> None:
        self.due_in = due_in
        self.started: list[float] = []

    async def sweep(self) -> SweepResult:
        self.started.append(time.monotonic())
        now = time.time()
        if len(self.started) == 1:
            closed = ClosedRequest(
                request_id="r1", closed_by="deadline", closed_at=now, meta={}, expected={}, fragments={}
            )
            return SweepResult(closed=[closed], now=now, next_due=now + self.due_in)
        return SweepResult(closed=[], now=now, next_due=None)

    def release(self, *request_ids: str) -> None:
        pass


async def test_the_time_spent_publishing_a_sweep_is_not_added_to_the_next_deadline():
    store = ClosingStore(due_in=0.5)
    published_at: list[float] = []

    async def slow_publish(closed: ClosedRequest) -> None:
        await asyncio.sleep(1.0)  # longer than the next deadline is away
        published_at.append(time.monotonic())

    sweeper = Sweeper(store, slow_publish, max_interval=5.0)  # type: ignore[arg-type]
    sweeper.start()
    try:
        for _ in range(300):
            if len(store.started) >= 2:
                break
            await asyncio.sleep(0.01)
        assert len(store.started) >= 2, "no second sweep"
        # The next deadline passed while the first sweep was publishing: the next sweep goes at once, not 0.5 s
        # after the publish.
        assert store.started[1] - published_at[0] < 0.3
    finally:
        await sweeper.stop()
