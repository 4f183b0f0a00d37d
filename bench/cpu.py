"""CPU time of processes from ``/proc``: user + system seconds, sampled before and after a measurement."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process in seconds, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    # After the command: state is field 3, utime 14 and stime 15 (1-based), i.e. 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core spent not idle since boot (``/proc/stat``), to see what else ran meanwhile."""
    first = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    values = [int(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    # guest time is already counted in user; steal is time not ours.
    busy = sum(values[:8]) - idle
    return busy / TICKS


def find_pids(needle: str) -> list[int]:
    """Pids whose command line contains ``needle`` (as ``pgrep -f`` finds them), this process excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def infrastructure_pids() -> dict[str, list[int]]:
    """RabbitMQ's Erlang VM and the Redis server of this machine."""
    return {"rabbitmq": find_pids("beam.smp"), "redis": find_pids("redis-server")}


@dataclass(frozen=True)
class CpuDelta:
    """CPU seconds per group of processes over one measurement, and the machine's busy seconds."""

    groups: dict[str, float]
    machine_busy: float
    wall: float

    def total(self, names: Iterable[str]) -> float:
        return sum(self.groups.get(n, 0.0) for n in names)


class CpuMeter:
    """``start()`` then ``stop()`` around a measurement; groups map a name to its pids."""

    def __init__(self, groups: Mapping[str, Iterable[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._before: dict[int, float] = {}
        self._busy = 0.0
        self._wall = 0.0

    def _sample(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for pids in self._groups.values():
            for pid in pids:
                value = cpu_seconds(pid)
                if value is not None:
                    out[pid] = value
        return out

    def start(self) -> None:
        self._before = self._sample()
        self._busy = machine_busy_seconds()
        self._wall = time.monotonic()

    def stop(self) -> CpuDelta:
        after = self._sample()
        groups = {
            name: sum(after.get(pid, 0.0) - self._before.get(pid, 0.0) for pid in pids if pid in self._before)
            for name, pids in self._groups.items()
        }
        return CpuDelta(groups, machine_busy_seconds() - self._busy, time.monotonic() - self._wall)
