"""``python -m bench [--quick] [--duration S] [--systems floor,direct,pipeline] [--no-…] [--cpu-rate R]
[--results-dir DIR] [--doc FILE] [--images-dir DIR]``"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from bench import analysis, machine, processes, report, tracing_cost
from bench.scenarios import Plan, run_plan, systems_of
from bench.system import Infra

ROOT = processes.ROOT


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="Benchmark the IKO pipeline against its floor.")
    p.add_argument("--quick", action="store_true", help="tiny run: short measurements, no deadline/scale-out/INFO")
    p.add_argument("--duration", type=float, help="seconds measured per run (default 8, --quick 1.5)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up per run, not measured")
    p.add_argument("--systems", default="floor,direct,pipeline", help="which systems, comma-separated")
    p.add_argument("--no-info", action="store_true", help="skip the pipeline at log level INFO")
    p.add_argument("--no-scale-out", action="store_true", help="skip the scale-out runs")
    p.add_argument("--no-deadline", action="store_true", help="skip deadline precision")
    p.add_argument("--no-observability", action="store_true", help="skip metrics off / on / tracing on")
    p.add_argument("--no-tab", action="store_true", help="skip the Valtimo tab against one lookup")
    p.add_argument("--no-fanout", action="store_true", help="skip the cost against the fragments of the answer")
    p.add_argument("--cpu-rate", type=float, help="lookups/s offered to every system for CPU per lookup (default 40)")
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--images-dir", type=Path, default=ROOT / "docs" / "benchmarks")
    return p


def plan_from(args: argparse.Namespace, run_dir: Path) -> Plan:
    plan = Plan.quick(run_dir) if args.quick else Plan(run_dir=run_dir)
    changes: dict[str, object] = {"systems": systems_of([s.strip() for s in args.systems.split(",") if s.strip()])}
    if args.duration is not None:
        changes["duration_s"] = args.duration
    if args.warmup is not None:
        changes["warmup_s"] = args.warmup
    if args.no_info:
        changes["info"] = False
    if args.no_scale_out:
        changes["scale_out"] = False
    if args.no_deadline:
        changes["deadline"] = False
    for flag, key in (("no_observability", "observability"), ("no_tab", "tab"), ("no_fanout", "fanout")):
        if getattr(args, flag):
            changes[key] = False
    if args.cpu_rate is not None:
        changes["cpu_rate"] = args.cpu_rate
    from dataclasses import replace

    return replace(plan, **changes)  # type: ignore[arg-type]


async def main_async(args: argparse.Namespace) -> int:
    infra = Infra.from_env()
    run_dir = Path(tempfile.mkdtemp(prefix="iko-bench-"))
    plan = plan_from(args, run_dir)
    started = time.monotonic()
    print(f"bench: logs in {run_dir}", flush=True)
    described = await machine.describe(infra.rabbitmq_url, infra.redis_url)
    results = await run_plan(infra, plan)
    results["machine"] = described
    # In this process, after the runs: tracing is off here as it was in every service measured.
    # It runs event loops of its own, so not on this one.
    results["tracing_off"] = await asyncio.to_thread(tracing_cost.tracing_off_cost)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = analysis.targets(results, list(plan.latencies))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    json_path = args.results_dir / f"{stamp}.json"
    doc = report.write_report(results, json_path, args.doc, args.images_dir)
    print(f"bench: {results['elapsed_s']:.0f} s; wrote {json_path} and {doc}", flush=True)
    if results["errors"]:
        print(f"bench: errors; the processes' logs stay in {run_dir}", flush=True)
        return 1
    shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
