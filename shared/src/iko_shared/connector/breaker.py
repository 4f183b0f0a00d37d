"""A circuit breaker per source: while the source is down, fail fast instead of making every lookup wait.

The breaker must judge the source, never a caller. A circuit shared by every caller of the process that any one
caller can open is a denial of service for all the others: a caller who asks with a deadline shorter than the
source ever answers in, or who asks for an identifier the source fails on (KVK answers 500 for some numbers), would
make every other caller's lookup fail with ``circuit_open``. Hence two rules.

What is a failure (the transport tells, calling ``record_*``):

- the source's own failures count: connection errors (refused, reset, unreachable), 5xx answers, and timeouts of
  calls that had at least ``min_timeout_budget_s`` to run (``record_timeout`` with the call's budget: its deadline
  minus its start);
- a timeout of a call with less budget than that says only that the caller was in a hurry: it judges nothing and
  is released, as a cancelled call is;
- any other answer, a 4xx included, is a success: the source answered.

When it opens: the breaker keeps the outcomes of the last ``window_s`` seconds (at most ``max_entries`` of them),
each tagged with the caller or callers that made the call (``None`` stands for one anonymous caller; a batched call
carries every caller in the batch, and its failure counts against each). It opens when, within the window, there
are at least ``failure_threshold`` failures, they are at least ``failure_ratio`` of the calls, and they come from at
least ``min_callers`` distinct callers. One caller, however many failures it provokes, cannot open the circuit for
the others; a failing source fails everyone's calls and is caught. ``min_callers=1`` judges every call alike: the
setting for a deployment with a single caller, where no other caller can be shut out.

Open: calls fail at once until ``reset_timeout_s`` has passed. Half-open: one probe call passes; its success closes
the breaker (and forgets the window), its failure opens it again. Plain state, an injectable clock, no I/O.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

Caller = str | None
# Who made a call, when the transport is not told: one anonymous caller.
ANONYMOUS: frozenset[Caller] = frozenset({None})


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class _Outcome:
    at: float
    failed: bool
    callers: frozenset[Caller]


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        window_s: float = 10.0,
        failure_ratio: float = 0.5,
        min_callers: int = 2,
        min_timeout_budget_s: float = 1.0,
        max_entries: int = 1024,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if min_callers < 1:
            raise ValueError("min_callers must be at least 1")
        if not 0.0 <= failure_ratio <= 1.0:
            raise ValueError("failure_ratio must be between 0 and 1")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.window_s = window_s
        self.failure_ratio = failure_ratio
        self.min_callers = min_callers
        self.min_timeout_budget_s = min_timeout_budget_s
        # A window that cannot hold the threshold's failures could never open.
        self.max_entries = max(max_entries, failure_threshold)
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._window: deque[_Outcome] = deque()
        self._failures = 0
        # Failures in the window per caller, so the distinct callers are known without a scan.
        self._failing: dict[Caller, int] = {}

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May a call go to the source now? In half-open, only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = True
            return True
        return False

    def record_success(self, callers: Iterable[Caller] = ANONYMOUS) -> None:
        if self._state is not BreakerState.CLOSED:
            # The source answered: whatever the window held is history.
            self._close()
            return
        self._add(False, callers)

    def release(self) -> None:
        """A call ended without telling anything about the source: let another probe through."""
        self._probe_in_flight = False

    def record_timeout(self, budget_s: float, callers: Iterable[Caller] = ANONYMOUS) -> None:
        """A call that timed out after ``budget_s`` seconds to run: the source's failure only if that was enough."""
        if budget_s < self.min_timeout_budget_s:
            self.release()
        else:
            self.record_failure(callers)

    def record_failure(self, callers: Iterable[Caller] = ANONYMOUS) -> None:
        self._probe_in_flight = False
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        if self._state is BreakerState.OPEN:
            # A call that went out before the circuit opened: the circuit already knows.
            return
        self._add(True, callers)
        if (
            self._failures >= self.failure_threshold
            and self._failures >= self.failure_ratio * len(self._window)
            and len(self._failing) >= self.min_callers
        ):
            self._open()

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when calls pass)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.reset_timeout_s - (self._clock() - self._opened_at))

    def window(self) -> tuple[int, int, int]:
        """Calls, failures and distinct failing callers within the window, for tests and metrics."""
        self._prune(self._clock())
        return len(self._window), self._failures, len(self._failing)

    def _add(self, failed: bool, callers: Iterable[Caller]) -> None:
        now = self._clock()
        outcome = _Outcome(now, failed, frozenset(callers) or ANONYMOUS)
        self._window.append(outcome)
        if failed:
            self._failures += 1
            for caller in outcome.callers:
                self._failing[caller] = self._failing.get(caller, 0) + 1
        self._prune(now)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._window and (self._window[0].at <= horizon or len(self._window) > self.max_entries):
            self._forget(self._window.popleft())

    def _forget(self, outcome: _Outcome) -> None:
        if not outcome.failed:
            return
        self._failures -= 1
        for caller in outcome.callers:
            left = self._failing[caller] - 1
            if left:
                self._failing[caller] = left
            else:
                del self._failing[caller]

    def _clear(self) -> None:
        self._window.clear()
        self._failures = 0
        self._failing.clear()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probe_in_flight = False
        self._clear()

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False
        self._clear()
