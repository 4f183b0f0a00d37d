"""What the fault scenarios check of a running stack beside the load's verdict: its processes (memory, pids, none
restarted), when lookups resumed after a fault, and the BRP simulator's latency they set before it."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import httpx
from iko_stack import Stack

from tests.faults.steady_load import Outcome


def set_brp_latency(stack: Stack, latency_ms: int) -> None:
    with closing(httpx.Client(base_url=stack.sandbox_urls["brp"], timeout=5)) as brp:
        brp.put("/__sandbox__/behaviour", json={"mode": "ok", "latency_ms": latency_ms}).raise_for_status()


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process (``VmRSS``), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def pids(stack: Stack) -> dict[str, int]:
    return {r.key: r.pid for r in stack.records()}


def assert_no_restart(stack: Stack, before: dict[str, int]) -> None:
    """Every process of the stack still the one that started: none died, none was restarted."""
    assert pids(stack) == before
    dead = [r.key for r in stack.records() if not stack.is_running(r.name, r.index)]
    assert dead == [], f"processes gone: {dead}"


def resumed_after(outcomes: list[Outcome], back_at: float) -> float | None:
    """Seconds from ``back_at`` to the answer of the first lookup sent after it that answered complete."""
    answered = [o.answered for o in outcomes if o.sent >= back_at and o.status == "complete" and o.answered]
    return None if not answered else min(answered) - back_at
