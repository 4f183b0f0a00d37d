"""Readiness and liveness decisions: plain functions over check results, no broker or Redis code.

Readiness: what the process needs right now answers. Each kind of service names what it needs
(``REQUIREMENTS``); a check of anything else is reported in the body but never decides. A connector needs only
the broker: a Redis outage must not take connectors out of service or restart them.

Liveness: the process cannot recover by itself. Only the consumer watchdog decides it: a subscribed queue whose
consumer is gone, while the broker connection is up, and that could not be re-attached for longer than the
watchdog's grace (see ``watchdog``). A broker that is down is not a liveness failure: the robust connection
recovers by itself, and a restart would not bring the broker back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

OK = "ok"

Probe = Callable[[], Awaitable[None]]
"""A check: returns when the dependency answers, raises (or times out) when it does not."""

REQUIREMENTS: dict[str, frozenset[str]] = {
    "connector": frozenset({"broker"}),
    "assembler": frozenset({"broker", "redis"}),
    # The audit service holds records while PostgreSQL is down (nothing is lost: they wait in the queue), but it
    # cannot do its work: not ready, so that a rollout does not proceed onto a broken store; never not-live.
    "audit": frozenset({"broker", "postgres"}),
    "gateway": frozenset({"broker", "redis"}),
}


@dataclass(frozen=True)
class Report:
    ok: bool
    checks: dict[str, str] = field(default_factory=dict)
    kind: str = "ready"

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> dict[str, Any]:
        word = self.kind if self.ok else f"not {self.kind}"
        failing = sorted(name for name, result in self.checks.items() if result != OK)
        return {"status": word, "checks": self.checks, **({"failing": failing} if failing else {})}


def decide_readiness(service_kind: str, results: Mapping[str, str]) -> Report:
    """Ready when every dependency the kind of service needs is ``ok``; a needed one not checked fails."""
    needed = REQUIREMENTS.get(service_kind, frozenset({"broker"}))
    checks = dict(results)
    for name in needed - checks.keys():
        checks[name] = "not checked"
    return Report(ok=all(checks[name] == OK for name in needed), checks=checks, kind="ready")


@dataclass(frozen=True)
class ConsumerState:
    """One subscribed queue as the watchdog last saw it."""

    attached: bool
    # Monotonic time since when it is lost while the broker connection was up; None when attached or waiting
    # for the broker.
    lost_since: float | None = None
    error: str | None = None


def decide_liveness(consumers: Mapping[str, ConsumerState], now: float, grace_s: float) -> Report:
    """Not live when a queue's consumer has been lost, with the broker up, for longer than ``grace_s``."""
    checks: dict[str, str] = {}
    ok = True
    for queue, state in consumers.items():
        if state.attached:
            checks[f"consumer {queue}"] = OK
        elif state.lost_since is None:
            checks[f"consumer {queue}"] = "waiting for the broker"
        else:
            lost_for = now - state.lost_since
            detail = f"lost for {lost_for:.0f} s" + (f" ({state.error})" if state.error else "")
            if lost_for > grace_s:
                ok = False
                checks[f"consumer {queue}"] = f"{detail}, not re-attached"
            else:
                checks[f"consumer {queue}"] = f"{detail}, re-attaching"
    # "waiting" and "re-attaching" are not failures: the body says them, the status is decided by ``ok``.
    return Report(ok=ok, checks=checks, kind="live")


async def run_checks(probes: Mapping[str, Probe], timeout_s: float = 2.0) -> dict[str, str]:
    """Every probe at once, each within ``timeout_s``: ``ok`` or what went wrong (the exception's type only)."""

    async def one(probe: Probe) -> str:
        try:
            await asyncio.wait_for(probe(), timeout=timeout_s)
        except TimeoutError:
            return "unreachable: no answer in time"
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        return OK

    names = list(probes)
    results = await asyncio.gather(*(one(probes[name]) for name in names))
    return dict(zip(names, results, strict=True))


class Health:
    """A process's readiness and liveness, answered from probes and the watchdog (results cached briefly, so a
    burst of probe requests does not knock on the dependencies)."""

    def __init__(
        self,
        service_kind: str,
        probes: Mapping[str, Probe],
        liveness: Callable[[], Report] | None = None,
        cache_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service_kind = service_kind
        self._probes = dict(probes)
        self._liveness = liveness
        self._cache_s = cache_s
        self._clock = clock
        self._last: tuple[float, Report] | None = None
        self._lock = asyncio.Lock()

    async def readiness(self) -> Report:
        async with self._lock:
            if self._last is not None and self._clock() - self._last[0] < self._cache_s:
                return self._last[1]
            report = decide_readiness(self.service_kind, await run_checks(self._probes))
            self._last = (self._clock(), report)
            return report

    def liveness(self) -> Report:
        return self._liveness() if self._liveness is not None else Report(ok=True, kind="live")
