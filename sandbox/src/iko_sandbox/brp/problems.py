"""BRP errors as application/problem+json, in the shape of the spec's Foutbericht."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

PROBLEM_JSON = "application/problem+json"
RFC_TYPES = {
    400: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
    401: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2",
    403: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.4",
    406: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.7",
    415: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.16",
    500: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1",
}


def problem_body(
    status: int,
    *,
    title: str,
    code: str,
    instance: str,
    detail: str | None = None,
    invalid_params: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": RFC_TYPES.get(status, RFC_TYPES[500]),
        "title": title,
        "status": status,
        "instance": instance,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if invalid_params is not None:
        body["invalidParams"] = invalid_params
    return body


def problem(status: int, **kwargs: Any) -> Response:
    return Response(orjson.dumps(problem_body(status, **kwargs)), status_code=status, media_type=PROBLEM_JSON)


def invalid_param(name: str, code: str, reason: str) -> dict[str, str]:
    return {
        "type": f"https://www.vng.nl/realisatie/api/validaties/{code}",
        "name": name,
        "code": code,
        "reason": reason,
    }
