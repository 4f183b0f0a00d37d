"""The assembler's failure paths without a broker: a burst of closes does not hold up the loop, Redis away is one
warning per outage (not a traceback per sweep), an outbox entry dropped unpublished is logged, and a failed start
is retried (the assembler's and the gateway's audit publisher's)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.exceptions
import structlog
from iko_assembler import app as assembler_app
from iko_assembler.app import Sweeper
from iko_assembler.finisher import Finisher
from iko_assembler.store import ClosedRequest, SweepResult


def closed(i: int) -> ClosedRequest:
    return ClosedRequest(
        request_id=f"r{i}", closed_by="deadline", closed_at=time.time(), meta={}, expected={}, fragments={}
    )


class BurstStore:
    """The first sweep closes ``burst`` requests at once; later sweeps close nothing."""

    def __init__(self, burst: int) -> None:
        self.burst = burst
        self.sweeps = 0

    async def sweep(self) -> SweepResult:
        self.sweeps += 1
        items = [closed(i) for i in range(self.burst)] if self.sweeps == 1 else []
        return SweepResult(closed=items, now=time.time(), next_due=None)


async def test_a_burst_of_closes_does_not_hold_up_a_due_deadline():
    published = []

    async def publish(request: ClosedRequest) -> None:
        # Composing an answer runs jq on the loop: 2 ms of CPU, no await of its own (the confirm can be quick).
        until = time.perf_counter() + 0.002
        while time.perf_counter() < until:
            pass
        published.append(request.request_id)

    sweeper = Sweeper(BurstStore(500), publish, max_interval=0.05)  # type: ignore[arg-type]
    due_in = 0.05
    started = time.monotonic()
    sweeper.start()
    try:
        # Another request's deadline (a handler, a timer) due 50 ms from now, while the burst is being published.
        await asyncio.sleep(due_in)
        late_by = time.monotonic() - started - due_in
        for _ in range(200):
            if len(published) == 500:
                break
            await asyncio.sleep(0.01)
    finally:
        await sweeper.stop()
    assert len(published) == 500
    # The burst takes about a second of CPU; the deadline in its middle is kept within a wide margin of it.
    assert late_by < 0.25, f"a due deadline waited {late_by:.3f} s behind the burst"


class DownStore:
    def __init__(self) -> None:
        self.down = True
        self.sweeps = 0

    async def sweep(self) -> SweepResult:
        self.sweeps += 1
        if self.down:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return SweepResult(closed=[], now=time.time(), next_due=None, dropped=("lost-1",))


async def no_publish(request: ClosedRequest) -> None:
    raise AssertionError


async def test_redis_away_is_one_warning_per_outage_and_one_info_when_back():
    store = DownStore()
    with structlog.testing.capture_logs() as logs:
        sweeper = Sweeper(store, no_publish, max_interval=0.01)  # type: ignore[arg-type]
        sweeper.start()
        try:
            for _ in range(100):
                if store.sweeps >= 20:
                    break
                await asyncio.sleep(0.01)
            store.down = False
            await asyncio.sleep(0.1)
        finally:
            await sweeper.stop()
    assert store.sweeps >= 20
    events = [(line["event"], line["log_level"]) for line in logs]
    assert events.count(("sweep.redis.unavailable", "warning")) == 1
    assert events.count(("sweep.redis.recovered", "info")) == 1
    assert not [line for line in logs if line.get("exc_info")], "no traceback while Redis is away"
    # An outbox entry whose data expired before it was published is said, once per entry the sweep hands back.
    dropped = [line for line in logs if line["event"] == "outbox.dropped"]
    assert dropped
    assert dropped[0]["request_id"] == "lost-1"
    assert dropped[0]["log_level"] == "error"


async def test_the_finisher_logs_redis_away_once():
    calls = 0

    async def finish(*ids: str) -> None:
        nonlocal calls
        calls += 1
        if calls < 10:
            raise redis.exceptions.ConnectionError("refused")

    with structlog.testing.capture_logs() as logs:
        finisher = Finisher(finish, retry_after_s=0.005)
        finisher.start()
        finisher.add("r1")
        for _ in range(200):
            if finisher.pending == 0:
                break
            await asyncio.sleep(0.005)
        await finisher.stop()
    assert finisher.pending == 0
    assert [line["event"] for line in logs] == ["finish.redis.unavailable", "finish.redis.recovered"]


def test_the_assembler_retries_a_failed_start(monkeypatch):
    import uvloop

    runs = []

    class FakeApp:
        pass

    def fake_run(coro):
        runs.append(coro)
        if len(runs) < 3:
            raise ConnectionRefusedError(111, "refused")

    monkeypatch.setattr(assembler_app, "build_assembler_app", lambda settings: (FakeApp(), None))
    FakeApp.run = lambda self: "coroutine"  # type: ignore[attr-defined]
    monkeypatch.setattr(uvloop, "run", fake_run)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    monkeypatch.setattr(assembler_app, "AssemblerSettings", lambda: assembler_app.CommonSettings())
    monkeypatch.setattr("iko_shared.logging.configure_logging", lambda *a, **k: None)
    assembler_app.main()
    assert len(runs) == 3, "a failed start is retried with a fresh app"


class FakeChannel:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def declare_exchange(self, *args, **kwargs):
        return "exchange"

    async def declare_queue(self, *args, **kwargs):
        if self.fail:
            raise ConnectionResetError("INTERNAL_ERROR")
        return self

    async def bind(self, *args, **kwargs):
        return None


class FakeConnection:
    is_closed = False

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.channels = 0

    async def channel(self, **kwargs):
        self.channels += 1
        return FakeChannel(fail=self.channels <= self.failures)


async def test_the_gateway_audit_publisher_retries_its_declaration(monkeypatch):
    import aio_pika
    from iko_gateway import audit
    from iko_shared.topology import Topology

    connection = FakeConnection(failures=3)

    async def connect_robust(url):
        return connection

    sleeps = []

    async def no_sleep(delay):
        sleeps.append(delay)

    monkeypatch.setattr(aio_pika, "connect_robust", connect_robust)
    monkeypatch.setattr(audit.asyncio, "sleep", no_sleep)
    publisher = audit.AuditPublisher("amqp://x", Topology(namespace="t"))
    with structlog.testing.capture_logs() as logs:
        await publisher.start()
    assert connection.channels == 4
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[2] <= audit.START_MAX_PAUSE_S
    # One line per attempt at most once per few seconds: the three quick retries log once.
    assert [line["event"] for line in logs] == ["audit.start_failed"]

    connection.channels, connection.failures = 0, 5
    with pytest.raises(ConnectionResetError):
        await audit.AuditPublisher("amqp://x", Topology(namespace="t")).start(attempts=1)
