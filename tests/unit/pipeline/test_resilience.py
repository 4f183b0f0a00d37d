"""Retries and the circuit breaker, with a fake source, a fake clock and no real sleeping."""

from __future__ import annotations

import httpx
import pytest
from iko_shared.connector import (
    FETCH_CALLERS,
    FETCH_DEADLINE,
    BreakerState,
    CircuitBreaker,
    ResilientTransport,
    RetryPolicy,
)
from iko_shared.connector.source import SourceError


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def scripted(*answers):
    """A source that gives these answers in turn: a status code, or an exception to raise."""
    queue = list(answers)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(answer, json={"status": answer})

    return httpx.MockTransport(handler), seen


def client_for(transport, clock, policy=None, breaker=None):
    resilient = ResilientTransport(
        transport,
        "src",
        policy=policy or RetryPolicy(),
        breaker=breaker or CircuitBreaker(),
        clock=clock,
        sleep=clock.sleep,
    )
    return httpx.AsyncClient(transport=resilient, base_url="http://source"), resilient


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def deadline(clock):
    token = FETCH_DEADLINE.set(clock.now + 5.0)
    yield clock.now + 5.0
    FETCH_DEADLINE.reset(token)


@pytest.mark.parametrize("failure", [503, 502, 504, 429, httpx.ConnectError("refused"), httpx.ReadError("reset")])
async def test_retries_what_a_second_try_can_fix(clock, deadline, failure):
    transport, seen = scripted(failure, failure, 200)
    client, _ = client_for(transport, clock)
    response = await client.get("/x")
    assert response.status_code == 200
    assert len(seen) == 3
    assert len(clock.slept) == 2
    assert clock.slept[1] > clock.slept[0] * 0.6  # backoff grows (with jitter)


@pytest.mark.parametrize("status", [400, 404, 500])
async def test_does_not_retry_answers_a_retry_cannot_change(clock, deadline, status):
    transport, seen = scripted(status, 200)
    client, _ = client_for(transport, clock)
    assert (await client.get("/x")).status_code == status
    assert len(seen) == 1


async def test_gives_up_after_max_attempts_with_the_last_answer(clock, deadline):
    transport, seen = scripted(503)
    client, _ = client_for(transport, clock, policy=RetryPolicy(max_attempts=3))
    assert (await client.get("/x")).status_code == 503
    assert len(seen) == 3


async def test_honours_retry_after(clock, deadline):
    throttled = httpx.Response(429, headers={"Retry-After": "2"})
    transport, _ = scripted(throttled, 200)
    client, _ = client_for(transport, clock)
    assert (await client.get("/x")).status_code == 200
    assert clock.slept[0] >= 2.0


async def test_never_retries_past_the_deadline(clock):
    token = FETCH_DEADLINE.set(clock.now + 1.0)
    try:
        throttled = httpx.Response(503, headers={"Retry-After": "3"})
        transport, seen = scripted(throttled, 200)
        client, _ = client_for(transport, clock)
        assert (await client.get("/x")).status_code == 503
        assert len(seen) == 1
        assert clock.slept == []
    finally:
        FETCH_DEADLINE.reset(token)


async def test_each_attempt_gets_what_is_left_of_the_deadline_as_timeout(clock, deadline):
    timeouts: list[float] = []
    answers = [503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(answers.pop(0))

    client, _ = client_for(httpx.MockTransport(handler), clock)
    await client.get("/x", timeout=60)
    first, second = timeouts
    assert first == pytest.approx(5.0)
    assert second < first


def breaker_for(clock, **settings) -> CircuitBreaker:
    return CircuitBreaker(**{"failure_threshold": 3, "reset_timeout_s": 10.0, "clock": clock, **settings})


def as_caller(name: str | None):
    """Calls made from here on are ``name``'s, as the runtime marks a fetch."""
    return FETCH_CALLERS.set(frozenset({name}))


async def test_circuit_opens_fails_fast_and_closes_after_a_good_probe(clock, deadline):
    breaker = breaker_for(clock)
    transport, seen = scripted(500)
    client, _ = client_for(transport, clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    for caller in ("a", "b", "c"):
        token = as_caller(caller)
        try:
            assert (await client.get("/x")).status_code == 500
        finally:
            FETCH_CALLERS.reset(token)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(SourceError) as raised:
        await client.get("/x")
    assert raised.value.code == "circuit_open"
    assert len(seen) == 3  # failing fast: the source was not called
    clock.now += 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    transport.handler = lambda request: (seen.append(request), httpx.Response(200))[1]  # the source is back
    assert (await client.get("/x")).status_code == 200
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_probe_through_and_a_failed_probe_reopens(clock):
    breaker = breaker_for(clock, failure_threshold=1, reset_timeout_s=5.0, min_callers=1)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record_failure({"whoever"})  # a probe's failure re-opens, whoever made it
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in() == pytest.approx(5.0)


def test_one_caller_however_many_failures_it_provokes_does_not_open_the_circuit(clock):
    breaker = breaker_for(clock)
    for _ in range(100):
        breaker.record_failure({"attacker"})
    assert breaker.state is BreakerState.CLOSED
    assert breaker.window() == (100, 100, 1)


def test_failures_from_two_callers_open_it(clock):
    breaker = breaker_for(clock)
    breaker.record_failure({"a"})
    breaker.record_failure({"a"})
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure({"b"})
    assert breaker.state is BreakerState.OPEN


def test_the_anonymous_caller_is_one_caller(clock):
    breaker = breaker_for(clock)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure({None})
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure({"someone"})
    assert breaker.state is BreakerState.OPEN


def test_a_batched_call_counts_against_every_caller_in_it(clock):
    breaker = breaker_for(clock)
    breaker.record_failure({"a", "b"})
    breaker.record_failure({"a", "b"})
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure({"a", "b"})
    assert breaker.state is BreakerState.OPEN


def test_min_callers_one_judges_every_call_alike(clock):
    breaker = breaker_for(clock, min_callers=1)
    for _ in range(3):
        breaker.record_failure({"the only caller"})
    assert breaker.state is BreakerState.OPEN


def test_failures_must_be_the_given_ratio_of_the_calls(clock):
    breaker = breaker_for(clock, failure_threshold=3, failure_ratio=0.5)
    for _ in range(4):
        breaker.record_success({"victim"})
    breaker.record_failure({"a"})
    breaker.record_failure({"b"})
    breaker.record_failure({"c"})
    assert breaker.state is BreakerState.CLOSED, "3 failures in 7 calls"
    breaker.record_failure({"d"})
    assert breaker.state is BreakerState.OPEN, "4 failures in 8 calls"


def test_failures_older_than_the_window_are_forgotten(clock):
    breaker = breaker_for(clock, window_s=10.0)
    breaker.record_failure({"a"})
    breaker.record_failure({"b"})
    clock.now += 10.0
    assert breaker.window() == (0, 0, 0)
    breaker.record_failure({"c"})
    assert breaker.state is BreakerState.CLOSED
    clock.now += 5.0
    breaker.record_failure({"d"})
    breaker.record_failure({"e"})
    assert breaker.state is BreakerState.OPEN


def test_the_window_is_bounded(clock):
    breaker = breaker_for(clock, max_entries=10, min_callers=10_000)
    for n in range(1000):
        breaker.record_success({f"caller-{n}"})
        breaker.record_failure({f"caller-{n}"})
    assert breaker.window() == (10, 5, 5), "the oldest outcomes, and their callers, are dropped"


def test_the_window_always_holds_the_threshold(clock):
    breaker = breaker_for(clock, failure_threshold=50, max_entries=10, min_callers=1)
    for _ in range(50):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_a_success_after_the_circuit_opened_closes_it_and_forgets_the_window(clock):
    breaker = breaker_for(clock)
    for caller in ("a", "b", "c"):
        breaker.record_failure({caller})
    assert breaker.state is BreakerState.OPEN
    breaker.record_success({"a late call"})
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure({"a"})
    breaker.record_failure({"b"})
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"min_callers": 0}, "min_callers"),
        ({"failure_ratio": 1.5}, "failure_ratio"),
        ({"window_s": 0}, "window_s"),
    ],
)
def test_settings_that_make_no_sense_are_refused(clock, settings, message):
    with pytest.raises(ValueError, match=message):
        breaker_for(clock, **settings)


async def test_the_breaker_counts_calls_not_attempts(clock, deadline):
    breaker = breaker_for(clock, failure_threshold=2, min_callers=1)
    transport, seen = scripted(503, 503, 503)
    client, _ = client_for(transport, clock, policy=RetryPolicy(max_attempts=3), breaker=breaker)
    assert (await client.get("/x")).status_code == 503
    assert len(seen) == 3
    assert breaker.state is BreakerState.CLOSED, "three failed attempts of one call are one failure"
    assert (await client.get("/x")).status_code == 503
    assert breaker.state is BreakerState.OPEN


async def test_a_call_that_recovers_on_retry_counts_as_a_success(clock, deadline):
    breaker = breaker_for(clock, failure_threshold=1, min_callers=1)
    transport, _ = scripted(httpx.ConnectError("refused"), 200)
    client, _ = client_for(transport, clock, breaker=breaker)
    assert (await client.get("/x")).status_code == 200
    assert breaker.state is BreakerState.CLOSED
    assert breaker.window() == (1, 0, 0)


class Slow(httpx.AsyncBaseTransport):
    """A source that answers only after ``seconds`` (on the fake clock): a call with less times out."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        budget = request.extensions["timeout"]["read"]
        if budget < self.seconds:
            self.clock.now += budget
            raise httpx.ReadTimeout("slow", request=request)
        self.clock.now += self.seconds
        return httpx.Response(200)


async def get_as(client: httpx.AsyncClient, clock: Clock, caller: str, timeout_s: float) -> httpx.Response:
    deadline = FETCH_DEADLINE.set(clock.now + timeout_s)
    callers = as_caller(caller)
    try:
        return await client.get("/x")
    finally:
        FETCH_CALLERS.reset(callers)
        FETCH_DEADLINE.reset(deadline)


async def test_timeouts_of_short_deadlines_judge_nothing(clock):
    # The probe's attack: lookups with timeout_ms 60 against a source answering in 150 ms, from many callers.
    breaker = breaker_for(clock, min_timeout_budget_s=1.0)
    slow = Slow(clock, 0.15)
    client, _ = client_for(slow, clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    for n in range(20):
        with pytest.raises(httpx.TimeoutException):
            await get_as(client, clock, f"hurried-{n}", 0.06)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.window() == (0, 0, 0), "a timeout of a short budget is no outcome at all"
    assert (await get_as(client, clock, "victim", 2.0)).status_code == 200


async def test_timeouts_of_calls_with_budget_enough_are_the_sources_failures(clock):
    breaker = breaker_for(clock, min_timeout_budget_s=1.0)
    hanging = Slow(clock, 3600)
    client, _ = client_for(hanging, clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    for caller in ("a", "b", "c"):
        with pytest.raises(httpx.TimeoutException):
            await get_as(client, clock, caller, 1.0)
    assert breaker.state is BreakerState.OPEN


async def test_a_short_timeout_of_the_half_open_probe_lets_the_next_probe_through(clock):
    breaker = breaker_for(clock, min_callers=1, failure_threshold=1, reset_timeout_s=5.0)
    breaker.record_failure()
    clock.now += 5.0
    client, _ = client_for(Slow(clock, 0.15), clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    with pytest.raises(httpx.TimeoutException):
        await get_as(client, clock, "hurried", 0.06)
    assert breaker.state is BreakerState.HALF_OPEN
    assert (await get_as(client, clock, "patient", 2.0)).status_code == 200
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429])
async def test_a_4xx_is_a_success_for_the_breaker(clock, deadline, status):
    breaker = breaker_for(clock, min_callers=1, failure_threshold=1)
    client, _ = client_for(scripted(status)[0], clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    for caller in ("a", "b", "c"):
        token = as_caller(caller)
        try:
            assert (await client.get("/x")).status_code == status
        finally:
            FETCH_CALLERS.reset(token)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.window() == (3, 0, 0)


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ReadError("reset"), httpx.RemoteProtocolError("hung up")]
)
async def test_connection_errors_are_the_sources_failures(clock, deadline, failure):
    breaker = breaker_for(clock, min_callers=1, failure_threshold=1)
    client, _ = client_for(scripted(failure)[0], clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    with pytest.raises(type(failure)):
        await client.get("/x")
    assert breaker.state is BreakerState.OPEN


async def test_an_invalid_request_is_not_the_sources_failure(clock, deadline):
    breaker = breaker_for(clock, min_callers=1, failure_threshold=1)
    client, _ = client_for(
        scripted(httpx.LocalProtocolError("bad header"))[0], clock, policy=RetryPolicy(max_attempts=1), breaker=breaker
    )
    with pytest.raises(httpx.LocalProtocolError):
        await client.get("/x")
    assert breaker.state is BreakerState.CLOSED
    assert breaker.window() == (0, 0, 0)


async def test_an_error_input_of_one_caller_does_not_shut_out_the_others(clock, deadline):
    # The probe's other attack: a KVK number that makes KVK answer 500, asked again and again by one caller.
    breaker = breaker_for(clock)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500 if request.url.path.endswith("/90004973") else 200)

    client, _ = client_for(httpx.MockTransport(handler), clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    for _ in range(10):
        token = as_caller("attacker")
        try:
            assert (await client.get("/basisprofielen/90004973")).status_code == 500
        finally:
            FETCH_CALLERS.reset(token)
    token = as_caller("victim")
    try:
        assert (await client.get("/basisprofielen/69599084")).status_code == 200
    finally:
        FETCH_CALLERS.reset(token)
    assert breaker.state is BreakerState.CLOSED


def test_the_breaker_settings_come_from_the_environment(monkeypatch):
    from iko_shared.connector import ConnectorSettings

    monkeypatch.setenv("IKO_CONNECTOR_CIRCUIT_FAILURES", "7")
    monkeypatch.setenv("IKO_CONNECTOR_CIRCUIT_RESET_S", "3")
    monkeypatch.setenv("IKO_CONNECTOR_CIRCUIT_WINDOW_S", "20")
    monkeypatch.setenv("IKO_CONNECTOR_CIRCUIT_FAILURE_RATIO", "0.8")
    monkeypatch.setenv("IKO_CONNECTOR_CIRCUIT_MIN_CALLERS", "1")
    monkeypatch.setenv("IKO_CONNECTOR_CIRCUIT_MIN_TIMEOUT_BUDGET_S", "0.5")
    breaker = ConnectorSettings().breaker()
    assert (breaker.failure_threshold, breaker.reset_timeout_s, breaker.window_s) == (7, 3.0, 20.0)
    assert (breaker.failure_ratio, breaker.min_callers, breaker.min_timeout_budget_s) == (0.8, 1, 0.5)


def test_the_breaker_defaults_are_the_settings_defaults(monkeypatch):
    from iko_shared.connector import ConnectorSettings

    for name in ("FAILURES", "RESET_S", "WINDOW_S", "FAILURE_RATIO", "MIN_CALLERS", "MIN_TIMEOUT_BUDGET_S"):
        monkeypatch.delenv(f"IKO_CONNECTOR_CIRCUIT_{name}", raising=False)
    configured, default = ConnectorSettings().breaker(), CircuitBreaker()
    for field in ("failure_threshold", "reset_timeout_s", "window_s", "failure_ratio", "min_callers"):
        assert getattr(configured, field) == getattr(default, field), field
    assert configured.min_timeout_budget_s == default.min_timeout_budget_s == 1.0
    assert (default.failure_threshold, default.window_s) == (5, 10.0)
    assert (default.failure_ratio, default.min_callers) == (0.5, 2)
