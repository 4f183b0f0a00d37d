"""Identical lookups in flight at the same moment share one pipeline run.

Valtimo asks once per widget: a detail tab with five widgets on one profile makes five identical calls within
milliseconds, each with its own ``containerParam`` (which only shapes the answer, after it). Those calls share
one run here: the first starts it, the others join it and get its answer. Identical means the same ``Ask`` in
every part but its timeout: the same profile, identifier, plan (queries and relations, which follow the caller's
roles), transform and context (purpose, processing, end user and the caller's key: client and user). A call
joins only a run whose deadline is within ``tolerance_s`` of its own, so that nobody gets an answer much earlier
or later than it asked for. Each call is still authorised, limited and audited on its own (by the routes around
this); only the pipeline run is shared. A run is forgotten the moment it ends: this is not a cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from iko_gateway.decisions import Ask

# Within this of each other, two deadlines are one: the calls of one Valtimo tab come milliseconds apart.
DEFAULT_TOLERANCE_S = 0.25


def coalescing_key(ask: Ask) -> bytes:
    """What two calls must have in common to share a run: everything the pipeline is asked, but the timeout."""
    return orjson.dumps(
        [
            ask.profile,
            ask.identifier.model_dump(mode="json") if ask.identifier is not None else None,
            [q.model_dump(mode="json") for q in ask.queries],
            [r.model_dump(mode="json") for r in ask.relations],
            ask.transform,
            ask.context.model_dump(mode="json"),
        ]
    )


T = TypeVar("T")


@dataclass
class Run(Generic[T]):
    """One pipeline run, and the request id it goes by (its first caller's)."""

    request_id: str
    deadline: float
    task: asyncio.Task[T]


class Coalescer(Generic[T]):
    def __init__(self, tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
        self._tolerance_s = tolerance_s
        self._runs: dict[bytes, list[Run[T]]] = {}

    def __len__(self) -> int:
        return sum(len(runs) for runs in self._runs.values())

    def join(self, key: bytes, deadline: float) -> Run[T] | None:
        """A run in flight this call may share, or None."""
        for run in self._runs.get(key, ()):
            if abs(run.deadline - deadline) <= self._tolerance_s and not run.task.done():
                return run
        return None

    def start(self, key: bytes, request_id: str, deadline: float, work: Callable[[], Awaitable[T]]) -> Run[T]:
        """Start a run of its own for this call. Its task is not the caller's: a first caller that goes away
        (its connection closed) does not take the answer away from those who joined."""

        async def run_work() -> T:
            return await work()

        task = asyncio.create_task(run_work(), name=f"lookup {request_id}")
        run = Run(request_id=request_id, deadline=deadline, task=task)
        self._runs.setdefault(key, []).append(run)
        task.add_done_callback(lambda done: self._forget(key, run, done))
        return run

    def _forget(self, key: bytes, run: Run[T], done: asyncio.Task[T]) -> None:
        runs = self._runs.get(key)
        if runs is not None:
            runs[:] = [r for r in runs if r is not run]
            if not runs:
                del self._runs[key]
        # Retrieved here, so that a run whose callers all went away does not log "exception never retrieved".
        if not done.cancelled():
            done.exception()
