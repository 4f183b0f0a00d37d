"""Lookups at a steady rate through the gateway while a fault is applied, every request's outcome recorded, and the
invariants of issue 14 judged per request.

The driver paces by the clock (request *i* is due at ``start + i / rate``) and records how late each was sent, so a
saturated generator is told apart from a slow system (``lag_ms``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

# Persons of the BRP test data with a plain answer (no relations in the test profile's lookups).
BSNS = ("999993653", "999990408", "999994086", "999991838", "999992557", "999990068")


@dataclass
class Outcome:
    index: int
    bsn: str
    due: float
    sent: float
    answered: float | None = None
    http_status: int | None = None
    status: str | None = None
    completed_by: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    person: str | None = None
    error: str | None = None
    body: str = ""

    @property
    def lag_ms(self) -> float:
        return (self.sent - self.due) * 1000

    @property
    def elapsed_s(self) -> float | None:
        return None if self.answered is None else self.answered - self.sent


@dataclass
class SteadyLoad:
    """``rate`` lookups per second of ``profile`` with ``timeout_ms``, spread over ``clients`` (gateways)."""

    gateways: list[str]
    headers: dict[str, str]
    rate: float = 20.0
    timeout_ms: int = 2000
    profile: str = "persoon"
    outcomes: list[Outcome] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, duration_s: float) -> list[Outcome]:
        clients = [httpx.AsyncClient(base_url=g, headers=self.headers, timeout=30) for g in self.gateways]
        try:
            start = time.monotonic()
            index = 0
            while time.monotonic() - start < duration_s and not self._stop.is_set():
                due = start + index / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                client = clients[index % len(clients)]
                outcome = Outcome(index, BSNS[index % len(BSNS)], due, time.monotonic())
                self.outcomes.append(outcome)
                self._tasks.append(asyncio.create_task(self._one(client, outcome)))
                index += 1
            await asyncio.gather(*self._tasks)
        finally:
            for client in clients:
                await client.aclose()
        return self.outcomes

    def in_flight(self) -> int:
        return sum(1 for o in self.outcomes if o.answered is None)

    async def _one(self, client: httpx.AsyncClient, outcome: Outcome) -> None:
        body = {"identifier": {"type": "bsn", "value": outcome.bsn}, "timeout_ms": self.timeout_ms}
        try:
            response = await client.post(f"/api/v1/profiles/{self.profile}/lookups", json=body)
        except httpx.HTTPError as exc:
            outcome.answered = time.monotonic()
            outcome.error = type(exc).__name__
            return
        outcome.answered = time.monotonic()
        outcome.http_status = response.status_code
        outcome.body = response.text[:500]
        if response.status_code == 200:
            answer: dict[str, Any] = response.json()
            outcome.status = answer["status"]
            outcome.completed_by = answer["completed_by"]
            outcome.sources = {k: v["status"] for k, v in answer["sources"].items()}
            brp = answer["sources"].get("brp") or {}
            outcome.person = ((brp.get("data") or {}) or {}).get("burgerservicenummer")


@dataclass(frozen=True)
class Verdict:
    sent: int
    complete: int
    partial: int
    refused: int
    failed_connection: int
    lost: int
    max_lag_ms: float
    # The latest answer past its deadline (seconds; negative: all before it).
    max_over_deadline_s: float
    violations: list[str]

    def table_row(self) -> str:
        return (
            f"| {self.sent} | {self.complete} | {self.partial} | {self.refused} | {self.failed_connection} | "
            f"{self.lost} | 0 | {self.max_over_deadline_s * 1000:.0f} | {self.max_lag_ms:.0f} |"
        )


def judge(
    outcomes: list[Outcome],
    timeout_ms: int,
    *,
    margin_s: float,
    reply_grace_s: float,
    allow_connection_errors: bool,
    failover: tuple[float, float] | None = None,
    failover_extra_s: float = 0.0,
) -> Verdict:
    """Issue 14's invariants, per request: one answer; never a 500; an answer within deadline + ``margin_s``, or a
    refusal (503 / 504, a problem) within deadline + ``reply_grace_s``; ``complete`` only with every source
    answered; the person in the answer is the one asked (no fragment of another request).

    ``failover`` (monotonic start, end): a lookup sent inside it — the broker itself failing over, where a message
    in flight on a dropped connection is published again after the reconnect — is held to the refusal's bound
    (deadline + reply grace) for its answer too, and both bounds get ``failover_extra_s`` more; outside it the
    margin applies."""
    violations: list[str] = []
    counts: Counter[str] = Counter()
    deadline_s = timeout_ms / 1000
    over = [(o.elapsed_s or 0.0) - deadline_s for o in outcomes if o.http_status == 200]
    for o in outcomes:
        where = f"#{o.index} ({o.bsn})"
        if o.answered is None:
            counts["lost"] += 1
            violations.append(f"{where}: no answer")
            continue
        elapsed = o.elapsed_s or 0.0
        if o.error is not None:
            counts["connection"] += 1
            if not allow_connection_errors:
                violations.append(f"{where}: {o.error}")
            continue
        if o.http_status == 200:
            counts[o.status or "?"] += 1
            in_failover = failover is not None and failover[0] <= o.sent <= failover[1]
            if elapsed > deadline_s + ((reply_grace_s + failover_extra_s) if in_failover else 0.0) + margin_s:
                violations.append(f"{where}: answered after {elapsed:.3f} s (deadline {deadline_s} s)")
            if o.status == "complete" and any(s == "timeout" for s in o.sources.values()):
                violations.append(f"{where}: complete with a source timed out {o.sources}")
            if o.status == "complete" and o.completed_by != "all_sources":
                violations.append(f"{where}: complete by {o.completed_by}")
            if o.person is not None and o.person != o.bsn:
                violations.append(f"{where}: the answer holds person {o.person}")
        elif o.http_status in (503, 504, 429):
            counts["refused"] += 1
            in_failover = failover is not None and failover[0] <= o.sent <= failover[1]
            if elapsed > deadline_s + reply_grace_s + (failover_extra_s if in_failover else 0.0) + margin_s:
                violations.append(f"{where}: refused after {elapsed:.3f} s")
            if "problem" not in o.body and "title" not in o.body and "message" not in o.body:
                violations.append(f"{where}: a refusal without a problem body: {o.body[:100]!r}")
        else:
            counts["other"] += 1
            violations.append(f"{where}: HTTP {o.http_status}: {o.body[:200]!r}")
    return Verdict(
        sent=len(outcomes),
        complete=counts["complete"],
        partial=counts["partial"],
        refused=counts["refused"],
        failed_connection=counts["connection"],
        lost=counts["lost"],
        max_lag_ms=max((o.lag_ms for o in outcomes), default=0.0),
        max_over_deadline_s=max(over, default=-deadline_s),
        violations=violations,
    )
