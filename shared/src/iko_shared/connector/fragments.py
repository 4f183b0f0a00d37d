"""Turning a fetch into a fragment: whatever happens at the source, the assembler hears about it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx

from iko_shared.connector.source import FetchContext, FetchResult, Source, SourceError
from iko_shared.contracts import FragmentError, FragmentProduced
from iko_shared.logging import get_logger

log = get_logger()


async def fetch_fragment(source: Source, ctx: FetchContext) -> FragmentProduced:
    started = time.perf_counter()
    try:
        if ctx.query.operation not in source.operations():
            raise SourceError("unsupported_operation", f"{source.name} has no operation {ctx.query.operation!r}")
        result = await source.fetch(ctx)
    except SourceError as exc:
        result = FetchResult("error", None, exc.code, exc.message, exc.details)
    except httpx.TimeoutException:
        result = FetchResult("error", None, "timeout", f"{source.name} did not answer in time")
    except httpx.TransportError as exc:
        result = FetchResult("error", None, "unreachable", f"{source.name} unreachable: {type(exc).__name__}")
    except json.JSONDecodeError:
        # A body that began as JSON and is not (cut off): the source's fault, not the adapter's.
        result = FetchResult("error", None, "invalid_response", f"{source.name} answered with JSON that does not parse")
    except Exception as exc:  # a bug in an adapter still yields a fragment, never silence
        log.exception("fetch.failed", key=ctx.query.key)
        result = FetchResult("error", None, "internal_error", f"{type(exc).__name__} in the {source.name} connector")
    duration_ms = (time.perf_counter() - started) * 1000
    error = None
    if result.status == "error":
        error = FragmentError(
            code=result.error_code or "error",
            message=result.error_message or "the source answered with an error",
            details=result.error_details,
        )
    return FragmentProduced(
        request_id=ctx.request.request_id,
        key=ctx.query.key,
        source=source.name,
        status=result.status,
        data=result.data,
        error=error,
        retrieved_at=datetime.now(UTC),
        duration_ms=round(duration_ms, 3),
        deadline=ctx.request.deadline,
        subject=ctx.query.identifier or ctx.request.identifier,
    )
