"""Searches: a profile's search action, run through the pipeline on the source it names, as a page of rows.

What may be searched, with which filters, is decided in ``decisions``; this runs the plan and shapes the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from iko_shared.contracts import DisclosedSource
from iko_shared.profiles import SearchAction, run_jq
from pydantic import BaseModel, ConfigDict, Field

from iko_gateway.audit import row_subjects
from iko_gateway.decisions import SearchPlan
from iko_gateway.filters import MAX_PAGE, MAX_PAGE_SIZE
from iko_gateway.lookups import LookupService


class SearchBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action": "geslachtsnaam-geboortedatum",
                    "filters": {"geslachtsnaam": "Jansen", "geboortedatum": "1980-01-01"},
                    "page": 1,
                    "page_size": 20,
                }
            ]
        },
    )

    action: str
    filters: dict[str, str | int | bool] = Field(default_factory=dict)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)
    timeout_ms: int | None = Field(None, gt=0, le=600_000)
    doelbinding: str | None = Field(None, max_length=200, description="The purpose (or the x-doelbinding header)")
    verwerking: str | None = Field(None, max_length=200, description="The processing (or the x-verwerking header)")


class SearchFailedError(Exception):
    def __init__(self, status: str, error: dict[str, Any] | None) -> None:
        super().__init__(status)
        self.status = status
        self.error = error


def raw_rows(action: SearchAction, data: Any) -> list[Any]:
    return list(run_jq(action.rows, data).all()) if data is not None else []


def columns_of(action: SearchAction, rows: list[Any]) -> list[dict[str, Any]]:
    return [{c.key: run_jq(c.value, row).first() for c in action.columns} for row in rows]


async def run_search(
    service: LookupService,
    plan: SearchPlan,
    page: int,
    page_size: int,
    audit: Callable[..., Awaitable[object]] | None = None,
) -> dict[str, Any]:
    """Runs the plan; ``audit`` (when given) records the access — with every person or company in the rows
    handed back — before the page is."""
    action, ask = plan.action, plan.ask
    request_id = str(uuid.uuid4())
    started = datetime.now(UTC)
    answer = await service.ask_json(ask, request_id)
    result: dict[str, Any] = answer["sources"]["search"]
    data = result.get("data") if result["status"] == "ok" else None
    rows = raw_rows(action, data)
    if action.paging == "source":
        total = run_jq(action.total, data).first() if data is not None else 0
        page_rows = rows
    else:
        total = len(rows)
        start = (page - 1) * page_size
        page_rows = rows[start : start + page_size]
    if audit is not None:
        query = ask.queries[0]
        disclosed = DisclosedSource(
            key=query.key,
            source=query.source,
            operation=query.operation,
            fields=list(query.fields),
            status=str(result["status"]),
        )
        await audit(
            request_id=request_id,
            queries=ask.queries,
            answer=answer,
            started_at=started,
            disclosed=[disclosed],
            subjects=row_subjects(action, page_rows, disclosed),
        )
    if result["status"] in ("error", "timeout"):
        raise SearchFailedError(result["status"], result.get("error"))
    return {
        "action": plan.action_key,
        "columns": [{"key": c.key, "title": c.title} for c in action.columns],
        "rows": columns_of(action, page_rows),
        "page": page,
        "page_size": page_size,
        "total": total if isinstance(total, int) else len(rows),
        "request_id": answer["request_id"],
    }
