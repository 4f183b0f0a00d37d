"""Figures derived from a run: added latency, and the targets with holds / does not hold."""

from __future__ import annotations

from typing import Any

# The targets of issue 15 (ratios against the floor measured in the same run).
CPU_FACTOR = 1.4
THROUGHPUT_SHARE = 0.75
ADDED_FACTOR = 1.5
P50_FACTOR = 1.3
MARGINAL_MS = 1.0
TAB_FACTOR = 2.0
METRICS_FACTOR = 1.05
DEADLINE_P99_MS = 10.0
SCALE_4 = 3.6


def closed_run(results: dict[str, Any], system: str, latency: int, concurrency: int) -> dict[str, Any] | None:
    by_latency = results.get("systems", {}).get(system, {}).get("by_latency", {}).get(str(latency))
    if not by_latency:
        return None
    for run in by_latency["closed"]:
        if run["concurrency"] == concurrency:
            return dict(run)
    return None


def p50(results: dict[str, Any], system: str, latency: int, concurrency: int) -> float | None:
    run = closed_run(results, system, latency, concurrency)
    value = run["latency_ms"]["p50"] if run else None
    return float(value) if value is not None else None


def best_throughput(results: dict[str, Any], system: str, latency: int) -> float | None:
    by_latency = results.get("systems", {}).get(system, {}).get("by_latency", {}).get(str(latency))
    if not by_latency or not by_latency.get("best"):
        return None
    return float(by_latency["best"]["throughput"])


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def added_latency(results: dict[str, Any], latencies: list[int], concurrencies: list[int]) -> list[dict[str, Any]]:
    """Per latency and concurrency: what the pipeline and the floor each add to the direct fan-out.

    All three do the same source work against the same simulators through the same HTTP client, so a system's
    p50 minus the direct fan-out's is what its architecture adds to what the sources cost anyway."""
    rows = []
    for latency in latencies:
        for c in concurrencies:
            pipe, direct, floor = (p50(results, s, latency, c) for s in ("pipeline", "direct", "floor"))
            rows.append(
                {
                    "latency_ms": latency,
                    "concurrency": c,
                    "pipeline_p50": pipe,
                    "direct_p50": direct,
                    "floor_p50": floor,
                    "pipeline_added": _sub(pipe, direct),
                    "floor_added": _sub(floor, direct),
                }
            )
    return rows


def fixed_rate_cpu(results: dict[str, Any], system: str, latency: int) -> float | None:
    """CPU per lookup of a system in its open loop at the plan's fixed rate."""
    by_latency = results.get("systems", {}).get(system, {}).get("by_latency", {}).get(str(latency))
    run = (by_latency or {}).get("fixed_rate")
    return float(run["cpu"]["system_ms_per_lookup"]) if run and run.get("completed_total") else None


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _target(name: str, measured: float | None, limit: float | None, *, at_most: bool, detail: str) -> dict[str, Any]:
    """``measured`` is compared with ``limit`` as they stand (a ratio with a factor, milliseconds with ms);
    ``holds`` is None when it was not measured, or when ``limit`` is None: a figure only reported."""
    holds = None if measured is None or limit is None else (measured <= limit if at_most else measured >= limit)
    return {
        "name": name,
        "limit": limit,
        "measured": None if measured is None else round(measured, 4),
        "holds": holds,
        # How the limit bounds the figure, so that a median of several runs can be judged the same way.
        "bound": "at_most" if at_most else "at_least",
        "detail": detail,
    }


def targets(results: dict[str, Any], latencies: list[int]) -> list[dict[str, Any]]:
    out = []
    rate = results.get("plan", {}).get("cpu_rate")
    for latency in latencies:
        pipe, floor = fixed_rate_cpu(results, "pipeline", latency), fixed_rate_cpu(results, "floor", latency)
        out.append(
            _target(
                f"CPU per lookup ≤ {CPU_FACTOR} × the floor's, both offered {_fmt(rate)}/s (latency {latency} ms)",
                _div(pipe, floor),
                CPU_FACTOR,
                at_most=True,
                detail=f"pipeline {_fmt(pipe, 2)} ms, floor {_fmt(floor, 2)} ms",
            )
        )
    for latency in latencies:
        pipe, floor = best_throughput(results, "pipeline", latency), best_throughput(results, "floor", latency)
        out.append(
            _target(
                f"maximum throughput (p99 ≤ 250 ms) ≥ {THROUGHPUT_SHARE} × the floor's (latency {latency} ms)",
                _div(pipe, floor),
                THROUGHPUT_SHARE,
                at_most=False,
                detail=f"pipeline {_fmt(pipe)}/s, floor {_fmt(floor)}/s",
            )
        )
    for row in added_latency(results, latencies, [1]):
        added, floor_added = row["pipeline_added"], row["floor_added"]
        out.append(
            _target(
                f"added latency over the direct fan-out at one caller ≤ {ADDED_FACTOR} × the floor's "
                f"(latency {row['latency_ms']} ms)",
                _div(added, floor_added),
                ADDED_FACTOR,
                at_most=True,
                detail=f"pipeline − direct {_fmt(added)} ms, floor − direct {_fmt(floor_added)} ms",
            )
        )
    for latency in latencies:
        pipe, floor = p50(results, "pipeline", latency, 1), p50(results, "floor", latency, 1)
        out.append(
            _target(
                f"p50 at one caller ≤ {P50_FACTOR} × the floor's (latency {latency} ms)",
                _div(pipe, floor),
                P50_FACTOR,
                at_most=True,
                detail=f"pipeline {_fmt(pipe)} ms, floor {_fmt(floor)} ms",
            )
        )
    out.extend(fanout_targets(results.get("fanout")))
    tab = results.get("systems", {}).get("pipeline", {}).get("valtimo_tab")
    out.append(
        _target(
            f"CPU of a five-widget Valtimo tab ≤ {TAB_FACTOR} × one lookup's",
            tab.get("tab_over_one") if tab else None,
            TAB_FACTOR,
            at_most=True,
            detail=(
                f"one lookup {_fmt(tab['one_lookup']['cpu_ms_per_group'])} ms, a tab "
                f"{_fmt(tab['tab']['cpu_ms_per_group'])} ms (idle taken off), each call audited"
                if tab
                else "not measured"
            ),
        )
    )
    obs = results.get("observability")
    medians = (obs or {}).get("median_cpu_ms_per_lookup", {})
    out.append(
        _target(
            f"metrics on ≤ {METRICS_FACTOR} × the CPU per lookup with metrics off",
            (obs or {}).get("metrics-on_over_off"),
            METRICS_FACTOR,
            at_most=True,
            detail=(
                f"off {_fmt(medians.get('metrics-off'), 2)} ms, on {_fmt(medians.get('metrics-on'), 2)} ms (medians); "
                f"per turn {obs.get('metrics-on_over_off_by_turn')}"
                if obs
                else "not measured"
            ),
        )
    )
    out.append(
        _target(
            "tracing on (exporting to a local collector) ÷ metrics off: reported",
            (obs or {}).get("tracing-on_over_off"),
            None,
            at_most=True,
            detail=(
                f"tracing on {_fmt(medians.get('tracing-on'), 2)} ms; per turn {obs.get('tracing-on_over_off_by_turn')}"
                if obs
                else "not measured"
            ),
        )
    )
    deadline = results.get("systems", {}).get("pipeline", {}).get("deadline")
    p99 = deadline["answer_minus_deadline_ms"]["p99"] if deadline else None
    out.append(
        _target(
            f"deadline precision: p99 of (answer − deadline) ≤ {DEADLINE_P99_MS:.0f} ms",
            p99,
            DEADLINE_P99_MS,
            at_most=True,
            detail=f"over {deadline['answers'] if deadline else 0} answers",
        )
    )
    runs = {r["replicas"]: r for r in results.get("scale_out", {}).get("runs", [])}
    speedup = runs[4]["speedup"] if 4 in runs and 1 in runs else None
    out.append(
        _target(
            f"scale-out at 4 connector replicas ≥ {SCALE_4}× (sources the bottleneck)",
            speedup,
            SCALE_4,
            at_most=False,
            detail=(
                f"{_fmt(runs[1]['throughput'])}/s → {_fmt(runs[4]['throughput'])}/s"
                if 4 in runs and 1 in runs
                else "not measured"
            ),
        )
    )
    return out


def fanout_targets(fanout: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The marginal CPU per extra fragment, 2 → 15 and 15 → 50, each ≤ 1 ms; and no larger from 15 to 50."""
    marginal = (fanout or {}).get("marginal_ms_per_fragment") or {}
    low, high = marginal.get("2->15"), marginal.get("15->50")
    return [
        _target(
            f"marginal CPU per extra fragment from 2 to 15 ≤ {MARGINAL_MS} ms",
            low,
            MARGINAL_MS,
            at_most=True,
            detail="measured at a fixed offered rate" if fanout else "not measured",
        ),
        _target(
            f"marginal CPU per extra fragment from 15 to 50 ≤ {MARGINAL_MS} ms",
            high,
            MARGINAL_MS,
            at_most=True,
            detail="measured at a fixed offered rate" if fanout else "not measured",
        ),
        _target(
            "marginal CPU per extra fragment from 15 to 50 ≤ the marginal from 2 to 15 (not worse than linear)",
            _div(high, low),
            1.0,
            at_most=True,
            detail=f"{_fmt(high, 3)} ms ÷ {_fmt(low, 3)} ms" if fanout else "not measured",
        ),
    ]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
