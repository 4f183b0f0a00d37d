"""ZGW Zaken API 1.5: the zaken in which a person or company has a role, or that are about a BAG object, named
from the Catalogi API.

Operation ``zaken`` — ``POST {zaken_path}/zaken/_zoek`` (operation ``zaak__zoek``) with the filter in the JSON
body (schema ``ZaakZoek``) and ``Accept-Crs`` / ``Content-Crs: EPSG:4326``, filtered on the rol's betrokkene:

- a ``bsn`` identifier: ``rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn``;
- a ``kvk`` identifier: ``rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId`` (Zaken 1.5 has no
  kvkNummer filter; the innNnpId, "the number a chamber gave the niet-natuurlijk persoon", is where case systems
  register it). ``IKO_ZGW_KVK_FILTER`` selects the ``...nietNatuurlijkPersoon__kvkNummer`` filter of later
  Zaken API versions instead;
- ``params.vestigingsnummer``, when given, instead of the identifier:
  ``rol__betrokkeneIdentificatie__vestiging__vestigingsNummer``.

The identifier travels in the request body only, never in a URL: a URL ends up in the ZGW server's (and every
proxy's) access logs, and a BSN must not. ``_zoek`` pages through ``?page=N`` alone, so its ``next`` links carry
no identifier either; each next page is asked with the same body. ``IKO_ZGW_SEARCH_METHOD=list`` falls back to
``GET {zaken_path}/zaken?<filter>=<value>`` (and its ``next`` links, which repeat the filter) for a server without
``_zoek``; that puts the identifier in the URL and is meant for such servers only.

Operation ``zaken_by_object`` — the zaken about a BAG object, by an ``adresseerbaarobject`` (verblijfsobject,
standplaats, ligplaats) or a ``nummeraanduiding`` identifier; any other identifier (a bsn, a kvk) is refused
(``unsupported_identifier``). The object's URI is built from ``IKO_ZGW_OBJECT_URLS`` (``iko_zgw_connector.objects``;
by default the public BAG Individuele Bevragingen v2 URLs, which is how case systems register a BAG object), then
``GET {zaken_path}/zaakobjecten?object=<uri>`` is read and each distinct zaak its zaakobjecten name is read from
its URL, in the order the zaakobjecten name them. The object is found as the case system registered it: a zaak
registered on the nummeraanduiding is not found by the adresseerbaar object, nor the other way round (ask both
when both may occur). The objectType is not filtered on: case systems differ in the one they give a BAG object
(``adres``, ``terrein_gebouwd_object``). The zaakobjecten list has no ``_zoek``, so the object URI is in the
query string: an address, never a BSN. A zaak that answers 404 (deleted since) is left out with a warning
(``zaak_gone``).

Pages are followed through ``next`` until there is none or ``params.max_pages`` (default ``IKO_ZGW_MAX_PAGES``)
pages are read. Each zaak's zaaktype is read from the Catalogi API (its URL is in the zaak) and, with
``params.include: ["status"]``, its current status (``zaak.status``) and that status's statustype. Catalogue
resources are cached per process for ``IKO_ZGW_CATALOGI_TTL_S``; statuses are the zaak's own data and never kept.

Data, of both operations::

    {"count": <the API's count of matching zaken; for zaken_by_object of the object's zaakobjecten>,
     "complete": <true when every page was read>,
     "zaken": [<the Zaak as the API gives it, plus:
                "zaaktype_omschrijving": <the zaaktype's omschrijving, or null>,
                and with include status:
                "status_omschrijving": <the current statustype's omschrijving, or null>,
                "status_datum_gezet": <the status's datumStatusGezet, or null>>],
     "warnings": [{"code", "message"}, ...]}

Keys in snake_case are IKO's additions; the Zaken API's own are camelCase. No zaken is ``ok`` with an empty list
(a person or an address without cases is an answer). A name that could not be read (the catalogue answered an
error, or its URL is on another host) is ``null`` with a warning naming why: the zaken are still the answer.

Every URL the API hands out is absolute. Such a URL is fetched through the same client — so retries and the
circuit breaker apply — only when it is under the base URL (or one of ``IKO_ZGW_TRUSTED_URLS``): the token is
never sent elsewhere. A ``next`` link or a zaakobject's zaak elsewhere makes the fetch an error (``foreign_url``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from iko_shared.connector.problems import problem_error as shared_problem_error
from iko_shared.connector.urls import UrlGuard
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from iko_zgw_connector.catalogue import CatalogueCache
from iko_zgw_connector.objects import DEFAULT_OBJECT_URLS, OBJECT_IDENTIFIER_TYPES, object_uri
from iko_zgw_connector.token import ZgwToken

BSN_FILTER = "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn"
KvkFilter = Literal[
    "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId",
    "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__kvkNummer",
]
INN_NNP_ID_FILTER: KvkFilter = "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId"
KVK_NUMMER_FILTER: KvkFilter = "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__kvkNummer"
VESTIGING_FILTER = "rol__betrokkeneIdentificatie__vestiging__vestigingsNummer"
SearchMethod = Literal["zoek", "list"]
INCLUDES = frozenset({"status"})
# Zaak, catalogue and status calls in flight at once for one fetch.
ENRICH_CONCURRENCY = 10
T = TypeVar("T")


class ZgwSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_ZGW_", extra="ignore")

    base_url: str = "http://127.0.0.1:8103"
    zaken_path: str = "/zaken/api/v1"
    client_id: str = "iko"
    # The sandbox's default secret (32+ bytes, as RFC 7518 asks of an HS256 key); set your own anywhere else.
    secret: SecretStr = SecretStr("iko-sandbox-secret-not-for-production")
    max_pages: int = 5
    # How zaken are searched: POST .../zaken/_zoek with the filter in the body (zoek), or GET .../zaken with the
    # filter in the query string (list; puts the identifier in URLs, for servers without _zoek only).
    search_method: SearchMethod = "zoek"
    # How long a zaaktype or statustype is kept (0: not kept; concurrent requests still share one fetch).
    catalogi_ttl_s: float = 3600.0
    # The filter a kvkNummer is looked up with: innNnpId (Zaken API 1.5) or kvkNummer (later versions).
    kvk_filter: KvkFilter = INN_NNP_ID_FILTER
    # Base URLs besides base_url whose resources may be fetched with the token (a Catalogi API elsewhere).
    trusted_urls: list[str] = Field(default_factory=list)
    # Identifier type -> the URL template ({id}) of the BAG object a zaakobject names (operation zaken_by_object).
    object_urls: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_OBJECT_URLS))

    @field_validator("object_urls")
    @classmethod
    def _templates_name_the_id(cls, value: dict[str, str]) -> dict[str, str]:
        without = sorted(kind for kind, template in value.items() if "{id}" not in template)
        if without:
            raise ValueError(f"every object URL template needs {{id}}; {without} have none")
        return value


def problem_error(response: httpx.Response) -> SourceError:
    return shared_problem_error(response, "ZGW")


def _object(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise problem_error(response)
    body = response.json()
    if not isinstance(body, dict):
        raise SourceError("invalid_response", "ZGW answered with something other than an object")
    return body


def _include(value: Any) -> set[str]:
    if value is None:
        return set()
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SourceError("invalid_query", "include must be a list of names")
    wanted = {n.strip() for n in names if n.strip()}
    if wanted - INCLUDES:
        raise SourceError("invalid_query", f"include has unknown names {sorted(wanted - INCLUDES)}; known: status")
    return wanted


def _warn(warnings: list[dict[str, Any]], exc: SourceError) -> None:
    warning = {"code": exc.code, "message": exc.message}
    if warning not in warnings:
        warnings.append(warning)


async def _all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """The results of ``coroutines`` run at once, in their order; the first failure is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coroutines]
    except BaseExceptionGroup as failed:
        # A timeout or a lost connection: the runtime reports it as for any other call.
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


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


class ZgwSource:
    name = "zgw"

    def __init__(
        self, settings: ZgwSettings, token: ZgwToken | None = None, cache: CatalogueCache | None = None
    ) -> None:
        self._settings = settings
        self._token = token or ZgwToken(settings.client_id, settings.secret.get_secret_value())
        self.catalogue = cache or CatalogueCache(settings.catalogi_ttl_s)
        self._guard = UrlGuard([settings.base_url, *settings.trusted_urls], "the ZGW base URL")

    def operations(self) -> frozenset[str]:
        return frozenset({"zaken", "zaken_by_object"})

    def _filter(self, ctx: FetchContext) -> tuple[str, str]:
        vestigingsnummer = ctx.query.params.get("vestigingsnummer")
        if vestigingsnummer is not None:
            return VESTIGING_FILTER, str(vestigingsnummer)
        kind, value = ctx.identifier("bsn", "kvk")
        return (BSN_FILTER if kind == "bsn" else self._settings.kvk_filter), value

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        zaken_by_object = ctx.query.operation == "zaken_by_object"
        if zaken_by_object:
            uri = object_uri(self._settings.object_urls, *ctx.identifier(*OBJECT_IDENTIFIER_TYPES))
        else:
            filter_name, value = self._filter(ctx)
        include = _include(ctx.query.params.get("include"))
        max_pages = _max_pages(ctx.query.params.get("max_pages"), self._settings.max_pages)
        warnings: list[dict[str, Any]] = []
        if zaken_by_object:
            count, zaken, complete = await self._zaken_about(ctx, uri, max_pages, warnings)
        else:
            count, zaken, complete = await self._zaken_pages(ctx, filter_name, value, max_pages)
        enriched = await self._enrich(ctx, zaken, "status" in include, warnings)
        return FetchResult.ok({"count": count, "complete": complete, "zaken": enriched, "warnings": warnings})

    def _headers(self, ctx: FetchContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.bearer()}", "Accept": "application/json", **ctx.extra_headers}

    async def _get(
        self, ctx: FetchContext, url: str, params: dict[str, str] | None = None, crs: bool = False
    ) -> dict[str, Any]:
        headers = self._headers(ctx)
        if crs:
            headers["Accept-Crs"] = "EPSG:4326"
        response = await ctx.client.get(self._guard.admit(url), params=params, headers=headers, timeout=ctx.remaining())
        return _object(response)

    async def _zoek(self, ctx: FetchContext, url: str, body: dict[str, str]) -> dict[str, Any]:
        # Both CRS headers are required on _zoek, though the body carries no geometry.
        headers = {**self._headers(ctx), "Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
        response = await ctx.client.post(self._guard.admit(url), json=body, headers=headers, timeout=ctx.remaining())
        return _object(response)

    async def _pages(
        self, ctx: FetchContext, url: str, max_pages: int, body: dict[str, str] | None, params: dict[str, str] | None
    ) -> tuple[int, list[dict[str, Any]], bool]:
        """The API's count, the results of the pages read, and whether every page was read.

        With ``body`` each page is a ``_zoek`` POST of it (its ``next`` carries the page number only); without,
        a GET with the CRS header (its ``next`` repeats the query already).
        """
        results: list[dict[str, Any]] = []
        count = 0
        pages = 0
        next_url: str | None = url
        while next_url is not None and pages < max_pages:
            page = await (
                self._zoek(ctx, next_url, body) if body is not None else self._get(ctx, next_url, params, crs=True)
            )
            count = int(page.get("count") or 0)
            results.extend(r for r in page.get("results") or [] if isinstance(r, dict))
            # ``next`` is absolute: fetched only under a trusted base (the guard in _zoek and _get).
            next_url, params = page.get("next") or None, None
            pages += 1
        return count, results, next_url is None

    async def _zaken_pages(
        self, ctx: FetchContext, filter_name: str, value: str, max_pages: int
    ) -> tuple[int, list[dict[str, Any]], bool]:
        filter_ = {filter_name: value}
        if self._settings.search_method == "zoek":
            return await self._pages(ctx, f"{self._settings.zaken_path}/zaken/_zoek", max_pages, filter_, None)
        return await self._pages(ctx, f"{self._settings.zaken_path}/zaken", max_pages, None, filter_)

    async def _zaken_about(
        self, ctx: FetchContext, uri: str, max_pages: int, warnings: list[dict[str, Any]]
    ) -> tuple[int, list[dict[str, Any]], bool]:
        """The API's count of the object's zaakobjecten, the zaken they name, and whether every page was read."""
        url = f"{self._settings.zaken_path}/zaakobjecten"
        count, zaakobjecten, complete = await self._pages(ctx, url, max_pages, None, {"object": uri})
        zaak_urls = list(dict.fromkeys(z["zaak"] for z in zaakobjecten if isinstance(z.get("zaak"), str) and z["zaak"]))
        for zaak_url in zaak_urls:
            self._guard.admit(zaak_url)  # a zaak elsewhere fails the fetch before any zaak is asked
        limit = asyncio.Semaphore(ENRICH_CONCURRENCY)

        async def zaak(zaak_url: str) -> dict[str, Any] | None:
            try:
                return await self._limited(ctx, zaak_url, limit, crs=True)
            except SourceError as exc:
                if (exc.details or {}).get("status") != 404:
                    raise
            _warn(warnings, SourceError("zaak_gone", f"left out zaak {zaak_url}: the Zaken API answered 404"))
            return None

        found = await _all([zaak(zaak_url) for zaak_url in zaak_urls])
        return count, [z for z in found if z is not None], complete

    async def _enrich(
        self, ctx: FetchContext, zaken: list[dict[str, Any]], with_status: bool, warnings: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        limit = asyncio.Semaphore(ENRICH_CONCURRENCY)

        async def catalogue_name(url: Any) -> str | None:
            if not isinstance(url, str) or not url:
                return None
            try:
                resource = await self.catalogue.get(self._guard.admit(url), lambda: self._limited(ctx, url, limit))
            except SourceError as exc:
                _warn(warnings, exc)
                return None
            omschrijving = resource.get("omschrijving")
            return str(omschrijving) if omschrijving is not None else None

        async def one(zaak: dict[str, Any]) -> dict[str, Any]:
            result = {**zaak, "zaaktype_omschrijving": await catalogue_name(zaak.get("zaaktype"))}
            if with_status:
                result["status_omschrijving"] = None
                result["status_datum_gezet"] = None
                status_url = zaak.get("status")
                if isinstance(status_url, str) and status_url:
                    try:
                        status = await self._limited(ctx, status_url, limit)
                    except SourceError as exc:
                        _warn(warnings, exc)
                    else:
                        result["status_datum_gezet"] = status.get("datumStatusGezet")
                        result["status_omschrijving"] = await catalogue_name(status.get("statustype"))
            return result

        return await _all([one(zaak) for zaak in zaken])

    async def _limited(
        self, ctx: FetchContext, url: str, limit: asyncio.Semaphore, crs: bool = False
    ) -> dict[str, Any]:
        async with limit:
            return await self._get(ctx, url, crs=crs)
