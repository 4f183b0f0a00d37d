"""The KVK simulator: Basisprofiel v1, Vestigingsprofiel v1 and Zoeken v2, plus sandbox control."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope

from iko_sandbox.control.middleware import ErrorAnswer
from iko_sandbox.control.wiring import install_control
from iko_sandbox.kvk import errors
from iko_sandbox.kvk.companies import ERROR_SCENARIOS, Company, Vestiging, load_companies
from iko_sandbox.kvk.representation import (
    LinkStyle,
    render_basisprofiel,
    render_eigenaar,
    render_vestiging,
    render_vestigingen,
)
from iko_sandbox.kvk.search import render_hit, search, validate

API_KEY_ENV = "IKO_SANDBOX_KVK_API_KEY"
HAL_JSON = "application/hal+json"
KVK_NUMMER = re.compile(r"^[0-9]{8}$")
VESTIGINGSNUMMER = re.compile(r"^[0-9]{12}$")
TECHNICAL_ERROR_TEXT = "Er is een technische fout opgetreden. Probeer het later opnieuw."

Handler = Callable[[Request], Awaitable[Response]]


def _error_answer(scope: Scope) -> ErrorAnswer:
    accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
    media_type = errors.error_media_type(scope.get("path", ""), accept)
    return ErrorAnswer(500, media_type, errors.fout_body(errors.TECHNICAL_ERROR, TECHNICAL_ERROR_TEXT))


def _wants_hal(request: Request) -> bool:
    return HAL_JSON in request.headers.get("accept", "")


def _style(request: Request) -> LinkStyle:
    return LinkStyle(base=str(request.base_url), hal=_wants_hal(request))


def _json(request: Request, body: dict[str, Any], api_version: str) -> Response:
    media_type = HAL_JSON if _wants_hal(request) else "application/json"
    return Response(orjson.dumps(body), media_type=media_type, headers={"api-version": api_version})


def _zoeken_media(request: Request) -> str:
    return errors.error_media_type(request.url.path, request.headers.get("accept", ""))


def _geo(request: Request) -> bool:
    return request.query_params.get("geoData", "false").lower() == "true"


def create_kvk_app(*, api_key: str | None = None) -> FastAPI:
    """`api_key` defaults to IKO_SANDBOX_KVK_API_KEY; without one no key is required."""
    companies = load_companies()
    vestigingen: dict[str, tuple[Company, Vestiging]] = {
        v.vestigingsnummer: (c, v) for c in companies.values() for v in c.vestigingen
    }
    # An empty key, given or from the environment, means no key is required.
    required_key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV)) or None

    app = FastAPI(title="IKO sandbox: KVK", openapi_url=None, docs_url=None, redoc_url=None)
    install_control(app, _error_answer)

    def authorised(request: Request) -> Response | None:
        if required_key is None or secrets.compare_digest(request.headers.get("apikey", ""), required_key):
            return None
        media_type = errors.error_media_type(request.url.path, request.headers.get("accept", ""))
        return errors.fout(401, errors.UNAUTHORIZED, "Geen of onjuiste apikey aangeleverd.", media_type)

    def company_or_error(kvk_nummer: str) -> Company | Response:
        if not KVK_NUMMER.fullmatch(kvk_nummer):
            return errors.fout(400, errors.INVALID_KVK_NUMMER, f"Het kvkNummer {kvk_nummer} is niet valide.")
        if kvk_nummer in ERROR_SCENARIOS:
            return errors.fout(500, errors.TECHNICAL_ERROR, TECHNICAL_ERROR_TEXT)
        company = companies.get(kvk_nummer)
        if company is None:
            return errors.fout(
                404, errors.NOT_FOUND, f"Het opgevraagde product is niet leverbaar voor kvkNummer {kvk_nummer}."
            )
        return company

    @app.get("/v1/basisprofielen/{kvk_nummer}")
    async def basisprofiel(kvk_nummer: str, request: Request) -> Response:
        found = authorised(request) or company_or_error(kvk_nummer)
        if isinstance(found, Response):
            return found
        return _json(request, render_basisprofiel(found, _style(request), _geo(request)), "1.5.0")

    @app.get("/v1/basisprofielen/{kvk_nummer}/hoofdvestiging")
    async def hoofdvestiging(kvk_nummer: str, request: Request) -> Response:
        found = authorised(request) or company_or_error(kvk_nummer)
        if isinstance(found, Response):
            return found
        hoofd = found.hoofdvestiging
        if hoofd is None:
            return errors.fout(404, errors.NOT_FOUND, f"Geen hoofdvestiging gevonden voor kvkNummer {kvk_nummer}.")
        return _json(request, render_vestiging(found, hoofd, _style(request), _geo(request), embedded=False), "1.5.0")

    @app.get("/v1/basisprofielen/{kvk_nummer}/vestigingen")
    async def vestigingen_list(kvk_nummer: str, request: Request) -> Response:
        found = authorised(request) or company_or_error(kvk_nummer)
        if isinstance(found, Response):
            return found
        return _json(request, render_vestigingen(found, _style(request)), "1.5.0")

    @app.get("/v1/basisprofielen/{kvk_nummer}/eigenaar")
    async def eigenaar(kvk_nummer: str, request: Request) -> Response:
        found = authorised(request) or company_or_error(kvk_nummer)
        if isinstance(found, Response):
            return found
        return _json(request, render_eigenaar(found, _style(request), _geo(request)), "1.5.0")

    @app.get("/v1/vestigingsprofielen/{vestigingsnummer}")
    async def vestigingsprofiel(vestigingsnummer: str, request: Request) -> Response:
        denied = authorised(request)
        if denied:
            return denied
        if not VESTIGINGSNUMMER.fullmatch(vestigingsnummer):
            return errors.fout(
                400, errors.INVALID_VESTIGINGSNUMMER, f"Het vestigingsnummer {vestigingsnummer} is niet valide."
            )
        pair = vestigingen.get(vestigingsnummer)
        if pair is None:
            return errors.fout(
                404,
                errors.NOT_FOUND,
                f"Het opgevraagde product is niet leverbaar voor vestigingsnummer {vestigingsnummer}.",
            )
        company, vestiging = pair
        body = render_vestiging(company, vestiging, _style(request), _geo(request), embedded=False)
        return _json(request, body, "1.4.0")

    @app.get("/v2/zoeken")
    async def zoeken(request: Request) -> Response:
        denied = authorised(request)
        if denied:
            return denied
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        invalid = validate(params)
        if invalid:
            return errors.fout(
                400, errors.INVALID_PARAMETER, f"De parameter {invalid} is niet valide.", _zoeken_media(request)
            )
        pagina = int(params.get("pagina", ["1"])[0])
        per_pagina = int(params.get("resultatenPerPagina", ["10"])[0])
        hits = search(companies, params)
        page = hits[(pagina - 1) * per_pagina : pagina * per_pagina]
        if not page:
            return errors.fout(
                404, errors.NO_SEARCH_RESULTS, "Er zijn geen resultaten gevonden.", _zoeken_media(request)
            )
        style = _style(request)
        body: dict[str, Any] = {
            "pagina": pagina,
            "resultatenPerPagina": per_pagina,
            "totaal": len(hits),
        }

        def page_url(number: int) -> str:
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "pagina"]
            return style.url(f"v2/zoeken?{urlencode([*query, ('pagina', str(number))])}")

        if pagina > 1:
            body["vorige"] = page_url(pagina - 1)
        if pagina * per_pagina < len(hits):
            body["volgende"] = page_url(pagina + 1)
        body["resultaten"] = [render_hit(hit, style) for hit in page]
        return _json(request, body, "2.0.0")

    return app


# The name python -m iko_sandbox looks for in a source's simulator package (SourceEntry.simulator_module).
create_app = create_kvk_app
