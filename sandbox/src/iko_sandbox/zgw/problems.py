"""ZGW errors as application/problem+json (the `Fout` and `ValidatieFout` schemas)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi.responses import Response

PROBLEM_JSON = "application/problem+json"


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    invalid_params: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://github.com/VNG-Realisatie/gemma-zaken/tree/master/docs/fouten/{code}",
        "code": code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"urn:uuid:{uuid.uuid4()}",
    }
    if invalid_params is not None:
        body["invalidParams"] = invalid_params
    return body


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    invalid_params: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(problem_body(status, code, title, detail, invalid_params)),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )
