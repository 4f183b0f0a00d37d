"""The gateway's front door: who calls (authentication), how often (rate limit), how much (body size), and the
error answers for each — problem details on the native API, ``{message, correlationId}`` on the compat API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from iko_shared.logging import get_logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iko_gateway.access import AccessDeniedError
from iko_gateway.audit import AuditUnavailableError
from iko_gateway.auth.authenticator import Authenticator
from iko_gateway.auth.caller import Caller
from iko_gateway.auth.errors import AuthError, auth_problem
from iko_gateway.auth.rate_limit import RateLimiter
from iko_gateway.problems import PROBLEM_JSON, problem

log = get_logger()

COMPAT_PREFIXES = ("/aggregated-data-profiles", "/endpoints")


class RateLimitedError(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("rate limited")
        self.retry_after_s = retry_after_s


class Security:
    def __init__(self, authenticator: Authenticator, limiter: RateLimiter | None) -> None:
        self.authenticator = authenticator
        self.limiter = limiter

    async def caller(self, request: Request) -> Caller:
        caller = await self.authenticator.authenticate(request.headers)
        if self.limiter is not None:
            decision = await self.limiter.check(caller.rate_key)
            if not decision.allowed:
                raise RateLimitedError(decision.retry_after_s)
        return caller


async def current_caller(request: Request) -> Caller:
    security: Security = request.app.state.security
    caller = await security.caller(request)
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def _is_compat(request: Request) -> bool:
    return request.url.path.startswith(COMPAT_PREFIXES)


def error_answer(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """The error in the shape the called API uses."""
    if _is_compat(request):
        # The IKO Server's error shape (imported here: compat imports this module's dependency).
        from iko_gateway.compat import correlation_id, error_response

        answer = error_response(status, detail or title, correlation_id(request, str(uuid.uuid4())))
        answer.headers.update(headers or {})
        return answer
    answer = problem(status, title, detail)
    answer.headers.update(headers or {})
    return answer


def install_security(app: FastAPI) -> None:
    async def on_auth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        rendered = auth_problem(exc)
        if _is_compat(request):
            return error_answer(request, rendered.status, rendered.body["title"], exc.detail, rendered.headers)
        return JSONResponse(
            rendered.body, status_code=rendered.status, headers=rendered.headers, media_type=PROBLEM_JSON
        )

    async def on_rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimitedError)
        retry = str(max(exc.retry_after_s, 1))
        return error_answer(request, 429, "Too many requests", "slow down", {"Retry-After": retry})

    async def on_access_denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessDeniedError)
        return error_answer(request, exc.status, exc.title, exc.detail)

    async def on_audit_unavailable(request: Request, exc: Exception) -> Response:
        return error_answer(
            request, 503, "Not recorded, not disclosed", "the access could not be recorded, so nothing is disclosed"
        )

    app.add_exception_handler(AuthError, on_auth_error)
    app.add_exception_handler(RateLimitedError, on_rate_limited)
    app.add_exception_handler(AccessDeniedError, on_access_denied)
    app.add_exception_handler(AuditUnavailableError, on_audit_unavailable)


class BodyTooLargeError(Exception):
    pass


class BodyLimit:
    """Refuses a request body over ``max_bytes`` (413) without reading it all: by its Content-Length when it
    has one, else while it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = problem(413, "Body too large", f"a request body may hold at most {self.max_bytes} bytes").body
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
