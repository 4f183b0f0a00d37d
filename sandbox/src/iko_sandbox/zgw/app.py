"""The ZGW simulator: Zaken API 1.5 and Catalogi API 1.3 (read side), plus sandbox control."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope

from iko_sandbox.control.middleware import ErrorAnswer
from iko_sandbox.control.wiring import install_control
from iko_sandbox.zgw.auth import JwtSettings, check_authorization
from iko_sandbox.zgw.problems import PROBLEM_JSON, problem, problem_body
from iko_sandbox.zgw.store import ZgwStore, store_for
from iko_sandbox.zgw.zaken import Zaak

SECRET_ENV = "IKO_SANDBOX_ZGW_SECRET"
CLIENT_ID_ENV = "IKO_SANDBOX_ZGW_CLIENT_ID"
# At least 32 bytes, as RFC 7518 asks of an HS256 key (PyJWT warns about shorter ones); the ZGW connector
# defaults to the same value.
DEFAULT_SECRET = "iko-sandbox-secret-not-for-production"
DEFAULT_CLIENT_ID = "iko"
PAGE_SIZE = 100
CRS = "EPSG:4326"
ZAKEN_VERSION = "1.5.1"
CATALOGI_VERSION = "1.3.1"

Json = dict[str, Any]

# Filter name -> (betrokkeneType, key in betrokkeneIdentificatie).
ROL_FILTERS = {
    "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn": ("natuurlijk_persoon", "inpBsn"),
    "rol__betrokkeneIdentificatie__natuurlijkPersoon__anpIdentificatie": ("natuurlijk_persoon", "anpIdentificatie"),
    "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpA_nummer": ("natuurlijk_persoon", "inpA_nummer"),
    "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__innNnpId": ("niet_natuurlijk_persoon", "innNnpId"),
    # Not in Zaken API 1.5.1 (later versions add it); accepted as an alias of innNnpId,
    # which is where this simulator keeps a company's kvkNummer.
    "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__kvkNummer": ("niet_natuurlijk_persoon", "innNnpId"),
    "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__annIdentificatie": (
        "niet_natuurlijk_persoon",
        "annIdentificatie",
    ),
    "rol__betrokkeneIdentificatie__vestiging__vestigingsNummer": ("vestiging", "vestigingsNummer"),
}
MAX_LENGTHS = {
    "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpBsn": 9,
    "rol__betrokkeneIdentificatie__natuurlijkPersoon__anpIdentificatie": 17,
    "rol__betrokkeneIdentificatie__natuurlijkPersoon__inpA_nummer": 10,
    "rol__betrokkeneIdentificatie__nietNatuurlijkPersoon__annIdentificatie": 17,
    "rol__betrokkeneIdentificatie__vestiging__vestigingsNummer": 24,
}
STRING_FILTERS = ("zaaktype", "identificatie", "bronorganisatie", "ordering")
ORDERINGS = ("startdatum", "einddatum", "publicatiedatum", "archiefactiedatum")
ZAAKOBJECT_FILTERS = ("zaak", "object", "objectType")
# The spec's ObjectTypeEnum, in its order.
OBJECT_TYPES = frozenset(
    {
        "adres", "besluit", "buurt", "enkelvoudig_document", "gemeente", "gemeentelijke_openbare_ruimte",
        "huishouden", "inrichtingselement", "kadastrale_onroerende_zaak", "kunstwerkdeel",
        "maatschappelijke_activiteit", "medewerker", "natuurlijk_persoon", "niet_natuurlijk_persoon",
        "openbare_ruimte", "organisatorische_eenheid", "pand", "spoorbaandeel", "status", "terreindeel",
        "terrein_gebouwd_object", "vestiging", "waterdeel", "wegdeel", "wijk", "woonplaats", "woz_deelobject",
        "woz_object", "woz_waarde", "zakelijk_recht", "overige",
    }
)  # fmt: skip


def _error_answer(scope: Scope) -> ErrorAnswer:
    del scope
    body = problem_body(500, "error", "Er is een serverfout opgetreden.", "Er is een serverfout opgetreden.")
    return ErrorAnswer(500, PROBLEM_JSON, orjson.dumps(body))


def _json(body: Any, version: str, crs: bool = False) -> Response:
    headers = {"API-version": version}
    if crs:
        headers["Content-Crs"] = CRS
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _not_found(detail: str = "Niet gevonden.") -> Response:
    return problem(404, "not_found", "Niet gevonden.", detail)


def _page(request: Request, items: list[Json], version: str, crs: bool = False, *, keep_query: bool = True) -> Response:
    """One page of ``items``; ``next``/``previous`` repeat the request's query (``keep_query``) or only ``page``."""
    raw_page = request.query_params.get("page", "1")
    if not raw_page.isdigit() or int(raw_page) < 1:
        return _not_found("Ongeldige pagina.")
    page = int(raw_page)
    start = (page - 1) * PAGE_SIZE
    if page > 1 and start >= len(items):
        return _not_found("Ongeldige pagina.")

    def page_url(number: int) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if keep_query and k != "page"]
        if number > 1:
            query.append(("page", str(number)))
        base = str(request.url).split("?")[0]
        return f"{base}?{urlencode(query)}" if query else base

    body = {
        "count": len(items),
        "next": page_url(page + 1) if start + PAGE_SIZE < len(items) else None,
        "previous": page_url(page - 1) if page > 1 else None,
        "results": items[start : start + PAGE_SIZE],
    }
    return _json(body, version, crs)


def _sort_key(field: str) -> Callable[[Json], tuple[bool, str]]:
    # Empty values sort last, as in the database the real API uses.
    def key(zaak: Json) -> tuple[bool, str]:
        value = zaak.get(field)
        return (value is None, str(value or ""))

    return key


def _matches(zaak: Zaak, filters: dict[str, Any]) -> bool:
    for name, value in filters.items():
        if name in ROL_FILTERS:
            betrokkene_type, key = ROL_FILTERS[name]
            if not any(
                rol["betrokkeneType"] == betrokkene_type and rol["betrokkeneIdentificatie"].get(key) == value
                for rol in zaak.rollen
            ):
                return False
        elif name in ("zaaktype", "identificatie", "bronorganisatie") and zaak.resource[name] != value:
            return False
    return True


def _invalid_filters(filters: dict[str, Any]) -> list[dict[str, str]]:
    """The Zaken API's validation of the filters this simulator knows (type and maxLength)."""
    invalid: list[dict[str, str]] = []
    for name in (*ROL_FILTERS, *STRING_FILTERS):
        value = filters.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            invalid.append({"name": name, "code": "invalid", "reason": "Geen geldige string."})
        elif name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
            reason = f"Zorg ervoor dat dit veld niet meer dan {MAX_LENGTHS[name]} karakters bevat."
            invalid.append({"name": name, "code": "max_length", "reason": reason})
    return invalid


def _search(zaken: list[Zaak], filters: dict[str, Any]) -> list[Json] | Response:
    """The zaken matching ``filters`` in the requested order, or the 400 the API gives for invalid filters.

    One implementation behind both ``GET /zaken`` (filters from the query) and ``POST /zaken/_zoek`` (from the
    body), so the two always find the same zaken.
    """
    invalid = _invalid_filters(filters)
    if invalid:
        return problem(400, "invalid", "Invalid input.", "Ongeldige invoer.", invalid)
    found = [zaak.resource for zaak in zaken if _matches(zaak, filters)]
    ordering = filters.get("ordering")
    for key in reversed([o.strip() for o in str(ordering or "").split(",") if o.strip()]):
        field = key.lstrip("-")
        if field in ORDERINGS:
            found.sort(key=_sort_key(field), reverse=key.startswith("-"))
    return found


def _zaakobject_filters(request: Request) -> dict[str, str] | Response:
    """The zaakobjecten list's filters, or the 400 the API (vng-api-common) gives: an unknown query parameter,
    a URL filter that is no URL, an objectType outside the enum."""
    query = request.query_params
    unknown = sorted({name for name in query if name not in (*ZAAKOBJECT_FILTERS, "page")})
    if unknown:
        reason = f"Onbekende query parameters: {', '.join(unknown)}"
        invalid = [{"name": "nonFieldErrors", "code": "unknown-parameters", "reason": reason}]
        return problem(400, "invalid", "Invalid input.", "Ongeldige invoer.", invalid)
    filters = {name: query[name] for name in ZAAKOBJECT_FILTERS if name in query}
    invalid = []
    for name in ("zaak", "object"):
        parts = urlsplit(filters.get(name, "http://x"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            invalid.append({"name": name, "code": "invalid", "reason": "Voer een geldige URL in."})
    object_type = filters.get("objectType")
    if object_type is not None and object_type not in OBJECT_TYPES:
        reason = f"Selecteer een geldige keuze. {object_type} is geen beschikbare keuze."
        invalid.append({"name": "objectType", "code": "invalid_choice", "reason": reason})
    if invalid:
        return problem(400, "invalid", "Invalid input.", "Ongeldige invoer.", invalid)
    return filters


def create_zgw_app(*, secret: str | None = None, client_id: str | None = None) -> FastAPI:
    """Secret and client id default to IKO_SANDBOX_ZGW_SECRET / IKO_SANDBOX_ZGW_CLIENT_ID."""
    settings = JwtSettings(
        secret=secret or os.environ.get(SECRET_ENV) or DEFAULT_SECRET,
        client_id=client_id or os.environ.get(CLIENT_ID_ENV) or DEFAULT_CLIENT_ID,
    )
    app = FastAPI(title="IKO sandbox: ZGW", openapi_url=None, docs_url=None, redoc_url=None)
    install_control(app, _error_answer)

    def store(request: Request) -> ZgwStore:
        return store_for(str(request.base_url), date.today())

    def denied(request: Request) -> Response | None:
        reason = check_authorization(request.headers.get("authorization"), settings)
        if reason is None:
            return None
        return problem(403, "permission_denied", "Je hebt geen toestemming om deze actie uit te voeren.", reason)

    def crs_problem(request: Request) -> Response | None:
        accept_crs = request.headers.get("accept-crs")
        if accept_crs is None:
            return problem(412, "precondition_failed", "Precondition failed", "'Accept-Crs' header ontbreekt")
        if accept_crs != CRS:
            return problem(406, "not_acceptable", "Not acceptable", "CRS-transformaties zijn niet ondersteund")
        return None

    def content_crs_problem(request: Request) -> Response | None:
        content_crs = request.headers.get("content-crs")
        if content_crs is None:
            return problem(412, "precondition_failed", "Precondition failed", "'Content-Crs' header ontbreekt")
        if content_crs != CRS:
            return problem(406, "not_acceptable", "Not acceptable", "CRS-transformaties zijn niet ondersteund")
        return None

    @app.get("/zaken/api/v1/zaken")
    async def zaak_list(request: Request) -> Response:
        refused = denied(request) or crs_problem(request)
        if refused:
            return refused
        found = _search(store(request).zaken, dict(request.query_params))
        if isinstance(found, Response):
            return found
        return _page(request, found, ZAKEN_VERSION, crs=True)

    @app.post("/zaken/api/v1/zaken/_zoek")
    async def zaak_zoek(request: Request) -> Response:
        # The filters travel in the body (ZaakZoek), so identifiers stay out of URLs and access logs;
        # the query carries only ``page``, and so do ``next`` and ``previous``.
        refused = denied(request) or content_crs_problem(request) or crs_problem(request)
        if refused:
            return refused
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            detail = f'Media type "{media_type}" wordt niet ondersteund.'
            return problem(415, "unsupported_media_type", "Unsupported media type", detail)
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            # ValidatieFout, the only 400 the spec declares, requires invalidParams.
            invalid = [{"name": "nonFieldErrors", "code": "parse_error", "reason": "JSON parse error."}]
            return problem(400, "parse_error", "Malformed request.", "JSON parse error.", invalid)
        if not isinstance(body, dict):
            invalid = [{"name": "nonFieldErrors", "code": "invalid", "reason": "Ongeldige data."}]
            return problem(400, "invalid", "Invalid input.", "Ongeldige invoer.", invalid)
        found = _search(store(request).zaken, body)
        if isinstance(found, Response):
            return found
        return _page(request, found, ZAKEN_VERSION, crs=True, keep_query=False)

    @app.get("/zaken/api/v1/zaken/{zaak_uuid}")
    async def zaak_read(zaak_uuid: str, request: Request) -> Response:
        refused = denied(request) or crs_problem(request)
        if refused:
            return refused
        zaak = store(request).zaken_by_uuid.get(zaak_uuid)
        return _json(zaak.resource, ZAKEN_VERSION, crs=True) if zaak else _not_found()

    @app.get("/zaken/api/v1/statussen")
    async def status_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        zaak_url = request.query_params.get("zaak")
        statussen = [
            status
            for zaak in store(request).zaken
            if zaak_url is None or zaak.resource["url"] == zaak_url
            for status in zaak.statussen
        ]
        return _page(request, statussen, ZAKEN_VERSION)

    @app.get("/zaken/api/v1/statussen/{status_uuid}")
    async def status_read(status_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        status = store(request).statussen_by_uuid.get(status_uuid)
        return _json(status, ZAKEN_VERSION) if status else _not_found()

    @app.get("/zaken/api/v1/rollen")
    async def rol_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        zaak_url = request.query_params.get("zaak")
        rollen = [
            rol
            for zaak in store(request).zaken
            if zaak_url is None or zaak.resource["url"] == zaak_url
            for rol in zaak.rollen
        ]
        return _page(request, rollen, ZAKEN_VERSION)

    @app.get("/zaken/api/v1/zaakobjecten")
    async def zaakobject_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        filters = _zaakobject_filters(request)
        if isinstance(filters, Response):
            return filters
        found = [z for z in store(request).zaakobjecten if all(z[k] == v for k, v in filters.items())]
        return _page(request, found, ZAKEN_VERSION)

    @app.get("/zaken/api/v1/zaakobjecten/{zaakobject_uuid}")
    async def zaakobject_read(zaakobject_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        zaakobject = store(request).zaakobjecten_by_uuid.get(zaakobject_uuid)
        return _json(zaakobject, ZAKEN_VERSION) if zaakobject else _not_found()

    @app.get("/catalogi/api/v1/zaaktypen")
    async def zaaktype_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        status = request.query_params.get("status", "definitief")
        catalogus = request.query_params.get("catalogus")
        identificatie = request.query_params.get("identificatie")
        zaaktypen = [
            z
            for z in store(request).catalogi.zaaktypen.values()
            if (status == "alles" or z["concept"] == (status == "concept"))
            and (catalogus is None or z["catalogus"] == catalogus)
            and (identificatie is None or z["identificatie"] == identificatie)
        ]
        return _page(request, zaaktypen, CATALOGI_VERSION)

    @app.get("/catalogi/api/v1/zaaktypen/{zaaktype_uuid}")
    async def zaaktype_read(zaaktype_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        zaaktype = store(request).catalogi.zaaktypen.get(zaaktype_uuid)
        return _json(zaaktype, CATALOGI_VERSION) if zaaktype else _not_found()

    @app.get("/catalogi/api/v1/statustypen")
    async def statustype_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        zaaktype = request.query_params.get("zaaktype")
        statustypen = [
            s for s in store(request).catalogi.statustypen.values() if zaaktype is None or s["zaaktype"] == zaaktype
        ]
        return _page(request, sorted(statustypen, key=lambda s: (s["zaaktype"], s["volgnummer"])), CATALOGI_VERSION)

    @app.get("/catalogi/api/v1/statustypen/{statustype_uuid}")
    async def statustype_read(statustype_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        statustype = store(request).catalogi.statustypen.get(statustype_uuid)
        return _json(statustype, CATALOGI_VERSION) if statustype else _not_found()

    @app.get("/catalogi/api/v1/catalogussen/{catalogus_uuid}")
    async def catalogus_read(catalogus_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        catalogus = store(request).catalogi.catalogus
        return _json(catalogus, CATALOGI_VERSION) if catalogus["url"].endswith(catalogus_uuid) else _not_found()

    return app


# The name python -m iko_sandbox looks for in a source's simulator package (SourceEntry.simulator_module).
create_app = create_zgw_app
