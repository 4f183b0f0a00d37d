"""IKO Server compatibility, the domain part: ``containerParam`` decoding, and filtering, sorting and paging the
lists (containers) of a profile's view. Plain functions over plain data; no HTTP.

What Valtimo sends (``ContainerParam.kt`` in valtimo-platform/valtimo ``backend/iko``): URL-safe Base64 of the JSON
``{"containerId", "pageable", "filters"}``. ``pageable`` is a Spring ``Pageable`` as Jackson writes it:
``{"pageNumber", "pageSize", "sort", "offset", "paged", "unpaged"}``. Jackson writes a ``Sort`` as
``{"empty", "sorted", "unsorted"}`` — without its orders — unless a custom serializer is registered, so ``sort`` is
read in every shape the IKO Server's ``PageableDeserializer`` reads: ``{"orders": [...]}``, a list of
``{"property", "direction"}``, one such object, ``{"<property>": "DESC"}``, or a string ``"a,desc;b"``; a shape
without orders is no sort. ``page`` / ``number`` and ``size`` / ``limit`` are read as aliases, numbers may be
strings (the IKO Server's own example sends ``"pageNumber": "0"``), and an unpaged pageable (``null``,
``"INSTANCE"``, ``"paged": false``, ``"unpaged": true`` or no size) sorts and filters without paging.

``filters`` keys carry the operator (``ContainerParam.fromFilter``): ``key~`` like (case-insensitive contains),
``key>=`` from, ``key<`` to (``>`` and ``<=`` as well), a plain key exact. A comma-joined value is a multi-select:
any of its parts matches. Ranges compare as dates when both sides are ISO dates (a date-time is compared by its
date against a date), as numbers when both are numbers, else as case-folded text. A key is a dotted path
(``status.omschrijving``) or a JSON pointer (``/status/omschrijving``); through a list it matches when any element
does. An item without the property never matches.

How a paged container is answered: replaced by a Spring ``Page`` as Jackson writes a ``PageImpl`` (``content``,
``totalElements``, ``totalPages``, ``number``, ``size``, ``numberOfElements``, ``first``, ``last``, ``empty``,
``sort``, ``pageable``). That is what Valtimo's ``InteractiveTableWidgetDataProvider`` reads: an object with a
``content`` array is taken as the page with ``totalElements`` as the total, whereas an array is chunked by
Valtimo itself — so a list sliced in place would show an empty table from page 2 on. An unpaged container stays an
array (filtered and sorted), which Valtimo pages itself. Sorting is stable, nulls last in both directions, text
case-folded.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from iko_shared.profiles import run_jq

MAX_PAGE_SIZE = 10_000


class ContainerParamError(ValueError):
    """A containerParam that cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class Order:
    property: str
    descending: bool = False


@dataclass(frozen=True)
class Pageable:
    page: int = 0
    size: int | None = None  # None: unpaged
    orders: tuple[Order, ...] = ()

    @property
    def paged(self) -> bool:
        return self.size is not None


@dataclass(frozen=True)
class ContainerParam:
    container_id: str
    pageable: Pageable = field(default_factory=Pageable)
    filters: dict[str, str] = field(default_factory=dict)


# --- decoding -------------------------------------------------------------------------------------------------


def decode_base64(raw: str) -> bytes:
    """URL-safe or standard Base64, with or without ``=`` padding; a ``+`` a query parser turned into a space
    is read as ``+`` again."""
    text = raw.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    text = text.rstrip("=")
    if len(text) % 4 == 1:
        raise ContainerParamError("containerParam is not valid Base64")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ContainerParamError("containerParam is not valid Base64") from None


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ContainerParamError(f"pageable.{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ContainerParamError(f"pageable.{name} must be a whole number")


def _direction(value: Any) -> bool:
    """True for descending; anything but DESC is ascending, as Spring's parser falls back to ASC."""
    return isinstance(value, str) and value.strip().upper() == "DESC"


def _order(node: Any) -> Order | None:
    if not isinstance(node, dict):
        return None
    prop = node.get("property")
    if isinstance(prop, str) and prop.strip():
        return Order(prop.strip(), _direction(node.get("direction")))
    for key, value in node.items():
        if key in ("direction", "ignoreCase", "nullHandling", "property", "ascending", "descending"):
            continue
        if isinstance(value, str):
            return Order(key, _direction(value))
    return None


def _orders_from_text(text: str) -> tuple[Order, ...]:
    orders: list[Order] = []
    for segment in text.split(";"):
        tokens = [t.strip() for t in segment.split(",") if t.strip()]
        if len(tokens) == 1:
            orders.append(Order(tokens[0]))
            continue
        for i in range(0, len(tokens), 2):
            orders.append(Order(tokens[i], _direction(tokens[i + 1] if i + 1 < len(tokens) else None)))
    return tuple(orders)


def parse_sort(node: Any) -> tuple[Order, ...]:
    """Every shape of a Spring ``Sort`` as JSON; a shape without orders (``{"sorted": true, ...}``) is no sort."""
    if node is None:
        return ()
    if isinstance(node, str):
        return _orders_from_text(node)
    if isinstance(node, list):
        return tuple(o for o in (_order(n) for n in node) if o is not None)
    if isinstance(node, dict):
        if "orders" in node:
            return parse_sort(node["orders"])
        if set(node) <= {"empty", "sorted", "unsorted"}:
            return ()
        single = _order(node)
        return (single,) if single else ()
    return ()


def _pageable_from_query(text: str) -> Pageable:
    params: dict[str, str] = {}
    for part in re.split(r"[&;](?=[^&;=]*=)", text):
        if "=" in part:
            key, value = part.split("=", 1)
            params[key.strip().lower()] = value.strip()
    size = _int(params.get("size") or params.get("pagesize"), "pageSize")
    page = _int(params.get("page") or params.get("pagenumber") or params.get("number"), "pageNumber") or 0
    sort = _orders_from_text(params.get("sort", ""))
    return _checked(page, size, sort)


def _checked(page: int, size: int | None, orders: tuple[Order, ...]) -> Pageable:
    if size is not None and size < 0:
        size = None  # Spring: a negative size is unpaged
    if size == 0:
        raise ContainerParamError("pageable.pageSize must be at least 1")
    if size is not None and size > MAX_PAGE_SIZE:
        raise ContainerParamError(f"pageable.pageSize must be at most {MAX_PAGE_SIZE}")
    if page < 0:
        raise ContainerParamError("pageable.pageNumber must not be negative")
    return Pageable(page, size, orders)


def parse_pageable(node: Any) -> Pageable:
    if node is None:
        return Pageable()
    if isinstance(node, str):
        return Pageable() if node.strip().upper() in ("", "INSTANCE", "UNPAGED") else _pageable_from_query(node)
    if not isinstance(node, dict):
        raise ContainerParamError("pageable must be an object")
    orders = parse_sort(node.get("sort"))
    if node.get("paged") is False or node.get("unpaged") is True:
        return Pageable(0, None, orders)

    def first(*names: str) -> int | None:
        for name in names:
            if node.get(name) is not None:
                return _int(node[name], name)
        return None

    page = first("pageNumber", "page", "number") or 0
    size = first("pageSize", "size", "limit")
    return _checked(page, size, orders)


def parse_filters(node: Any) -> dict[str, str]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ContainerParamError("filters must be an object of strings")
    filters: dict[str, str] = {}
    for key, value in node.items():
        if value is None:
            continue
        if isinstance(value, bool):
            filters[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            filters[key] = str(value)
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            filters[key] = ",".join(str(v) for v in value)
        else:
            raise ContainerParamError(f"filter {key!r} must be a string")
    return filters


def decode_container_param(raw: str) -> ContainerParam:
    """One ``containerParam`` query value; ``ContainerParamError`` (a 400) when it cannot be read."""
    try:
        data = orjson.loads(decode_base64(raw))
    except orjson.JSONDecodeError:
        raise ContainerParamError("containerParam is not Base64 of JSON") from None
    if not isinstance(data, dict):
        raise ContainerParamError("containerParam must be a JSON object")
    container_id = data.get("containerId")
    if not isinstance(container_id, str) or not container_id.strip():
        raise ContainerParamError("containerParam has no containerId")
    return ContainerParam(
        container_id.strip(), parse_pageable(data.get("pageable")), parse_filters(data.get("filters"))
    )


# --- values ---------------------------------------------------------------------------------------------------


def values_at(item: Any, prop: str) -> list[Any]:
    """The values at a dotted path or JSON pointer; lists on the way are flattened, missing parts give none."""
    parts = [p for p in (prop.split("/") if prop.startswith("/") else prop.split(".")) if p != ""]
    current: list[Any] = [item]
    for part in parts:
        found: list[Any] = []
        for node in current:
            if isinstance(node, dict):
                if part in node:
                    found.append(node[part])
            elif isinstance(node, list):
                if part.isdigit() and int(part) < len(node):
                    found.append(node[int(part)])
                else:
                    found.extend(child[part] for child in node if isinstance(child, dict) and part in child)
        current = found
    flat: list[Any] = []
    for value in current:
        if isinstance(value, list):
            flat.extend(value)
        else:
            flat.append(value)
    return [v for v in flat if v is not None]


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        return float(value)
    return None


def _as_moment(value: Any) -> date | datetime | None:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)


def compare(left: Any, right: Any) -> int | None:
    """-1, 0 or 1 comparing ``left`` with ``right`` as dates, numbers or text; None when they do not compare."""
    lm, rm = _as_moment(left), _as_moment(right)
    if lm is not None and rm is not None:
        if isinstance(lm, datetime) != isinstance(rm, datetime):
            lm = lm.date() if isinstance(lm, datetime) else lm
            rm = rm.date() if isinstance(rm, datetime) else rm
        return (lm > rm) - (lm < rm)
    ln, rn = _as_number(left), _as_number(right)
    if ln is not None and rn is not None:
        return (ln > rn) - (ln < rn)
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return None
    lt, rt = _text(left).casefold(), _text(right).casefold()
    return (lt > rt) - (lt < rt)


# --- filters --------------------------------------------------------------------------------------------------

OPERATORS = (">=", "<=", "~", ">", "<")


def split_filter_key(key: str) -> tuple[str, str]:
    """``status.omschrijving~`` -> (``status.omschrijving``, ``~``); a plain key has operator ``=``."""
    for op in OPERATORS:
        if key.endswith(op) and len(key) > len(op):
            return key[: -len(op)].strip(), op
    return key.strip(), "="


def _choices(value: str) -> list[str]:
    parts = [p.strip() for p in value.split(",")]
    return [value.strip(), *(p for p in parts if p and p != value.strip())]


def _equals(item: Any, wanted: str) -> bool:
    number, wanted_number = _as_number(item), _as_number(wanted)
    if number is not None and wanted_number is not None:
        return number == wanted_number
    return _text(item) == wanted


def value_matches(item: Any, op: str, wanted: str) -> bool:
    if op == "=":
        return any(_equals(item, choice) for choice in _choices(wanted))
    if op == "~":
        text = _text(item).casefold()
        return any(choice.casefold() in text for choice in _choices(wanted))
    order = compare(item, wanted.strip())
    if order is None:
        return False
    return {">=": order >= 0, ">": order > 0, "<": order < 0, "<=": order <= 0}[op]


def matches(item: Any, filters: dict[str, str]) -> bool:
    for key, wanted in filters.items():
        if wanted.strip() == "":
            continue
        prop, op = split_filter_key(key)
        if not any(value_matches(v, op, wanted) for v in values_at(item, prop)):
            return False
    return True


def filter_items(items: list[Any], filters: dict[str, str]) -> list[Any]:
    return [item for item in items if matches(item, filters)] if filters else list(items)


# --- sorting and paging ---------------------------------------------------------------------------------------


def _sort_key(value: Any) -> tuple[int, Any]:
    moment = _as_moment(value)
    if moment is not None:
        as_datetime = (
            moment if isinstance(moment, datetime) else datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        )
        return (0, as_datetime.timestamp())
    number = _as_number(value)
    if number is not None:
        return (1, number)
    if isinstance(value, str):
        return (2, (value.casefold(), value))
    return (3, _text(value))


def sort_items(items: list[Any], orders: tuple[Order, ...]) -> list[Any]:
    """Stable, multi-key (one pass per order, last first), nulls last whatever the direction."""
    result = list(items)
    for order in reversed(orders):
        keyed = [(item, values_at(item, order.property)) for item in result]
        present = [(item, vals[0]) for item, vals in keyed if vals]
        missing = [item for item, vals in keyed if not vals]
        present.sort(key=lambda pair: _sort_key(pair[1]), reverse=order.descending)
        result = [item for item, _ in present] + missing
    return result


def _sort_json(orders: tuple[Order, ...]) -> dict[str, bool]:
    return {"empty": not orders, "sorted": bool(orders), "unsorted": not orders}


def page_of(items: list[Any], pageable: Pageable) -> dict[str, Any]:
    """A Spring ``PageImpl`` as Jackson writes it: what Valtimo's table widgets read."""
    size = pageable.size or max(len(items), 1)
    start = pageable.page * size
    content = items[start : start + size]
    total = len(items)
    pages = math.ceil(total / size) if total else 0
    sort = _sort_json(pageable.orders)
    return {
        "content": content,
        "pageable": {
            "pageNumber": pageable.page,
            "pageSize": size,
            "sort": sort,
            "offset": start,
            "paged": True,
            "unpaged": False,
        },
        "totalElements": total,
        "totalPages": pages,
        "last": pageable.page >= pages - 1,
        "size": size,
        "number": pageable.page,
        "sort": sort,
        "numberOfElements": len(content),
        "first": pageable.page == 0,
        "empty": not content,
    }


def shape_container(items: list[Any], param: ContainerParam) -> list[Any] | dict[str, Any]:
    """Filter, sort, then page (a Spring Page) or, unpaged, the filtered and sorted list."""
    shaped = sort_items(filter_items(items, param.filters), param.pageable.orders)
    return page_of(shaped, param.pageable) if param.pageable.paged else shaped


# --- the view -------------------------------------------------------------------------------------------------


def _paths(expression: str, view: Any) -> list[list[str | int]]:
    found = run_jq(f"[path({expression})]", view).first()
    return found if isinstance(found, list) else []


def _get(view: Any, path: list[str | int]) -> Any:
    node = view
    for part in path:
        node = node[part]
    return node


def _set(view: Any, path: list[str | int], value: Any) -> Any:
    if not path:
        return value
    parent = _get(view, path[:-1])
    parent[path[-1]] = value
    return view


def apply_container_params(
    view: Any, containers: dict[str, str], params: list[ContainerParam]
) -> tuple[Any, list[str]]:
    """Shape each named container of the view; returns the view and the containerIds the profile does not have.

    One param per container: a later one for a container already shaped finds no list there and is skipped."""
    unknown: list[str] = []
    for param in params:
        expression = containers.get(param.container_id)
        if expression is None:
            unknown.append(param.container_id)
            continue
        try:
            paths = _paths(expression, view)
        except ValueError:
            continue
        for path in paths:
            try:
                current = _get(view, path)
            except (KeyError, IndexError, TypeError):
                continue
            if current is None:
                current = []
            if isinstance(current, list):
                view = _set(view, path, shape_container(current, param))
    return view, unknown
