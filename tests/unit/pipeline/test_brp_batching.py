"""The BRP connector's batches: no waiter is failed by another's deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from iko_brp_connector.batching import RaadpleegBatcher, WaitTimeout
from iko_shared.connector import FETCH_CALLERS, FETCH_DEADLINE


@pytest.fixture
async def client():
    # The batcher hands the client to its send only; the fake sends never use it.
    async with httpx.AsyncClient() as opened:
        yield opened


class FakeBrp:
    """A send that answers every BSN after ``seconds``, noting the deadline and callers each call went out with."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[tuple[list[str], float | None, frozenset[str | None]]] = []

    async def __call__(
        self, client: httpx.AsyncClient, bsns: list[str], fields: list[str], headers: dict[str, str]
    ) -> dict[str, Any]:
        self.calls.append((list(bsns), FETCH_DEADLINE.get(), FETCH_CALLERS.get()))
        await asyncio.sleep(self.seconds)
        return {bsn: {"burgerservicenummer": bsn} for bsn in bsns}


async def test_a_short_deadline_in_a_batch_does_not_fail_the_others(client):
    # The probe's case: a lookup with 5 s failed after 30 ms because it shared a batch with a 30 ms one.
    brp = FakeBrp(seconds=0.1)
    batcher = RaadpleegBatcher(brp, window_s=0.002)
    now = time.time()
    started = time.perf_counter()
    hurried, patient = await asyncio.gather(
        batcher.lookup(client, "999993653", ["naam"], {}, now + 0.03, "hurried"),
        batcher.lookup(client, "999990408", ["naam"], {}, now + 5.0, "patient"),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    assert isinstance(hurried, WaitTimeout)
    assert isinstance(hurried, httpx.TimeoutException), "fetch_fragment reports it as a timeout"
    assert patient == {"burgerservicenummer": "999990408"}
    assert elapsed < 1.0
    [(bsns, deadline, callers)] = brp.calls
    assert sorted(bsns) == ["999990408", "999993653"], "one call for both"
    assert deadline == pytest.approx(now + 5.0), "the call runs to the latest deadline"
    assert callers == frozenset({"hurried", "patient"}), "the call goes out as every caller in it"


async def test_each_waiter_stops_at_its_own_deadline(client):
    brp = FakeBrp(seconds=10)
    batcher = RaadpleegBatcher(brp, window_s=0.002)
    now = time.time()
    ended: dict[str, float] = {}

    async def wait(bsn: str, deadline_in: float) -> None:
        try:
            await batcher.lookup(client, bsn, ["naam"], {}, now + deadline_in)
        except WaitTimeout:
            ended[bsn] = time.time() - now

    await asyncio.gather(wait("999993653", 0.03), wait("999990408", 0.15))
    assert 0.03 <= ended["999993653"] < 0.1
    assert 0.15 <= ended["999990408"] < 0.25
    assert len(brp.calls) == 1


async def test_a_bsn_nobody_waits_for_any_more_is_not_asked(client):
    brp = FakeBrp(seconds=0.1)
    batcher = RaadpleegBatcher(brp, window_s=0.05)
    first = asyncio.ensure_future(batcher.lookup(client, "999993653", ["naam"], {}, time.time() + 5.0))
    await asyncio.sleep(0.01)  # the first call is out: the next ones gather for the window
    now = time.time()
    gone, stays = await asyncio.gather(
        batcher.lookup(client, "999990408", ["naam"], {}, now + 0.01),
        batcher.lookup(client, "999994086", ["naam"], {}, now + 5.0),
        return_exceptions=True,
    )
    await first
    assert isinstance(gone, WaitTimeout)
    assert stays == {"burgerservicenummer": "999994086"}
    assert [bsns for bsns, _, _ in brp.calls] == [["999993653"], ["999994086"]]


async def test_a_failed_batch_fails_each_waiter_still_waiting(client):
    async def broken(client: httpx.AsyncClient, bsns: list[str], fields: list[str], headers: dict[str, str]) -> Any:
        await asyncio.sleep(0.05)
        raise httpx.ConnectError("refused")

    batcher = RaadpleegBatcher(broken, window_s=0.002)
    now = time.time()
    hurried, patient = await asyncio.gather(
        batcher.lookup(client, "999993653", ["naam"], {}, now + 0.01),
        batcher.lookup(client, "999990408", ["naam"], {}, now + 5.0),
        return_exceptions=True,
    )
    assert isinstance(hurried, WaitTimeout)
    assert isinstance(patient, httpx.ConnectError)
