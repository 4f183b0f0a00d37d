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
    One source operation through the pipeline; the query parameters are the operation's params (typed: see
    ``endpoint_params``), ``fields`` (comma-separated) names the fields asked (default: those the profiles ask of
    this operation), and for ``brp`` a ``type`` parameter names the BRP query type and wins over the path's
    operation (Valtimo's own example of an endpoint parameter is ``type=ZoekMetGeslachtsnaamEnGeboortedatum``).
    ``{id}`` is the identifier: a BSN for ``brp``; for other connectors 9 digits are a BSN, 8 a kvkNummer and
    12 a vestigingsnummer (sent as the ``vestigingsnummer`` param). The answer is the source's data as it is;
    Valtimo takes the first JSON array in it. ``instance`` is accepted and ignored: each source has one instance
    here. Only connectors the profiles use exist (404 otherwise). Timeout: ``IKO_GATEWAY_COMPAT_TIMEOUT_MS``.

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

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from iko_shared.contracts import Identifier, RequestContext, SourceQuery
from iko_shared.identifiers import identifier_problem
from iko_shared.logging import get_logger
from iko_shared.profiles import Profile

from iko_gateway.access import (
    DEV_PURPOSE,
    AccessDeniedError,
    may_receive,
    may_use,
    plan_for,
    purpose_for,
    require_profile,
)
from iko_gateway.auth.caller import Caller
from iko_gateway.compat_containers import ContainerParamError, apply_container_params, decode_container_param
from iko_gateway.compat_schema import view_schema
from iko_gateway.lookups import Ask, LookupService, NoAnswerError, PublishFailedError, profile_ask
from iko_gateway.security import CallerDep
from iko_gateway.state import auditor_of, service_of, settings_of

log = get_logger()

TAG = "IKO Server compatibility"
COMPAT_NOTE = (
    "IKO Server compatibility: this API puts identifiers in URLs, as Valtimo's IKO module calls the IKO Server. "
    "It is the compatibility path; the native `POST /api/v1/profiles/{profile}/lookups` (identifier in the body) "
    "is the recommended API."
)
CORRELATION_HEADER = "X-Correlation-Id"
SANE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

INTEGER_PARAMS = frozenset({"huisnummer", "pagina", "resultatenPerPagina", "max_pages"})
LIST_PARAMS = frozenset({"burgerservicenummer", "include"})
BOOLEAN_PARAMS = frozenset({"inclusiefOverledenPersonen", "geoData", "inclusiefInactieveRegistraties"})

compat_router = APIRouter(tags=[TAG])


class CompatError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def correlation_id(request: Request, request_id: str) -> str:
    incoming = request.headers.get(CORRELATION_HEADER, "").strip()
    return incoming if SANE_CORRELATION_ID.match(incoming) else request_id


def error_response(status: int, message: str, correlation: str) -> JSONResponse:
    return JSONResponse(
        {"message": message, "correlationId": correlation},
        status_code=status,
        headers={CORRELATION_HEADER: correlation},
    )


def compat_purpose(request: Request, profiles: Profile | list[Profile], caller: Caller) -> RequestContext:
    """Valtimo sends no purpose: the x-doelbinding header when a proxy adds one, else the deployment's default
    for this API (``IKO_GATEWAY_COMPAT_DOELBINDING``), else — in development mode — ``demo``."""
    settings = settings_of(request)
    default = settings.gateway_compat_doelbinding or (DEV_PURPOSE if settings.dev_mode else "")
    headers = {
        "x-doelbinding": request.headers.get("x-doelbinding") or default,
        "x-verwerking": request.headers.get("x-verwerking") or settings.gateway_compat_verwerking,
    }
    candidates = profiles if isinstance(profiles, list) else [profiles]
    refusal: AccessDeniedError | None = None
    for profile in candidates:
        try:
            return purpose_for(profile, caller, None, None, headers, settings.dev_mode)
        except AccessDeniedError as exc:
            refusal = exc
    assert refusal is not None
    raise refusal


def _profile(service: LookupService, name: str) -> Profile:
    found = service.profiles.get(name)
    if found is None:
        raise CompatError(404, f"ADP with name: {name} was not found")
    return found


# --- endpoint parameters --------------------------------------------------------------------------------------


def _convert(name: str, values: list[str]) -> Any:
    if name in LIST_PARAMS:
        return [part.strip() for value in values for part in value.split(",") if part.strip()]
    value = values[-1].strip() if len(values) == 1 else None
    if value is None:
        return [v.strip() for v in values]
    if name in INTEGER_PARAMS:
        if not re.fullmatch(r"-?\d+", value):
            raise CompatError(400, f"Query parameter(s) [{name}] could not be parsed: a whole number is expected")
        return int(value)
    if name in BOOLEAN_PARAMS:
        if value.lower() not in ("true", "false"):
            raise CompatError(400, f"Query parameter(s) [{name}] could not be parsed: true or false is expected")
        return value.lower() == "true"
    return value


def endpoint_params(query: list[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters as the connectors take them: ``huisnummer`` / ``pagina`` / ``resultatenPerPagina`` whole
    numbers, ``burgerservicenummer`` and ``include`` lists (comma-joined or repeated), the BRP's and KVK's flags
    booleans, a repeated parameter a list, everything else a string. Empty values are left out."""
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        if value.strip() == "":
            continue
        grouped.setdefault(name, []).append(value)
    return {name: _convert(name, values) for name, values in grouped.items()}


def default_fields(service: LookupService, connector: str, operation: str) -> list[str]:
    """The fields the profiles ask of this operation (data minimisation holds on this path too)."""
    for profile in service.profiles:
        for key, spec in profile.sources.items():
            if spec.connector(key) == connector and spec.operation == operation and spec.fields:
                return list(spec.fields)
        for action in profile.searches.values():
            if action.source == connector and action.operation == operation and action.fields:
                return list(action.fields)
    return []


def detail_identifier(connector: str, raw: str) -> tuple[Identifier | None, dict[str, Any]]:
    """The ``{id}`` of a detail call: an identifier, or (a vestigingsnummer) a param."""
    value = raw.strip()
    if connector == "brp" or (value.isdigit() and len(value) == 9):
        kind = "bsn"
    elif value.isdigit() and len(value) == 8:
        kind = "kvk"
    elif value.isdigit() and len(value) == 12:
        return None, {"vestigingsnummer": value}
    else:
        raise CompatError(400, "Query parameter(s) [id] could not be parsed: a BSN, kvkNummer or vestigingsnummer")
    why = identifier_problem(kind, value)
    if why is not None:
        raise CompatError(400, f"Query parameter(s) [id] could not be parsed: {why}")
    return Identifier(type=kind, value=value), {}


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
        profile = _profile(service, name)
        kind = profile.identifiers[0]
        value = (id or "").strip()
        if not value:
            raise CompatError(400, "Query parameter(s) [id] could not be parsed: the id is missing")
        why = identifier_problem(kind, value)
        if why is not None:
            raise CompatError(400, f"Query parameter(s) [id] could not be parsed: {why}")
        try:
            params = [decode_container_param(raw) for raw in containerParam or []]
        except ContainerParamError as exc:
            raise CompatError(400, f"Query parameter(s) [containerParam] could not be parsed: {exc}") from None
        require_profile(profile, caller)
        context = compat_purpose(request, profile, caller)
        plan = plan_for(profile, caller)
        identifier = Identifier(type=kind, value=value)
        # Valtimo sets no timeout: the profile's default applies.
        ask = profile_ask(profile, identifier, plan.queries, plan.relations, None, context)
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
            log.info("compat.unknown_containers", profile=name, containers=unknown, request_id=request_id)
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
        profile = _profile(service_of(request), name)
        require_profile(profile, caller)
    except CompatError as exc:
        return error_response(exc.status, exc.message, correlation)
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
        service = service_of(request)
        if connector not in service.profiles.connectors():
            raise CompatError(404, f"Connector with name: {connector}, not found")
        # A source is open to whoever may receive it through some profile, for a purpose that profile serves.
        serving = [
            p
            for p in service.profiles
            if may_use(p, caller)
            and (
                any(spec.connector(k) == connector and may_receive(spec, caller) for k, spec in p.sources.items())
                or any(a.source == connector for a in p.searches.values())
            )
        ]
        if not serving:
            raise AccessDeniedError(403, "Forbidden", "you may not receive data of this source")
        context = compat_purpose(request, serving, caller)
        params = endpoint_params(list(request.query_params.multi_items()))
        fields_param = params.pop("fields", None)
        if connector == "brp" and isinstance(params.get("type"), str):
            operation = params.pop("type")
        identifier: Identifier | None = None
        if raw_id is not None:
            identifier, extra = detail_identifier(connector, raw_id)
            params.update(extra)
        if isinstance(fields_param, str):
            fields = [f.strip() for f in fields_param.split(",") if f.strip()]
        elif isinstance(fields_param, list):
            fields = [f.strip() for v in fields_param for f in str(v).split(",") if f.strip()]
        else:
            fields = default_fields(service, connector, operation)
        ask = Ask(
            profile=f"endpoint:{connector}",
            identifier=identifier,
            queries=[SourceQuery(key=connector, source=connector, operation=operation, fields=fields, params=params)],
            timeout_ms=settings_of(request).gateway_compat_timeout_ms,
            relations=[],
            context=context,
        )
        started = datetime.now(UTC)
        answer = await _ask(service, ask, request_id)
        await auditor_of(request).record(
            request_id=request_id,
            kind="endpoint",
            profile=f"endpoint:{connector}",
            activity=f"{connector}: {operation} (IKO Server API)",
            context=context,
            caller=caller,
            queries=ask.queries,
            answer=answer,
            started_at=started,
            identifier=identifier,
            search={"operation": operation, "params": params} if identifier is None else None,
        )
        result = answer.get("sources", {}).get(connector) if isinstance(answer.get("sources"), dict) else None
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
            log.warning("compat.source_error", connector=connector, code=error.get("code"), request_id=request_id)
            raise CompatError(500, "Unexpected error")
        if status == "not_found" and data is None:
            raise CompatError(404, f"The source {connector} knows no such {operation}")
    except CompatError as exc:
        return error_response(exc.status, exc.message, correlation)
    return JSONResponse(data, headers={CORRELATION_HEADER: correlation})


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
