"""The BAG simulator: BAG API Individuele Bevragingen v2 (hal+json), plus sandbox control."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope

from iko_sandbox.bag import representation as rep
from iko_sandbox.bag import search
from iko_sandbox.bag.problems import (
    API_VERSION,
    PROBLEM_JSON,
    bad_request,
    invalid_param,
    not_found,
    problem,
    problem_body,
)
from iko_sandbox.bag.register import BagRegister
from iko_sandbox.control.middleware import ErrorAnswer
from iko_sandbox.control.wiring import install_control

API_KEY_ENV = "IKO_SANDBOX_BAG_API_KEY"
DEFAULT_API_KEY = "iko-sandbox-bag-key-not-for-production"
HAL_JSON = "application/hal+json"
CRS = "epsg:28992"
NUMMERAANDUIDING = re.compile(r"^[0-9]{4}20[0-9]{10}$")
ADRESSEERBAAR_OBJECT = re.compile(r"^[0-9]{4}(01|02|03)[0-9]{10}$")
VERBLIJFSOBJECT = re.compile(r"^[0-9]{4}01[0-9]{10}$")
PAND = re.compile(r"^[0-9]{4}10[0-9]{10}$")
OPENBARE_RUIMTE = re.compile(r"^[0-9]{4}30[0-9]{10}$")
WOONPLAATS = re.compile(r"^[0-9]{4}$")
ADRESSEN_PARAMETERS = search.SEARCH_PARAMETERS | {"expand", "page", "pageSize"}
# geldigOp and beschikbaarOp (tijdreizen) are accepted on the objects and ignored: there is one voorkomen.
TIJDREIZEN = frozenset({"geldigOp", "beschikbaarOp"})
ADRES_EXPAND = frozenset({"nummeraanduiding", "openbareRuimte", "woonplaats"})
OBJECT_EXPAND = frozenset({"heeftAlsHoofdAdres", "heeftAlsNevenAdres", "maaktDeelUitVan"})
NUMMERAANDUIDING_EXPAND = frozenset({"ligtInWoonplaats", "ligtAanOpenbareRuimte"})
OPENBARE_RUIMTE_EXPAND = frozenset({"ligtInWoonplaats"})
EXPAND = frozenset({"expand"})


def _error_answer(scope: Scope) -> ErrorAnswer:
    body = problem_body(500, title="Interne server fout.", code="serverError", instance=str(scope.get("path", "/")))
    return ErrorAnswer(500, PROBLEM_JSON, orjson.dumps(body))


def _hal(body: dict[str, Any], *, crs: bool = False, extra: dict[str, str] | None = None) -> Response:
    headers = {"api-version": API_VERSION, **(extra or {})}
    if crs:
        headers["content-crs"] = CRS
    return Response(orjson.dumps(body), media_type=HAL_JSON, headers=headers)


def _expand(request: Request, allowed: frozenset[str]) -> frozenset[str] | Response:
    """`expand=true` or a comma-separated list of resources (a `resource.field` selects the whole resource)."""
    value = request.query_params.get("expand")
    if value is None or value.strip().lower() == "false":
        return frozenset()
    if value.strip().lower() == "true":
        return allowed
    wanted = frozenset(part.strip().split(".", 1)[0] for part in value.split(",") if part.strip())
    unknown = sorted(wanted - allowed)
    if unknown or not wanted:
        reason = f"Deel van de parameterwaarde is niet correct: {','.join(unknown) or value}."
        return bad_request(str(request.url), [invalid_param("expand", "expand", reason)])
    return wanted


def _path_check(request: Request, name: str, value: str, pattern: re.Pattern[str]) -> Response | None:
    """Checks an identification as Kadaster's foutafhandeling feature does: length first, then pattern."""
    if pattern.fullmatch(value):
        return None
    length = 4 if pattern is WOONPLAATS else 16
    if len(value) < length:
        param = invalid_param(name, "minLength", f"Waarde is korter dan minimale lengte {length}.")
    elif len(value) > length:
        param = invalid_param(name, "maxLength", f"Waarde is langer dan maximale lengte {length}.")
    else:
        param = invalid_param(name, "pattern", f"Waarde voldoet niet aan patroon {pattern.pattern}.")
    return bad_request(str(request.url), [param])


def _unknown_params(request: Request, allowed: frozenset[str]) -> Response | None:
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if not unknown:
        return None
    return bad_request(
        str(request.url), [invalid_param(name, "unknownParam", "Parameter is niet verwacht.") for name in unknown]
    )


def _crs(request: Request) -> Response | None:
    """Resources with geometry need `Accept-Crs: epsg:28992` (the only CRS the API supports)."""
    accept_crs = request.headers.get("accept-crs")
    if accept_crs is None:
        return problem(
            412,
            title="Gewenste coördinatenstelsel voor geometrie moet worden opgegeven.",
            code="acceptCrsMissing",
            instance=str(request.url),
        )
    if accept_crs.strip().lower() != CRS:
        return problem(
            406,
            title=f"Gevraagde coördinatenstelsel {accept_crs} wordt niet ondersteund.",
            code="crsNotAcceptable",
            instance=str(request.url),
        )
    return None


def create_bag_app(*, api_key: str | None = None) -> FastAPI:
    """`api_key` defaults to IKO_SANDBOX_BAG_API_KEY, else DEFAULT_API_KEY; "" turns the check off."""
    register = BagRegister.load()
    configured = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY
    required_key = configured or None

    app = FastAPI(title="IKO sandbox: BAG", openapi_url=None, docs_url=None, redoc_url=None)
    install_control(app, _error_answer)

    def authorised(request: Request) -> Response | None:
        if required_key is None:
            return None
        given = request.headers.get("x-api-key")
        if given is None:
            return problem(401, title="Niet correct geauthenticeerd.", code="authentication", instance=str(request.url))
        if not secrets.compare_digest(given.encode(), required_key.encode()):
            return problem(
                403,
                title="U bent niet geautoriseerd voor deze operatie.",
                code="autorisation",
                instance=str(request.url),
            )
        return None

    def links(request: Request) -> rep.Links:
        return rep.Links(str(request.base_url))

    def search_query(request: Request, *, with_pand: bool) -> search.Query | Response:
        params = dict(request.query_params)
        invalid = search.check(params)
        if invalid:
            return bad_request(str(request.url), invalid)
        query = search.Query({k: v for k, v in params.items() if k in search.SEARCH_PARAMETERS})
        entries = search.ENTRIES if with_pand else search.ENTRIES[:3]
        if not query.values:
            return problem(
                400,
                title="Ten minste één parameter moet worden opgegeven.",
                code="paramsRequired",
                instance=str(request.url),
            )
        given = set(query.values)
        complete = [entry for entry in entries if entry <= given]
        if not complete:
            return problem(
                400,
                title="Minimale combinatie van parameters moet worden opgegeven.",
                code="paramsCombination",
                instance=str(request.url),
            )
        refinements = given & search.REFINEMENTS
        if query.entry not in entries or (refinements and "huisnummer" not in query.entry):
            return problem(
                400,
                title="De combinatie van opgegeven parameters is niet toegestaan.",
                code="unsupportedCombination",
                instance=str(request.url),
            )
        return query

    @app.get("/adressen")
    async def adressen(request: Request) -> Response:
        denied = authorised(request) or _unknown_params(request, ADRESSEN_PARAMETERS)
        if denied:
            return denied
        query = search_query(request, with_pand=True)
        if isinstance(query, Response):
            return query
        expand = _expand(request, ADRES_EXPAND)
        if isinstance(expand, Response):
            return expand
        if expand and "pandIdentificatie" in query.entry:
            reason = "Expand wordt niet ondersteund bij zoeken met pandIdentificatie."
            return bad_request(str(request.url), [invalid_param("expand", "expand", reason)])
        page = int(request.query_params.get("page", "1"))
        page_size = int(request.query_params.get("pageSize", "20"))
        found = search.find(register, query)
        shown = found[(page - 1) * page_size : page * page_size]
        style = links(request)

        def page_link(number: int) -> dict[str, Any]:
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
            return style.href(f"adressen?{urlencode([*kept, ('page', str(number))])}")

        last = max(1, -(-len(found) // page_size))
        if page > last:
            reason = "De opgegeven pagina bestaat niet."
            return bad_request(str(request.url), [invalid_param("page", "page", reason)])
        # Kadaster's paginering feature: first/previous only after page 1, next/last only before the last page.
        body_links: dict[str, Any] = {"self": style.href(f"adressen?{request.url.query}")}
        if page > 1:
            body_links["first"] = page_link(1)
            body_links["previous"] = page_link(page - 1)
        if page < last:
            body_links["next"] = page_link(page + 1)
            body_links["last"] = page_link(last)
        body = {
            "_links": body_links,
            "_embedded": {"adressen": [rep.adres(a, style, expand) for a in shown]},
        }
        return _hal(body, extra={"x-pagination-page": str(page), "x-pagination-limit": str(page_size)})

    @app.get("/adressen/{nummeraanduiding_identificatie}")
    async def adres(nummeraanduiding_identificatie: str, request: Request) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, EXPAND)
            or _path_check(
                request, "nummeraanduidingIdentificatie", nummeraanduiding_identificatie, re.compile(r"^[0-9]{16}$")
            )
        )
        if denied:
            return denied
        expand = _expand(request, ADRES_EXPAND)
        if isinstance(expand, Response):
            return expand
        found = register.adres(nummeraanduiding_identificatie)
        if found is None:
            return not_found(str(request.url))
        return _hal(rep.adres(found, links(request), expand))

    @app.get("/adressenuitgebreid")
    async def adressen_uitgebreid(request: Request) -> Response:
        denied = authorised(request) or _unknown_params(request, search.SEARCH_PARAMETERS - {"pandIdentificatie"})
        denied = denied or _crs(request)
        if denied:
            return denied
        query = search_query(request, with_pand=False)
        if isinstance(query, Response):
            return query
        style = links(request)
        body = {
            "_links": {"self": style.href(f"adressenuitgebreid?{request.url.query}")},
            "_embedded": {"adressen": [rep.adres_uitgebreid(a, style) for a in search.find(register, query)]},
        }
        return _hal(body, crs=True)

    @app.get("/adressenuitgebreid/{nummeraanduiding_identificatie}")
    async def adres_uitgebreid(nummeraanduiding_identificatie: str, request: Request) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, frozenset())
            or _path_check(request, "nummeraanduidingIdentificatie", nummeraanduiding_identificatie, NUMMERAANDUIDING)
            or _crs(request)
        )
        if denied:
            return denied
        found = register.adres(nummeraanduiding_identificatie)
        if found is None:
            return not_found(str(request.url))
        return _hal(rep.adres_uitgebreid(found, links(request)), crs=True)

    async def object_answer(request: Request, name: str, identificatie: str, pattern: re.Pattern[str]) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, TIJDREIZEN | EXPAND)
            or _path_check(request, name, identificatie, pattern)
            or _crs(request)
        )
        if denied:
            return denied
        expand = _expand(request, OBJECT_EXPAND)
        if isinstance(expand, Response):
            return expand
        found = register.adres_of_object(identificatie)
        if found is None:
            return not_found(str(request.url))
        body = rep.verblijfsobject(found, links(request), expand)
        if name == "adresseerbaarObjectIdentificatie":
            body = {"verblijfsobject": body}
        return _hal(body, crs=True)

    @app.get("/adresseerbareobjecten/{adresseerbaar_object_identificatie}")
    async def adresseerbaar_object(adresseerbaar_object_identificatie: str, request: Request) -> Response:
        return await object_answer(
            request, "adresseerbaarObjectIdentificatie", adresseerbaar_object_identificatie, ADRESSEERBAAR_OBJECT
        )

    @app.get("/verblijfsobjecten/{identificatie}")
    async def verblijfsobject(identificatie: str, request: Request) -> Response:
        return await object_answer(request, "identificatie", identificatie, VERBLIJFSOBJECT)

    @app.get("/panden/{identificatie}")
    async def pand(identificatie: str, request: Request) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, TIJDREIZEN)
            or _path_check(request, "identificatie", identificatie, PAND)
            or _crs(request)
        )
        if denied:
            return denied
        found = register.pand(identificatie)
        if found is None:
            return not_found(str(request.url))
        return _hal(rep.pand(found, links(request)), crs=True)

    @app.get("/nummeraanduidingen/{nummeraanduiding_identificatie}")
    async def nummeraanduiding(nummeraanduiding_identificatie: str, request: Request) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, TIJDREIZEN | EXPAND)
            or _path_check(request, "nummeraanduidingIdentificatie", nummeraanduiding_identificatie, NUMMERAANDUIDING)
        )
        if denied:
            return denied
        expand = _expand(request, NUMMERAANDUIDING_EXPAND)
        if isinstance(expand, Response):
            return expand
        found = register.adres(nummeraanduiding_identificatie)
        if found is None:
            return not_found(str(request.url))
        return _hal(rep.nummeraanduiding(found, links(request), expand))

    @app.get("/openbareruimten/{openbare_ruimte_identificatie}")
    async def openbare_ruimte(openbare_ruimte_identificatie: str, request: Request) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, TIJDREIZEN | EXPAND)
            or _path_check(request, "openbareRuimteIdentificatie", openbare_ruimte_identificatie, OPENBARE_RUIMTE)
        )
        if denied:
            return denied
        expand = _expand(request, OPENBARE_RUIMTE_EXPAND)
        if isinstance(expand, Response):
            return expand
        found = register.openbare_ruimte(openbare_ruimte_identificatie)
        if found is None:
            return not_found(str(request.url))
        return _hal(rep.openbare_ruimte(found, links(request), expand))

    @app.get("/woonplaatsen/{identificatie}")
    async def woonplaats(identificatie: str, request: Request) -> Response:
        denied = (
            authorised(request)
            or _unknown_params(request, TIJDREIZEN | EXPAND)
            or _path_check(request, "identificatie", identificatie, WOONPLAATS)
        )
        if denied:
            return denied
        # The woonplaats expands (geometrie, bronhouders) are not simulated: any expand is a 400.
        expand = _expand(request, frozenset())
        if isinstance(expand, Response):
            return expand
        found = register.woonplaats(identificatie)
        if found is None:
            return not_found(str(request.url))
        return _hal(rep.woonplaats(found, links(request)))

    return app


# The name python -m iko_sandbox looks for in a source's simulator package.
create_app = create_bag_app
