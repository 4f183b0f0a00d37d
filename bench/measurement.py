"""One measurement: a closed or open loop against a system, with the CPU of every process around it; and the
pausing of the systems not measured meanwhile. Shared by every scenario (``bench.scenarios``, ``bench.costs``,
``bench.fanout``)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.cpu import CpuMeter, infrastructure_pids
from bench.loadgen import RunResult, Target, closed_loop, open_loop
from bench.probe import RedisProbe
from bench.system import System


@dataclass
class Measurement:
    run: RunResult
    data: dict[str, Any] = field(default_factory=dict)


async def measure(
    system: System,
    target: Target,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    duration_s: float,
    warmup_s: float,
    probe_pattern: str | None = None,
    redis_url: str | None = None,
    curve: bool = False,
    pause: Sequence[int] = (),
) -> Measurement:
    """One closed-loop (``concurrency``) or open-loop (``rate``) run with the CPU of every process around it;
    ``pause``: processes of the other systems, stopped (SIGSTOP) for the length of the run."""
    groups = system.cpu_groups()
    sources = system.source_pids()
    meter = CpuMeter({**groups, "__sources": sources, "__bench": [os.getpid()]})
    probe: RedisProbe | None = None
    if probe_pattern is not None and redis_url is not None:
        probe = RedisProbe(redis_url, probe_pattern)
        await probe.__aenter__()
    meter.start()
    try:
        with paused(pause):
            if concurrency is not None:
                run = await closed_loop(target, concurrency, duration_s, warmup_s)
            else:
                assert rate is not None
                run = await open_loop(target, rate, duration_s, warmup_s)
    finally:
        delta = meter.stop()
        if probe is not None:
            await probe.__aexit__(None, None, None)
    sut = delta.total(groups)
    src = delta.groups.get("__sources", 0.0)
    own = delta.groups.get("__bench", 0.0)
    n = max(run.completed_total, 1)
    data = run.to_json(curve=curve)
    data["cpu"] = {
        "by_process_s": {k: round(v, 3) for k, v in delta.groups.items() if not k.startswith("__")},
        "system_s": round(sut, 3),
        "sources_s": round(src, 3),
        "load_generator_s": round(own, 3),
        "other_s": round(max(delta.machine_busy - sut - src - own, 0.0), 3),
        "machine_busy_s": round(delta.machine_busy, 3),
        "wall_s": round(delta.wall, 3),
        "system_ms_per_lookup": round(sut * 1000 / n, 3),
        "sources_ms_per_lookup": round(src * 1000 / n, 3),
        "by_process_ms_per_lookup": {
            k: round(v * 1000 / n, 3) for k, v in delta.groups.items() if not k.startswith("__")
        },
    }
    if probe is not None:
        data["retention"] = probe.result.to_json()
    return Measurement(run, data)


@contextlib.contextmanager
def paused(pids: Sequence[int]) -> Iterator[None]:
    """Stop processes for a while and let them go on after: an idle system beside the one measured still wakes
    for its timers and heartbeats, and on two cores that is CPU taken from the measurement. Short pauses only
    (one run): AMQP heartbeats are 60 s."""
    stopped: list[int] = []
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def own_pids(system: System) -> list[int]:
    """A system's own processes and its simulators, not the RabbitMQ and Redis it shares."""
    shared = set(infrastructure_pids())
    return [pid for name, pids in system.cpu_groups().items() if name not in shared for pid in pids] + list(
        system.source_pids()
    )
