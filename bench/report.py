"""Writes a run's figures: ``bench/results/<date>.json`` and ``docs/benchmarks.md`` with its plots.

``docs/benchmarks.md`` is regenerated on every run; the hand-written part between ``<!-- notes -->`` and
``<!-- /notes -->`` is kept as it is.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import orjson

from bench import analysis, plots, tracing_cost

NOTES_START = "<!-- notes -->"
NOTES_END = "<!-- /notes -->"
NOTES_PLACEHOLDER = (
    "To be written by the lead: which optimisations were made, and what each bought in the figures above "
    "(compare this run's JSON with an earlier one in `bench/results/`)."
)
SYSTEM_TITLES = {
    "floor": "floor (bare aio-pika + redis-py)",
    "direct": "direct fan-out (one process, httpx)",
    "pipeline": "IKO pipeline (log level WARNING)",
    "pipeline_info": "IKO pipeline (log level INFO)",
}


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    return path


def keep_notes(existing: str | None) -> str:
    """The hand-written section of an earlier ``benchmarks.md``, markers included, or the placeholder."""
    if existing:
        match = re.search(re.escape(NOTES_START) + r".*?" + re.escape(NOTES_END), existing, flags=re.DOTALL)
        if match:
            return match.group(0)
    return f"{NOTES_START}\n{NOTES_PLACEHOLDER}\n{NOTES_END}"


def _n(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _closed(results: dict[str, Any], system: str, latency: int, c: int) -> dict[str, Any] | None:
    return analysis.closed_run(results, system, latency, c)


def _systems(results: dict[str, Any]) -> list[str]:
    return [s for s in ("floor", "direct", "pipeline", "pipeline_info") if s in results.get("systems", {})]


def _latencies(results: dict[str, Any]) -> list[int]:
    return [int(x) for x in results["plan"]["latencies"]]


def latency_section(results: dict[str, Any]) -> str:
    reported = [int(c) for c in results["plan"]["reported"]]
    header = ["system", "source latency"]
    for c in reported:
        header += [f"c={c} p50", f"c={c} p95", f"c={c} p99"]
    rows = []
    for latency in _latencies(results):
        for system in _systems(results):
            row = [SYSTEM_TITLES[system], f"{latency} ms"]
            present = False
            for c in reported:
                run = _closed(results, system, latency, c)
                lat = run["latency_ms"] if run else {}
                present = present or run is not None
                row += [_n(lat.get("p50")), _n(lat.get("p95")), _n(lat.get("p99"))]
            if present:
                rows.append(row)
    return _table(header, rows)


def throughput_section(results: dict[str, Any]) -> str:
    fractions = [float(f) for f in results["plan"]["open_fractions"]]
    header = [
        "system",
        "source latency",
        "max lookups/s (p99 ≤ 250 ms)",
        "at in flight",
        *(f"open loop at {f:.0%}: rate → done/s, p50 / p99" for f in fractions),
        "CPU ms/lookup (system)",
        "CPU ms/lookup (sources)",
    ]
    rows = []
    for latency in _latencies(results):
        for system in _systems(results):
            data = results["systems"][system].get("by_latency", {}).get(str(latency))
            if not data:
                continue
            best = data.get("best") or {}
            opened = {float(o["fraction"]): o for o in data.get("open") or []}
            at = best.get("concurrency")
            best_run = _closed(results, system, latency, at) if at else None
            cpu = best_run["cpu"] if best_run else {}
            rows.append(
                [
                    SYSTEM_TITLES[system],
                    f"{latency} ms",
                    _n(best.get("throughput")),
                    str(at) if at else "—",
                    *(_open_cell(opened.get(f)) for f in fractions),
                    _n(cpu.get("system_ms_per_lookup"), 2),
                    _n(cpu.get("sources_ms_per_lookup"), 2),
                ]
            )
    return _table(header, rows)


def _open_cell(run: dict[str, Any] | None) -> str:
    if not run:
        return "—"
    lat = run["latency_ms"]
    return f"{_n(run['rate'], 0)} → {_n(run['throughput'], 0)}/s, {_n(lat['p50'])} / {_n(lat['p99'])}"


def cpu_section(results: dict[str, Any], latency: int, c: int) -> str:
    rows = []
    for system in _systems(results):
        run = _closed(results, system, latency, c)
        if not run:
            continue
        cpu = run["cpu"]
        by_process = sorted(cpu["by_process_ms_per_lookup"].items(), key=lambda kv: -kv[1])
        parts = ", ".join(f"{k} {v:.2f}" for k, v in by_process)
        rows.append(
            [
                SYSTEM_TITLES[system],
                _n(cpu["system_ms_per_lookup"], 2),
                parts,
                _n(cpu["sources_ms_per_lookup"], 2),
                f"{cpu['load_generator_s']:.1f} / {cpu['other_s']:.1f} / {cpu['wall_s']:.1f}",
            ]
        )
    header = [
        "system",
        "CPU ms/lookup",
        "by process (ms/lookup)",
        "sources ms/lookup",
        "load generator / other processes / wall (s)",
    ]
    return _table(header, rows)


def added_section(results: dict[str, Any]) -> str:
    reported = [int(c) for c in results["plan"]["reported"]]
    rows = []
    for row in analysis.added_latency(results, _latencies(results), reported):
        rows.append(
            [
                f"{row['latency_ms']} ms",
                str(row["concurrency"]),
                _n(row["pipeline_p50"]),
                _n(row["direct_p50"]),
                _n(row["floor_p50"]),
                _n(row["pipeline_added"]),
                _n(row["floor_added"]),
            ]
        )
    header = [
        "source latency",
        "in flight",
        "pipeline p50",
        "direct p50",
        "floor p50",
        "pipeline − direct",
        "floor − direct",
    ]
    return _table(header, rows)


def deadline_section(results: dict[str, Any]) -> str:
    d = results.get("systems", {}).get("pipeline", {}).get("deadline")
    if not d:
        return "Not measured in this run."
    srv, cli = d["answer_minus_deadline_ms"], d["client_elapsed_minus_timeout_ms"]
    table = _table(
        ["measure", "p50", "p95", "p99", "max"],
        [
            ["answer − deadline (`completed_at − requested_at − timeout`)"]
            + [_n(srv[k]) for k in ("p50", "p95", "p99", "max")],
            ["client elapsed − timeout"] + [_n(cli[k]) for k in ("p50", "p95", "p99", "max")],
        ],
    )
    return (
        f"{d['answers']} lookups with `timeout_ms` {d['timeout_ms']} while the BRP simulator hangs, "
        f"{d['concurrency']} in flight; {d['partial']} answered `partial`. The connectors' circuit breaker is set to "
        "1000 failures in the benchmark stack (`IKO_CONNECTOR_CIRCUIT_FAILURES`, as the end-to-end tests do): "
        "otherwise, after a few timeouts, the BRP connector answers `circuit_open` at once and no lookup waits for "
        f"its deadline. Milliseconds:\n\n{table}"
    )


def scale_section(results: dict[str, Any]) -> str:
    s = results.get("scale_out")
    if not s:
        return "Not measured in this run."
    rows = [
        [
            str(r["replicas"]),
            _n(r["throughput"]),
            _n(r.get("speedup"), 2),
            _n(r["latency_ms"]["p50"]),
            _n(r["latency_ms"]["p99"]),
            str(r["bad"] + r["errors"]),
            _n(r["cpu"]["system_ms_per_lookup"], 2),
        ]
        for r in s["runs"]
    ]
    table = _table(
        ["replicas of each connector", "lookups/s", "speed-up", "p50 ms", "p99 ms", "not complete", "CPU ms/lookup"],
        rows,
    )
    return (
        f"Source latency {s['latency_ms']} ms, `IKO_CONNECTOR_PREFETCH={s['prefetch']}` (one connector process "
        f"carries at most {s['prefetch']} lookups), {s['concurrency']} lookups in flight (closed loop), "
        f"`timeout_ms` {s['timeout_ms']}; only complete answers count.\n\n{table}"
    )


def retention_section(results: dict[str, Any]) -> str:
    pipe = results.get("systems", {}).get("pipeline", {})
    probe = None
    for data in pipe.get("by_latency", {}).values():
        for run in data["closed"]:
            if "retention" in run:
                probe = (data["latency_ms"], run["concurrency"], run["retention"])
    left = pipe.get("keys_left")
    lines = []
    if probe:
        latency, c, r = probe
        lines.append(
            _table(
                ["measure", "value"],
                [
                    ["run watched", f"source latency {latency} ms, {c} in flight"],
                    ["peak request hashes (`<ns>:asm:req:*`)", str(r["peak_request_keys"])],
                    ["peak `used_memory` − before the run", f"{r['peak_used_memory_delta'] / 1024:.1f} KiB"],
                    ["per in-flight lookup (from `used_memory`)", _kib(r["used_memory_delta_per_in_flight"])],
                    [
                        "one request hash (`MEMORY USAGE`, mean / max)",
                        f"{_kib(r['request_hash_bytes_mean'])} / {_kib(r['request_hash_bytes_max'])}",
                    ],
                ],
            )
        )
    if left is not None:
        others = [k for k in left["namespace_keys"] if ":asm:req:" not in k]
        lines.append(
            f"After the run: **{left['request_keys']} request keys** of the namespace left in Redis "
            f"({'holds' if left['request_keys'] == 0 else 'does not hold'}: must be 0). Other keys of the "
            f"namespace: {', '.join(f'`{k}`' for k in others) if others else 'none'} (shared sets of request ids "
            "and counters, no fetched data)."
        )
    return "\n\n".join(lines) if lines else "Not measured in this run."


def _kib(value: Any) -> str:
    return "—" if value is None else f"{value / 1024:.1f} KiB"


def tracing_section(results: dict[str, Any]) -> str:
    cost = results.get("tracing_off")
    if not cost:
        return "Not measured in this run (`python -m bench.tracing_cost` measures it alone)."
    latency = _latencies(results)[0]
    c32 = _closed(results, "pipeline", latency, 32) if "pipeline" in results.get("systems", {}) else None
    return tracing_cost.tracing_off_section(cost, c32["cpu"]["system_ms_per_lookup"] if c32 else None)


def info_section(results: dict[str, Any]) -> str:
    if "pipeline_info" not in results.get("systems", {}):
        return "Not measured in this run: every pipeline figure above is at `IKO_LOG_LEVEL=WARNING`."
    latency = _latencies(results)[0]
    rows = []
    for system in ("pipeline", "pipeline_info"):
        c1 = _closed(results, system, latency, 1)
        c32 = _closed(results, system, latency, 32)
        best = results["systems"][system]["by_latency"][str(latency)].get("best") or {}
        rows.append(
            [
                SYSTEM_TITLES[system],
                _n(c1["latency_ms"]["p50"]) if c1 else "—",
                _n(c32["latency_ms"]["p50"]) if c32 else "—",
                _n(best.get("throughput")),
                _n(c32["cpu"]["system_ms_per_lookup"], 2) if c32 else "—",
            ]
        )
    return (
        f"The figures above are at `IKO_LOG_LEVEL=WARNING`. At the default `INFO` every lookup writes log lines in "
        f"every service; source latency {latency} ms:\n\n"
        + _table(["pipeline", "c=1 p50 ms", "c=32 p50 ms", "max lookups/s", "CPU ms/lookup at c=32"], rows)
    )


def targets_section(results: dict[str, Any]) -> str:
    rows = []
    for t in results.get("targets") or analysis.targets(results, _latencies(results)):
        if t["limit"] is None:
            verdict = "reported" if t["measured"] is not None else "not measured"
        else:
            verdict = "not measured" if t["holds"] is None else ("**holds**" if t["holds"] else "**does not hold**")
        rows.append([t["name"], _n(t["limit"], 2), _n(t["measured"], 2), verdict, t["detail"]])
    return _table(["target", "limit", "measured", "verdict", "figures"], rows)


def fixed_rate_section(results: dict[str, Any]) -> str:
    rows = []
    for latency in _latencies(results):
        for system in _systems(results):
            run = results["systems"][system]["by_latency"].get(str(latency), {}).get("fixed_rate")
            if not run:
                continue
            cpu = run["cpu"]
            by_process = ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(cpu["by_process_ms_per_lookup"].items(), key=lambda kv: -kv[1])
            )
            lat = run["latency_ms"]
            rows.append(
                [
                    SYSTEM_TITLES.get(system, system),
                    f"{latency} ms",
                    f"{_n(run['rate'])} → {_n(run['throughput'])}/s",
                    f"{_n(lat['p50'])} / {_n(lat['p99'])}",
                    _n(cpu["system_ms_per_lookup"], 2),
                    by_process,
                ]
            )
    return _table(
        ["system", "source latency", "offered → done", "p50 / p99 ms", "CPU ms/lookup", "by process (ms/lookup)"], rows
    )


def fanout_section(results: dict[str, Any]) -> str:
    fanout = results.get("fanout")
    if not fanout:
        return "Not measured in this run."
    rows = []
    for run in fanout.get("runs", []):
        single = run.get("single_caller", {}).get("latency_ms", {})
        rows.append(
            [
                str(run["fragments"]),
                _n(run.get("cpu_ms_per_lookup"), 2),
                _n(single.get("p50")),
                _n(single.get("p99")),
                str(run.get("open_loop", {}).get("bad", "—"))
                + " / "
                + str(run.get("open_loop", {}).get("errors", "—")),
            ]
        )
    marginal = fanout.get("marginal_ms_per_fragment", {})
    return (
        _table(
            ["fragments", "CPU ms/lookup (open loop)", "p50 ms at 1 caller", "p99 ms at 1 caller", "bad / errors"], rows
        )
        + f"\n\nMarginal CPU per extra fragment: 2 → 15: **{_n(marginal.get('2->15'), 3)} ms**, 15 → 50: "
        f"**{_n(marginal.get('15->50'), 3)} ms**."
    )


def tab_section(results: dict[str, Any]) -> str:
    tab = results.get("systems", {}).get("pipeline", {}).get("valtimo_tab")
    if not tab:
        return "Not measured in this run."
    rows = []
    for label, key in (("one lookup", "one_lookup"), (f"a tab of {tab['widgets']} identical calls", "tab")):
        m = tab[key]
        rows.append(
            [
                label,
                f"{m['answered_200']} / {m['calls']}",
                _n(m["cpu_ms_per_group"], 2),
                ", ".join(f"{k} {v:.2f}" for k, v in sorted(m["cpu_ms_by_process"].items(), key=lambda kv: -kv[1])),
            ]
        )
    return (
        f"A stack of its own with coalescing on (the default; the other stacks here run with it off, as their load "
        f"generator repeats one lookup), {tab['tabs']} single lookups and then {tab['tabs']} tabs "
        f"of {tab['widgets']} identical calls at once (as Valtimo's widgets make them), open loop at "
        f"{_n(tab['rate'])} per second, sources at {tab['latency_ms']} ms. CPU of the system's processes less what "
        "they spend idle over as long a window (at a few lookups a second the idle timers are a large share).\n\n"
        + _table(["calls", "answered 200", "CPU ms (idle taken off)", "by process"], rows)
        + f"\n\nA tab costs **{_n(tab['tab_over_one'], 2)}×** one lookup; each of its calls is authorised, counted "
        "and audited on its own."
    )


def observability_section(results: dict[str, Any]) -> str:
    obs = results.get("observability")
    if not obs:
        return "Not measured in this run."
    rows = []
    for label, runs in obs["runs"].items():
        rows.append(
            [
                label,
                ", ".join(_n(r["cpu_ms_per_lookup"], 2) for r in runs),
                _n(obs["median_cpu_ms_per_lookup"].get(label), 2),
                "1.00" if label == "metrics-off" else _n(obs.get(f"{label}_over_off"), 3),
            ]
        )
    return (
        f"Three stacks side by side (metrics off: `IKO_METRICS_ENABLED=false`; metrics on, the default; tracing on, "
        f"exporting every span over OTLP/HTTP to a local collector, `bench/otlp_sink.py`), measured in turns at "
        f"{_n(obs['rate'])} lookups/s offered, sources at {obs['latency_ms']} ms, the other two paused. The ratio "
        "is taken per turn (figures seconds apart) and its median reported.\n\n"
        + _table(["variant", "CPU ms/lookup per turn", "median", "÷ metrics off (median of turns)"], rows)
        + (f"\n\nThe collector's own count: `{obs['collector']}`." if obs.get("collector") else "")
    )


def machine_section(machine: dict[str, Any]) -> str:
    return _table(
        ["", ""],
        [
            ["CPU", f"{machine.get('cpu_model')} × {machine.get('cores')} cores"],
            ["memory", f"{machine.get('memory_gib')} GiB"],
            ["kernel / Python", f"{machine.get('kernel')} / {machine.get('python')}"],
            ["RabbitMQ / Redis", f"{machine.get('rabbitmq')} / {machine.get('redis')}"],
            ["load average at start", " ".join(machine.get("loadavg_at_start", []))],
            ["date (UTC)", str(machine.get("date"))],
        ],
    )


def _img(images: dict[str, Path], key: str, doc: Path, alt: str) -> str:
    path = images.get(key)
    if path is None:
        return ""
    return f"\n\n![{alt}]({os.path.relpath(path, doc.parent)})"


def render(results: dict[str, Any], doc: Path, images: dict[str, Path], notes: str, json_path: Path) -> str:
    plan = results["plan"]
    machine = results.get("machine", {})
    errors = results.get("errors") or {}
    json_rel = os.path.relpath(json_path, doc.parent)
    reported = " and ".join(str(c) for c in plan["reported"])
    fractions = " and ".join(f"{f:.0%}" for f in plan["open_fractions"])
    parts = [
        "# IKO benchmarks",
        "",
        "A broker between the gateway and the sources costs hops. This page answers, from one run on one machine, "
        "how much IKO's event-driven pipeline adds to what the sources cost anyway and how many lookups it "
        "carries — side by side with **the floor** (the same hops and the same source work done by bare aio-pika "
        "and redis-py, nothing else) and with **the direct fan-out** (what a team would write instead: one process "
        "calling the sources in parallel).",
        "",
        f"Generated by `make bench` (`python -m bench`) on {machine.get('date', '?')}; every figure comes from "
        f"[`{json_rel}`]({json_rel}). Do not edit this file by hand except between the notes markers at the end: "
        "the next run rewrites the rest.",
        "",
        "## The machine",
        "",
        machine_section(machine),
        "",
        "The machine was not idle: other work ran on it meanwhile (the *other processes* column below shows how "
        "much CPU it took during each measurement). On two cores the load generator itself also competes with "
        "the system it measures. Compare the systems with each other within this run, not with runs elsewhere.",
        "",
        "## What was measured, and how",
        "",
        "- **Floor** (`bench/floor/`): a gateway process takes the lookup over HTTP and publishes it, with its BSN, "
        "once on a headers exchange; two connector worker processes (BRP, ZGW) each do their source's part of the "
        "same source work as the direct fan-out (the same code, `bench/sources.py`) against the BRP and ZGW "
        "simulators and publish a fragment with the data on a direct exchange; an assembler process does the "
        "pipeline's Redis work per lookup (one Lua call to register, one per fragment, one to finish: HSET / "
        "HINCRBY / ZADD / DEL as `assembler.lua` does) and replies to the gateway's own reply queue. Quorum work "
        "queues, persistent messages, publisher confirms and acks after the work, as in the pipeline; no "
        "validation, no logging, no framework. Before it answers, the floor's gateway publishes an audit record of "
        "the disclosure to a quorum queue and waits for the broker's confirm, as every compliant design must (an "
        "audit process acks the records; storing them is beyond the floor). Each role is its own OS process, in a "
        "namespace of its own that is deleted afterwards.",
        "- **Direct fan-out** (`bench/direct.py`): one process serving the same endpoint, calling the BRP and ZGW "
        "simulators in parallel.",
        "- **Source work** (`bench/sources.py`, one module for the direct fan-out and the floor's workers): "
        "`POST /personen` (RaadpleegMetBurgerservicenummer with the benchmark profile's fields; concurrent lookups "
        "batched into one call of up to 20 BSNs by the BRP connector's own `RaadpleegBatcher`) and "
        "`POST /zaken/api/v1/zaken/_zoek` with the ZGW connector's JWT; each zaak gets its zaaktype's name from "
        "a per-process catalogue cache (and its status too when the profile asks `include: [status]`, which the "
        "shipped profile does not). That is the source work of the pipeline's connectors for the benchmark profile.",
        "- **HTTP client to the sources**: all three systems use the same one, `httpx.AsyncClient` on "
        "httpx-aiohttp's `AiohttpTransport` (aiohttp's connection pool, through IKO's `SourceTransport`), one "
        "pooled client per source with the connectors' `max_connections`; the direct fan-out and the floor leave "
        "out the connectors' retries and circuit breaker. The comparison is about the architecture, not the "
        "HTTP client.",
        "- **IKO pipeline**: the real stack (`scripts/iko_stack.py`: simulators, assembler, three connectors, "
        "gateway, each its own process) in its own namespace, dev mode on, `IKO_GATEWAY_RATE_LIMIT_PER_MINUTE=0`, "
        "`IKO_GATEWAY_COALESCE_TOLERANCE_MS=0` (the load generator repeats one lookup: with coalescing on, identical "
        "calls in flight at once would share runs and the figures would be of fewer runs than lookups), "
        "`IKO_LOG_LEVEL=WARNING`, `IKO_CONNECTOR_CIRCUIT_FAILURES=1000`; "
        "`POST /api/v1/profiles/bench-persoon/lookups` with the dev key, purpose `demo`, BSN 999993653: "
        "`bench/profiles/bench-persoon.yaml` is the shipped persoon profile's two root sources (BRP with the same "
        "fields, ZGW zaken) and a view of them, without its relations and other sources, so the pipeline does the "
        "same source work as the floor and the direct fan-out (which read their fields from that file). The "
        "stack's audit service stores every record in PostgreSQL (PostgreSQL's own CPU is not counted).",
        "- **Source latency** 0 and 20 ms: set on the BRP and ZGW simulators (`PUT /__sandbox__/behaviour`), for "
        "all three systems alike.",
        f"- **Load** (`bench/loadgen.py`): the harness's own asyncio load generator with a minimal keep-alive "
        f"HTTP/1.1 client (`bench/http1.py`), the same for all three systems. Closed loop: N callers, each sending "
        f"its next lookup when the previous one is answered ({plan['warmup_s']} s warm-up, then "
        f"{plan['duration_s']} s measured, concurrencies {', '.join(map(str, plan['concurrencies']))}, stopping "
        f"once p99 passes {plan['p99_limit_ms']:.0f} ms beyond {max(plan['reported'])}; then "
        f"{plan.get('refine_steps', 0)} more run(s) at the geometric middle between the highest concurrency within "
        "that p99 and the next one past it, as the maximum throughput would otherwise be the ladder's). The three "
        "systems run side by side (all started before the first measurement) and, for each source latency, their "
        "single-caller runs come first, back to back, then each system's ladder: the figures the targets compare "
        "are measured close together, as this machine's speed drifts over minutes. While one system is measured "
        "the others' processes (and their simulators) are stopped (SIGSTOP), so their idle timers take no CPU "
        "from it. Open loop: "
        "lookups on a "
        "fixed schedule at "
        f"{fractions} of the best closed-loop throughput, latency measured from each lookup's "
        "*intended* send time, so a stall counts in full for every lookup that should have gone out meanwhile "
        "(no coordinated omission). Percentiles are nearest-rank over every sample. A good answer is a 200 with "
        "`status: complete` and no source in error or timed out; latencies cover every answer.",
        "- **CPU** (`bench/cpu.py`): utime + stime from `/proc/<pid>/stat` before and after each measurement, "
        "summed over every process of the system under test — its own processes, RabbitMQ's `beam.smp` and "
        "`redis-server` — and divided by the lookups completed. The simulators are the sources and are reported "
        "apart. RabbitMQ and Redis are shared with anything else on the machine.",
        "",
        "## Latency",
        "",
        f"Closed loop, {reported} lookups in flight; milliseconds.",
        "",
        latency_section(results),
        _img(images, "latency_c1", doc, "latency by percentile, fewest in flight"),
        _img(images, "latency_c32", doc, "latency by percentile, most in flight"),
        "",
        "## Throughput",
        "",
        "The most lookups per second any closed-loop concurrency carried with p99 under 250 ms, then open loops "
        "at fixed fractions of it (coordinated-omission-free latencies, milliseconds). An open loop keeps sending "
        "whether or not answers come back, as real callers do; where a rate is more than the system carries at "
        "that moment, the backlog grows for the whole run and its latencies show it.",
        "",
        throughput_section(results),
        _img(images, "throughput", doc, "throughput and p99 against concurrency"),
        "",
        "## Where the CPU goes",
        "",
        f"Per lookup, source latency {_latencies(results)[0]} ms, {max(plan['reported'])} in flight.",
        "",
        cpu_section(results, _latencies(results)[0], max(plan["reported"])),
        _img(images, "cpu", doc, "CPU per lookup by process"),
        "",
        "## Added latency",
        "",
        "What each broker-based system adds to what the sources cost anyway: its p50 minus the direct fan-out's. "
        "All three ask the same simulators for the same data with the same source code and HTTP client, so "
        "*pipeline − direct* is what IKO's pipeline adds and *floor − direct* what any design with these hops "
        "(gateway → broker → connectors → assembler in Redis → reply) must at least add. Milliseconds.",
        "",
        added_section(results),
        "",
        "## CPU per lookup at one offered rate",
        "",
        f"Every system offered {_n(plan.get('cpu_rate'))} lookups/s (open loop), below each one's maximum, right "
        "after the single-caller runs: the figure the CPU target compares. At saturation CPU per lookup follows "
        "queueing and this machine's noise more than the design.",
        "",
        fixed_rate_section(results),
        "",
        "## Cost against the size of the answer",
        "",
        "The pipeline alone, with a benchmark profile (`bench/profiles/bench-gezin.yaml`: a person's BRP record and "
        "one BRP lookup per child) and simulator data made for it (`bench/fanout.py`: parents with 0 to 49 "
        "children), so a lookup's answer holds the given number of fragments. CPU per lookup in an open loop at "
        f"{_n((results.get('fanout') or {}).get('rate'))} lookups/s; latency at one caller.",
        "",
        fanout_section(results),
        "",
        "## A Valtimo tab against one lookup",
        "",
        tab_section(results),
        "",
        "## What metrics and tracing cost",
        "",
        observability_section(results),
        "",
        "## Deadline precision",
        "",
        deadline_section(results),
        _img(images, "deadline", doc, "answer time minus deadline"),
        "",
        "## Scale-out",
        "",
        scale_section(results),
        _img(images, "scale_out", doc, "scale-out"),
        "",
        "## Retention",
        "",
        retention_section(results),
        "",
        "## Logging",
        "",
        info_section(results),
        "",
        "## Tracing off",
        "",
        tracing_section(results),
        "",
        "## Targets",
        "",
        targets_section(results),
        "",
        "Each target's *measured* is what its *limit* bounds: a ratio to the floor's figure of the same run, "
        "milliseconds, or a factor. The added-latency target compares the pipeline's *pipeline − direct* with the "
        "floor's *floor − direct* (see [Added latency](#added-latency)).",
    ]
    if errors:
        parts += ["", "## What failed in this run", ""]
        parts += [f"- {name}: `{message}`" for name, message in errors.items()]
    parts += ["", "## What the optimisations bought", "", notes, ""]
    return "\n".join(parts)


def write_report(results: dict[str, Any], json_path: Path, doc: Path, images_dir: Path) -> Path:
    """The JSON, the plots and the markdown; keeps the notes of an existing ``doc``."""
    write_json(results, json_path)
    images = plots.draw_all(results, images_dir)
    existing = doc.read_text(encoding="utf-8") if doc.exists() else None
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(results, doc, images, keep_notes(existing), json_path), encoding="utf-8")
    return doc
