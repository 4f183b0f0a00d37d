"""The native REST API: profiles, lookups (JSON or a stream of events) and searches; identifiers in bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from iko_shared.contracts import Identifier
from iko_shared.identifiers import identifier_problem
from iko_shared.profiles import Profile
from pydantic import BaseModel, ConfigDict, Field

from iko_gateway.lookups import LookupService, NoAnswerError, PublishFailedError
from iko_gateway.problems import problem
from iko_gateway.schema import answer_schema
from iko_gateway.searches import SearchBody, SearchFailedError, SearchInputError, run_search

router = APIRouter(prefix="/api/v1", tags=["IKO"])

EVENT_STREAM = "text/event-stream"


class LookupBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"identifier": {"type": "bsn", "value": "999993653"}, "timeout_ms": 1500}]},
    )

    identifier: Identifier
    timeout_ms: int | None = Field(None, gt=0, le=600_000, description="Capped by the profile's maximum.")


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        404: "Unknown profile or action",
        422: "Malformed identifier, filters or body",
        502: "The source answered with an error",
        503: "The broker did not take the request",
        504: "No answer in time",
    }
    return {c: {"description": described[c], "content": {"application/problem+json": {}}} for c in codes}


def service_of(request: Request) -> LookupService:
    service: LookupService = request.app.state.lookups
    return service


def profile_or_404(request: Request, name: str) -> Profile | Response:
    found = service_of(request).profiles.get(name)
    if found is None:
        return problem(404, "Unknown profile", f"there is no profile {name!r}")
    return found


def profile_summary(profile: Profile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "title": profile.title,
        "description": profile.description,
        "identifiers": list(profile.identifiers),
        "sources": sorted(profile.sources),
        "relations": [r.name for r in profile.relations],
        "searches": [
            {
                "action": key,
                "title": action.title,
                "filters": {name: spec.model_dump() for name, spec in action.filters.items()},
                "columns": [{"key": c.key, "title": c.title} for c in action.columns],
            }
            for key, action in profile.searches.items()
        ],
        "timeout": profile.timeout.model_dump(),
    }


@router.get("/profiles", summary="The profiles this gateway serves")
async def list_profiles(request: Request) -> list[dict[str, Any]]:
    return [profile_summary(p) for p in service_of(request).profiles]


@router.get("/profiles/{profile}", summary="One profile", responses=_problems(404))
async def get_profile(profile: str, request: Request) -> Response:
    found = profile_or_404(request, profile)
    if isinstance(found, Response):
        return found
    detail = {**profile_summary(found), "definition": found.model_dump(mode="json", by_alias=True)}
    return JSONResponse(detail)


@router.get(
    "/profiles/{profile}/schema", summary="JSON Schema of the profile's lookup answer", responses=_problems(404)
)
async def get_profile_schema(profile: str, request: Request) -> Response:
    found = profile_or_404(request, profile)
    if isinstance(found, Response):
        return found
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
        **_problems(404, 422, 503, 504),
    },
)
async def lookup(profile: str, body: Annotated[LookupBody, Body()], request: Request) -> Response:
    service = service_of(request)
    found = profile_or_404(request, profile)
    if isinstance(found, Response):
        return found
    if body.identifier.type not in found.identifiers:
        return problem(
            422,
            "Wrong identifier type",
            f"profile {profile!r} looks up by {', '.join(found.identifiers)}, not {body.identifier.type}",
        )
    why = identifier_problem(body.identifier.type, body.identifier.value)
    if why is not None:
        return problem(422, "Malformed identifier", why)
    ask = service.profile_lookup(found, body.identifier, body.timeout_ms)
    if EVENT_STREAM in request.headers.get("accept", ""):
        return StreamingResponse(_stream(service, ask), media_type=EVENT_STREAM, headers={"Cache-Control": "no-store"})
    try:
        raw = await service.ask(ask)
    except PublishFailedError:
        return problem(503, "Lookup not accepted", "the message broker did not accept the request")
    except NoAnswerError:
        return problem(504, "No answer", "no assembled answer arrived in time")
    return Response(raw, media_type="application/json")


async def _stream(service: LookupService, ask: Any) -> AsyncIterator[bytes]:
    try:
        async for event, data in service.stream(ask):
            yield _sse(event, data)
    except PublishFailedError:
        yield _sse("error", b'{"status": 503, "title": "Lookup not accepted"}')
    except NoAnswerError:
        yield _sse("error", b'{"status": 504, "title": "No answer"}')


@router.post(
    "/profiles/{profile}/searches",
    summary="Run one of the profile's search actions; a page of rows with the action's columns",
    responses=_problems(404, 422, 502, 503, 504),
)
async def search(profile: str, body: Annotated[SearchBody, Body()], request: Request) -> Response:
    found = profile_or_404(request, profile)
    if isinstance(found, Response):
        return found
    if body.action not in found.searches:
        return problem(404, "Unknown search action", f"profile {profile!r} has no action {body.action!r}")
    try:
        page = await run_search(service_of(request), found, body)
    except SearchInputError as exc:
        return problem(422, "Invalid filters", str(exc))
    except SearchFailedError as exc:
        if exc.status == "timeout":
            return problem(504, "Search timed out", "the source did not answer in time")
        return problem(502, "The source failed", "the source answered with an error", source_error=exc.error)
    except PublishFailedError:
        return problem(503, "Search not accepted", "the message broker did not accept the request")
    except NoAnswerError:
        return problem(504, "No answer", "no answer arrived in time")
    return JSONResponse(page)
