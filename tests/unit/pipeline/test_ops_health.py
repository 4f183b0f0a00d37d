"""Readiness and liveness decisions, and the consumer watchdog over fake consumers (no broker)."""

from __future__ import annotations

import asyncio

import pytest
from iko_shared.ops.health import (
    OK,
    ConsumerState,
    Health,
    decide_liveness,
    decide_readiness,
    run_checks,
)
from iko_shared.ops.watchdog import Watchdog


def test_a_redis_outage_leaves_a_connector_ready():
    report = decide_readiness("connector", {"broker": OK, "redis": "unreachable: ConnectionError"})
    assert report.ok
    assert report.status_code == 200
    # Said in the body, never deciding.
    assert report.checks["redis"].startswith("unreachable")


def test_a_connector_without_its_broker_is_not_ready():
    report = decide_readiness("connector", {"broker": "unreachable: BrokerDownError"})
    assert not report.ok
    assert report.status_code == 503
    assert report.body() == {
        "status": "not ready",
        "checks": {"broker": "unreachable: BrokerDownError"},
        "failing": ["broker"],
    }


@pytest.mark.parametrize(
    ("kind", "down", "ready"),
    [
        ("assembler", "redis", False),
        ("assembler", "broker", False),
        ("audit", "postgres", False),
        ("audit", "broker", False),
        ("connector", "postgres", True),
        ("assembler", "postgres", True),
    ],
)
def test_each_service_needs_what_it_uses(kind, down, ready):
    results = dict.fromkeys(("broker", "redis", "postgres"), OK)
    results[down] = "unreachable: OSError"
    assert decide_readiness(kind, results).ok is ready


def test_a_needed_check_that_did_not_run_fails():
    report = decide_readiness("assembler", {"broker": OK})
    assert not report.ok
    assert report.checks["redis"] == "not checked"


def test_liveness_fails_only_past_the_grace_with_the_broker_up():
    q = "ns.connector.brp"
    assert decide_liveness({q: ConsumerState(attached=True)}, 100.0, 30).ok
    # The broker is away: the robust connection recovers by itself, a restart would not help.
    waiting = decide_liveness({q: ConsumerState(attached=False)}, 100.0, 30)
    assert waiting.ok
    assert "waiting" in waiting.checks[f"consumer {q}"]
    within = decide_liveness({q: ConsumerState(attached=False, lost_since=80.0)}, 100.0, 30)
    assert within.ok
    assert "re-attaching" in within.checks[f"consumer {q}"]
    past = decide_liveness({q: ConsumerState(attached=False, lost_since=60.0, error="ChannelLockedResource")}, 100, 30)
    assert not past.ok
    assert past.status_code == 503
    assert past.body()["status"] == "not live"
    assert past.body()["failing"] == [f"consumer {q}"]
    assert "ChannelLockedResource" in past.checks[f"consumer {q}"]


async def test_run_checks_names_what_failed_without_its_message():
    async def fine() -> None:
        return None

    async def broken() -> None:
        raise ConnectionError("redis://secret@host refused")

    async def hangs() -> None:
        await asyncio.sleep(10)

    results = await run_checks({"broker": fine, "redis": broken, "postgres": hangs}, timeout_s=0.05)
    assert results == {
        "broker": OK,
        "redis": "unreachable: ConnectionError",
        "postgres": "unreachable: no answer in time",
    }


async def test_health_caches_readiness_briefly():
    calls = 0

    async def broker() -> None:
        nonlocal calls
        calls += 1

    now = [0.0]
    health = Health("connector", {"broker": broker}, cache_s=1.0, clock=lambda: now[0])
    assert (await health.readiness()).ok
    assert (await health.readiness()).ok
    assert calls == 1
    now[0] = 2.0
    await health.readiness()
    assert calls == 2
    assert health.liveness().ok


class FakeConsumer:
    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.is_attached = True
        self.fail_with: Exception | None = None
        self.reattaches = 0

    def attached(self) -> bool:
        return self.is_attached

    async def reattach(self) -> None:
        self.reattaches += 1
        if self.fail_with is not None:
            raise self.fail_with
        self.is_attached = True


def watchdog(consumers, connected=lambda: True, now=None, grace_s=10.0):
    clock = now or [0.0]
    return Watchdog("brp-connector", consumers, connected, grace_s=grace_s, clock=lambda: clock[0]), clock


async def test_the_watchdog_reattaches_a_lost_consumer():
    consumer = FakeConsumer("q")
    dog, _ = watchdog([consumer])
    await dog.check_once()
    assert consumer.reattaches == 0
    consumer.is_attached = False
    await dog.check_once()
    assert consumer.reattaches == 1
    assert dog.reattached == 1
    assert dog.states["q"].attached
    assert dog.liveness().ok


async def test_the_watchdog_reports_not_live_when_reattaching_fails_past_the_grace():
    consumer = FakeConsumer("q")
    dog, clock = watchdog([consumer], grace_s=10.0)
    consumer.is_attached = False
    consumer.fail_with = ConnectionError("locked")
    await dog.check_once()
    assert dog.liveness().ok
    clock[0] = 9.0
    await dog.check_once()
    assert dog.liveness().ok
    clock[0] = 11.0
    await dog.check_once()
    assert not dog.liveness().ok
    # It keeps trying; once it can, it is live again.
    consumer.fail_with = None
    await dog.check_once()
    assert dog.liveness().ok
    assert consumer.reattaches == 4


async def test_the_watchdog_waits_for_the_broker_without_counting_against_liveness():
    consumer = FakeConsumer("q")
    up = [False]
    dog, clock = watchdog([consumer], connected=lambda: up[0], grace_s=10.0)
    consumer.is_attached = False
    for t in (0.0, 50.0, 100.0):
        clock[0] = t
        await dog.check_once()
        assert dog.liveness().ok
    assert consumer.reattaches == 0
    # The grace starts when the connection is back.
    up[0] = True
    consumer.fail_with = ConnectionError("still restoring")
    await dog.check_once()
    clock[0] = 105.0
    await dog.check_once()
    assert dog.liveness().ok
    clock[0] = 111.0
    await dog.check_once()
    assert not dog.liveness().ok


async def test_the_watchdog_gives_a_hanging_reattach_up():
    class Hanging(FakeConsumer):
        async def reattach(self) -> None:
            await asyncio.sleep(10)

    consumer = Hanging("q")
    consumer.is_attached = False
    dog = Watchdog("x", [consumer], lambda: True, reattach_timeout_s=0.05)
    await dog.check_once()
    assert dog.states["q"].error == "TimeoutError"
