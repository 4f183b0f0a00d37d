"""The BRP Personen Bevragen v2 simulator: POST /personen, plus the sandbox control API."""

from __future__ import annotations

import os
import secrets

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope

from iko_sandbox.brp.fields import FieldSets, filter_persoon
from iko_sandbox.brp.problems import PROBLEM_JSON, invalid_param, problem, problem_body
from iko_sandbox.brp.queries import QueryError, find, validate
from iko_sandbox.brp.repository import PersonRepository
from iko_sandbox.control.middleware import ErrorAnswer
from iko_sandbox.control.wiring import install_control

JSON_UTF8 = "application/json; charset=utf-8"
API_KEY_ENV = "IKO_SANDBOX_BRP_API_KEY"


def _error_answer(scope: Scope) -> ErrorAnswer:
    body = problem_body(
        500,
        title="Interne server fout.",
        code="serverError",
        instance=scope.get("path", "/personen"),
        detail="The server encountered an unexpected condition which prevented it from fulfilling the request.",
    )
    return ErrorAnswer(500, PROBLEM_JSON, orjson.dumps(body))


def create_brp_app(
    *,
    repository: PersonRepository | None = None,
    api_key: str | None = None,
) -> FastAPI:
    """`api_key` defaults to IKO_SANDBOX_BRP_API_KEY; without one no key is required."""
    persons = repository or PersonRepository.load()
    field_sets = FieldSets.load()
    # An empty key, given or from the environment, means no key is required.
    required_key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV)) or None

    app = FastAPI(title="IKO sandbox: BRP Personen Bevragen v2", openapi_url=None, docs_url=None, redoc_url=None)
    install_control(app, _error_answer)

    @app.post("/personen")
    async def personen(request: Request) -> Response:
        instance = str(request.url)
        if required_key is not None and not secrets.compare_digest(request.headers.get("x-api-key", ""), required_key):
            return problem(
                401,
                title="Niet correct geauthenticeerd.",
                code="authentication",
                instance=instance,
                detail="Geen geldige X-API-KEY header meegestuurd.",
            )
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return problem(
                400,
                title="Een of meerdere parameters zijn niet correct.",
                code="paramsValidation",
                instance=instance,
                invalid_params=[invalid_param("body", "json", "Body is geen geldige JSON.")],
            )
        try:
            query, fields = validate(body, field_sets)
        except QueryError as error:
            return problem(
                400,
                title=error.title,
                code=error.code,
                instance=instance,
                invalid_params=error.invalid_params,
            )
        personen = [filter_persoon(record.v2, fields) for record in find(query, body, persons)]
        return Response(orjson.dumps({"type": query.name, "personen": personen}), media_type=JSON_UTF8)

    return app


# The name python -m iko_sandbox looks for in a source's simulator package (SourceEntry.simulator_module).
create_app = create_brp_app
