"""A lookup's publish ends by the lookup's deadline: a channel that hangs while its connection comes back (a broker
node lost, found by the fault suite's scenario 4) refuses the caller in time instead of holding it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from iko_gateway.lookups import PublishFailedError, publish_or_fail


class HangingPublisher:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **options: Any) -> None:
        self.calls.append(options)
        await asyncio.sleep(3600)


class QuickPublisher(HangingPublisher):
    async def publish(self, body: bytes, **options: Any) -> None:
        self.calls.append(options)


async def test_a_hanging_publish_fails_at_the_deadline() -> None:
    publisher = HangingPublisher()
    started = time.monotonic()
    with pytest.raises(PublishFailedError):
        await publish_or_fail(
            publisher,  # type: ignore[arg-type]
            b"{}",
            request_id="r1",
            what="lookup",
            deadline=time.time() + 0.2,
        )
    assert time.monotonic() - started < 1.0


async def test_the_deadline_bounds_the_publishers_retries_too() -> None:
    publisher = QuickPublisher()
    deadline = time.time() + 5
    await publish_or_fail(publisher, b"{}", request_id="r1", what="lookup", deadline=deadline, persist=True)  # type: ignore[arg-type]
    assert publisher.calls == [{"correlation_id": "r1", "deadline": deadline, "persist": True}]


async def test_a_deadline_already_past_fails_at_once() -> None:
    with pytest.raises(PublishFailedError):
        await publish_or_fail(HangingPublisher(), b"{}", request_id="r1", what="lookup", deadline=time.time() - 1)  # type: ignore[arg-type]


async def test_an_audit_publish_whose_channel_hangs_opening_is_refused_in_time() -> None:
    from iko_gateway import audit
    from iko_shared.topology import Topology

    from tests.integration.audit_kit import record as audit_record

    publisher = audit.AuditPublisher("amqp://x", Topology(namespace="t"), timeout_s=0.2)

    async def hangs() -> None:
        await asyncio.sleep(3600)

    publisher._open_channel = hangs  # type: ignore[method-assign,assignment]
    record = audit_record("999993653")
    started = time.monotonic()
    with pytest.raises(audit.AuditUnavailableError):
        await publisher.publish(record)
    assert time.monotonic() - started < 1.0
