"""Searches: a profile's search action, run through the pipeline on the source it names, as a page of rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from iko_shared.contracts import RequestContext, SourceQuery
from iko_shared.identifiers import identifier_problem
from iko_shared.profiles import FilterSpec, Profile, SearchAction, run_jq
from pydantic import BaseModel, ConfigDict, Field

from iko_gateway.lookups import Ask, LookupService

POSTCODE = re.compile(r"^[1-9][0-9]{3} ?[A-Za-z]{2}$")


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
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(20, ge=1, le=100)
    timeout_ms: int | None = Field(None, gt=0, le=600_000)
    doelbinding: str | None = Field(None, max_length=200, description="The purpose (or the x-doelbinding header)")
    verwerking: str | None = Field(None, max_length=200, description="The processing (or the x-verwerking header)")


class SearchInputError(ValueError):
    """Filters that do not fit the action; the message says which and why."""


class SearchFailedError(Exception):
    def __init__(self, status: str, error: dict[str, Any] | None) -> None:
        super().__init__(status)
        self.status = status
        self.error = error


def filter_value(name: str, spec: FilterSpec, value: str | int | bool) -> Any:
    text = str(value).strip()
    problem: str | None = None
    converted: Any = text
    if spec.type in ("bsn", "kvk", "rsin", "vestigingsnummer"):
        problem = identifier_problem(spec.type, text)
    elif spec.type == "postcode" and not POSTCODE.match(text):
        problem = "a postcode is four digits and two letters, e.g. 1234 AB"
    elif spec.type == "date":
        try:
            converted = date.fromisoformat(text).isoformat()
        except ValueError:
            problem = "a date is written as YYYY-MM-DD"
    elif spec.type == "integer":
        try:
            converted = int(text)
        except ValueError:
            problem = "a whole number is expected"
    elif spec.type == "boolean":
        if text.lower() not in ("true", "false"):
            problem = "true or false is expected"
        converted = text.lower() == "true"
    if problem is not None:
        raise SearchInputError(f"filter {name!r}: {problem}")
    return [converted] if spec.as_list else converted


def search_params(action: SearchAction, filters: dict[str, str | int | bool]) -> dict[str, Any]:
    unknown = sorted(set(filters) - set(action.filters))
    if unknown:
        raise SearchInputError(f"unknown filters {unknown}; this action takes {sorted(action.filters)}")
    missing = sorted(n for n, s in action.filters.items() if s.required and n not in filters)
    if missing:
        raise SearchInputError(f"missing required filters {missing}")
    params = dict(action.params)
    for name, value in filters.items():
        if value == "":
            continue
        params[name] = filter_value(name, action.filters[name], value)
    return params


def rows_of(action: SearchAction, data: Any) -> list[dict[str, Any]]:
    rows = run_jq(action.rows, data).all() if data is not None else []
    return [{c.key: run_jq(c.value, row).first() for c in action.columns} for row in rows]


async def run_search(
    service: LookupService,
    profile: Profile,
    body: SearchBody,
    context: RequestContext | None = None,
    audit: Callable[..., Awaitable[object]] | None = None,
) -> dict[str, Any]:
    """Runs the action; ``audit`` (when given) records the access before the rows are handed back."""
    action = profile.searches.get(body.action)
    if action is None:
        raise SearchInputError(f"unknown action {body.action!r}; this profile has {sorted(profile.searches)}")
    params = search_params(action, body.filters)
    if action.paging == "source":
        params[action.page_param] = body.page
        params[action.page_size_param] = body.page_size
    ask = Ask(
        profile=profile.name,
        identifier=None,
        queries=[
            SourceQuery(
                key="search", source=action.source, operation=action.operation, fields=action.fields, params=params
            )
        ],
        timeout_ms=profile.timeout.effective_ms(body.timeout_ms),
        relations=[],
        context=context or RequestContext(),
    )
    request_id = str(uuid.uuid4())
    started = datetime.now(UTC)
    answer = await service.ask_json(ask, request_id)
    if audit is not None:
        await audit(request_id=request_id, queries=ask.queries, answer=answer, started_at=started)
    result: dict[str, Any] = answer["sources"]["search"]  # type: ignore[index]
    if result["status"] in ("error", "timeout"):
        raise SearchFailedError(result["status"], result.get("error"))
    data = result.get("data") if result["status"] == "ok" else None
    rows = rows_of(action, data)
    if action.paging == "source":
        total = run_jq(action.total, data).first() if data is not None else 0
        page_rows = rows
    else:
        total = len(rows)
        start = (body.page - 1) * body.page_size
        page_rows = rows[start : start + body.page_size]
    return {
        "action": body.action,
        "columns": [{"key": c.key, "title": c.title} for c in action.columns],
        "rows": page_rows,
        "page": body.page,
        "page_size": body.page_size,
        "total": total if isinstance(total, int) else len(rows),
        "request_id": answer["request_id"],
    }
