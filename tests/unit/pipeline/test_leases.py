"""The outbox leases a replica holds: renewed while it holds them, given up when its publish fails (the
coordinator's, the sweep's rest of a batch) or when held too long, and Redis away is one warning per outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.exceptions
import structlog
from iko_assembler.app import Sweeper
from iko_assembler.leases import Holdings, LeaseRenewer
from iko_assembler.store import ClosedRequest, SweepResult


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_holdings_keep_what_was_taken_until_released_and_let_go_of_what_is_held_too_long():
    clock = Clock()
    holdings = Holdings(max_hold_s=20.0, clock=clock)
    holdings.take("a", "b")
    clock.now += 15
    holdings.take("c", "a")  # taking again does not restart the hold
    assert holdings.current() == ["a", "b", "c"]
    holdings.release("b", "unknown")
    assert holdings.current() == ["a", "c"]
    clock.now += 6  # "a" is held 21 s: no longer renewed, so that another replica publishes it
    with structlog.testing.capture_logs() as logs:
        assert holdings.current() == ["c"]
    assert "a" not in holdings
    assert len(holdings) == 1
    assert [(line["event"], line["requests"]) for line in logs] == [("lease.given_up", 1)]


async def test_the_renewer_renews_what_is_held_and_says_once_that_redis_is_away():
    holdings = Holdings(max_hold_s=60.0)
    holdings.take("r1", "r2")
    renewed: list[list[str]] = []
    failing = 5

    async def renew(ids: list[str]) -> None:
        nonlocal failing
        if failing:
            failing -= 1
            raise redis.exceptions.ConnectionError("refused")
        renewed.append(ids)

    renewer = LeaseRenewer(holdings, renew, every_s=0.005)
    with structlog.testing.capture_logs() as logs:
        renewer.start()
        try:
            await until(lambda: len(renewed) >= 3)
            holdings.release("r1")
            count = len(renewed)
            await until(lambda: len(renewed) >= count + 2)
        finally:
            await renewer.stop()
    assert renewed[0] == ["r1", "r2"]
    assert renewed[-1] == ["r2"]
    assert [line["event"] for line in logs] == ["lease.redis.unavailable", "lease.redis.recovered"]


def closed(i: int) -> ClosedRequest:
    return ClosedRequest(
        request_id=f"r{i}", closed_by="deadline", closed_at=time.time(), meta={}, expected={}, fragments={}
    )


class OneBatchStore:
    """The first sweep closes five requests (held from then on); later sweeps close nothing."""

    def __init__(self) -> None:
        self.holdings = Holdings(max_hold_s=60.0)
        self.sweeps = 0

    async def sweep(self) -> SweepResult:
        self.sweeps += 1
        items = [closed(i) for i in range(5)] if self.sweeps == 1 else []
        self.holdings.take(*(c.request_id for c in items))
        return SweepResult(closed=items, now=time.time(), next_due=None)

    def release(self, *ids: str) -> None:
        self.holdings.release(*ids)


async def test_a_sweep_whose_publish_fails_gives_up_the_rest_of_its_batch():
    store = OneBatchStore()
    published: list[str] = []

    async def publish(request: ClosedRequest) -> None:
        if request.request_id == "r2":
            raise ConnectionError("the channel is away")
        published.append(request.request_id)
        store.release(request.request_id)  # as the finisher does once it forgot it

    sweeper = Sweeper(store, publish, max_interval=0.01)  # type: ignore[arg-type]
    with structlog.testing.capture_logs():
        sweeper.start()
        try:
            await until(lambda: store.sweeps >= 3)
        finally:
            await sweeper.stop()
    assert published == ["r0", "r1"]
    # r2 to r4 are not held: their leases lapse and a sweep hands them out again, rather than renewed for ever.
    assert len(store.holdings) == 0
