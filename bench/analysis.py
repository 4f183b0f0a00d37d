"""Figures derived from a run: added latency, and the targets with holds / does not hold."""

from __future__ import annotations

from typing import Any

# The targets.
THROUGHPUT_SHARE = 0.6
P50_FACTOR = 1.5
ADDED_FACTOR = 1.5
DEADLINE_P99_MS = 30.0
SCALE_2 = 1.8
SCALE_4 = 3.2


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


def _target(name: str, measured: float | None, limit: float | None, *, at_most: bool, detail: str) -> dict[str, Any]:
    if measured is None or limit is None:
        return {"target": name, "measured": measured, "limit": limit, "ratio": None, "holds": None, "detail": detail}
    holds = measured <= limit if at_most else measured >= limit
    ratio = measured / limit if limit else None
    return {"target": name, "measured": measured, "limit": limit, "ratio": ratio, "holds": holds, "detail": detail}


def targets(results: dict[str, Any], latencies: list[int]) -> list[dict[str, Any]]:
    out = []
    for latency in latencies:
        pipe, floor = best_throughput(results, "pipeline", latency), best_throughput(results, "floor", latency)
        out.append(
            _target(
                f"pipeline throughput ≥ {THROUGHPUT_SHARE} × floor (latency {latency} ms)",
                pipe,
                THROUGHPUT_SHARE * floor if floor is not None else None,
                at_most=False,
                detail=f"pipeline {_fmt(pipe)}/s, floor {_fmt(floor)}/s, share {_ratio(pipe, floor)}",
            )
        )
    for latency in latencies:
        pipe, floor = p50(results, "pipeline", latency, 1), p50(results, "floor", latency, 1)
        out.append(
            _target(
                f"pipeline p50 at concurrency 1 ≤ {P50_FACTOR} × floor (latency {latency} ms)",
                pipe,
                P50_FACTOR * floor if floor is not None else None,
                at_most=True,
                detail=f"pipeline {_fmt(pipe)} ms, floor {_fmt(floor)} ms, factor {_ratio(pipe, floor)}",
            )
        )
    for row in added_latency(results, latencies, [1]):
        added, floor_added = row["pipeline_added"], row["floor_added"]
        out.append(
            _target(
                f"added latency over direct fan-out at concurrency 1 ≤ {ADDED_FACTOR} × the floor's "
                f"(latency {row['latency_ms']} ms)",
                added,
                ADDED_FACTOR * floor_added if floor_added is not None else None,
                at_most=True,
                detail=f"pipeline − direct {_fmt(added)} ms, floor − direct {_fmt(floor_added)} ms, "
                f"factor {_ratio(added, floor_added)}",
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
            detail=f"p99 {_fmt(p99)} ms over {deadline['answers'] if deadline else 0} answers",
        )
    )
    runs = {r["replicas"]: r for r in results.get("scale_out", {}).get("runs", [])}
    for n, factor in ((2, SCALE_2), (4, SCALE_4)):
        speedup = runs[n]["speedup"] if n in runs and 1 in runs else None
        out.append(
            _target(
                f"scale-out 1 → {n} replicas ≥ {factor}×",
                speedup,
                factor,
                at_most=False,
                detail=(
                    f"{_fmt(runs[1]['throughput'])}/s → {_fmt(runs[n]['throughput'])}/s"
                    if n in runs and 1 in runs
                    else "not measured"
                ),
            )
        )
    return out


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"
