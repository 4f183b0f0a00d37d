"""The native REST API: profiles, lookups (JSON or a stream of events) and searches; identifiers in bodies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from iko_shared.ops import metrics
from iko_shared.profiles import Profile
from pydantic import BaseModel, ConfigDict, Field

from iko_gateway.access import may_receive
from iko_gateway.audit import Auditor, StreamDisclosure
from iko_gateway.auth.caller import Caller
from iko_gateway.decisions import Ask, Stated
from iko_gateway.inputs import IdentifierInput
from iko_gateway.lookups import LookupService, NoAnswerError, OverloadedError, PublishFailedError
from iko_gateway.problems import problem
from iko_gateway.schema import answer_schema
from iko_gateway.searches import SearchBody, SearchFailedError, run_search
from iko_gateway.security import CallerDep
from iko_gateway.state import auditor_of, decider_of, service_of

router = APIRouter(prefix="/api/v1", tags=["IKO"])

EVENT_STREAM = "text/event-stream"


class LookupBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "identifier": {"type": "bsn", "value": "999993653"},
                    "timeout_ms": 1500,
                    "doelbinding": "klantcontact",
                    "verwerking": "Beantwoorden vraag burger",
                }
            ]
        },
    )

    identifier: IdentifierInput
    timeout_ms: int | None = Field(None, gt=0, le=600_000, description="Capped by the profile's maximum.")
    doelbinding: str | None = Field(
        None, max_length=200, description="The purpose of this lookup (or the x-doelbinding header); required."
    )
    verwerking: str | None = Field(None, max_length=200, description="The processing (or the x-verwerking header).")


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "No valid credentials",
        403: "The caller may not use this profile, or the profile does not serve the stated purpose",
        404: "Unknown profile or action",
        413: "The request body is too large",
        429: "Too many requests (see Retry-After)",
        422: "Malformed identifier, filters or body",
        502: "The source answered with an error",
        503: "The broker did not take the request, or the access could not be recorded",
        504: "No answer in time",
    }
    return {c: {"description": described[c], "content": {"application/problem+json": {}}} for c in codes}


def profile_summary(profile: Profile, caller: Caller) -> dict[str, Any]:
    return {
        "name": profile.name,
        "title": profile.title,
        "description": profile.description,
        "identifiers": list(profile.identifiers),
        "sources": sorted(k for k, spec in profile.sources.items() if may_receive(spec, caller)),
        "purposes": list(profile.purposes),
        "relations": [r.name for r in profile.relations],
        "searches": [
            {
                "action": key,
                "title": action.title,
                "filters": {name: spec.model_dump() for name, spec in action.filters.items()},
                "columns": [{"key": c.key, "title": c.title} for c in action.columns],
            }
            for key, action in profile.searches.items()
            if caller.has_any(action.roles)
        ],
        "timeout": profile.timeout.model_dump(),
    }


@router.get("/profiles", summary="The profiles the caller may use", responses=_problems(401))
async def list_profiles(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    return [profile_summary(p, caller) for p in decider_of(request).visible(caller)]


@router.get("/profiles/{profile}", summary="One profile", responses=_problems(401, 403, 404))
async def get_profile(profile: str, request: Request, caller: CallerDep) -> Response:
    found = decider_of(request).profile(caller, profile)
    detail = {**profile_summary(found, caller), "definition": found.model_dump(mode="json", by_alias=True)}
    return JSONResponse(detail)


@router.get(
    "/profiles/{profile}/schema",
    summary="JSON Schema of the profile's lookup answer",
    responses={
        200: {"description": "The JSON Schema", "content": {"application/schema+json": {}}},
        **_problems(401, 403, 404),
    },
)
async def get_profile_schema(profile: str, request: Request, caller: CallerDep) -> Response:
    found = decider_of(request).profile(caller, profile)
    return JSONResponse(answer_schema(found), media_type="application/schema+json")


def _sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


@router.post(
    "/profiles/{profile}/lookups",
    summary="Everything the profile's sources know about one person or company",
    description=(
        "With `Accept: text/event-stream` the answer streams: an `event: fragment` for every source's answer as "
        "it arrives, then `event: view` with the whole answer."
    ),
    responses={
        200: {
            "description": "The assembled answer, complete or partial",
            "content": {"application/json": {}, EVENT_STREAM: {}},
        },
        **_problems(401, 403, 404, 413, 422, 429, 503, 504),
    },
)
async def lookup(profile: str, body: Annotated[LookupBody, Body()], request: Request, caller: CallerDep) -> Response:
    service = service_of(request)
    stated = Stated.of(body.doelbinding, body.verwerking, request.headers)
    decider = decider_of(request)
    try:
        ask = decider.lookup(caller, profile, body.identifier, body.timeout_ms, stated)
    except Exception:
        # Only a configured profile's name is a label; whatever else was asked for is "unknown".
        metrics.lookup_refused(profile if decider.profiles.get(profile) is not None else "unknown")
        raise
    request_id = str(uuid.uuid4())
    started = datetime.now(UTC)
    auditor = auditor_of(request)
    audit = partial(auditor.record_lookup, ask, request_id=request_id, caller=caller, started_at=started)
    if EVENT_STREAM in request.headers.get("accept", ""):
        # A stream discloses as it goes: what may be disclosed is recorded before the first event, and what was
        # sent when the stream ends, however it ends.
        await audit(answer=None, outcome="stream_started")
        disclosure = StreamDisclosure(ask)
        return StreamingResponse(
            _stream(service, ask, request_id, disclosure, auditor, partial(audit, answer=None)),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-store"},
        )
    try:
        answered = await service.ask_answered(ask, request_id)
    except OverloadedError:
        return problem(503, "Too busy", "this gateway has as many lookups in flight as it takes; try again")
    except PublishFailedError:
        return problem(503, "Lookup not accepted", "the message broker did not accept the request")
    except NoAnswerError:
        return problem(504, "No answer", "no assembled answer arrived in time")
    # Recorded before it is disclosed: if the record fails, the answer is not sent.
    await audit(answer=answered.answer)
    return Response(answered.raw, media_type="application/json")


async def _stream(
    service: LookupService,
    ask: Ask,
    request_id: str,
    disclosure: StreamDisclosure,
    auditor: Auditor,
    audit: partial[Any],
) -> AsyncIterator[bytes]:
    try:
        async for event, data in service.stream(ask, request_id):
            chunk = _sse(event, data)
            # Counted before it is handed on: a chunk the client may have received is in the record.
            disclosure.sent(event, data)
            yield chunk
    except PublishFailedError:
        disclosure.failed("not_accepted")
        yield _sse("error", b'{"status": 503, "title": "Lookup not accepted"}')
    except NoAnswerError:
        disclosure.failed("no_answer")
        yield _sse("error", b'{"status": 504, "title": "No answer"}')
    finally:
        # Also when the client went away mid-stream: this generator may be cancelled or closed here, where
        # nothing can be awaited, so the record of what was sent goes out on a task of its own.
        auditor.record_later(
            audit(outcome=disclosure.outcome(), disclosed=disclosure.disclosed(), subjects=disclosure.subjects())
        )


@router.post(
    "/profiles/{profile}/searches",
    summary="Run one of the profile's search actions; a page of rows with the action's columns",
    responses=_problems(401, 403, 404, 413, 422, 429, 502, 503, 504),
)
async def search(profile: str, body: Annotated[SearchBody, Body()], request: Request, caller: CallerDep) -> Response:
    plan = decider_of(request).search(
        caller,
        profile,
        body.action,
        body.filters,
        body.page,
        body.page_size,
        body.timeout_ms,
        Stated.of(body.doelbinding, body.verwerking, request.headers),
    )
    auditor = auditor_of(request)
    try:
        page = await run_search(
            service_of(request),
            plan,
            body.page,
            body.page_size,
            audit=partial(
                auditor.record,
                kind="search",
                profile=plan.profile.name,
                activity=f"{plan.profile.name}: zoeken ({body.action})",
                context=plan.ask.context,
                caller=caller,
                search={"action": body.action, "filters": body.filters, "page": body.page},
            ),
        )
    except SearchFailedError as exc:
        if exc.status == "timeout":
            return problem(504, "Search timed out", "the source did not answer in time")
        return problem(502, "The source failed", "the source answered with an error", source_error=exc.error)
    except PublishFailedError:
        return problem(503, "Search not accepted", "the message broker did not accept the request")
    except NoAnswerError:
        return problem(504, "No answer", "no answer arrived in time")
    return JSONResponse(page)
