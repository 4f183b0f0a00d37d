"""The error shape of each API: problem details on the native API, the IKO Server's ``{message, correlationId}``
(with an ``X-Correlation-Id`` header) on the compatible one. Its own module, so that the front door (``security``)
and the compatible routes (``compat``) both use it without importing each other."""

from __future__ import annotations

import re
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from iko_gateway.problems import problem

COMPAT_PREFIXES = ("/aggregated-data-profiles", "/endpoints")
CORRELATION_HEADER = "X-Correlation-Id"
SANE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def is_compat(request: Request) -> bool:
    return request.url.path.startswith(COMPAT_PREFIXES)


def correlation_id(request: Request, request_id: str) -> str:
    """The caller's ``X-Correlation-Id`` when it is a sane token, else ours."""
    incoming = request.headers.get(CORRELATION_HEADER, "").strip()
    return incoming if SANE_CORRELATION_ID.fullmatch(incoming) else request_id


def error_response(status: int, message: str, correlation: str) -> JSONResponse:
    """The IKO Server's error shape (its ``ErrorHelper``)."""
    return JSONResponse(
        {"message": message, "correlationId": correlation},
        status_code=status,
        headers={CORRELATION_HEADER: correlation},
    )


def error_answer(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """The error in the shape the called API uses."""
    if is_compat(request):
        answer: Response = error_response(status, detail or title, correlation_id(request, str(uuid.uuid4())))
    else:
        answer = problem(status, title, detail)
    answer.headers.update(headers or {})
    return answer
