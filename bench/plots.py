"""The report's plots (matplotlib, Agg backend): PNG files named after what they show."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SYSTEMS = ("floor", "direct", "pipeline")
COLOURS = {"floor": "#4c72b0", "direct": "#55a868", "pipeline": "#c44e52", "pipeline_info": "#dd8452"}


def _latency_runs(results: dict[str, Any], system: str, latency: str) -> list[dict[str, Any]]:
    by_latency = results.get("systems", {}).get(system, {}).get("by_latency", {}).get(latency)
    return list(by_latency["closed"]) if by_latency else []


def latency_curves(results: dict[str, Any], out: Path, concurrency: int) -> Path | None:
    """Latency by percentile, one line per system and source latency, at one concurrency."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for system in SYSTEMS:
        for latency, style in (("0", "-"), ("20", "--")):
            for run in _latency_runs(results, system, latency):
                if run["concurrency"] == concurrency and run.get("curve"):
                    xs = [-math.log10(max(1 - frac, 1e-4)) for _, frac in run["curve"]]
                    ys = [ms for ms, _ in run["curve"]]
                    ax.plot(xs, ys, style, color=COLOURS[system], label=f"{system}, source latency {latency} ms")
                    drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks([math.log10(2), 1, 2, 3])
    ax.set_xticklabels(["p50", "p90", "p99", "p99.9"])
    ax.set_xlim(0, 3)
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Latency by percentile, closed loop, {concurrency} in flight")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / f"latency-c{concurrency}.png")


def throughput_curves(results: dict[str, Any], out: Path) -> Path | None:
    """Throughput and p99 against concurrency, per system and source latency."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    drawn = False
    for system in SYSTEMS:
        for latency, style in (("0", "o-"), ("20", "s--")):
            runs = _latency_runs(results, system, latency)
            if not runs:
                continue
            cs = [r["concurrency"] for r in runs]
            label = f"{system}, {latency} ms"
            left.plot(cs, [r["throughput"] for r in runs], style, color=COLOURS[system], label=label)
            right.plot(cs, [r["latency_ms"]["p99"] or 0 for r in runs], style, color=COLOURS[system], label=label)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("lookups in flight (closed loop)")
        ax.grid(alpha=0.3)
    left.set_ylabel("lookups/s")
    right.set_ylabel("p99 latency (ms)")
    right.set_yscale("log")
    right.axhline(250, color="grey", linestyle=":", label="p99 limit 250 ms")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle("Throughput and tail latency against concurrency")
    return _save(fig, out / "throughput.png")


def cpu_bars(results: dict[str, Any], out: Path, latency: str, concurrency: int) -> Path | None:
    """CPU milliseconds per lookup by process, stacked, per system."""
    rows: list[tuple[str, dict[str, float], float]] = []
    for system in (*SYSTEMS, "pipeline_info"):
        for run in _latency_runs(results, system, latency):
            if run["concurrency"] == concurrency:
                rows.append((system, run["cpu"]["by_process_ms_per_lookup"], run["cpu"]["sources_ms_per_lookup"]))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = sorted({k for _, groups, _ in rows for k in groups})
    cmap = plt.get_cmap("tab20")
    for i, (_system, groups, sources) in enumerate(rows):
        bottom = 0.0
        for j, name in enumerate(names):
            value = groups.get(name, 0.0)
            if value > 0:
                ax.bar(i, value, bottom=bottom, color=cmap(j % 20), label=name)
                bottom += value
        ax.bar(i, sources, bottom=bottom, color="lightgrey", hatch="//", label="sources (simulators)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=False))
    ax.legend(unique.values(), unique.keys(), fontsize=7, ncol=2)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[0] for r in rows])
    ax.set_ylabel("CPU ms per lookup")
    ax.set_title(f"CPU per lookup by process, source latency {latency} ms, {concurrency} in flight")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out / "cpu-per-lookup.png")


def deadline_histogram(results: dict[str, Any], out: Path) -> Path | None:
    deadline = results.get("systems", {}).get("pipeline", {}).get("deadline")
    if not deadline or not deadline.get("server_samples_ms"):
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.hist(deadline["server_samples_ms"], bins=40, color=COLOURS["pipeline"])
    ax.axvline(30, color="grey", linestyle=":", label="target p99 30 ms")
    ax.set_xlabel("answer time − deadline (ms)")
    ax.set_ylabel("lookups")
    ax.set_title(f"Deadline precision: BRP hanging, timeout {deadline['timeout_ms']} ms")
    ax.legend()
    return _save(fig, out / "deadline.png")


def scale_out_bars(results: dict[str, Any], out: Path) -> Path | None:
    runs = results.get("scale_out", {}).get("runs", [])
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    replicas = [r["replicas"] for r in runs]
    ax.bar([str(n) for n in replicas], [r["throughput"] for r in runs], color=COLOURS["pipeline"])
    base = runs[0]["throughput"]
    ax.plot([str(n) for n in replicas], [base * n for n in replicas], "k:", label="linear")
    ax.set_xlabel("replicas of each connector")
    ax.set_ylabel("lookups/s")
    ax.set_title(f"Scale-out at source latency {results['scale_out']['latency_ms']} ms")
    ax.legend()
    return _save(fig, out / "scale-out.png")


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw_all(results: dict[str, Any], out: Path) -> dict[str, Path]:
    reported = [int(c) for c in results["plan"]["reported"]]
    latency = str(results["plan"]["latencies"][0])
    drawn = {
        "latency_c1": latency_curves(results, out, min(reported)),
        "latency_c32": latency_curves(results, out, max(reported)),
        "throughput": throughput_curves(results, out),
        "cpu": cpu_bars(results, out, latency, max(reported)),
        "deadline": deadline_histogram(results, out),
        "scale_out": scale_out_bars(results, out),
    }
    return {k: v for k, v in drawn.items() if v is not None}
