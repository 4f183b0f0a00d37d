"""The native REST API: lookups by profile, the identifier in the body."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from iko_shared.contracts import Identifier
from iko_shared.identifiers import identifier_problem
from pydantic import BaseModel, ConfigDict, Field

from iko_gateway.lookups import LookupService, NoAnswerError, PublishFailedError
from iko_gateway.problems import problem

router = APIRouter(prefix="/api/v1")


class LookupBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"identifier": {"type": "bsn", "value": "999993653"}, "timeout_ms": 1500}]},
    )

    identifier: Identifier
    timeout_ms: int | None = Field(None, gt=0, le=600_000, description="Capped by the profile's maximum.")


PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown profile", "content": {"application/problem+json": {}}},
    422: {"description": "Malformed identifier or body", "content": {"application/problem+json": {}}},
    503: {"description": "The broker did not take the request", "content": {"application/problem+json": {}}},
    504: {"description": "No assembled view arrived", "content": {"application/problem+json": {}}},
}


@router.post(
    "/profiles/{profile}/lookups",
    summary="Everything the profile's sources know about one person or company",
    responses={200: {"description": "The assembled view, complete or partial"}, **PROBLEM_RESPONSES},
)
async def lookup(profile: str, body: Annotated[LookupBody, Body()], request: Request) -> Response:
    service: LookupService = request.app.state.lookups
    found = service.profiles.get(profile)
    if found is None:
        return problem(404, "Unknown profile", f"there is no profile {profile!r}")
    if body.identifier.type != found.identifier:
        return problem(
            422,
            "Wrong identifier type",
            f"profile {profile!r} looks up by {found.identifier}, not {body.identifier.type}",
        )
    why = identifier_problem(body.identifier.type, body.identifier.value)
    if why is not None:
        return problem(422, "Malformed identifier", why)
    request_id = str(uuid.uuid4())
    try:
        raw = await service.lookup(request_id, found, body.identifier, body.timeout_ms, now=time.time())
    except PublishFailedError:
        return problem(
            503, "Lookup not accepted", "the message broker did not accept the request", request_id=request_id
        )
    except NoAnswerError:
        return problem(504, "No answer", "no assembled view arrived in time", request_id=request_id)
    return Response(raw, media_type="application/json")
