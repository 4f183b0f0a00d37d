"""Authentication failures and their RFC 9457 problem details (no FastAPI needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"

_TITLES = {401: "Unauthorized", 403: "Forbidden"}


class AuthError(Exception):
    """A rejected caller. ``detail`` is a short reason that names no secret and never quotes the credential.

    ``token_rejected``: a bearer token was given and refused (``WWW-Authenticate: Bearer error="invalid_token"``).
    """

    def __init__(self, detail: str, *, status: int = 401, token_rejected: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.token_rejected = token_rejected

    def __repr__(self) -> str:
        return f"AuthError(status={self.status}, detail={self.detail!r})"


@dataclass(frozen=True)
class AuthProblem:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = PROBLEM_JSON


def auth_problem(error: AuthError) -> AuthProblem:
    """The problem-details answer for ``error``: body ``{type, title, status, detail}`` plus headers.

    A 401 carries ``WWW-Authenticate: Bearer`` (RFC 6750), with ``error="invalid_token"`` when a token was
    given and rejected; a 403 carries ``error="insufficient_scope"``.
    """
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(error.status, "Unauthorized"),
        "status": error.status,
        "detail": error.detail,
    }
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if error.token_rejected else "Bearer"
    elif error.status == 403:
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    return AuthProblem(status=error.status, body=body, headers=headers)
