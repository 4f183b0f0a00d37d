"""Flame graphs of the pipeline's services under a steady load (``make flame``, ``python -m bench.flame``).

The stack of ``make bench`` (the two-source benchmark profile, sources at ``--latency-ms``) is offered ``--rate``
lookups a second (open loop) while py-spy samples each service's process for ``--duration`` seconds, without
stopping it (``--nonblocking``), idle frames left out. One SVG per service in ``--out`` (``docs/benchmarks/``):
``flame-<service>.svg``, its width the CPU the service spent, by call stack."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import uvloop

from bench import processes
from bench.loadgen import open_loop
from bench.pipeline import PipelineSystem
from bench.system import Infra

SUFFIX = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}
SERVICES = ("gateway", "assembler", "brp-connector", "zgw-connector", "audit")


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(processes.python()).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: run `make venv`")
    return found


async def record(args: argparse.Namespace) -> list[Path]:
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="iko-flame-") as tmp:
        system = PipelineSystem(Infra.from_env(), Path(tmp), label="flame")
        await system.start()
        try:
            await system.set_latency(args.latency_ms)
            target = system.target()
            await open_loop(target, args.rate, 3.0, 1.0)  # warm: connections, caches, the first calls
            pids = {name: pids[0] for name, pids in system.cpu_groups().items() if name in SERVICES}
            samplers = {
                name: await asyncio.create_subprocess_exec(
                    py_spy(),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(int(args.duration)),
                    "--rate",
                    str(args.sample_rate),
                    "--nonblocking",
                    "--format",
                    args.format,
                    "--output",
                    str(args.out / f"flame-{name}.{SUFFIX.get(args.format, args.format)}"),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                for name, pid in pids.items()
            }
            load = await open_loop(target, args.rate, args.duration + 2.0, 0.5)
            for name, sampler in samplers.items():
                _, err = await sampler.communicate()
                if sampler.returncode != 0:
                    print(f"flame: py-spy failed for {name}: {err.decode(errors='replace')[-400:]}", file=sys.stderr)
            print(
                f"flame: {load.completed_in_window} lookups at {args.rate}/s offered, {load.ok} good,"
                f" {load.bad} bad, {load.errors} errors"
            )
        finally:
            await system.stop()
    suffix = SUFFIX.get(args.format, args.format)
    return [args.out / f"flame-{name}.{suffix}" for name in SERVICES if (args.out / f"flame-{name}.{suffix}").exists()]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.flame", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rate", type=float, default=25.0, help="lookups/s offered (default 25: below the maximum while sampled)"
    )
    p.add_argument("--duration", type=float, default=20.0, help="seconds sampled (default 20)")
    p.add_argument("--latency-ms", type=int, default=0, help="the sources' latency (default 0)")
    p.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--out", type=Path, default=processes.ROOT / "docs" / "benchmarks")
    p.add_argument("--format", default="flamegraph", help="py-spy's output format (default flamegraph; raw: folded)")
    args = p.parse_args()
    for path in uvloop.run(record(args)):
        print(f"written: {path}")


if __name__ == "__main__":
    main()
