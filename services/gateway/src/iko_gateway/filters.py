"""A search action's filters: what a caller may fill in and how each value is checked. Plain rules, no HTTP.

Used alike by the native searches and by the compatible ``/endpoints`` calls that a search action serves.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from iko_shared.identifiers import IDENTIFIER_TYPES, identifier_problem
from iko_shared.profiles import FilterSpec, SearchAction

POSTCODE = re.compile(r"[1-9][0-9]{3} ?[A-Za-z]{2}")
INTEGER = re.compile(r"-?[0-9]{1,10}")
# Whole numbers a filter takes: the sources' own parameters (huisnummer, pagina) are 32-bit integers, and a
# larger number could not even be serialised for the broker (orjson stops at 64 bits).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
MAX_PAGE = 10_000
MAX_PAGE_SIZE = 100


class FilterInputError(ValueError):
    """Filters that do not fit the action; the message says which and why."""


def whole_number(name: str, value: str | int, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """``value`` as a whole number within ``[low, high]``; ASCII digits only."""
    if isinstance(value, bool):
        raise FilterInputError(f"{name!r}: a whole number is expected")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if not INTEGER.fullmatch(text):
            raise FilterInputError(f"{name!r}: a whole number is expected")
        number = int(text)
    if not low <= number <= high:
        raise FilterInputError(f"{name!r}: a whole number from {low} to {high} is expected")
    return number


def filter_value(name: str, spec: FilterSpec, value: str | int | bool) -> Any:
    text = str(value).strip()
    problem: str | None = None
    converted: Any = text
    if spec.type in IDENTIFIER_TYPES:
        problem = identifier_problem(spec.type, text)
    elif spec.type == "postcode" and not POSTCODE.fullmatch(text):
        problem = "a postcode is four digits and two letters, e.g. 1234 AB"
    elif spec.type == "date":
        try:
            converted = date.fromisoformat(text).isoformat()
        except ValueError:
            problem = "a date is written as YYYY-MM-DD"
    elif spec.type == "integer":
        try:
            converted = whole_number(name, value if isinstance(value, int) else text)
        except FilterInputError as exc:
            raise FilterInputError(f"filter {exc}") from None
    elif spec.type == "boolean":
        if text.lower() not in ("true", "false"):
            problem = "true or false is expected"
        converted = text.lower() == "true"
    if problem is not None:
        raise FilterInputError(f"filter {name!r}: {problem}")
    # A list-valued source parameter (the BRP's burgerservicenummer) still gets the one value the filter holds.
    return [converted] if spec.as_list else converted


def search_params(action: SearchAction, filters: dict[str, str | int | bool]) -> dict[str, Any]:
    """The action's fixed params with the caller's filters: only the declared ones, each checked."""
    unknown = sorted(set(filters) - set(action.filters))
    if unknown:
        raise FilterInputError(f"unknown filters {unknown}; this action takes {sorted(action.filters)}")
    missing = sorted(n for n, s in action.filters.items() if s.required and filters.get(n, "") == "")
    if missing:
        raise FilterInputError(f"missing required filters {missing}")
    params = dict(action.params)
    for name, value in filters.items():
        if value == "":
            continue
        params[name] = filter_value(name, action.filters[name], value)
    return params


def paging_params(action: SearchAction, page: int, page_size: int) -> dict[str, int]:
    """The source's paging params, for an action the source pages; bounded as the native API bounds them."""
    if action.paging != "source":
        return {}
    return {
        action.page_param: whole_number(action.page_param, page, 1, MAX_PAGE),
        action.page_size_param: whole_number(action.page_size_param, page_size, 1, MAX_PAGE_SIZE),
    }
