"""Completion rules: what a closed request tells its caller. Pure functions, no broker, no Redis."""

from __future__ import annotations

import re
from typing import Any

from iko_shared.contracts import SCHEMA_VERSION, FragmentError, LookupCompleted, SourceResult
from iko_shared.logging import get_logger
from iko_shared.profiles import run_jq

from iko_assembler.store import ClosedRequest

TIMEOUT_ERROR = FragmentError(code="timeout", message="the source did not answer before the deadline")

log = get_logger()


def source_result(source: str, fragment: dict[str, Any] | None) -> SourceResult:
    if fragment is None:
        return SourceResult(source=source, status="timeout", error=TIMEOUT_ERROR)
    return SourceResult.model_validate({**fragment, "source": source}, strict=False)


def _tree_order(key: str) -> tuple[int, list[tuple[str, int]]]:
    # Roots first, then branches in tree order, indices as numbers: kinderen[2] before kinderen[10].
    parts = [(name, int(index or -1)) for name, index in re.findall(r"([^.\[\]]+)(?:\[(\d+)\])?", key)]
    return key.count("."), parts


def _sorted_keys(keys: list[str]) -> list[str]:
    return sorted(keys, key=_tree_order)


def apply_transform(transform: str | None, answer: dict[str, Any]) -> Any:
    """The view: the profile's jq transform over the answer, or each source's data as it is."""
    if transform is None:
        return {key: result["data"] for key, result in answer["sources"].items()}
    try:
        return run_jq(transform, answer).first()
    except ValueError as exc:
        # A transform that fails on this answer must not lose the answer itself.
        log.warning("view.transform_failed", error=str(exc).splitlines()[0])
        return None


_TIMEOUT = TIMEOUT_ERROR.model_dump()


def _result(source: str, fragment: dict[str, Any] | None) -> dict[str, Any]:
    if fragment is None:
        return {
            "source": source,
            "status": "timeout",
            "retrieved_at": None,
            "duration_ms": None,
            "data": None,
            "error": _TIMEOUT,
        }
    # Stored as a SourceResult's fields when it was recorded: no second validation on the way out.
    return {"source": source, **fragment}


def compose_answer(closed: ClosedRequest) -> dict[str, Any]:
    """The answer as ``LookupCompleted``'s JSON: every expected key gets its fragment, or ``timeout``.

    Built as plain data and serialised once: on the hot path, a model round trip per answer costs more than the
    rest of the composition.
    """
    meta = closed.meta
    sources = {
        key: _result(closed.expected[key]["source"], closed.fragments.get(key))
        for key in _sorted_keys(list(closed.expected))
    }
    timed_out = [key for key, result in sources.items() if result["status"] == "timeout"]
    branches = {
        name: {**branch, "keys": [k for k in branch["keys"] if k in closed.expected]}
        for name, branch in sorted(closed.branches.items(), key=lambda item: _tree_order(item[0]))
    }
    answer: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "request_id": closed.request_id,
        "profile": meta["profile"],
        "identifier": meta.get("identifier") or None,
        "status": "partial" if timed_out or closed.not_expanded else "complete",
        "completed_by": closed.closed_by,
        "requested_at": meta["requested_at"],
        "completed_at": closed.closed_at,
        "sources": sources,
        "branches": branches,
        "timed_out": timed_out,
        "not_expanded": closed.not_expanded,
        "truncated": closed.truncated,
    }
    answer["view"] = apply_transform(meta.get("transform"), answer)
    return answer


def compose_view(closed: ClosedRequest) -> LookupCompleted:
    """The answer as the contract's model (tests and tools; the assembler sends ``compose_answer``'s JSON)."""
    return LookupCompleted.model_validate(compose_answer(closed))
