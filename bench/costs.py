"""What observability costs the pipeline: the stack with metrics off, with metrics on (the default) and with
tracing on, exporting to a local collector (``bench.otlp_sink``), each at the same fixed offered rate.

The three stacks run side by side and are measured in turns, each turn once per variant, the others paused: this
machine's speed drifts over minutes by more than the 5 % the metrics target allows, so each turn's ratio compares
figures taken seconds apart, and the median over the turns is reported."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import processes
from bench.measurement import measure, own_pids, paused
from bench.pipeline import PipelineSystem
from bench.system import Infra

Say = Callable[[str], None]

VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("metrics-off", {"IKO_METRICS_ENABLED": "false"}),
    ("metrics-on", {"IKO_METRICS_ENABLED": "true"}),
    # The SDK's batch processor exports every 100 ms, as the tracing tests configure it.
    ("tracing-on", {"IKO_METRICS_ENABLED": "true", "OTEL_BSP_SCHEDULE_DELAY": "100"}),
)


async def observability_cost(
    infra: Infra,
    run_dir: Path,
    say: Say,
    *,
    rate: float,
    latency_ms: int,
    duration_s: float,
    warmup_s: float,
    turns: int,
) -> dict[str, Any]:
    port = processes.free_port()
    ready = run_dir / "otlp-sink.ready"
    sink = processes.launch(
        "otlp-sink",
        ["-m", "bench.otlp_sink", "--port", str(port), "--ready-file", str(ready)],
        run_dir,
        ready_file=ready,
    )
    systems: dict[str, PipelineSystem] = {}
    try:
        await processes.wait_ready([sink])
        for label, env in VARIANTS:
            if label == "tracing-on":
                env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
            system = PipelineSystem(infra, run_dir, extra_env=env, label=f"obs-{label}")
            # Each stack started while the others are paused, so their start-up does not crowd each other.
            with paused([pid for other in systems.values() for pid in own_pids(other)]):
                await system.start()
            systems[label] = system
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in systems}
        for turn in range(turns):
            for label, system in systems.items():
                others = [pid for name, s in systems.items() if name != label for pid in own_pids(s)]
                with paused(others):
                    await system.set_latency(latency_ms)
                m = await measure(
                    system, system.target(), rate=rate, duration_s=duration_s, warmup_s=warmup_s, pause=others
                )
                cpu = m.data["cpu"]["system_ms_per_lookup"]
                say(
                    f"  {label:<12} turn {turn + 1}: {m.data['throughput']:.1f}/s, cpu {cpu:.2f} ms/lookup,"
                    f" bad {m.data['bad']} err {m.data['errors']}"
                )
                runs[label].append(
                    {
                        "throughput": m.data["throughput"],
                        "bad": m.data["bad"],
                        "errors": m.data["errors"],
                        "latency_ms": m.data["latency_ms"],
                        "cpu_ms_per_lookup": cpu,
                        "cpu_by_process_ms_per_lookup": m.data["cpu"]["by_process_ms_per_lookup"],
                    }
                )
    finally:
        for system in systems.values():
            await system.stop()
        await processes.stop([sink])
    found = summarise(runs, rate=rate, latency_ms=latency_ms)
    found["collector"] = sink.log_tail(1)
    return found


def summarise(runs: dict[str, list[dict[str, Any]]], *, rate: float, latency_ms: int) -> dict[str, Any]:
    """Per variant the median CPU per lookup; per turn the ratio to metrics off, and the median of those."""

    def ratios(label: str) -> list[float]:
        return [
            on["cpu_ms_per_lookup"] / off["cpu_ms_per_lookup"]
            for on, off in zip(runs.get(label, []), runs.get("metrics-off", []), strict=False)
            if off["cpu_ms_per_lookup"] > 0
        ]

    out: dict[str, Any] = {"rate": rate, "latency_ms": latency_ms, "runs": runs, "median_cpu_ms_per_lookup": {}}
    for label, measured in runs.items():
        if measured:
            out["median_cpu_ms_per_lookup"][label] = round(
                statistics.median(r["cpu_ms_per_lookup"] for r in measured), 3
            )
    for label in ("metrics-on", "tracing-on"):
        found = ratios(label)
        out[f"{label}_over_off"] = round(statistics.median(found), 4) if found else None
        out[f"{label}_over_off_by_turn"] = [round(r, 4) for r in found]
    return out
