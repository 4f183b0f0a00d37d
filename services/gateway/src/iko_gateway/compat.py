"""The IKO Server compatible API: what Valtimo's IKO module (repository type ``iko``) calls, so that Valtimo can
point its ``ikoServerUrl`` at this gateway unchanged.

This API puts identifiers in URLs (``?id=<bsn>``, ``/endpoints/.../<bsn>``), because that is how Valtimo calls the
IKO Server. It is the compatibility path; the native API (``POST /api/v1/profiles/{profile}/lookups``, identifiers
in the body) is the recommended one.

Routes and the shapes chosen, with where they come from (Integraal-Klant-en-Objectbeeld/iko: the Camel routes
``AggregatedDataProfileRoute``, ``EndpointRestRoutesBuilder``, ``ContainerParamsProcessor``, ``ErrorHelper``,
``GlobalErrorHandlerConfiguration``, ``AggregatedDataProfileController``; valtimo-platform/valtimo ``backend/iko``:
``IkoClient``, ``IkoServerRepository``, ``IkoValueResolverFactory``, ``ContainerParam`` and the widget module's
``InteractiveTableWidgetDataProvider``):

``GET /aggregated-data-profiles/{name}?id=…&containerParam=…``
    The profile's lookup for ``id`` (of the profile's first identifier type, checked as the native API checks it),
    answered with the view (the profile's transform) as a JSON object: Valtimo reads it with JSON pointers.
    Each ``containerParam`` filters, sorts and pages the container (``containers:`` in the profile) it names; a
    paged container becomes a Spring ``Page`` (``content``, ``totalElements``, ...) — see ``compat_containers``.
    A containerId the profile has no container for is ignored, as the IKO Server's transforms ignore it.
    Other query parameters are accepted and ignored. The profile's default timeout applies (Valtimo sets none).
    A partial answer (a source timed out) is still the view, with ``X-IKO-Status: partial`` — where the IKO Server
    fails the whole call, the case worker sees what did arrive.
``GET /aggregated-data-profiles/{name}/{id}``
    The same with the id in the path, as older Valtimo ``IkoClient`` versions and the IKO Server's request
    examples send it (``/schema`` is not an id: it is the route below).
``GET /aggregated-data-profiles/{name}/schema``
    The JSON Schema of the view (the IKO Server answers the schema of the transformed result), see
    ``compat_schema``.
``GET /endpoints/{connector}/{instance}/{operation}[/{id}]``
    One source operation through the pipeline, served only as an operation that a profile the caller may use
    exposes (see ``decisions``): with ``{id}``, as one of the profile's root sources, for an identifier of a type
    the profile takes; without, as one of its search actions, the query parameters being the action's filters.
    The exposure's profile roles, source or action roles and purposes apply. Query parameters narrow what is
    granted, never widen it: ``fields`` (comma-separated) within the granted fields (default: all of them),
    params within the granted params (a list to a subset, a number to at most it), only declared filters, one
    identifier where a filter takes one. For ``brp`` a ``type`` parameter names the BRP query type and wins over
    the path's operation (Valtimo's own example of an endpoint parameter is
    ``type=ZoekMetGeslachtsnaamEnGeboortedatum``). The answer is the source's data as it is; Valtimo takes the
    first JSON array in it. ``instance`` is accepted and ignored: each source has one instance here. An unknown
    connector or an operation no profile exposes is a 404, one the caller may not use a 403. Timeout:
    ``IKO_GATEWAY_COMPAT_TIMEOUT_MS``.

Errors, as the IKO Server's ``ErrorHelper`` writes them: ``{"message", "correlationId"}`` with an
``X-Correlation-Id`` header (also on success). The correlation id is the incoming ``X-Correlation-Id`` when it is
a sane token, else the request id of the lookup. Statuses: unreadable query parameters (``id``,
``containerParam``, endpoint params) 400, as the IKO Server's ``AggregatedDataProfileQueryParametersError``;
unknown profile 404; unknown connector 404; a detail the source does not know 404; a source error 500 with
"Unexpected error" (the IKO Server hides upstream failures behind a 500, ``exposeMessage = false``) except a
source that refused the query as invalid, 400; a transform result that is not an object 500; the broker not
taking the request 503; a source or the assembler not answering in time 504 (the IKO Server has no deadline and
answers any failure 500; Valtimo shows an empty screen on any error, so the distinction is for operators).
Authentication as on the native API (Valtimo sends the case worker's own Keycloak JWT, audience ``iko``, roles in
``resource_access.iko.roles``); 401/403/429 come in this API's error shape too. Every call is recorded in the
audit trail before its answer is sent, with the purpose from ``x-doelbinding`` or the deployment's default.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from iko_shared.contracts import DisclosedSource, DisclosedSubject
from iko_shared.logging import get_logger
from iko_shared.profiles import run_jq

from iko_gateway.access import AccessDeniedError
from iko_gateway.audit import disclosed_sources, group_subjects, row_subjects
from iko_gateway.auth.caller import Caller
from iko_gateway.compat_containers import ContainerParamError, apply_container_params, decode_container_param
from iko_gateway.compat_schema import view_schema
from iko_gateway.decisions import Ask, EndpointPlan, Stated
from iko_gateway.error_shapes import CORRELATION_HEADER, correlation_id, error_response
from iko_gateway.lookups import LookupService, NoAnswerError, PublishFailedError
from iko_gateway.security import CallerDep
from iko_gateway.state import auditor_of, decider_of, service_of

log = get_logger()

TAG = "IKO Server compatibility"
COMPAT_NOTE = (
    "IKO Server compatibility: this API puts identifiers in URLs, as Valtimo's IKO module calls the IKO Server. "
    "It is the compatibility path; the native `POST /api/v1/profiles/{profile}/lookups` (identifier in the body) "
    "is the recommended API."
)


compat_router = APIRouter(tags=[TAG])


class CompatError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refused(exc: AccessDeniedError) -> CompatError:
    """A decision's refusal in this API's terms: an unreadable call is a 400 here, as the IKO Server has it."""
    return CompatError(400 if exc.status == 422 and exc.title != "Purpose required" else exc.status, exc.detail)


def stated(request: Request) -> Stated:
    return Stated.of(None, None, request.headers)


# --- routes ---------------------------------------------------------------------------------------------------


@compat_router.get(
    "/aggregated-data-profiles/{name}",
    summary="The profile's view for one identifier (IKO Server compatible)",
    description=COMPAT_NOTE
    + "\n\n`containerParam` (repeatable): URL-safe Base64 of `{containerId, pageable, filters}`; it filters, sorts "
    "and pages the view's list named by `containerId` (a paged list becomes a Spring Page). Errors: "
    '`{"message", "correlationId"}` with an `X-Correlation-Id` header.',
    responses={
        200: {"description": "The view (the profile's transform over the answer)"},
        400: {"description": "Unreadable id or containerParam"},
        404: {"description": "Unknown profile"},
        500: {"description": "The profile's transform gave no object"},
        503: {"description": "The broker did not take the request"},
        504: {"description": "No answer in time"},
    },
)
async def aggregated_data_profile(
    name: str,
    request: Request,
    caller: CallerDep,
    id: Annotated[str | None, Query(description="The identifier, of the profile's first identifier type")] = None,
    containerParam: Annotated[  # noqa: N803 - the IKO Server's parameter name
        list[str] | None, Query(description="Base64 of {containerId, pageable, filters}; repeatable")
    ] = None,
) -> Response:
    request_id = str(uuid.uuid4())
    correlation = correlation_id(request, request_id)
    try:
        service = service_of(request)
        try:
            profile, ask = decider_of(request).view(caller, name, id, stated(request))
        except AccessDeniedError as exc:
            raise refused(exc) from None
        try:
            params = [decode_container_param(raw) for raw in containerParam or []]
        except ContainerParamError as exc:
            raise CompatError(400, f"Query parameter(s) [containerParam] could not be parsed: {exc}") from None
        started = datetime.now(UTC)
        answer = await _ask(service, ask, request_id)
        # Recorded before it is disclosed: if the record fails, the view is not sent.
        await auditor_of(request).record_lookup(
            ask, request_id=request_id, caller=caller, started_at=started, answer=answer, via=" (IKO Server API)"
        )
        view = answer.get("view")
        if not isinstance(view, dict):
            raise CompatError(500, "Transform result is unsupported. Expected an object.")
        view, unknown = apply_container_params(view, profile.containers, params)
        if unknown:
            # How many, not which: a containerId is the caller's text (it may hold anything, a BSN or a name).
            log.info("compat.unknown_containers", count=len(unknown), request_id=request_id)
    except CompatError as exc:
        return error_response(exc.status, exc.message, correlation)
    return JSONResponse(
        view,
        headers={CORRELATION_HEADER: correlation, "X-IKO-Status": str(answer.get("status", ""))},
    )


@compat_router.get(
    "/aggregated-data-profiles/{name}/schema",
    summary="JSON Schema of the profile's view (IKO Server compatible)",
    description=COMPAT_NOTE,
    responses={404: {"description": "Unknown profile"}},
)
async def aggregated_data_profile_schema(name: str, request: Request, caller: CallerDep) -> Response:
    correlation = correlation_id(request, str(uuid.uuid4()))
    try:
        profile = decider_of(request).profile(caller, name, unknown=f"ADP with name: {name} was not found")
    except AccessDeniedError as exc:
        return error_response(exc.status, exc.detail, correlation)
    return JSONResponse(view_schema(profile), headers={CORRELATION_HEADER: correlation})


async def _ask(service: LookupService, ask: Ask, request_id: str) -> dict[str, Any]:
    try:
        return await service.ask_json(ask, request_id)
    except PublishFailedError:
        raise CompatError(503, "The request was not accepted: the message broker did not take it") from None
    except NoAnswerError:
        raise CompatError(504, "No answer arrived in time") from None


async def _endpoint(request: Request, caller: Caller, connector: str, operation: str, raw_id: str | None) -> Response:
    request_id = str(uuid.uuid4())
    correlation = correlation_id(request, request_id)
    try:
        try:
            plan = decider_of(request).endpoint(
                caller, connector, operation, raw_id, list(request.query_params.multi_items()), stated(request)
            )
        except AccessDeniedError as exc:
            raise refused(exc) from None
        started = datetime.now(UTC)
        answer = await _ask(service_of(request), plan.ask, request_id)
        sources = answer.get("sources")
        result = sources.get(connector) if isinstance(sources, dict) else None
        disclosed = disclosed_sources(plan.ask.queries, answer)
        # Recorded before it is disclosed, with every person or company the answer is about.
        await auditor_of(request).record(
            request_id=request_id,
            kind="endpoint",
            profile=plan.ask.profile,
            activity=f"{connector}: {plan.operation} (IKO Server API)",
            context=plan.ask.context,
            caller=caller,
            queries=plan.ask.queries,
            answer=answer,
            started_at=started,
            identifier=plan.identifier,
            search={"operation": plan.operation, "params": plan.params} if plan.identifier is None else None,
            disclosed=disclosed,
            subjects=_endpoint_subjects(plan, result, disclosed),
        )
        if not isinstance(result, dict):
            raise CompatError(500, "Unexpected error")
        status, data = result.get("status"), result.get("data")
        if status == "timeout":
            raise CompatError(504, f"The source {connector} did not answer in time")
        if status == "error":
            error = result.get("error") or {}
            details = error.get("details") or {}
            if error.get("code") in ("invalid_query", "unsupported_identifier") or details.get("status") == 400:
                raise CompatError(400, f"The source refused the query: {error.get('message', 'invalid query')}")
            log.warning("compat.source_error", code=error.get("code"), request_id=request_id)
            raise CompatError(500, "Unexpected error")
        if status == "not_found" and data is None:
            raise CompatError(404, f"The source {connector} knows no such {plan.operation}")
    except CompatError as exc:
        return error_response(exc.status, exc.message, correlation)
    return JSONResponse(data, headers={CORRELATION_HEADER: correlation})


def _endpoint_subjects(plan: EndpointPlan, result: Any, disclosed: list[DisclosedSource]) -> list[DisclosedSubject]:
    """Whom an endpoint's answer is about: the identifier of a detail, each row's subject of a search."""
    if plan.identifier is not None:
        return group_subjects([(plan.identifier, d) for d in disclosed])
    action = plan.exposure.action
    data = result.get("data") if isinstance(result, dict) and result.get("status") == "ok" else None
    if action is None or data is None or not disclosed:
        return []
    return row_subjects(action, list(run_jq(action.rows, data).all()), disclosed[0])


ENDPOINT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The source's data as it is"},
    400: {"description": "Unreadable parameters, or the source refused the query"},
    404: {"description": "Unknown connector, or (detail) the source knows no such thing"},
    500: {"description": "The source failed"},
    503: {"description": "The broker did not take the request"},
    504: {"description": "No answer in time"},
}


@compat_router.get(
    "/endpoints/{connector}/{instance}/{operation}",
    summary="One source operation, query parameters as its params (IKO Server compatible)",
    description=COMPAT_NOTE + "\n\n`instance` is accepted and ignored: each source has one instance here.",
    responses=ENDPOINT_RESPONSES,
)
async def endpoint_search(
    connector: str, instance: str, operation: str, request: Request, caller: CallerDep
) -> Response:
    return await _endpoint(request, caller, connector, operation, None)


@compat_router.get(
    "/endpoints/{connector}/{instance}/{operation}/{id}",
    summary="One source operation for one identifier (IKO Server compatible)",
    description=COMPAT_NOTE
    + "\n\n`id`: a BSN for brp; otherwise 9 digits a BSN, 8 a kvkNummer, 12 a vestigingsnummer. "
    "`instance` is accepted and ignored.",
    responses=ENDPOINT_RESPONSES,
)
async def endpoint_detail(
    connector: str, instance: str, operation: str, id: str, request: Request, caller: CallerDep
) -> Response:
    return await _endpoint(request, caller, connector, operation, id)


@compat_router.get(
    "/aggregated-data-profiles/{name}/{id}",
    summary="The profile's view, the identifier in the path (older Valtimo IKO clients)",
    description=COMPAT_NOTE
    + "\n\nOlder Valtimo versions (and the IKO Server's own request examples) put the id in the path; the same "
    "as `?id=`.",
    responses={400: {"description": "Unreadable id or containerParam"}, 404: {"description": "Unknown profile"}},
)
async def aggregated_data_profile_by_path(
    name: str,
    id: str,
    request: Request,
    caller: CallerDep,
    containerParam: Annotated[  # noqa: N803 - the IKO Server's parameter name
        list[str] | None, Query(description="Base64 of {containerId, pageable, filters}; repeatable")
    ] = None,
) -> Response:
    return await aggregated_data_profile(name, request, caller, id, containerParam)
