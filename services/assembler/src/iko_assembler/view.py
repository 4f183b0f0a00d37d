"""Completion rules: what a closed request tells its caller. Pure functions, no broker, no Redis."""

from __future__ import annotations

from typing import Any, Literal, cast

from iko_shared.contracts import FragmentError, Identifier, LookupCompleted, SourceResult

TIMEOUT_ERROR = FragmentError(code="timeout", message="the source did not answer before the deadline")


def compose_view(
    request_id: str,
    meta: dict[str, Any],
    fragments: dict[str, dict[str, Any]],
    closed_by: str,
    closed_at: float,
) -> LookupCompleted:
    """Every expected key gets a result: its fragment, or ``timeout`` when none arrived in time."""
    sources: dict[str, SourceResult] = {}
    for query in meta["queries"]:
        key, source = query["key"], query["source"]
        fragment = fragments.get(key)
        if fragment is None:
            sources[key] = SourceResult(source=source, status="timeout", error=TIMEOUT_ERROR)
        else:
            sources[key] = SourceResult.model_validate({**fragment, "source": source}, strict=False)
    missing = any(result.status == "timeout" for result in sources.values())
    return LookupCompleted(
        request_id=request_id,
        profile=meta["profile"],
        identifier=Identifier.model_validate(meta["identifier"]) if meta.get("identifier") else None,
        status="partial" if missing else "complete",
        completed_by=cast(Literal["all_sources", "deadline"], closed_by),
        requested_at=meta["requested_at"],
        completed_at=closed_at,
        sources=sources,
    )
