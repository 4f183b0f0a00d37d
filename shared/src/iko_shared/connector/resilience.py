"""Retries and the circuit breaker, as an httpx transport: every adapter gets them without knowing.

Retries cover what a second try can fix — connection errors, 502/503/504 and 429 (honouring
``Retry-After``) — with jittered exponential backoff, and never run past the request's deadline, which the
runtime puts in ``FETCH_DEADLINE`` before calling the adapter. Each attempt gets what is left of the deadline
as its timeout. Written here rather than with a retry library because both the budget (the deadline) and the
delay (``Retry-After``) come from the request and the response.

The breaker hears of calls, not attempts, each with the callers the runtime put in ``FETCH_CALLERS`` and, for a
timeout, the budget the call had (its deadline minus its start): what counts against the source is the breaker's
rule (see ``breaker``).
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from iko_shared.connector.breaker import ANONYMOUS, Caller, CircuitBreaker
from iko_shared.connector.source import SourceError

# Epoch seconds by which the current fetch must be done; set per fetch by the runtime.
FETCH_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("iko_fetch_deadline", default=None)
# Who the current fetch is for (``RequestContext.caller``; every caller of a batched call); set by the runtime.
FETCH_CALLERS: contextvars.ContextVar[frozenset[Caller]] = contextvars.ContextVar(
    "iko_fetch_callers", default=ANONYMOUS
)

RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# The source's own failures among the transport errors: it refused, reset or hung up. The rest (an invalid
# request, a proxy) are not the source's doing.
SOURCE_FAILURES: tuple[type[Exception], ...] = (httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_s: float = 0.05
    max_delay_s: float = 1.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 502, 503, 504}))
    # Don't start an attempt with less than this left: it could only time out.
    min_attempt_budget_s: float = 0.02

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before attempt ``attempt + 1``: exponential, with full jitter between 50 % and 150 %."""
        return float(min(self.max_delay_s, self.base_delay_s * 2**attempt) * (0.5 + rng()))


def retry_after_s(response: httpx.Response, now: float) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _with_timeout(request: httpx.Request, seconds: float) -> None:
    request.extensions["timeout"] = {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


class ResilientTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        source: str,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._source = source
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._clock = clock
        self._sleep = sleep
        self.attempts = 0  # every attempt sent to the source, for tests and metrics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.breaker.allow():
            raise SourceError(
                "circuit_open",
                f"{self._source} is failing; calls resume in {self.breaker.retry_in():.1f} s",
            )
        callers = FETCH_CALLERS.get()
        deadline = FETCH_DEADLINE.get()
        budget = float("inf") if deadline is None else deadline - self._clock()
        # The breaker counts calls, not attempts: one call that needed three tries is one failure or success.
        try:
            response = await self._with_retries(request)
        except httpx.TimeoutException:
            self.breaker.record_timeout(budget, callers)
            raise
        except SOURCE_FAILURES:
            self.breaker.record_failure(callers)
            raise
        except BaseException:
            self.breaker.release()  # not the source's doing (a cancelled call): judge nothing
            raise
        if response.status_code >= 500:
            self.breaker.record_failure(callers)
        else:
            self.breaker.record_success(callers)
        return response

    async def _with_retries(self, request: httpx.Request) -> httpx.Response:
        deadline = FETCH_DEADLINE.get()
        attempt = 0
        while True:
            if deadline is not None:
                _with_timeout(request, max(deadline - self._clock(), 0.001))
            self.attempts += 1
            try:
                response = await self._inner.handle_async_request(request)
            except RETRYABLE_ERRORS:
                if not await self._may_retry(attempt, deadline, None):
                    raise
                attempt += 1
                continue
            if response.status_code in self.policy.retry_statuses and await self._may_retry(
                attempt, deadline, response
            ):
                await response.aclose()
                attempt += 1
                continue
            return response

    async def _may_retry(self, attempt: int, deadline: float | None, response: httpx.Response | None) -> bool:
        if attempt + 1 >= self.policy.max_attempts:
            return False
        now = self._clock()
        delay = self.policy.backoff(attempt)
        if response is not None:
            hinted = retry_after_s(response, now)
            if hinted is not None:
                delay = max(delay, hinted)
        if deadline is not None and now + delay + self.policy.min_attempt_budget_s >= deadline:
            return False
        result = self._sleep(delay)
        if asyncio.iscoroutine(result):
            await result
        return True

    async def aclose(self) -> None:
        await self._inner.aclose()
