"""Structured JSON logging: every line names its service and, where there is one, its request_id.

Identifiers (BSN, kvkNummer) never reach a log line in clear: callers bind them through ``masked`` and a
processor masks any known identifier field that slips through.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from iko_shared.identifiers import mask

_IDENTIFIER_KEYS = frozenset({"bsn", "kvk", "kvk_nummer", "kvkNummer", "identifier", "burgerservicenummer"})


def _mask_identifiers(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _IDENTIFIER_KEYS.intersection(event):
        value = event[key]
        if isinstance(value, str):
            event[key] = mask(value)
        elif isinstance(value, dict) and isinstance(value.get("value"), str):
            event[key] = {**value, "value": mask(value["value"])}
    return event


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_identifiers,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that log through the standard library (uvicorn, aio-pika) go to stderr as plain lines, at
    # WARNING so they never print request paths or payloads.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")


def get_logger(**initial: Any) -> Any:
    return structlog.get_logger(**initial)
