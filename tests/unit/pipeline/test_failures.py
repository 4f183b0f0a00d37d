"""The classification of failures, the bounded backoff inside a deadline, the one-line-per-outage log, and the
connector runtime's all-or-nothing handling of a request's queries."""

from __future__ import annotations

import asyncio
import json
import time

import aiormq.exceptions
import httpx
import orjson
import pytest
import redis.exceptions
import structlog
from iko_shared.connector import ConnectorRuntime, FetchContext, FetchResult
from iko_shared.contracts import Identifier, LookupRequested, SourceQuery
from iko_shared.failures import (
    Backoff,
    OutageLog,
    PoisonMessageError,
    Throttled,
    UnroutableError,
    body_deadline,
    classify,
    retry_transient,
)
from pydantic import BaseModel, ValidationError


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay


def validation_error() -> ValidationError:
    class M(BaseModel):
        x: int

    try:
        M.model_validate_json(b'{"x": "no"}')
    except ValidationError as exc:
        return exc
    raise AssertionError


@pytest.mark.parametrize(
    "exc",
    [
        redis.exceptions.ConnectionError("gone"),
        redis.exceptions.TimeoutError("slow"),
        ConnectionRefusedError(111, "refused"),
        UnroutableError("iko.fragments", "fragment"),
        aiormq.exceptions.ChannelInvalidStateError("closed"),
        aiormq.exceptions.AMQPConnectionError("lost"),
    ],
)
def test_transient(exc):
    assert classify(exc) == "transient"


@pytest.mark.parametrize(
    "exc",
    [validation_error(), PoisonMessageError("too large"), orjson.JSONDecodeError("bad", "{", 0)],
)
def test_poison(exc):
    assert classify(exc) == "poison"


def test_bad_json_and_an_unaccepted_version_are_poison():
    from iko_shared.contracts import LookupRequested as Model

    with pytest.raises(ValidationError) as bad_json:
        Model.model_validate_json(b'{"request_id": ')
    assert classify(bad_json.value) == "poison"
    with pytest.raises(json.JSONDecodeError) as stdlib:
        json.loads("{")
    assert classify(stdlib.value) == "poison"


@pytest.mark.parametrize(
    "exc", [ValueError("x"), KeyError("k"), redis.exceptions.ResponseError("script"), RuntimeError()]
)
def test_other(exc):
    assert classify(exc) == "other"


def test_a_cause_is_looked_through_and_groups_by_their_members():
    outer = RuntimeError("wrapped")
    outer.__cause__ = redis.exceptions.ConnectionError("gone")
    assert classify(outer) == "transient"
    transient = redis.exceptions.ConnectionError()
    assert classify(ExceptionGroup("g", [transient, ConnectionResetError()])) == "transient"
    assert classify(ExceptionGroup("g", [transient, ValueError()])) == "other"
    assert classify(ExceptionGroup("g", [transient, PoisonMessageError()])) == "poison"


def test_body_deadline():
    assert body_deadline(b'{"deadline": 12.5}') == 12.5
    assert body_deadline(b'{"x": 1}') is None
    assert body_deadline(b"not json") is None
    assert body_deadline(b"[1]") is None


def test_backoff_grows_is_capped_and_stops_before_the_deadline():
    clock = Clock()
    backoff = Backoff(deadline=clock.now + 3.0, base_s=0.02, max_s=0.5, clock=clock)
    delays = []
    while (delay := backoff.next_delay()) is not None:
        delays.append(delay)
        clock.now += delay
    assert delays[0] <= 0.02
    assert max(delays) <= 0.5
    assert delays[5] > delays[0]
    assert clock.now < 1003.0
    assert len(delays) < 30


async def test_retry_transient_until_it_succeeds():
    clock = Clock()
    calls = []

    async def flaky():
        calls.append(clock.now)
        if len(calls) < 4:
            raise redis.exceptions.ConnectionError("blip")
        return "ok"

    retried = []
    result = await retry_transient(
        flaky, deadline=clock.now + 2, clock=clock, sleep=clock.sleep, on_retry=lambda e, d: retried.append(d)
    )
    assert result == "ok"
    assert len(calls) == 4
    assert len(retried) == 3


async def test_retry_transient_gives_up_at_the_deadline():
    clock = Clock()
    calls = 0

    async def down():
        nonlocal calls
        calls += 1
        raise redis.exceptions.TimeoutError("down")

    with pytest.raises(redis.exceptions.TimeoutError):
        await retry_transient(down, deadline=clock.now + 1.0, clock=clock, sleep=clock.sleep)
    assert 1 < calls < 50
    assert clock.now <= 1001.0


async def test_poison_and_other_failures_are_never_retried():
    for exc in (validation_error(), ValueError("bug")):
        calls = 0

        async def fails(exc=exc):
            nonlocal calls
            calls += 1
            raise exc

        with pytest.raises(type(exc)):
            await retry_transient(fails, deadline=time.time() + 5)
        assert calls == 1


def test_outage_log_one_warning_per_outage_and_one_info_on_recovery():
    clock = Clock()
    with structlog.testing.capture_logs() as logs:
        outage = OutageLog("redis", clock=clock, flap_s=10.0)
        assert not outage.recovered()
        for _ in range(100):  # a failure every 50 ms for 5 s
            outage.failed(redis.exceptions.ConnectionError("refused"))
            clock.now += 0.05
        assert outage.down
        outage.recovered()
        outage.recovered()
        clock.now += 5.0
        outage.failed(ConnectionRefusedError())  # 5 s after the recovery: the same outage flapping, no warning
        outage.recovered()
        clock.now += 30.0
        outage.failed(ConnectionRefusedError())
    assert [(line["event"], line["log_level"]) for line in logs] == [
        ("redis.unavailable", "warning"),
        ("redis.recovered", "info"),
        ("redis.recovered", "info"),
        ("redis.unavailable", "warning"),
    ]
    assert logs[1]["failures"] == 100
    assert logs[1]["down_s"] == pytest.approx(5.0)
    assert "refused" not in str(logs[0]), "the exception's message is not logged, only its type"


def test_outage_log_counts_the_messages_it_cost_in_its_recovery_line():
    with structlog.testing.capture_logs() as logs:
        clock = Clock()
        outage = OutageLog("handler.dependency", clock=clock)
        for _ in range(15):  # fifteen messages in flight outlive their deadline while Redis fails over
            outage.failed(redis.exceptions.ConnectionError())
            outage.gave_up()
        outage.recovered()
        clock.now += 60.0
        outage.failed(ConnectionRefusedError())
        outage.recovered()
    assert [line["event"] for line in logs] == ["handler.dependency.unavailable", "handler.dependency.recovered"] * 2
    assert logs[1]["given_up"] == 15
    assert "given_up" not in logs[3], "the count starts again with the next outage"


def test_throttled_allows_one_line_per_interval():
    clock = Clock()
    throttle = Throttled(every_s=5.0, clock=clock)
    allowed = []
    for _ in range(100):
        allowed.append(throttle.allow())
        clock.now += 0.25
    assert sum(allowed) == 5
    assert allowed[0]
    assert throttle.take_suppressed() == 95
    assert throttle.take_suppressed() == 0


# -- the connector runtime: all or nothing ---------------------------------------------------------------------


class SlowSource:
    name = "fake"

    def __init__(self) -> None:
        self.finished: list[str] = []
        self.cancelled: list[str] = []

    def operations(self):
        return frozenset({"get"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        try:
            await asyncio.sleep(0.0 if ctx.query.key == "first" else 0.3)
        except asyncio.CancelledError:
            self.cancelled.append(ctx.query.key)
            raise
        self.finished.append(ctx.query.key)
        return FetchResult.ok({"key": ctx.query.key})


def three_queries() -> LookupRequested:
    now = time.time()
    return LookupRequested(
        request_id="r1",
        profile="p",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key=k, source="fake", operation="get") for k in ("first", "second", "third")],
        requested_at=now,
        deadline=now + 5,
        reply_to="q",
    )


async def test_one_failed_publish_cancels_its_siblings_and_is_raised_as_it_is():
    source = SlowSource()

    async def publish(fragment):
        if fragment.key == "first":
            raise UnroutableError("iko.fragments", "fragment")

    async with httpx.AsyncClient() as client:
        runtime = ConnectorRuntime(source, client, publish)
        with pytest.raises(UnroutableError):
            await runtime.handle(three_queries())
        await asyncio.sleep(0.4)
    # The siblings were stopped, not left fetching while the message goes back to be fetched again.
    assert sorted(source.cancelled) == ["second", "third"]
    assert source.finished == ["first"]


async def test_all_queries_answered_when_nothing_fails():
    source = SlowSource()
    published = []

    async def publish(fragment):
        published.append(fragment.key)

    async with httpx.AsyncClient() as client:
        fragments = await ConnectorRuntime(source, client, publish).handle(three_queries())
    assert [f.key for f in fragments] == ["first", "second", "third"]
    assert sorted(published) == [
        "first",
        "second",
        "third",
    ]
