"""A Valtimo detail tab against one lookup: the CPU the pipeline's processes spend on a tab of five widgets (five
identical calls at once, as Valtimo makes them) and on one lookup, with coalescing on and off.

``python -m bench.valtimo_tab [--tabs N] [--rate R] [--latency-ms L] [--results-dir DIR]``: each system (the stack
with coalescing on, the default, and with it off) is started on its own; it answers ``--tabs`` single lookups and
then ``--tabs`` tabs, both open loop at ``--rate`` per second, the sources answering after ``--latency-ms``. The
CPU is that of the gateway, the connectors, the assembler, the audit service, RabbitMQ and Redis (not the
simulators', not the load generator's), less what they spend idle over as long a window. Writes
``valtimo-tab-<time>.json`` with its ``targets``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench import processes
from bench.cpu import CpuMeter
from bench.pipeline import PipelineSystem
from bench.system import DEV_HEADERS, LOOKUP_PATH, Infra, lookup_body

WIDGETS = 5
# The issue's target: a five-widget tab costs at most twice one lookup's CPU.
TAB_LIMIT = 2.0


async def offered(client: httpx.AsyncClient, width: int, count: int, rate: float) -> tuple[int, int]:
    """``count`` groups of ``width`` identical calls at once, at ``rate`` groups per second; (good, all)."""
    start = time.perf_counter() + 0.05
    groups: list[asyncio.Task[list[httpx.Response | BaseException]]] = []

    async def group() -> list[httpx.Response | BaseException]:
        calls = (client.post(LOOKUP_PATH, content=lookup_body(5000)) for _ in range(width))
        return await asyncio.gather(*calls, return_exceptions=True)

    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        groups.append(asyncio.create_task(group()))
    answers = [a for g in await asyncio.gather(*groups) for a in g]
    good = sum(1 for a in answers if isinstance(a, httpx.Response) and a.status_code == 200)
    return good, len(answers)


async def measure(system: PipelineSystem, width: int, count: int, rate: float) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **dict(DEV_HEADERS)}
    limits = httpx.Limits(max_connections=width * 8, max_keepalive_connections=width * 8)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.port}", headers=headers, limits=limits) as c:
        await offered(c, width, max(3, count // 10), rate)  # warm-up: connections, the services' first calls
        meter = CpuMeter(system.cpu_groups())
        meter.start()
        good, total = await offered(c, width, count, rate)
        delta = meter.stop()
    # What the processes spend idle (sweeps, heartbeats, the broker's own timers) is not the lookups' cost: at a
    # few lookups a second it is most of the CPU. Measured over as long a quiet window and taken off, by process.
    idle = await idle_cpu(system, delta.wall)
    net = {k: max(v - idle.get(k, 0.0), 0.0) for k, v in delta.groups.items()}
    return {
        "calls_per_group": width,
        "groups": count,
        "answered_200": good,
        "calls": total,
        "wall_s": round(delta.wall, 2),
        "cpu_ms_per_group": round(sum(net.values()) / count * 1000, 2),
        "cpu_ms_per_group_with_idle": round(sum(delta.groups.values()) / count * 1000, 2),
        "cpu_ms_by_process": {k: round(v / count * 1000, 2) for k, v in sorted(net.items())},
    }


async def idle_cpu(system: PipelineSystem, wall_s: float) -> dict[str, float]:
    meter = CpuMeter(system.cpu_groups())
    meter.start()
    await asyncio.sleep(wall_s)
    delta = meter.stop()
    return {k: v * wall_s / delta.wall for k, v in delta.groups.items()}


async def tab_against_one(system: PipelineSystem, *, tabs: int, rate: float, latency_ms: int) -> dict[str, Any]:
    """On a started stack: ``tabs`` single lookups, then ``tabs`` tabs of five, and the ratio of their CPU."""
    await system.set_latency(latency_ms)
    one = await measure(system, 1, tabs, rate)
    tab = await measure(system, WIDGETS, tabs, rate)
    ratio = tab["cpu_ms_per_group"] / one["cpu_ms_per_group"] if one["cpu_ms_per_group"] else None
    return {
        "tabs": tabs,
        "rate": rate,
        "latency_ms": latency_ms,
        "widgets": WIDGETS,
        "one_lookup": one,
        "tab": tab,
        "tab_over_one": round(ratio, 2) if ratio is not None else None,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    infra = Infra.from_env()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="iko-bench-tab-") as tmp:
        for label, env in (("coalescing-on", {}), ("coalescing-off", {"IKO_GATEWAY_COALESCE_TOLERANCE_MS": "0"})):
            system = PipelineSystem(
                infra, Path(tmp), extra_env=env, label=f"tab-{label.split('-')[1]}", coalescing=label == "coalescing-on"
            )
            await system.start()
            try:
                found = await tab_against_one(system, tabs=args.tabs, rate=args.rate, latency_ms=args.latency_ms)
            finally:
                await system.stop()
            one, tab = found["one_lookup"], found["tab"]
            results[label] = {"one_lookup": one, "tab": tab, "tab_over_one": found["tab_over_one"]}
            print(
                f"{label}: one lookup {one['cpu_ms_per_group']} ms CPU, a tab of {WIDGETS} {tab['cpu_ms_per_group']}"
                f" ms ({found['tab_over_one']}x); answered {one['answered_200']}/{one['calls']},"
                f" {tab['answered_200']}/{tab['calls']}"
            )
    measured = results["coalescing-on"]["tab_over_one"]
    return {
        "kind": "valtimo-tab",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {"tabs": args.tabs, "rate": args.rate, "latency_ms": args.latency_ms, "widgets": WIDGETS},
        "results": results,
        "targets": [
            {
                "name": f"CPU of a {WIDGETS}-widget Valtimo tab / CPU of one lookup",
                "limit": TAB_LIMIT,
                "measured": measured,
                "holds": measured is not None and measured <= TAB_LIMIT,
            }
        ],
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.valtimo_tab", description=__doc__.split("\n\n")[0])
    p.add_argument("--tabs", type=int, default=60, help="single lookups, then tabs, measured (default 60)")
    p.add_argument("--rate", type=float, default=4.0, help="lookups or tabs per second (default 4)")
    p.add_argument("--latency-ms", type=int, default=20, help="the sources' latency (default 20)")
    p.add_argument("--results-dir", type=Path, default=processes.ROOT / "bench" / "results")
    args = p.parse_args()
    report = uvloop.run(run(args))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = args.results_dir / f"valtimo-tab-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
