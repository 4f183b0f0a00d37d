"""The publisher's retry policy without a broker: a slow confirm is waited for, not answered with a second copy;
a confirm that never comes retires the channel and the retry goes out on a fresh one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from iko_shared.broker import ExchangePublisher


class SlowExchange:
    """Confirms each publish after ``confirm_after_s`` (None: never)."""

    def __init__(self, confirm_after_s: float | None) -> None:
        self.confirm_after_s = confirm_after_s
        self.sent: list[bytes] = []

    async def publish(self, message: Any, routing_key: str, mandatory: bool) -> object:
        self.sent.append(message.body)
        if self.confirm_after_s is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.confirm_after_s or 0)
        return object()  # a confirm (anything but a returned message)


class FakePublisher(ExchangePublisher):
    def __init__(self, exchanges: list[SlowExchange], attempt_timeout_s: float) -> None:
        super().__init__(broker=None, attempt_timeout_s=attempt_timeout_s)  # type: ignore[arg-type]
        self.exchanges = exchanges
        self.opened = 0

    async def _current_exchange(self) -> Any:
        if self._exchange is None:
            self._exchange = self.exchanges[min(self.opened, len(self.exchanges) - 1)]  # type: ignore[assignment]
            self._channel = object()  # type: ignore[assignment]
            self.opened += 1
        return self._exchange

    def _retire(self, failed: Any) -> None:
        if failed is not None and failed is self._exchange:
            self._exchange = None


async def test_a_confirm_slower_than_the_deadline_is_waited_for_not_sent_again():
    exchange = SlowExchange(confirm_after_s=0.3)
    publisher = FakePublisher([exchange], attempt_timeout_s=2.0)
    # The deadline (0.05 s) ends the retries; the message went out, so its confirm is waited for.
    await publisher.publish(b"view", routing_key="replies", deadline=time.time() + 0.05)
    assert exchange.sent == [b"view"]


async def test_a_confirm_that_never_comes_retires_the_channel_and_the_retry_goes_out_on_a_fresh_one():
    stale, fresh = SlowExchange(confirm_after_s=None), SlowExchange(confirm_after_s=0.0)
    publisher = FakePublisher([stale, fresh], attempt_timeout_s=0.2)
    await publisher.publish(b"view", routing_key="replies", deadline=time.time() + 3)
    assert (stale.sent, fresh.sent) == ([b"view"], [b"view"])
    assert publisher.opened == 2


async def test_past_its_deadline_a_publish_that_got_no_confirm_is_raised():
    publisher = FakePublisher([SlowExchange(confirm_after_s=None)], attempt_timeout_s=0.2)
    with pytest.raises(TimeoutError):
        await publisher.publish(b"view", routing_key="replies", deadline=time.time() + 0.05)
