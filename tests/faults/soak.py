"""``make soak``: the stack under lookups at half its measured maximum rate for N minutes (default 10), reporting per
minute the lookups, errors, p99 latency and every process's resident memory; the report is written as markdown.

    python -m tests.faults.soak --minutes 10 [--rate R] [--report PATH]

Without ``--rate`` the maximum is measured first: closed-loop callers for ``--probe-seconds`` (each sends its next
lookup as soon as the last is answered), the rate of complete answers taken as the maximum. The broker and Redis are
``IKO_RABBITMQ_URL`` / ``IKO_REDIS_URL`` (default this machine's, as the test suite uses them); the stack runs in a
namespace of its own, removed at the end. Not part of CI: it takes the minutes it is asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from iko_stack import Stack  # noqa: E402

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack  # noqa: E402
from tests.faults.stack_checks import rss_kib  # noqa: E402
from tests.faults.steady_load import BSNS, Outcome, SteadyLoad  # noqa: E402
from tests.infra import LOCAL_RABBITMQ, LOCAL_REDIS  # noqa: E402

TIMEOUT_MS = 3000


def memory(stack: Stack) -> dict[str, int | None]:
    return {record.key: rss_kib(record.pid) for record in stack.records()}


async def measure_max_rate(url: str, seconds: float, callers: int) -> float:
    """Complete answers per second with ``callers`` closed-loop callers."""
    done = 0
    end = time.monotonic() + seconds

    async def caller(client: httpx.AsyncClient, n: int) -> None:
        nonlocal done
        i = n
        while time.monotonic() < end:
            body = {"identifier": {"type": "bsn", "value": BSNS[i % len(BSNS)]}, "timeout_ms": TIMEOUT_MS}
            i += callers
            try:
                response = await client.post("/api/v1/profiles/persoon/lookups", json=body)
            except httpx.HTTPError:
                continue
            if response.status_code == 200 and response.json().get("status") == "complete":
                done += 1

    limits = httpx.Limits(max_connections=callers, max_keepalive_connections=callers)
    async with httpx.AsyncClient(base_url=url, headers=DEV_HEADERS, timeout=30, limits=limits) as client:
        started = time.monotonic()
        await asyncio.gather(*(caller(client, n) for n in range(callers)))
        return done / (time.monotonic() - started)


@dataclass
class Minute:
    index: int
    lookups: int
    complete: int
    partial: int
    refused: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_lag_ms: float
    memory: dict[str, int | None] = field(default_factory=dict)

    def row(self) -> str:
        return (
            f"| {self.index} | {self.lookups} | {self.complete} | {self.partial} | {self.refused} | {self.errors} | "
            f"{self.p50_ms:.0f} | {self.p99_ms:.0f} | {self.max_lag_ms:.0f} |"
        )


def summarise(index: int, outcomes: list[Outcome], mem: dict[str, int | None]) -> Minute:
    answered = sorted((o.elapsed_s or 0.0) * 1000 for o in outcomes if o.http_status == 200)
    p99 = answered[min(len(answered) - 1, int(len(answered) * 0.99))] if answered else 0.0
    return Minute(
        index=index,
        lookups=len(outcomes),
        complete=sum(1 for o in outcomes if o.status == "complete"),
        partial=sum(1 for o in outcomes if o.status == "partial"),
        refused=sum(1 for o in outcomes if o.http_status in (429, 503, 504)),
        errors=sum(1 for o in outcomes if o.error is not None or o.http_status not in (200, 429, 503, 504)),
        p50_ms=statistics.median(answered) if answered else 0.0,
        p99_ms=p99,
        max_lag_ms=max((o.lag_ms for o in outcomes), default=0.0),
        memory=mem,
    )


def report(
    minutes: list[Minute], start_memory: dict[str, int | None], rate: float, max_rate: float | None, broker: str
) -> str:
    lines = [
        f"Soak run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {len(minutes)} minute(s) at {rate:.1f} lookups/s"
        + (f" (half the measured maximum of {max_rate:.1f}/s)" if max_rate is not None else " (given)")
        + f", timeout {TIMEOUT_MS} ms, profile persoon, {os.cpu_count()} CPU(s) ({platform.machine()})"
        + f", broker {broker}.",
        "",
        "| minute | lookups | complete | partial | refused | errors | p50 ms | p99 ms | generator lag max ms |",
        "|---|---|---|---|---|---|---|---|---|",
        *(m.row() for m in minutes),
        "",
        "Resident memory (VmRSS, MiB) of every process, at the start and at the end of each minute:",
        "",
        "| process | start | " + " | ".join(str(m.index) for m in minutes) + " | end / start |",
        "|---|---|" + "---|" * len(minutes) + "---|",
    ]
    for key, first in start_memory.items():
        cells = [m.memory.get(key) for m in minutes]
        last = cells[-1] if cells else None
        ratio = f"{last / first:.2f}" if first and last else "-"
        shown = " | ".join(f"{c / 1024:.1f}" if c else "gone" for c in cells)
        lines.append(f"| {key} | {(first or 0) / 1024:.1f} | {shown} | {ratio} |")
    return "\n".join(lines) + "\n"


async def soak(args: argparse.Namespace) -> int:
    broker = os.environ.get("IKO_RABBITMQ_URL") or LOCAL_RABBITMQ
    redis = os.environ.get("IKO_REDIS_URL") or LOCAL_REDIS
    stack = start_stack(broker, redis, "soak", assemblers=args.assemblers)
    try:
        max_rate = None
        rate = args.rate
        if rate is None:
            max_rate = await measure_max_rate(stack.gateway_url, args.probe_seconds, args.callers)
            rate = max(1.0, max_rate / 2)
            print(f"soak: measured maximum {max_rate:.1f} complete lookups/s; soaking at {rate:.1f}/s", flush=True)
            await asyncio.sleep(5)  # the probe's last lookups answered before the soak's first minute
        start_memory = memory(stack)
        load = SteadyLoad([stack.gateway_url], DEV_HEADERS, rate=rate, timeout_ms=TIMEOUT_MS)
        running = asyncio.create_task(load.run(duration_s=args.minutes * 60))
        t0 = time.monotonic()
        minutes: list[Minute] = []
        print("| minute | lookups | complete | partial | refused | errors | p50 ms | p99 ms | generator lag max ms |")
        for m in range(1, args.minutes + 1):
            await asyncio.sleep(max(0.0, t0 + m * 60 - time.monotonic()))
            mem = memory(stack)
            # Every lookup due in this minute has had its deadline and the reply grace to answer.
            await asyncio.sleep(TIMEOUT_MS / 1000 + 2)
            these = [o for o in list(load.outcomes) if t0 + (m - 1) * 60 <= o.due < t0 + m * 60]
            minute = summarise(m, these, mem)
            minutes.append(minute)
            rss = ", ".join(f"{k} {v / 1024:.0f}" if v else f"{k} gone" for k, v in mem.items())
            print(minute.row(), f"RSS MiB: {rss}", flush=True)
        await running
        text = report(minutes, start_memory, rate, max_rate, broker.rsplit("@", 1)[-1])
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text)
        print(text)
        print(f"soak: report written to {args.report}")
        return 0
    finally:
        await stop_stack(stack, broker, redis)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, help="lookups/s (default: half the measured maximum)")
    parser.add_argument("--probe-seconds", type=float, default=20.0, help="how long the maximum is measured")
    parser.add_argument("--callers", type=int, default=32, help="closed-loop callers while measuring the maximum")
    parser.add_argument("--assemblers", type=int, default=2)
    parser.add_argument("--report", type=Path, default=ROOT / ".run" / "soak-report.md")
    args = parser.parse_args(argv)
    if args.minutes < 1:
        parser.error("--minutes must be at least 1")
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main())
