"""Retries and the circuit breaker, with a fake source, a fake clock and no real sleeping."""

from __future__ import annotations

import httpx
import pytest
from iko_shared.connector import FETCH_DEADLINE, BreakerState, CircuitBreaker, ResilientTransport, RetryPolicy
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


async def test_circuit_opens_fails_fast_and_closes_after_a_good_probe(clock, deadline):
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=10.0, clock=clock)
    transport, seen = scripted(500)
    client, _ = client_for(transport, clock, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    for _ in range(3):
        assert (await client.get("/x")).status_code == 500
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
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5.0, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in() == pytest.approx(5.0)


def test_successes_reset_the_failure_count(clock):
    breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


async def test_the_breaker_counts_calls_not_attempts(clock, deadline):
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    transport, seen = scripted(503, 503, 503)
    client, _ = client_for(transport, clock, policy=RetryPolicy(max_attempts=3), breaker=breaker)
    assert (await client.get("/x")).status_code == 503
    assert len(seen) == 3
    assert breaker.state is BreakerState.CLOSED, "three failed attempts of one call are one failure"
    assert (await client.get("/x")).status_code == 503
    assert breaker.state is BreakerState.OPEN


async def test_a_call_that_recovers_on_retry_counts_as_a_success(clock, deadline):
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    transport, _ = scripted(httpx.ConnectError("refused"), 200)
    client, _ = client_for(transport, clock, breaker=breaker)
    assert (await client.get("/x")).status_code == 200
    assert breaker.state is BreakerState.CLOSED
