"""Keeps the last API requests so tests can see what actually reached the source."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson

MAX_RECORDED = 200


class RequestRecorder:
    def __init__(self, limit: int = MAX_RECORDED) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=limit)

    def record(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        header_map: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            header_map[name] = f"{header_map[name]}, {value}" if name in header_map else value
        json_body: Any = None
        if body:
            try:
                json_body = orjson.loads(body)
            except orjson.JSONDecodeError:
                json_body = None
        self._items.append(
            {
                "received_at": time.time(),
                "method": method,
                "path": path,
                "query": query,
                "headers": header_map,
                "json": json_body,
            }
        )

    def all(self) -> list[dict[str, Any]]:
        return list(self._items)

    def clear(self) -> None:
        self._items.clear()
