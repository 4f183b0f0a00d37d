"""The gateway's front door: who calls (authentication), how often (rate limit), how many at once (in-flight
cap), how often in vain (failed authentication per source address), how much (body size), and the error answers
for each — problem details on the native API, ``{message, correlationId}`` on the compat API.

Every route that takes ``CallerDep`` gets all of it: authentication, the rate limit, and a slot of the caller's
in-flight cap, held until the answer has been sent — for a stream until it has ended or the client has gone. The
cap is counted in memory, per gateway replica (see ``limits``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from iko_shared.failures import OutageLog, classify
from iko_shared.logging import get_logger
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iko_gateway.access import AccessDeniedError
from iko_gateway.audit import AuditUnavailableError
from iko_gateway.auth.authenticator import Authenticator
from iko_gateway.auth.caller import Caller
from iko_gateway.auth.errors import AuthError, auth_problem
from iko_gateway.auth.failures import AuthFailureLimiter
from iko_gateway.auth.rate_limit import RateLimiter
from iko_gateway.client_address import TrustedProxies, client_address, limit_key
from iko_gateway.error_shapes import error_answer, is_compat
from iko_gateway.limits import InFlightLimiter
from iko_gateway.problems import PROBLEM_JSON, problem
from iko_gateway.settings import GatewaySettings

log = get_logger()
T = TypeVar("T")


# A slot frees up as soon as one of the caller's requests ends: soon, whatever it is waiting for.
IN_FLIGHT_RETRY_AFTER_S = 1


class RateLimitedError(Exception):
    def __init__(self, retry_after_s: int, detail: str = "slow down") -> None:
        super().__init__("rate limited")
        self.retry_after_s = retry_after_s
        self.detail = detail


class LimitsUnavailableError(Exception):
    """The rate limits live in Redis, and Redis does not answer: refuse for now (503), never guess (no 500)."""


# When to try again after Redis was away (a module constant while settings.py has another owner).
LIMITS_RETRY_AFTER_S = 2

# One warning when the limits' Redis goes away, one info when it answers again; not a line per request.
LIMITS_OUTAGE = OutageLog("gateway.limits.redis")


async def _limits(call: Awaitable[T]) -> T:
    """A call to the limits' Redis: a transient failure (refused, reset, timed out) is LimitsUnavailableError."""
    try:
        result = await call
    except Exception as exc:
        if classify(exc) != "transient":
            raise
        LIMITS_OUTAGE.failed(exc)
        raise LimitsUnavailableError from exc
    LIMITS_OUTAGE.recovered()
    return result


class Security:
    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter | None,
        *,
        in_flight: InFlightLimiter | None = None,
        auth_failures: AuthFailureLimiter | None = None,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.limiter = limiter
        self.in_flight = in_flight
        self.auth_failures = auth_failures
        self.trusted_proxies = trusted_proxies or TrustedProxies()

    def _address_key(self, request: Request) -> str | None:
        peer = request.client.host if request.client is not None else None
        address = client_address(peer, request.headers.getlist("x-forwarded-for"), self.trusted_proxies)
        return limit_key(address) if address is not None else None

    async def caller(self, request: Request) -> Caller:
        """The authenticated caller, within its rate limit (the in-flight slot is ``acquire``'s).

        An address with too many failed attempts is refused before its credentials are looked at."""
        failures = self.auth_failures
        address = self._address_key(request) if failures is not None else None
        if failures is not None and address is not None:
            retry_after_s = await _limits(failures.retry_after_s(address))
            if retry_after_s:
                raise RateLimitedError(retry_after_s, "too many failed authentication attempts; try again later")
        try:
            caller = await self.authenticator.authenticate(request.headers)
        except AuthError:
            if failures is not None and address is not None:
                await _limits(failures.record_failure(address))
            raise
        if self.limiter is not None:
            decision = await _limits(self.limiter.check(caller.rate_key))
            if not decision.allowed:
                raise RateLimitedError(decision.retry_after_s)
        return caller

    def acquire(self, caller: Caller) -> None:
        """Takes one of the caller's in-flight slots; RateLimitedError when it holds them all."""
        if self.in_flight is not None and not self.in_flight.try_acquire(caller.rate_key):
            raise RateLimitedError(IN_FLIGHT_RETRY_AFTER_S, "too many requests in flight; wait for one to end")

    def release(self, caller: Caller) -> None:
        if self.in_flight is not None:
            self.in_flight.release(caller.rate_key)


def security_from(settings: GatewaySettings, authenticator: Authenticator, redis: Redis) -> Security:
    """The front door as configured; a limit set to 0 is left out."""
    per_minute = settings.gateway_rate_limit_per_minute
    in_flight = settings.gateway_max_in_flight_per_caller
    failures = settings.gateway_auth_failures_per_minute
    return Security(
        authenticator,
        RateLimiter(redis, settings.namespace, per_minute) if per_minute > 0 else None,
        in_flight=InFlightLimiter(in_flight) if in_flight > 0 else None,
        auth_failures=AuthFailureLimiter(redis, settings.namespace, failures) if failures > 0 else None,
        trusted_proxies=TrustedProxies(settings.gateway_trusted_proxies),
    )


async def current_caller(request: Request) -> AsyncIterator[Caller]:
    """The caller, holding an in-flight slot while the request runs.

    A dependency with yield, so that its exit runs after the response has been sent: FastAPI awaits the response,
    a ``StreamingResponse`` to its last chunk or the client's disconnect, before leaving the request's dependencies.
    ``test_security`` proves this for streams, in case a FastAPI release moves that exit.
    """
    security: Security = request.app.state.security
    caller = await security.caller(request)
    request.state.caller = caller
    security.acquire(caller)
    try:
        yield caller
    finally:
        security.release(caller)


CallerDep = Annotated[Caller, Depends(current_caller)]


def install_security(app: FastAPI) -> None:
    async def on_auth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        rendered = auth_problem(exc)
        if is_compat(request):
            return error_answer(request, rendered.status, rendered.body["title"], exc.detail, rendered.headers)
        return JSONResponse(
            rendered.body, status_code=rendered.status, headers=rendered.headers, media_type=PROBLEM_JSON
        )

    async def on_rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimitedError)
        retry = str(max(exc.retry_after_s, 1))
        return error_answer(request, 429, "Too many requests", exc.detail, {"Retry-After": retry})

    async def on_access_denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessDeniedError)
        return error_answer(request, exc.status, exc.title, exc.detail)

    async def on_audit_unavailable(request: Request, exc: Exception) -> Response:
        return error_answer(
            request, 503, "Not recorded, not disclosed", "the access could not be recorded, so nothing is disclosed"
        )

    async def on_limits_unavailable(request: Request, exc: Exception) -> Response:
        return error_answer(
            request,
            503,
            "Service unavailable",
            "the rate limits cannot be checked just now; try again shortly",
            {"Retry-After": str(LIMITS_RETRY_AFTER_S)},
        )

    app.add_exception_handler(AuthError, on_auth_error)
    app.add_exception_handler(LimitsUnavailableError, on_limits_unavailable)
    app.add_exception_handler(RateLimitedError, on_rate_limited)
    app.add_exception_handler(AccessDeniedError, on_access_denied)
    app.add_exception_handler(AuditUnavailableError, on_audit_unavailable)


class BodyLimit:
    """Refuses a request body over ``max_bytes`` (413): by its Content-Length when it has one, else once that many
    bytes have come in; the app is called with the whole body only when it is within the limit.

    Buffered here, not counted inside ``receive``: an error raised from ``receive`` reaches FastAPI while it parses
    the body, which answers it with a 400. Bodies this API takes are small, and the limit bounds the buffer.
    """

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
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was in: there is no one to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                # After the body: a streaming response listens here for the client's disconnect.
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

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
