"""The measurement plan of one run: every system under the same load, then deadline, scale-out and retention."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from bench.costs import observability_cost
from bench.direct import DirectSystem
from bench.fanout import fanout_scaling
from bench.floor.system import FloorSystem
from bench.measurement import Measurement, measure, own_pids, paused
from bench.pipeline import PipelineSystem
from bench.stats import Summary, histogram_points
from bench.system import Infra, System
from bench.valtimo_tab import tab_against_one

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    run_dir: Path
    duration_s: float = 7.0
    warmup_s: float = 1.5
    latencies: tuple[int, ...] = (0, 20)
    concurrencies: tuple[int, ...] = (1, 8, 32, 64, 128)
    # Concurrencies measured whatever their p99 (the tables report them); the search stops after these.
    reported: tuple[int, ...] = (1, 32)
    p99_limit_ms: float = 250.0
    # Extra closed-loop runs between the highest concurrency within the p99 limit and the next one past it: the
    # ladder is coarse (1 -> 8 is a factor of 8), and the maximum throughput is the figure the targets use.
    refine_steps: int = 1
    open_fractions: tuple[float, ...] = (0.5, 0.75)
    systems: tuple[str, ...] = ("floor", "direct", "pipeline")
    info: bool = True
    deadline: bool = True
    # Below the pipeline's maximum (8 callers at 300 ms timeouts offer about 27 lookups/s): at saturation every
    # timer on the machine is late, and the figure would measure the saturation, not the deadline sweep.
    deadline_concurrency: int = 8
    deadline_timeout_ms: int = 300
    scale_out: bool = True
    scale_latency_ms: int = 200
    scale_replicas: tuple[int, ...] = (1, 2, 4)
    scale_concurrency: int = 32
    scale_timeout_ms: int = 5000
    # Lookups in flight per connector process: low enough that four replicas stay bound by the 200 ms sources,
    # not by the two cores (4 replicas x 2 in flight / 0.2 s = 40 lookups/s; at the ~25-30 ms of CPU a lookup
    # costs the whole stack with its sources on the slower machines, about 1.2 cores). With 4 in flight, four
    # replicas asked for 80/s, more than two cores carry there, and the run measured the CPU, not the sources.
    scale_prefetch: int = 2
    retention_latency_ms: int = 20
    # CPU per lookup compared between the systems at one offered rate (open loop), below every system's maximum:
    # at saturation the figure follows queueing and this machine's noise more than the design.
    cpu_rate: float = 40.0
    # Metrics off / on / tracing on, each measured once per turn at ``cpu_rate``.
    observability: bool = True
    observability_turns: int = 3
    # A Valtimo tab (five identical calls at once) against one lookup, on the pipeline measured above.
    tab: bool = True
    tab_groups: int = 60
    tab_rate: float = 4.0
    tab_latency_ms: int = 20
    # CPU per lookup and latency against the fragments of the answer (bench.fanout's benchmark profile).
    fanout: bool = True
    fanout_counts: tuple[int, ...] = (1, 2, 5, 15, 50)
    fanout_rate: float = 10.0

    @classmethod
    def quick(cls, run_dir: Path, duration_s: float = 1.5) -> Plan:
        return cls(
            run_dir=run_dir,
            duration_s=duration_s,
            warmup_s=0.5,
            latencies=(0,),
            concurrencies=(1, 8),
            reported=(1, 8),
            refine_steps=0,
            info=False,
            deadline=False,
            scale_out=False,
            retention_latency_ms=0,
            cpu_rate=20.0,
            observability=False,
            tab=False,
            fanout=False,
        )

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def _say_default(message: str) -> None:
    print(message, flush=True)


def _p99(m: Measurement) -> float:
    p99 = m.data["latency_ms"]["p99"]
    return float(p99) if p99 is not None else math.inf


def _line(name: str, latency: int, m: Measurement) -> str:
    lat = m.data["latency_ms"]
    what = f"c={m.data['concurrency']}" if m.data["mode"] == "closed" else f"rate={m.data['rate']:.0f}/s"
    return (
        f"  {name:<14} latency {latency:>3} ms {what:<12} {m.data['throughput']:>7.1f}/s  "
        f"p50 {lat['p50'] or 0:7.1f}  p99 {lat['p99'] or 0:7.1f} ms  bad {m.data['bad']} err {m.data['errors']}  "
        f"cpu {m.data['cpu']['system_ms_per_lookup']:.2f} ms/lookup (other {m.data['cpu']['other_s']:.1f} s)"
    )


async def characterise(
    system: System,
    plan: Plan,
    latency_ms: int,
    say: Say,
    *,
    probe: tuple[str, str] | None = None,
    measured: Sequence[Measurement] = (),
    pause: Sequence[int] = (),
) -> dict[str, Any]:
    """Closed loop over the concurrencies (stopping once p99 passes the limit), then an open loop just under
    the best throughput found. ``probe``: (redis url, key pattern) to watch during the concurrency-32 run."""
    await system.set_latency(latency_ms)
    target = system.target()
    # Closed-loop runs made beforehand (the single caller, measured beside the other systems) count as the ladder's.
    closed: list[Measurement] = list(measured)

    async def run_closed(concurrency: int) -> Measurement:
        watch = probe is not None and concurrency == max(plan.reported)
        m = await measure(
            system,
            target,
            concurrency=concurrency,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
            probe_pattern=probe[1] if watch and probe else None,
            redis_url=probe[0] if watch and probe else None,
            curve=concurrency in plan.reported,
            pause=pause,
        )
        say(_line(system.name, latency_ms, m))
        closed.append(m)
        return m

    done = {int(m.data["concurrency"]): m for m in closed}
    for concurrency in plan.concurrencies:
        m = done[concurrency] if concurrency in done else await run_closed(concurrency)
        if _p99(m) > plan.p99_limit_ms and concurrency >= max(plan.reported):
            break
    for _ in range(plan.refine_steps):
        between = refine_between([(m.data["concurrency"], _p99(m)) for m in closed], plan.p99_limit_ms)
        if between is None:
            break
        await run_closed(between)
    closed.sort(key=lambda m: int(m.data["concurrency"]))
    within = [m for m in closed if _p99(m) <= plan.p99_limit_ms and m.run.throughput > 0]
    best = max(within, key=lambda m: m.run.throughput) if within else None
    out: dict[str, Any] = {"latency_ms": latency_ms, "closed": [m.data for m in closed], "best": None, "open": []}
    if best is not None:
        out["best"] = {"concurrency": best.data["concurrency"], "throughput": best.data["throughput"]}
        for fraction in plan.open_fractions:
            rate = max(1.0, best.run.throughput * fraction)
            m = await measure(
                system, target, rate=rate, duration_s=plan.duration_s, warmup_s=plan.warmup_s, pause=pause
            )
            say(_line(system.name, latency_ms, m))
            out["open"].append({"fraction": fraction, **m.data})
    return out


def refine_between(runs: Sequence[tuple[int, float]], p99_limit_ms: float) -> int | None:
    """The concurrency to try next: between the highest one within the p99 limit and the lowest one above it
    that is past the limit (geometric middle, as the ladder is), or None when they are neighbours."""
    within = [c for c, p99 in runs if p99 <= p99_limit_ms]
    if not within:
        return None
    low = max(within)
    past = [c for c, p99 in runs if c > low and p99 > p99_limit_ms]
    if not past:
        return None
    high = min(past)
    middle = round(math.sqrt(low * high))
    middle = min(max(middle, low + 1), high - 1)
    return middle if low < middle < high else None


async def deadline_precision(pipeline: PipelineSystem, plan: Plan, say: Say) -> dict[str, Any]:
    """BRP hanging, lookups with ``timeout_ms``: how far after its deadline each answer comes."""
    await pipeline.set_latency(0)
    await pipeline.hang("brp")
    try:
        target = pipeline.target(timeout_ms=plan.deadline_timeout_ms, keep_bodies=True)
        m = await measure(
            pipeline,
            target,
            concurrency=plan.deadline_concurrency,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
        )
    finally:
        await pipeline.reset()
    timeout_s = plan.deadline_timeout_ms / 1000
    server: list[float] = []
    client: list[float] = []
    partial = 0
    for intended, done, body in m.run.bodies:
        try:
            answer = orjson.loads(body)
            server.append(float(answer["completed_at"]) - (float(answer["requested_at"]) + timeout_s))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        client.append(done - intended - timeout_s)
        partial += answer.get("status") == "partial"
    result = {
        "timeout_ms": plan.deadline_timeout_ms,
        "concurrency": plan.deadline_concurrency,
        "answers": len(server),
        "partial": partial,
        "answer_minus_deadline_ms": Summary.of(server).to_json(),
        "client_elapsed_minus_timeout_ms": Summary.of(client).to_json(),
        "answer_minus_deadline_curve": histogram_points(server),
        "server_samples_ms": sorted(round(s * 1000, 3) for s in server),
        "cpu": m.data["cpu"],
        "errors": m.data["errors"],
    }
    srv = result["answer_minus_deadline_ms"]
    say(f"  deadline       {len(server)} answers ({partial} partial): answer - deadline ms {srv}")
    return result


async def scale_out(infra: Infra, plan: Plan, say: Say) -> dict[str, Any]:
    """Throughput at a source latency of ``scale_latency_ms`` with 1, 2, 4 replicas of each connector."""
    runs: list[dict[str, Any]] = []
    for replicas in plan.scale_replicas:
        system = PipelineSystem(
            infra,
            plan.run_dir,
            connector_replicas=replicas,
            extra_env={"IKO_CONNECTOR_PREFETCH": str(plan.scale_prefetch)},
            label=f"scale{replicas}",
        )
        await system.start()
        try:
            await system.set_latency(plan.scale_latency_ms)
            m = await measure(
                system,
                system.target(timeout_ms=plan.scale_timeout_ms),
                concurrency=plan.scale_concurrency,
                duration_s=max(plan.duration_s, 6.0),
                warmup_s=max(plan.warmup_s, 3.0),
            )
        finally:
            await system.stop()
        say(_line(f"scale x{replicas}", plan.scale_latency_ms, m))
        runs.append({"replicas": replicas, "start_failures": system.start_failures, **m.data})
    base = runs[0]["throughput"] if runs else 0.0
    for run in runs:
        run["speedup"] = round(run["throughput"] / base, 3) if base else None
    return {
        "latency_ms": plan.scale_latency_ms,
        "prefetch": plan.scale_prefetch,
        "concurrency": plan.scale_concurrency,
        "timeout_ms": plan.scale_timeout_ms,
        "runs": runs,
    }


async def single_caller(
    system: System, plan: Plan, latency_ms: int, say: Say, pause: Sequence[int] = ()
) -> Measurement:
    """The closed loop at one caller: the run the latency targets compare between systems."""
    await system.set_latency(latency_ms)
    m = await measure(
        system,
        system.target(),
        concurrency=1,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        curve=1 in plan.reported,
        pause=pause,
    )
    say(_line(system.name, latency_ms, m))
    return m


async def fixed_rate(system: System, plan: Plan, latency_ms: int, say: Say, pause: Sequence[int] = ()) -> Measurement:
    """The open loop at ``plan.cpu_rate``: the run whose CPU per lookup the targets compare between systems."""
    await system.set_latency(latency_ms)
    m = await measure(
        system, system.target(), rate=plan.cpu_rate, duration_s=plan.duration_s, warmup_s=plan.warmup_s, pause=pause
    )
    say(_line(system.name, latency_ms, m))
    return m


async def run_compared(
    factories: dict[str, Callable[[], Any]],
    plan: Plan,
    say: Say,
    results: dict[str, Any],
    extras: dict[str, Callable[[Any], Any]] | None = None,
) -> None:
    """The systems compared with each other, all up at once: per source latency first every system's single
    caller back to back, then each system's ladder. The machine's speed drifts over minutes; measured side by
    side, the figures the targets compare drift together. A system that fails is recorded in ``errors`` and
    left out of the rest; the others go on."""
    systems: dict[str, Any] = {}
    for name, factory in factories.items():
        say(f"{name}: starting")
        started = time.monotonic()
        try:
            system = factory()
            await system.start()
        except Exception as exc:  # one system failing must not lose the others' figures
            _failed(results, name, exc, say)
            continue
        systems[name] = system
        results["systems"][name] = {"by_latency": {}}
        say(f"{name}: up in {time.monotonic() - started:.1f} s")

    def others(name: str) -> list[int]:
        return [pid for other, system in systems.items() if other != name for pid in own_pids(system)]

    try:
        for latency in plan.latencies:
            firsts: dict[str, list[Measurement]] = {}
            for name, system in list(systems.items()):
                try:
                    firsts[name] = (
                        [await single_caller(system, plan, latency, say, others(name))]
                        if 1 in plan.concurrencies
                        else []
                    )
                except Exception as exc:
                    _failed(results, name, exc, say)
                    del systems[name]
            fixed: dict[str, Measurement] = {}
            for name, system in list(systems.items()):
                try:
                    fixed[name] = await fixed_rate(system, plan, latency, say, others(name))
                except Exception as exc:
                    _failed(results, name, exc, say)
                    del systems[name]
            for name, system in list(systems.items()):
                probe = None
                if isinstance(system, PipelineSystem) and latency == plan.retention_latency_ms:
                    probe = (system.infra.redis_url, f"{system.namespace}:asm:req:*")
                try:
                    characterised = await characterise(
                        system, plan, latency, say, probe=probe, measured=firsts.get(name, []), pause=others(name)
                    )
                    if name in fixed:
                        characterised["fixed_rate"] = fixed[name].data
                    results["systems"][name]["by_latency"][str(latency)] = characterised
                except Exception as exc:
                    _failed(results, name, exc, say)
                    del systems[name]
        for name, system in list(systems.items()):
            try:
                if extras and name in extras:
                    with paused(others(name)):
                        results["systems"][name].update(await extras[name](system))
                if isinstance(system, PipelineSystem):
                    results["systems"][name]["start_failures"] = system.start_failures
            except Exception as exc:
                _failed(results, name, exc, say)
    finally:
        for system in systems.values():
            await system.stop()


def _failed(results: dict[str, Any], name: str, exc: BaseException, say: Say) -> None:
    say(f"{name}: FAILED: {type(exc).__name__}: {exc}")
    results["errors"][name] = f"{type(exc).__name__}: {exc}"
    results["systems"].pop(name, None)


async def pipeline_extras(system: PipelineSystem, plan: Plan, say: Say) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if plan.deadline:
        out["deadline"] = await deadline_precision(system, plan, say)
    if plan.tab:
        out["valtimo_tab"] = await valtimo_tab(system.infra, plan, say)
    # Every request hash must be gone once the answers are out (finish deletes it; the TTL is the backstop).
    await _settle()
    left = await system.namespace_keys()
    out["keys_left"] = {
        "request_keys": sum(1 for k in left if k.startswith(f"{system.namespace}:asm:req:")),
        "namespace_keys": left,
    }
    say(f"  retention      request keys left after the run: {out['keys_left']['request_keys']}")
    return out


async def valtimo_tab(infra: Infra, plan: Plan, say: Say) -> dict[str, Any]:
    """The tab against one lookup on a stack of its own with coalescing on (the others have it off)."""
    system = PipelineSystem(infra, plan.run_dir, label="tab", coalescing=True)
    await system.start()
    try:
        tab = await tab_against_one(system, tabs=plan.tab_groups, rate=plan.tab_rate, latency_ms=plan.tab_latency_ms)
    finally:
        await system.stop()
    say(
        f"  valtimo tab    one lookup {tab['one_lookup']['cpu_ms_per_group']} ms, a tab of {tab['widgets']}"
        f" {tab['tab']['cpu_ms_per_group']} ms: {tab['tab_over_one']}x"
    )
    return tab


async def _settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


async def run_plan(infra: Infra, plan: Plan, say: Say = _say_default) -> dict[str, Any]:
    results: dict[str, Any] = {"plan": plan.to_json(), "systems": {}, "errors": {}}
    factories: dict[str, Callable[[], Any]] = {}
    if "floor" in plan.systems:
        factories["floor"] = lambda: FloorSystem(infra, plan.run_dir)
    if "direct" in plan.systems:
        factories["direct"] = lambda: DirectSystem(plan.run_dir)
    if "pipeline" in plan.systems:
        factories["pipeline"] = lambda: PipelineSystem(infra, plan.run_dir, log_level="WARNING")
    await run_compared(factories, plan, say, results, extras={"pipeline": lambda s: pipeline_extras(s, plan, say)})
    if "pipeline" in plan.systems and plan.info:
        info_plan = replace(plan, latencies=(plan.latencies[0],), retention_latency_ms=-1)
        await run_compared(
            {"pipeline_info": lambda: PipelineSystem(infra, plan.run_dir, log_level="INFO", label="pipeline-info")},
            info_plan,
            say,
            results,
        )
    if "pipeline" in plan.systems and plan.observability:
        await _optional(
            results,
            "observability",
            say,
            lambda: observability_cost(
                infra,
                plan.run_dir,
                say,
                rate=plan.cpu_rate,
                latency_ms=plan.latencies[0],
                duration_s=plan.duration_s,
                warmup_s=plan.warmup_s,
                turns=plan.observability_turns,
            ),
        )
    if "pipeline" in plan.systems and plan.fanout:
        await _optional(
            results,
            "fanout",
            say,
            lambda: fanout_scaling(
                infra,
                plan.run_dir,
                say,
                counts=plan.fanout_counts,
                rate=plan.fanout_rate,
                duration_s=plan.duration_s,
                warmup_s=plan.warmup_s,
                latency_ms=plan.latencies[0],
            ),
        )
    if "pipeline" in plan.systems and plan.scale_out:
        await _optional(results, "scale_out", say, lambda: scale_out(infra, plan, say))
    return results


async def _fanout(*args: Any, **kwargs: Any) -> dict[str, Any]:

    result: dict[str, Any] = await fanout_scaling(*args, **kwargs)
    return result


async def _optional(
    results: dict[str, Any], key: str, say: Say, scenario: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    """A scenario of its own: its failure is recorded in ``errors`` and the rest of the run goes on."""
    try:
        results[key] = await scenario()
    except Exception as exc:
        say(f"{key}: FAILED: {type(exc).__name__}: {exc}")
        results["errors"][key] = f"{type(exc).__name__}: {exc}"


def systems_of(names: Sequence[str]) -> tuple[str, ...]:
    known = ("floor", "direct", "pipeline")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown systems {unknown}; known: {', '.join(known)}")
    return tuple(n for n in known if n in names)
