"""The load generator: a closed loop at a set concurrency and an open loop at a set rate.

In the open loop every request has an intended send time (``start + i / rate``) and its latency is measured
from that time, not from when it could actually be sent: when the system under test stalls, the requests that
should have gone out meanwhile count the stall in full (no coordinated omission). In the closed loop each of
``concurrency`` callers sends its next request when the previous one is answered; its latency is the service
time, which is what a closed loop can honestly report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.http1 import Connection, build_request
from bench.stats import Summary, histogram_points

# How long to wait for the answers in flight when a run ends, before they count as errors.
DRAIN_S = 10.0


@dataclass(frozen=True)
class Target:
    """One HTTP request, sent over and over: where, and what counts as a good answer."""

    host: str
    port: int
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    judge: Callable[[int, bytes], bool] = field(default=lambda status, _body: status == 200)
    keep_bodies: bool = False

    def request(self) -> bytes:
        headers = {"Content-Type": "application/json", **dict(self.headers)}
        return build_request(self.host, self.port, "POST", self.path, self.body, headers)


@dataclass
class RunResult:
    """One measurement. Times are ``time.perf_counter()`` seconds; latencies of the measured window only."""

    mode: str
    concurrency: int | None
    rate: float | None
    window_s: float
    latencies: list[float] = field(default_factory=list)
    service_times: list[float] = field(default_factory=list)
    ok: int = 0
    bad: int = 0
    errors: int = 0
    # Good answers completed inside the measured window, and all requests completed during the whole run.
    completed_in_window: int = 0
    completed_total: int = 0
    bodies: list[tuple[float, float, bytes]] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.completed_in_window / self.window_s if self.window_s > 0 else 0.0

    def summary(self) -> Summary:
        return Summary.of(self.latencies)

    def to_json(self, curve: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "window_s": round(self.window_s, 3),
            "throughput": round(self.throughput, 2),
            "ok": self.ok,
            "bad": self.bad,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "completed_total": self.completed_total,
            "latency_ms": self.summary().to_json(),
        }
        if self.mode == "open":
            out["service_time_ms"] = Summary.of(self.service_times).to_json()
        if curve:
            out["curve"] = histogram_points(self.latencies)
        return out


class _Recorder:
    def __init__(self, target: Target, result: RunResult, window: tuple[float, float]) -> None:
        self.target = target
        self.result = result
        self.window = window

    def record(self, intended: float, sent: float, done: float, status: int, body: bytes) -> None:
        res = self.result
        res.completed_total += 1
        good = self.target.judge(status, body)
        if self.window[0] <= done <= self.window[1] and good:
            res.completed_in_window += 1
        if intended < self.window[0] or intended > self.window[1]:
            return
        res.latencies.append(done - intended)
        res.service_times.append(done - sent)
        if good:
            res.ok += 1
        else:
            res.bad += 1
            kind = f"http_{status}"
            res.error_kinds[kind] = res.error_kinds.get(kind, 0) + 1
        if self.target.keep_bodies:
            res.bodies.append((intended, done, body))

    def failed(self, intended: float, exc: BaseException) -> None:
        if self.window[0] <= intended <= self.window[1]:
            self.result.errors += 1
            kind = type(exc).__name__
            self.result.error_kinds[kind] = self.result.error_kinds.get(kind, 0) + 1


async def closed_loop(target: Target, concurrency: int, duration_s: float, warmup_s: float = 1.0) -> RunResult:
    """``concurrency`` callers, each with its own connection, for ``warmup_s + duration_s``."""
    request = target.request()
    start = time.perf_counter()
    window = (start + warmup_s, start + warmup_s + duration_s)
    result = RunResult("closed", concurrency, None, duration_s)
    rec = _Recorder(target, result, window)

    async def caller() -> None:
        conn = Connection(target.host, target.port)
        try:
            while time.perf_counter() < window[1]:
                sent = time.perf_counter()
                try:
                    status, body = await conn.send(request)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                    rec.failed(sent, exc)
                    await conn.close()
                    await asyncio.sleep(0.01)
                    continue
                rec.record(sent, sent, time.perf_counter(), status, body)
        finally:
            await conn.close()

    tasks = [asyncio.create_task(caller()) for _ in range(concurrency)]
    await _finish(tasks, window[1] + DRAIN_S)
    return result


async def open_loop(
    target: Target, rate: float, duration_s: float, warmup_s: float = 1.0, max_outstanding: int = 2048
) -> RunResult:
    """Requests at ``rate`` per second on a fixed schedule; latency from each request's intended send time."""
    request = target.request()
    idle: list[Connection] = []
    limit = asyncio.Semaphore(max_outstanding)
    start = time.perf_counter() + 0.05
    total = int(rate * (warmup_s + duration_s))
    window = (start + warmup_s, start + warmup_s + duration_s)
    result = RunResult("open", None, rate, duration_s)
    rec = _Recorder(target, result, window)
    tasks: set[asyncio.Task[None]] = set()

    async def one(intended: float) -> None:
        try:
            conn = idle.pop() if idle else Connection(target.host, target.port)
            sent = time.perf_counter()
            try:
                status, body = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                rec.failed(intended, exc)
                await conn.close()
                return
            rec.record(intended, sent, time.perf_counter(), status, body)
            idle.append(conn)
        finally:
            limit.release()

    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await limit.acquire()
        task = asyncio.create_task(one(intended))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await _finish(list(tasks), time.perf_counter() + DRAIN_S)
    for conn in idle:
        await conn.close()
    return result


async def _finish(tasks: list[asyncio.Task[None]], until: float) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, until - time.perf_counter()))
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
