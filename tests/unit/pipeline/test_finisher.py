"""The assembler's Finisher: published requests are forgotten in batches, and none is lost to a failing call."""

from __future__ import annotations

import asyncio

from iko_assembler.finisher import Finisher


class FakeStore:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()

    async def finish(self, *ids: str) -> None:
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis away")
        self.calls.append(ids)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_ids_added_while_a_call_is_out_go_together_in_the_next_one():
    store = FakeStore()
    finisher = Finisher(store.finish)
    finisher.start()
    store.gate.clear()
    finisher.add("a")
    await settle()  # the call for "a" is out and waits
    for rid in ("b", "c", "d"):
        finisher.add(rid)
    store.gate.set()
    await settle()
    assert store.calls == [("a",), ("b", "c", "d")]
    assert finisher.pending == 0
    await finisher.stop()


async def test_batches_are_bounded():
    store = FakeStore()
    finisher = Finisher(store.finish, max_batch=2)
    for rid in "abcde":
        finisher.add(rid)
    finisher.start()
    await settle()
    assert store.calls == [("a", "b"), ("c", "d"), ("e",)]
    await finisher.stop()


async def test_a_failed_call_keeps_its_ids_and_tries_again():
    store = FakeStore(failures=1)
    finisher = Finisher(store.finish, retry_after_s=0.01)
    finisher.start()
    finisher.add("a")
    await settle()
    assert store.calls == []
    assert finisher.pending == 1
    await asyncio.sleep(0.05)
    assert store.calls == [("a",)]
    assert finisher.pending == 0
    await finisher.stop()


async def test_stop_forgets_what_is_pending():
    store = FakeStore()
    finisher = Finisher(store.finish)
    finisher.add("a")
    finisher.add("b")
    await finisher.stop()  # never started: stop still flushes
    assert store.calls == [("a", "b")]
