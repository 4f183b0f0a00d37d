"""One JSON codec for every message: orjson is several times faster than the standard library on the hot path."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel


def dump_model(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)
