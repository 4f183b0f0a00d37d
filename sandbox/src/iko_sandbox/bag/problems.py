"""BAG errors as application/problem+json, in the shape of the spec's `Error` schema."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

PROBLEM_JSON = "application/problem+json"
API_VERSION = "2.0.0"

# The `type` values and titles are those of the spec's examples.
_RFC = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#/"
TYPES = {
    400: f"{_RFC}10.4.1 400 Bad Request",
    401: f"{_RFC}10.4.2 401 Unauthorized",
    403: f"{_RFC}10.4.4 403 Forbidden",
    404: f"{_RFC}10.4.5 404 Not Found",
    406: f"{_RFC}10.4.7 406 Not Acceptable",
    412: f"{_RFC}10.4.13 412 Precondition Failed",
    500: f"{_RFC}10.5.1 500 Internal server error",
}
DETAILS = {
    400: "The request could not be understood by the server due to malformed syntax. "
    "The client SHOULD NOT repeat the request without modification.",
    401: "The request requires user authentication.",
    403: "The server understood the request, but is refusing to fulfill it.",
    404: "The server has not found anything matching the Request-URI.",
    406: "The resource identified by the request is only capable of generating response entities which have "
    "content characteristics not acceptable according to the accept headers sent in the request",
    412: "The precondition given in one or more of the request-header fields evaluated to false when it was "
    "tested on the server.",
    500: "The server encountered an unexpected condition which prevented it from fulfilling the request.",
}


def problem_body(
    status: int, *, title: str, code: str, instance: str, invalid_params: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPES.get(status, TYPES[500]),
        "title": title,
        "status": status,
        "detail": DETAILS.get(status, DETAILS[500]),
        "instance": instance,
        "code": code,
    }
    if invalid_params:
        body["invalid-params"] = invalid_params
    return body


def problem(
    status: int, *, title: str, code: str, instance: str, invalid_params: list[dict[str, str]] | None = None
) -> Response:
    body = problem_body(status, title=title, code=code, instance=instance, invalid_params=invalid_params)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers={"api-version": API_VERSION}
    )


def invalid_param(name: str, code: str, reason: str) -> dict[str, str]:
    return {
        "type": f"https://www.vng.nl/realisatie/api/validaties/{code}",
        "name": name,
        "code": code,
        "reason": reason,
    }


def bad_request(instance: str, invalid_params: list[dict[str, str]]) -> Response:
    return problem(
        400,
        title="Een of meerdere parameters zijn niet correct.",
        code="paramsValidation",
        instance=instance,
        invalid_params=invalid_params,
    )


def not_found(instance: str) -> Response:
    return problem(404, title="Opgevraagde resource bestaat niet.", code="notFound", instance=instance)
