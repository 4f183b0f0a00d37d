"""Django REST framework's page-number pagination, which Open Klant and the Objecten APIs use."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request


def paginate(
    request: Request,
    items: list[Any],
    page_size: int,
    max_page_size: int | None = None,
    *,
    page_size_param: str | None = None,
) -> dict[str, Any] | None:
    """``{count, next, previous, results}`` for the requested page, or None for an invalid page (a 404).

    ``next``/``previous`` are absolute and repeat the request's query with another ``page``; the link to
    page 1 leaves ``page`` out, as DRF does. A ``pageSize`` that is not a positive number falls back to the
    default; one above the maximum is capped.
    """
    size = page_size
    raw_size = request.query_params.get(page_size_param) if page_size_param else None
    if raw_size is not None and raw_size.isdigit() and int(raw_size) > 0:
        size = min(int(raw_size), max_page_size or int(raw_size))
    raw_page = request.query_params.get("page", "1")
    if raw_page == "last":
        raw_page = str(max(1, -(-len(items) // size)))
    if not raw_page.isdigit() or int(raw_page) < 1:
        return None
    page = int(raw_page)
    start = (page - 1) * size
    if page > 1 and start >= len(items):
        return None

    def link(number: int) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        if number > 1:
            query.append(("page", str(number)))
        base = str(request.url).split("?")[0]
        return f"{base}?{urlencode(query)}" if query else base

    return {
        "count": len(items),
        "next": link(page + 1) if start + size < len(items) else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": items[start : start + size],
    }
