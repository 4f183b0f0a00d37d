"""The Objecten simulator: Objecten API v2 and Objecttypen API v2 (read side) under one server, plus sandbox control.

The real APIs are two services, each at ``/api/v2``; here they share a host under ``/objects/api/v2`` and
``/objecttypes/api/v2``, and an object's ``type`` is the absolute URL of its objecttype on this server.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope

from iko_sandbox.control.middleware import ErrorAnswer
from iko_sandbox.control.wiring import install_control
from iko_sandbox.objecten.store import OBJECTS_API, OBJECTTYPES_API, ObjectenStore, store_for
from iko_sandbox.pagination import paginate

TOKEN_ENV = "IKO_SANDBOX_OBJECTEN_TOKEN"
DEFAULT_TOKEN = "iko-sandbox-objecten-token"
OBJECTS_VERSION = "2.7.0"
OBJECTTYPES_VERSION = "2.2.2"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
CRS = "EPSG:4326"
OPERATORS = ("exact", "gt", "gte", "lt", "lte", "icontains", "in")

Json = dict[str, Any]


class FilterError(ValueError):
    pass


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"detail": detail}), status_code=status, media_type="application/json", headers=headers
    )


def _error_answer(scope: Scope) -> ErrorAnswer:
    del scope
    return ErrorAnswer(500, "application/json", orjson.dumps({"detail": "Er is een serverfout opgetreden."}))


def _json(body: Any, version: str, crs: bool = False) -> Response:
    headers = {"API-version": version}
    if crs:
        headers["Content-Crs"] = CRS
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _parse_expression(expression: str) -> tuple[list[str], str, str]:
    """``key__operator__value`` (key nested with ``__``) -> (path, operator, value), as the Objects API reads it."""
    parts = expression.split("__")
    if len(parts) < 3 or not all(parts[:-2]) or not parts[-1]:
        raise FilterError(f"Ongeldige filterexpressie: '{expression}'. Verwacht: key__operator__value.")
    path, operator, value = parts[:-2], parts[-2], parts[-1]
    if operator not in OPERATORS:
        raise FilterError(f"Comparison operator `{operator}` is unknown")
    return path, operator, value


def _typed(value: str) -> Any:
    """The value as number or date where it reads as one, as the Objects API compares them."""
    for cast in (int, float, date.fromisoformat):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def _compare(actual: Any, operator: str, value: str) -> bool:
    if operator == "exact":
        return str(actual) == value or (not isinstance(actual, str) and actual == _typed(value))
    if operator == "icontains":
        return isinstance(actual, str) and value.lower() in actual.lower()
    if operator == "in":
        return str(actual) in value.split("|")
    wanted = _typed(value)
    if isinstance(wanted, date):
        try:
            actual = date.fromisoformat(str(actual))
        except ValueError:
            return False
    elif isinstance(actual, str | bool) or not isinstance(wanted, int | float):
        return False
    try:
        if operator == "gt":
            return bool(actual > wanted)
        if operator == "gte":
            return bool(actual >= wanted)
        if operator == "lt":
            return bool(actual < wanted)
        return bool(actual <= wanted)
    except TypeError:
        return False


def _lookup(data: Any, path: list[str]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def _data_filters(request: Request) -> list[tuple[list[str], str, str]]:
    expressions = list(request.query_params.getlist("data_attr"))
    for raw in request.query_params.getlist("data_attrs"):
        expressions.extend(part for part in raw.split(",") if part)
    return [_parse_expression(e) for e in expressions]


def _matches_data(obj: Json, filters: list[tuple[list[str], str, str]]) -> bool:
    for path, operator, value in filters:
        found, actual = _lookup(obj["record"]["data"], path)
        if not found or not _compare(actual, operator, value):
            return False
    return True


def _icontains_anywhere(data: Any, needle: str) -> bool:
    if isinstance(data, dict):
        return any(_icontains_anywhere(v, needle) for v in data.values())
    if isinstance(data, list):
        return any(_icontains_anywhere(v, needle) for v in data)
    return isinstance(data, str) and needle.lower() in data.lower()


def _path(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def create_objecten_app(*, token: str | None = None) -> FastAPI:
    """The accepted token defaults to IKO_SANDBOX_OBJECTEN_TOKEN, else DEFAULT_TOKEN."""
    accepted = token or os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
    app = FastAPI(title="IKO sandbox: Objecten", openapi_url=None, docs_url=None, redoc_url=None)
    install_control(app, _error_answer)

    def store(request: Request) -> ObjectenStore:
        return store_for(str(request.base_url))

    def denied(request: Request) -> Response | None:
        # Django REST framework's TokenAuthentication: 401 with WWW-Authenticate: Token.
        challenge = {"WWW-Authenticate": "Token"}
        scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "token":
            return _detail(401, "Authenticatiegegevens zijn niet opgegeven.", challenge)
        if not value.strip():
            return _detail(401, "Ongeldige token header. Geen credentials verstrekt.", challenge)
        if value.strip() != accepted:
            return _detail(401, "Ongeldige token.", challenge)
        return None

    def crs_problem(request: Request) -> Response | None:
        accept_crs = request.headers.get("accept-crs")
        if accept_crs is not None and accept_crs != CRS:
            return _detail(406, "CRS-transformaties zijn niet ondersteund.")
        return None

    @app.get(f"{OBJECTS_API}/objects")
    async def object_list(request: Request) -> Response:
        refused = denied(request) or crs_problem(request)
        if refused:
            return refused
        try:
            filters = _data_filters(request)
        except FilterError as error:
            name = "data_attrs" if "data_attrs" in request.query_params else "data_attr"
            body = orjson.dumps({name: [str(error)]})
            return Response(body, status_code=400, media_type="application/json")
        # Matched on the path only: a connector may know the objecttype by another host name of this server
        # (localhost in its configuration, a container name on the network); the uuids are fixed.
        type_url = request.query_params.get("type")
        type_path = _path(type_url) if type_url is not None else None
        needle = request.query_params.get("data_icontains")
        type_version = request.query_params.get("typeVersion")
        found = [
            obj
            for obj in store(request).objects.values()
            if (type_path is None or _path(obj["type"]) == type_path)
            and (type_version is None or str(obj["record"]["typeVersion"]) == type_version)
            and (needle is None or _icontains_anywhere(obj["record"]["data"], needle))
            and _matches_data(obj, filters)
        ]
        page = paginate(request, found, PAGE_SIZE, MAX_PAGE_SIZE, page_size_param="pageSize")
        if page is None:
            return _detail(404, "Ongeldige pagina.")
        return _json(page, OBJECTS_VERSION, crs=True)

    @app.get(f"{OBJECTS_API}/objects/{{object_uuid}}")
    async def object_read(object_uuid: str, request: Request) -> Response:
        refused = denied(request) or crs_problem(request)
        if refused:
            return refused
        obj = store(request).objects.get(object_uuid)
        return _json(obj, OBJECTS_VERSION, crs=True) if obj else _detail(404, "Niet gevonden.")

    @app.get(f"{OBJECTTYPES_API}/objecttypes")
    async def objecttype_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        query = request.query_params
        found = [
            t
            for t in store(request).objecttypes.values()
            if all(query.get(name) is None or t[name] == query[name] for name in ("dataClassification",))
        ]
        page = paginate(request, found, PAGE_SIZE, MAX_PAGE_SIZE, page_size_param="pageSize")
        if page is None:
            return _detail(404, "Ongeldige pagina.")
        return _json(page, OBJECTTYPES_VERSION)

    @app.get(f"{OBJECTTYPES_API}/objecttypes/{{type_uuid}}")
    async def objecttype_read(type_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        objecttype = store(request).objecttypes.get(type_uuid)
        return _json(objecttype, OBJECTTYPES_VERSION) if objecttype else _detail(404, "Niet gevonden.")

    @app.get(f"{OBJECTTYPES_API}/objecttypes/{{type_uuid}}/versions")
    async def version_list(type_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        versions = store(request).versions.get(type_uuid)
        if versions is None:
            return _detail(404, "Niet gevonden.")
        page = paginate(request, list(reversed(versions)), PAGE_SIZE, MAX_PAGE_SIZE, page_size_param="pageSize")
        if page is None:
            return _detail(404, "Ongeldige pagina.")
        return _json(page, OBJECTTYPES_VERSION)

    @app.get(f"{OBJECTTYPES_API}/objecttypes/{{type_uuid}}/versions/{{version}}")
    async def version_read(type_uuid: str, version: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        versions = store(request).versions.get(type_uuid) or []
        match = next((v for v in versions if str(v["version"]) == version), None)
        return _json(match, OBJECTTYPES_VERSION) if match else _detail(404, "Niet gevonden.")

    return app


# The name python -m iko_sandbox looks for in a source's simulator package.
create_app = create_objecten_app
