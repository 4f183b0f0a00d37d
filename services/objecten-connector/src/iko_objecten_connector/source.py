"""Objecten API v2: the registrations (objects) about a person, a company or an address, named from Objecttypen.

Operation ``registraties``. WHICH object types are asked, and by WHICH path in the object's data the identifier is
matched, is the profile's configuration, not code: the query's ``params``::

    {"types": [
        {"objecttype": "<objecttype URL or uuid>",   # required
         "data_attr": "<path in record.data>",       # required, nested with "__", e.g. "eigenaar__bsn"
         "identifier_type": "bsn"},                  # optional: the entry applies to this identifier type only
        ...],
     "max_pages": 5}                                 # optional, per type; default IKO_OBJECTEN_MAX_PAGES

A uuid is made an URL under the configured Objecttypen API (``IKO_OBJECTEN_OBJECTTYPEN_BASE_URL`` +
``IKO_OBJECTEN_OBJECTTYPEN_PATH``). The entries that apply to the request's identifier (those without an
``identifier_type``, and those naming its type: ``bsn``, ``kvk`` or ``nummeraanduiding``) are each asked with
``GET {objects_path}/objects?type=<objecttype URL>&data_attr=<path>__exact__<value>``; no entry that applies is
an ``unsupported_identifier`` error, ``types`` missing or malformed an ``invalid_query``.

The Objects API filters by GET query only, so the identifier — a BSN too — is in the request's URL: there is no
search with a body for record data. The contract case says so (``bsn_in_url_accepted_because``); the deployment
must keep query strings out of the Objects API's (and any proxy's) logs, and this connector logs no URLs.

Pages are followed through ``next`` until there is none or ``max_pages`` pages are read, and only when ``next`` is
under the Objecten API's base URL (anything else is a ``foreign_url`` error: the token is sent nowhere else).
Each object's type name is read from ``GET {objecttypen_path}/objecttypes/{uuid}`` (the uuid taken from the
object's ``type`` URL, fetched from the configured Objecttypen API only) and cached per process for
``IKO_OBJECTEN_OBJECTTYPEN_TTL_S`` (objecttypen are catalogue data, not personal data).

Data::

    {"count": <the API's counts of matching objects, summed over the types asked>,
     "complete": <true when every page of every type was read>,
     "objecten": [<the object as the API gives it, plus "objecttypeNaam": <the objecttype's name, or null>>],
     "warnings": [{"code", "message"}, ...]}

No objects is ``ok`` with an empty list (a person without registrations is an answer). A name that could not be
read is ``null`` with a warning; the objects are still the answer.

Auth: ``Authorization: Token <token>``, ``IKO_OBJECTEN_TOKEN`` for the Objecten API, ``IKO_OBJECTTYPEN_TOKEN`` (or
else the same token) for the Objecttypen API. Errors: 401 / 403 are ``authentication``, 400 ``invalid_query`` (the
API's field errors in ``details.errors``), others (5xx) the source's answer via the shared problem helper, each
with ``details.status``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from iko_shared.connector.problems import problem_error
from iko_shared.connector.urls import UrlGuard
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from iko_objecten_connector.catalogue import ObjecttypeCache

OPERATION = "registraties"
IDENTIFIER_TYPES = ("bsn", "kvk", "nummeraanduiding")
SANDBOX_TOKEN = "iko-sandbox-objecten-token"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATA_ATTR_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ObjectenSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_OBJECTEN_", extra="ignore", populate_by_name=True)

    base_url: str = "http://127.0.0.1:8105"
    objects_path: str = "/objects/api/v2"
    # The Objecttypen API: a service of its own in production; the base URL defaults to the Objecten one.
    objecttypen_base_url: str | None = None
    objecttypen_path: str = "/objecttypes/api/v2"
    token: SecretStr = SecretStr(SANDBOX_TOKEN)
    # IKO_OBJECTTYPEN_TOKEN; unset: the Objecten token.
    objecttypen_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("objecttypen_token", "IKO_OBJECTTYPEN_TOKEN")
    )
    max_pages: int = 5
    page_size: int = 100
    # How long an objecttype is kept (0: not kept; concurrent requests still share one fetch).
    objecttypen_ttl_s: float = 3600.0

    @property
    def objects_api(self) -> str:
        return self.base_url.rstrip("/") + "/" + self.objects_path.strip("/")

    @property
    def objecttypen_api(self) -> str:
        return (self.objecttypen_base_url or self.base_url).rstrip("/") + "/" + self.objecttypen_path.strip("/")


def under(url: str, base: str) -> bool:
    """Whether ``url`` is absolute and under ``base`` (same scheme, host and port; its path below base's)."""
    return UrlGuard([base]).covers(url)


def _error(response: httpx.Response, api: str) -> SourceError:
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if status in (401, 403):
        return SourceError("authentication", str(detail or f"{api} refused the token"), {"status": status})
    if status == 400:
        details: dict[str, Any] = {"status": status}
        if isinstance(body, dict):
            details["errors"] = body
        return SourceError("invalid_query", f"{api} refused the query", details)
    return problem_error(response, api)


def _object(response: httpx.Response, api: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise _error(response, api)
    body = response.json()
    if not isinstance(body, dict):
        raise SourceError("invalid_response", f"{api} answered with something other than an object")
    return body


def _max_pages(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        pages = int(value)
    except (TypeError, ValueError):
        pages = 0
    if pages < 1:
        raise SourceError("invalid_query", "max_pages must be a positive number")
    return pages


class ObjectenSource:
    name = "objecten"

    def __init__(self, settings: ObjectenSettings, cache: ObjecttypeCache | None = None) -> None:
        self._settings = settings
        self.objecttypen = cache or ObjecttypeCache(settings.objecttypen_ttl_s)
        self._guard = UrlGuard([settings.objects_api])

    def operations(self) -> frozenset[str]:
        return frozenset({OPERATION})

    def _headers(self, ctx: FetchContext, token: SecretStr) -> dict[str, str]:
        return {"Accept": "application/json", **ctx.extra_headers, "Authorization": f"Token {token.get_secret_value()}"}

    def objecttype_url(self, objecttype: str) -> str:
        """The objecttype's URL: a uuid under the configured Objecttypen API, an URL as it is."""
        if UUID.match(objecttype):
            return f"{self._settings.objecttypen_api}/objecttypes/{objecttype.lower()}"
        return objecttype

    def _types(self, ctx: FetchContext, identifier_type: str) -> list[tuple[str, str]]:
        """The (objecttype URL, data_attr path) pairs the profile configured for ``identifier_type``."""
        types = ctx.query.params.get("types")
        if not isinstance(types, list) or not types:
            raise SourceError("invalid_query", "params.types must list the objecttypes to ask (objecttype, data_attr)")
        chosen: list[tuple[str, str]] = []
        for entry in types:
            if not isinstance(entry, dict):
                raise SourceError("invalid_query", "each of params.types is an object with objecttype and data_attr")
            objecttype, path, kind = entry.get("objecttype"), entry.get("data_attr"), entry.get("identifier_type")
            if not isinstance(objecttype, str) or not objecttype:
                raise SourceError("invalid_query", "params.types: objecttype must be an objecttype URL or uuid")
            if not isinstance(path, str) or not all(DATA_ATTR_PATH.match(p) for p in path.split("__")):
                raise SourceError("invalid_query", "params.types: data_attr must be a path of names joined by __")
            if kind is not None and kind not in IDENTIFIER_TYPES:
                raise SourceError("invalid_query", f"params.types: identifier_type must be one of {IDENTIFIER_TYPES}")
            if kind is None or kind == identifier_type:
                chosen.append((self.objecttype_url(objecttype), path))
        if not chosen:
            raise SourceError("unsupported_identifier", f"no objecttype is configured for a {identifier_type}")
        return chosen

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        if ctx.query.operation != OPERATION:
            raise SourceError("unsupported_operation", f"objecten has no operation {ctx.query.operation!r}")
        identifier_type, value = ctx.identifier(*IDENTIFIER_TYPES)
        types = self._types(ctx, identifier_type)
        max_pages = _max_pages(ctx.query.params.get("max_pages"), self._settings.max_pages)
        count, complete = 0, True
        objecten: list[dict[str, Any]] = []
        for type_url, path in types:
            found, objects, all_read = await self._objects(ctx, type_url, f"{path}__exact__{value}", max_pages)
            count += found
            complete = complete and all_read
            objecten.extend(objects)
        warnings: list[dict[str, Any]] = []
        names = await self._names(ctx, {str(o.get("type") or "") for o in objecten}, warnings)
        named = [{**o, "objecttypeNaam": names.get(str(o.get("type") or ""))} for o in objecten]
        return FetchResult.ok({"count": count, "complete": complete, "objecten": named, "warnings": warnings})

    async def _objects(
        self, ctx: FetchContext, type_url: str, data_attr: str, max_pages: int
    ) -> tuple[int, list[dict[str, Any]], bool]:
        """The API's count, the objects of the pages read, and whether every page was read."""
        base = self._settings.objects_api
        url: str | None = f"{base}/objects"
        first: dict[str, str | int] = {"type": type_url, "data_attr": data_attr}
        if self._settings.page_size != 100:
            first["pageSize"] = self._settings.page_size
        params: dict[str, str | int] | None = first
        headers = self._headers(ctx, self._settings.token)
        objects: list[dict[str, Any]] = []
        count = pages = 0
        while url is not None and pages < max_pages:
            if not self._guard.covers(url):
                # The host only: the URL itself carries the identifier in its query. A relative link is refused
                # too: the pages are asked by absolute URL, so one would not be the API's.
                host = httpx.URL(url).host
                raise SourceError(
                    "foreign_url", f"refused to follow a URL on {host}: not under the Objecten API", {"host": host}
                )
            response = await ctx.client.get(url, params=params, headers=headers, timeout=ctx.remaining())
            page = _object(response, "Objecten API")
            count = int(page.get("count") or 0)
            objects.extend(o for o in page.get("results") or [] if isinstance(o, dict))
            # ``next`` is absolute and repeats the query.
            url, params = page.get("next") or None, None
            pages += 1
        return count, objects, url is None

    async def _names(self, ctx: FetchContext, type_urls: set[str], warnings: list[dict[str, Any]]) -> dict[str, str]:
        """Each objecttype URL's name, read from the configured Objecttypen API (cached)."""
        names: dict[str, str] = {}
        token = self._settings.objecttypen_token or self._settings.token
        headers = self._headers(ctx, token)

        async def one(type_url: str) -> None:
            type_uuid = httpx.URL(type_url).path.rstrip("/").rsplit("/", 1)[-1] if type_url else ""
            if not UUID.match(type_uuid):
                warning = {"code": "invalid_response", "message": "an object's type names no objecttype uuid"}
                if warning not in warnings:
                    warnings.append(warning)
                return
            url = f"{self._settings.objecttypen_api}/objecttypes/{type_uuid.lower()}"

            async def load() -> dict[str, Any]:
                response = await ctx.client.get(url, headers=headers, timeout=ctx.remaining())
                return _object(response, "Objecttypen API")

            try:
                objecttype = await self.objecttypen.get(url, load)
            except SourceError as exc:
                warnings.append({"code": exc.code, "message": exc.message})
                return
            name = objecttype.get("name")
            if name is not None:
                names[type_url] = str(name)

        try:
            async with asyncio.TaskGroup() as group:
                for type_url in sorted(type_urls):
                    group.create_task(one(type_url))
        except BaseExceptionGroup as failed:
            # A timeout or a lost connection: the runtime reports it as for any other call.
            raise failed.exceptions[0] from None
        return names
