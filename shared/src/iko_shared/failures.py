"""What a failure is worth retrying: transient (Redis or the broker away for a moment), poison (a body that is not
the contract, and never will be) or other; bounded backoff inside a deadline; one log line per outage.

Plain code, no broker: ``broker.LogFailures`` applies it to every subscriber, the services to their start-up.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiormq.exceptions
import orjson
import redis.exceptions
from pydantic import ValidationError

from iko_shared.logging import get_logger

log = get_logger()

Kind = Literal["transient", "poison", "other"]

# A body larger than this is not a contract of IKO's (the largest answer of a source is far smaller): parked at once.
# A module constant, not a setting, while settings.py has another owner.
MAX_BODY_BYTES = 1024 * 1024
# How long a message without a deadline of its own may be retried inside its handler before it is given back.
DEFAULT_RETRY_BUDGET_S = 5.0
RETRY_BASE_DELAY_S = 0.02
RETRY_MAX_DELAY_S = 0.5


class PoisonMessageError(Exception):
    """A message that can never be processed (too large, not the contract); the message names the reason only."""


class UnroutableError(Exception):
    """The broker returned a mandatory publish: no queue is bound for it (yet)."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        super().__init__(f"unroutable: exchange={exchange or '(default)'} routing_key={routing_key}")
        self.exchange = exchange
        self.routing_key = routing_key


_TRANSIENT: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionError,  # ConnectionRefusedError / ConnectionResetError from a socket
    TimeoutError,
    UnroutableError,
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.DeliveryError,
    aiormq.exceptions.PublishError,
)
_POISON: tuple[type[BaseException], ...] = (
    PoisonMessageError,
    ValidationError,
    orjson.JSONDecodeError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


def classify(exc: BaseException) -> Kind:
    """Poison before transient (a body that is not the contract stays so); a group is transient only when all of
    its members are, poison when any is."""
    if isinstance(exc, BaseExceptionGroup):
        kinds = {classify(e) for e in exc.exceptions}
        if "poison" in kinds:
            return "poison"
        return "transient" if kinds == {"transient"} else "other"
    if isinstance(exc, _POISON):
        return "poison"
    if isinstance(exc, redis.exceptions.ResponseError):
        # A script error or a wrong type is a bug, not a blip (ResponseError is no ConnectionError; said plainly).
        return "other"
    if isinstance(exc, _TRANSIENT):
        return "transient"
    cause = exc.__cause__
    if cause is not None and cause is not exc:
        return classify(cause)
    return "other"


def body_deadline(body: bytes) -> float | None:
    """The ``deadline`` of a message body (epoch seconds), None when it has none or is not JSON."""
    try:
        value: Any = orjson.loads(body).get("deadline")
    except Exception:
        return None
    return float(value) if isinstance(value, int | float) else None


@dataclass
class Backoff:
    """Exponential, jittered, capped delays; ``next_delay`` is None once the next try would end past the deadline."""

    deadline: float
    base_s: float = RETRY_BASE_DELAY_S
    max_s: float = RETRY_MAX_DELAY_S
    clock: Callable[[], float] = time.time
    attempts: int = 0

    def next_delay(self) -> float | None:
        delay: float = min(self.max_s, self.base_s * (2**self.attempts)) * (0.5 + random.random() / 2)
        self.attempts += 1
        if self.clock() + delay >= self.deadline:
            return None
        return delay


T = TypeVar("T")


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    on_retry: Callable[[BaseException, float], object] | None = None,
) -> T:
    """``call`` again after a transient failure, with backoff, while ``deadline`` (default: a few seconds) allows;
    poison and other failures, and the last transient one, are raised as they are."""
    backoff = Backoff(deadline if deadline is not None else clock() + DEFAULT_RETRY_BUDGET_S, clock=clock)
    while True:
        try:
            return await call()
        except Exception as exc:
            if classify(exc) != "transient":
                raise
            delay = backoff.next_delay()
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            await sleep(delay)


@dataclass
class OutageLog:
    """One warning when something goes away (the first failure), one info when it is back; nothing in between.

    ``failed`` returns True when it logged (the caller may add its own detail then)."""

    event: str
    clock: Callable[[], float] = time.monotonic
    logger: Any = None
    since: float | None = None
    failures: int = 0
    # What the outage cost beyond retries (messages given back past their deadline): counted, reported once.
    given_up: int = 0
    # A failure this soon after a recovery is the same outage flapping (a failover: some connections reach the new
    # primary, others not yet): no second warning. 0: every failure after a recovery is a new outage.
    flap_s: float = 0.0
    recovered_at: float | None = None

    def failed(self, exc: BaseException | None = None, **fields: Any) -> bool:
        self.failures += 1
        if self.since is not None:
            return False
        now = self.clock()
        self.since = now
        if self.recovered_at is not None and now - self.recovered_at < self.flap_s:
            return False
        detail = {"error": type(exc).__name__} if exc is not None else {}
        (self.logger or log).warning(f"{self.event}.unavailable", **detail, **fields)
        return True

    def recovered(self, **fields: Any) -> bool:
        if self.since is None:
            return False
        down_s = self.clock() - self.since
        extra = {"given_up": self.given_up} if self.given_up else {}
        (self.logger or log).info(
            f"{self.event}.recovered", down_s=round(down_s, 3), failures=self.failures, **extra, **fields
        )
        self.since = None
        self.recovered_at = self.clock()
        self.failures = 0
        self.given_up = 0
        return True

    def gave_up(self) -> None:
        """One more message the outage cost (given back past its deadline): no line of its own."""
        self.given_up += 1

    @property
    def down(self) -> bool:
        return self.since is not None


@dataclass
class Throttled:
    """At most one log line per ``every_s`` (the others are counted and reported with the next line)."""

    every_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    last: float | None = None
    suppressed: int = 0

    def allow(self) -> bool:
        now = self.clock()
        if self.last is None or now - self.last >= self.every_s:
            self.last = now
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> int:
        count, self.suppressed = self.suppressed, 0
        return count


def log_loop_failure(exc: BaseException, outage: OutageLog, throttle: Throttled, event: str, **fields: Any) -> None:
    """A background loop's failed round, called from its ``except``: something transient (Redis or the broker
    away) is the outage's one warning; anything else a bug, its traceback at most once per ``throttle``."""
    if classify(exc) == "transient":
        outage.failed(exc, **fields)
    elif throttle.allow():
        log.exception(event, suppressed=throttle.take_suppressed(), **fields)
