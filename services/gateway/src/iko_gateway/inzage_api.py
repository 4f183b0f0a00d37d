"""The inzage routes: who saw a data subject's data, for the privacy officer and in the citizen's form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from iko_shared.contracts import DisclosedSource, DisclosedSubject, RequestContext
from pydantic import BaseModel, ConfigDict, Field

from iko_gateway.auth.caller import Caller
from iko_gateway.decisions import Stated
from iko_gateway.inputs import IdentifierInput
from iko_gateway.inzage import StoreUnavailableError, citizen_view, officer_view
from iko_gateway.lookups import NoAnswerError, PublishFailedError
from iko_gateway.problems import problem
from iko_gateway.security import CallerDep
from iko_gateway.state import auditor_of, decider_of, inzage_of

inzage_router = APIRouter(prefix="/api/v1", tags=["Inzage"])


class InzageBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"identifier": {"type": "bsn", "value": "999993653"}, "page": 1}]},
    )

    identifier: IdentifierInput
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(20, ge=1, le=200)
    doelbinding: str | None = Field(None, max_length=200, description="Default: inzageverzoek")
    verwerking: str | None = Field(None, max_length=200)


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid credentials"},
    403: {"description": "The caller may not read the audit trail"},
    422: {"description": "Malformed identifier or body"},
    503: {"description": "The audit store could not be read, or the access could not be recorded"},
    504: {"description": "The audit service did not answer in time"},
}


async def _inzage(request: Request, caller: Caller, body: InzageBody, *, citizen: bool) -> Response:
    context: RequestContext = decider_of(request).inzage(
        caller, body.identifier, Stated.of(body.doelbinding, body.verwerking, request.headers), citizen=citizen
    )
    started = datetime.now(UTC)
    try:
        answer = await inzage_of(request).ask(body.identifier, body.page, body.page_size)
    except (PublishFailedError, StoreUnavailableError):
        return problem(503, "Audit store unavailable", "the audit trail could not be read; try again later")
    except NoAnswerError:
        return problem(504, "No answer", "the audit service did not answer in time")
    form = "burger" if citizen else "privacy"
    disclosed = DisclosedSource(key="audit", source="audit", operation=f"inzage-{form}", fields=[], status="ok")
    # Reading the trail is itself a processing of the subject's data: recorded before it is disclosed.
    await auditor_of(request).record(
        request_id=answer.request_id or str(uuid.uuid4()),
        kind="inzage",
        profile="inzage",
        activity=f"inzage ({form})",
        context=context,
        caller=caller,
        queries=[],
        answer=None,
        started_at=started,
        identifier=body.identifier,
        search={"page": body.page, "page_size": body.page_size},
        outcome="ok",
        disclosed=[disclosed],
        subjects=[DisclosedSubject(identifier=body.identifier, sources=[disclosed])],
    )
    return JSONResponse(citizen_view(answer) if citizen else officer_view(answer))


@inzage_router.post(
    "/inzage",
    summary="Every disclosure about one data subject, newest first (privacy officer)",
    description="Who saw this person's or company's data, when, for which purpose, and what: every stored record. "
    "Role: `IKO_GATEWAY_INZAGE_ROLES` (default `iko-privacy`). The inzage is recorded itself.",
    responses=RESPONSES,
)
async def inzage(body: Annotated[InzageBody, Body()], request: Request, caller: CallerDep) -> Response:
    return await _inzage(request, caller, body, citizen=False)


@inzage_router.post(
    "/inzage/burger",
    summary="The citizen's form of the inzage: when, which processing, why, by whom (the organisation), which data",
    description="As the VNG Verwerkingenlogging model shows it to the data subject: without the case worker's "
    "name, the system or the source. Roles: the inzage roles and `IKO_GATEWAY_INZAGE_PORTAL_ROLES` (default "
    "`iko-portaal`).",
    responses=RESPONSES,
)
async def inzage_citizen(body: Annotated[InzageBody, Body()], request: Request, caller: CallerDep) -> Response:
    return await _inzage(request, caller, body, citizen=True)
