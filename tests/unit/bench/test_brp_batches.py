"""The floor's and the direct fan-out's BRP calls batch as the pipeline's BRP connector does: at once when none
is out, gathered while one is, twenty at most; each waiter gets its own person or the call's error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.sources import BrpBatches


class FakeBrp:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def call(self, bsns: list[str]) -> dict[str, Any]:
        self.calls.append(list(bsns))
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {bsn: {"burgerservicenummer": bsn} for bsn in bsns if bsn != "000000000"}


async def settle() -> None:
    """A few turns of the loop: the tasks made so far run up to their first real wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lookup_goes_out_at_once_and_later_ones_gather_while_it_is_out() -> None:
    brp = FakeBrp()
    batches = BrpBatches(brp.call, window_s=10.0)
    first = asyncio.create_task(batches.lookup("1"))
    await settle()
    assert brp.calls == [["1"]]
    later = [asyncio.create_task(batches.lookup(str(n))) for n in range(2, 6)]
    await asyncio.sleep(0.01)
    assert brp.calls == [["1"]]  # the window is long: they wait for the call that is out
    brp.release.set()
    found = await asyncio.gather(first, *later)
    assert [p["burgerservicenummer"] for p in found] == ["1", "2", "3", "4", "5"]
    assert brp.calls == [["1"], ["2", "3", "4", "5"]]


async def test_twenty_gathered_go_out_without_waiting_and_a_missing_person_is_none() -> None:
    brp = FakeBrp()
    batches = BrpBatches(brp.call, window_s=10.0)
    busy = asyncio.create_task(batches.lookup("busy"))
    await settle()
    waiting = [asyncio.create_task(batches.lookup(f"{n:09d}")) for n in range(20)]
    await settle()
    assert len(brp.calls) == 2
    assert len(brp.calls[1]) == 20
    brp.release.set()
    found = await asyncio.gather(busy, *waiting)
    assert found[1] is None  # 000000000 is not in the fake's answer
    assert found[2] == {"burgerservicenummer": "000000001"}


async def test_a_failed_call_fails_each_of_its_waiters() -> None:
    brp = FakeBrp()
    brp.fail = RuntimeError("503")
    brp.release.set()
    batches = BrpBatches(brp.call)
    results = await asyncio.gather(batches.lookup("1"), batches.lookup("2"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        await batches.lookup("3")
