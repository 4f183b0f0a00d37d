"""The gateway's front door on a small app: rate limit, in-flight cap, failed-authentication limit, body limit,
error shapes per API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_address, ip_network
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Body, FastAPI, Request
from fastapi.responses import StreamingResponse
from iko_gateway.auth import Authenticator, AuthSettings, RateLimiter
from iko_gateway.auth.failures import AuthFailureLimiter
from iko_gateway.client_address import TrustedProxies
from iko_gateway.limits import InFlightLimiter
from iko_gateway.security import BodyLimit, CallerDep, Security, install_security, security_from
from iko_gateway.settings import GatewaySettings
from iko_shared.redis_client import make_redis
from pydantic import BaseModel
from redis.asyncio import Redis
from starlette.types import Message
from structlog.testing import capture_logs

from tests.unit.gateway.jwks_server import JwksServer, SigningKey

ISSUER = "https://idp.example/realms/gemeente"
DEV = {"X-API-Key": "iko-dev-key"}
DEV_KEY = "dev:dev:dev"


class Thing(BaseModel):
    text: str


class Gates:
    """Lets a test hold requests open: each waits on the gate of its name until the test opens it."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.entered: dict[str, int] = {}
        self.arrived = asyncio.Condition()
        self.stream_closed = asyncio.Event()

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def wait(self, name: str) -> None:
        async with self.arrived:
            self.entered[name] = self.entered.get(name, 0) + 1
            self.arrived.notify_all()
        await self.gate(name).wait()

    async def entered_at_least(self, name: str, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.entered.get(name, 0) >= count), 2)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = make_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    namespace = f"iko-test-sec-{uuid.uuid4().hex[:8]}"
    yield namespace
    keys = [k async for k in redis.scan_iter(match=f"{namespace}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey.rsa("rsa-sec")


@pytest.fixture
def jwks(signing_key: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer().start()
    server.serve(signing_key)
    yield server
    server.stop()


@pytest.fixture
async def authenticator(jwks: JwksServer) -> AsyncIterator[Authenticator]:
    auth = Authenticator(AuthSettings(dev_mode=True, jwks_url=jwks.url, issuer=ISSUER, audience="iko"))
    yield auth
    await auth.aclose()


@pytest.fixture
def gates() -> Gates:
    return Gates()


def build_app(security: Security, gates: Gates) -> FastAPI:
    app = FastAPI()
    app.state.security = security
    install_security(app)
    app.add_middleware(BodyLimit, max_bytes=1000)

    @app.post("/api/v1/thing")
    async def thing(request: Request, caller: CallerDep) -> dict[str, str]:
        return {"user": caller.user, "bytes": str(len(await request.body()))}

    @app.post("/api/v1/parsed")
    async def parsed(body: Annotated[Thing, Body()], caller: CallerDep) -> dict[str, int]:
        return {"length": len(body.text)}

    @app.post("/api/v1/slow")
    async def slow(caller: CallerDep) -> dict[str, str]:
        await gates.wait("slow")
        return {"user": caller.user}

    @app.post("/api/v1/stream")
    async def stream(caller: CallerDep) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"event: fragment\n\n"
                await gates.wait("stream")
                yield b"event: view\n\n"
            finally:
                gates.stream_closed.set()

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/endpoints/x/y/z")
    async def compat(caller: CallerDep) -> dict[str, str]:
        return {"user": caller.user}

    @app.get("/endpoints/slow/y/z")
    async def compat_slow(caller: CallerDep) -> dict[str, str]:
        await gates.wait("slow")
        return {"user": caller.user}

    return app


def client_of(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


@pytest.fixture
async def app(redis: Redis, prefix: str, authenticator: Authenticator, gates: Gates) -> FastAPI:
    security = Security(authenticator, RateLimiter(redis, prefix, limit_per_minute=3), in_flight=InFlightLimiter(2))
    return build_app(security, gates)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        yield client


def token(signing_key: SigningKey, sub: str, azp: str = "valtimo") -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": "iko", "sub": sub, "azp": azp, "iat": now, "exp": now + 300}
    return {"Authorization": f"Bearer {signing_key.sign(claims)}"}


def test_the_front_door_as_configured(redis: Redis, authenticator: Authenticator) -> None:
    def configured(**values: Any) -> Security:
        return security_from(GatewaySettings(**values), authenticator, redis)

    full = configured(gateway_max_in_flight_per_caller=4, gateway_trusted_proxies="10.0.0.0/8")
    assert full.limiter is not None
    assert full.in_flight is not None
    assert full.in_flight.limit == 4
    assert full.auth_failures is not None
    assert full.auth_failures.limit == 30
    assert ip_address("10.1.2.3") in full.trusted_proxies
    off = configured(
        gateway_rate_limit_per_minute=0, gateway_max_in_flight_per_caller=0, gateway_auth_failures_per_minute=0
    )
    assert (off.limiter, off.in_flight, off.auth_failures) == (None, None, None)


# --- rate limit ---


async def test_a_client_over_its_limit_gets_429_with_retry_after(client: httpx.AsyncClient) -> None:
    statuses = [(await client.post("/api/v1/thing", headers=DEV)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.post("/api/v1/thing", headers=DEV)
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_users_of_one_client_each_have_their_own_rate_limit(
    client: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    # Probe finding: every Valtimo user carries azp=valtimo, and one user's calls used to exhaust everyone's limit.
    busy, other = token(signing_key, "user-busy"), token(signing_key, "user-other")
    statuses = [(await client.post("/api/v1/thing", headers=busy)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await client.post("/api/v1/thing", headers=other)).status_code == 200
    # The same user through another client application counts apart as well.
    assert (await client.post("/api/v1/thing", headers=token(signing_key, "user-busy", azp="zac"))).status_code == 200


# --- in-flight cap ---


async def test_a_caller_over_its_in_flight_cap_gets_429_and_others_are_still_served(
    app: FastAPI, client: httpx.AsyncClient, gates: Gates, signing_key: SigningKey
) -> None:
    # Probe finding: one key's parallel slow lookups filled the connectors and another caller's lookups timed out.
    held = [asyncio.create_task(client.post("/api/v1/slow", headers=DEV)) for _ in range(2)]
    await gates.entered_at_least("slow", 2)
    refused = await client.post("/api/v1/slow", headers=DEV)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "in flight" in refused.json()["detail"]
    # Another caller is not affected by the first one's slots.
    assert (await client.post("/api/v1/thing", headers=token(signing_key, "someone-else"))).status_code == 200
    gates.gate("slow").set()
    assert [(await task).status_code for task in held] == [200, 200]
    assert app.state.security.in_flight.held(DEV_KEY) == 0


async def test_the_in_flight_cap_on_the_compat_api_answers_in_its_shape(
    app: FastAPI, client: httpx.AsyncClient, gates: Gates
) -> None:
    held = [asyncio.create_task(client.get("/endpoints/slow/y/z", headers=DEV)) for _ in range(2)]
    await gates.entered_at_least("slow", 2)
    refused = await client.get("/endpoints/x/y/z", headers={**DEV, "X-Correlation-Id": "c-1"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {"message": "too many requests in flight; wait for one to end", "correlationId": "c-1"}
    gates.gate("slow").set()
    await asyncio.gather(*held)
    assert app.state.security.in_flight.held(DEV_KEY) == 0


async def test_a_slot_is_released_when_the_route_fails(app: FastAPI, client: httpx.AsyncClient) -> None:
    for _ in range(3):  # more than the cap: every failed request gave its slot back
        assert (await client.post("/api/v1/parsed", headers=DEV, json={"wrong": 1})).status_code == 422
    assert app.state.security.in_flight.held(DEV_KEY) == 0


class AsgiCall:
    """One request driven by hand, so that a test can look between the chunks of a streamed answer (httpx's
    ASGI transport hands over a response only once the app has finished)."""

    def __init__(self, app: FastAPI, path: str, headers: dict[str, str]) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},  # what uvicorn says
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("gateway", 80),
        }
        self.app = app
        self.sent: asyncio.Queue[Message] = asyncio.Queue()
        self.gone = asyncio.Event()
        self._body_sent = False
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        await self.sent.put(message)

    def start(self) -> None:
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))

    async def next_message(self) -> Message:
        return await asyncio.wait_for(self.sent.get(), 2)

    async def finished(self) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, 2)


async def test_a_stream_holds_its_slot_until_it_has_ended(
    app: FastAPI, client: httpx.AsyncClient, gates: Gates
) -> None:
    security: Security = app.state.security
    call = AsgiCall(app, "/api/v1/stream", DEV)
    call.start()
    assert (await call.next_message())["status"] == 200
    assert (await call.next_message())["body"] == b"event: fragment\n\n"
    # The route has returned its StreamingResponse, the stream is still open: the slot is still taken.
    assert security.in_flight is not None
    assert security.in_flight.held(DEV_KEY) == 1
    gates.gate("stream").set()
    bodies = [(await call.next_message()).get("body") for _ in range(2)]
    assert bodies == [b"event: view\n\n", b""]
    await call.finished()
    assert security.in_flight.held(DEV_KEY) == 0


async def test_a_stream_releases_its_slot_when_the_client_goes_away(app: FastAPI, gates: Gates) -> None:
    security: Security = app.state.security
    assert security.in_flight is not None
    first, second = AsgiCall(app, "/api/v1/stream", DEV), AsgiCall(app, "/api/v1/stream", DEV)
    for call in (first, second):
        call.start()
        await call.next_message()
        await call.next_message()
    assert security.in_flight.held(DEV_KEY) == 2
    first.gone.set()  # the client disconnects while the stream waits for its next event
    await first.finished()
    assert gates.stream_closed.is_set()
    assert security.in_flight.held(DEV_KEY) == 1
    second.gone.set()
    await second.finished()
    assert security.in_flight.held(DEV_KEY) == 0


async def test_without_a_cap_nothing_is_counted(authenticator: Authenticator, gates: Gates) -> None:
    app = build_app(Security(authenticator, None), gates)
    async with client_of(app) as client:
        held = [asyncio.create_task(client.post("/api/v1/slow", headers=DEV)) for _ in range(5)]
        await gates.entered_at_least("slow", 5)
        gates.gate("slow").set()
        assert [(await task).status_code for task in held] == [200] * 5


# --- failed authentication per address ---


@pytest.fixture
async def guarded(redis: Redis, prefix: str, authenticator: Authenticator, gates: Gates) -> FastAPI:
    security = Security(
        authenticator,
        None,
        auth_failures=AuthFailureLimiter(redis, prefix, 3),
        trusted_proxies=TrustedProxies([ip_network("10.0.0.0/24")]),
    )
    return build_app(security, gates)


BAD = {"X-API-Key": "guessed-wrong"}


async def test_an_address_failing_authentication_too_often_is_refused_even_with_a_good_key(guarded: FastAPI) -> None:
    async with client_of(guarded, "198.51.100.7") as attacker, client_of(guarded, "198.51.100.8") as bystander:
        statuses = [(await attacker.post("/api/v1/thing", headers=BAD)).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        refused = await attacker.post("/api/v1/thing", headers=DEV)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "failed authentication" in refused.json()["detail"]
        compat = await attacker.get("/endpoints/x/y/z", headers={**DEV, "X-Correlation-Id": "c-2"})
        assert compat.status_code == 429
        assert set(compat.json()) == {"message", "correlationId"}
        # Another address is served.
        assert (await bystander.post("/api/v1/thing", headers=DEV)).status_code == 200


async def test_a_good_key_does_not_count_as_a_failure(guarded: FastAPI) -> None:
    async with client_of(guarded, "198.51.100.9") as client:
        statuses = [(await client.post("/api/v1/thing", headers=DEV)).status_code for _ in range(6)]
        assert statuses == [200] * 6


async def test_a_forged_x_forwarded_for_does_not_escape_the_limit(guarded: FastAPI) -> None:
    async with client_of(guarded, "198.51.100.7") as attacker:
        for n in range(3):
            forged = {**BAD, "X-Forwarded-For": f"203.0.113.{n}"}
            assert (await attacker.post("/api/v1/thing", headers=forged)).status_code == 401
        fresh = {**DEV, "X-Forwarded-For": "203.0.113.200"}
        assert (await attacker.post("/api/v1/thing", headers=fresh)).status_code == 429


async def test_behind_a_trusted_ingress_one_attacker_does_not_lock_out_everyone(guarded: FastAPI) -> None:
    async with client_of(guarded, "10.0.0.5") as ingress:
        attacker = {"X-Forwarded-For": "1.1.1.1, 198.51.100.66"}  # the left entry is the attacker's own
        for _ in range(3):
            assert (await ingress.post("/api/v1/thing", headers={**BAD, **attacker})).status_code == 401
        assert (await ingress.post("/api/v1/thing", headers={**DEV, **attacker})).status_code == 429
        # The attacker cannot step out of its limit by naming another address in front of it.
        dodge = {**DEV, "X-Forwarded-For": "203.0.113.5, 198.51.100.66"}
        assert (await ingress.post("/api/v1/thing", headers=dodge)).status_code == 429
        user = {**DEV, "X-Forwarded-For": "198.51.100.20"}
        assert (await ingress.post("/api/v1/thing", headers=user)).status_code == 200


async def test_log_lines_hold_no_address_nor_header_value(guarded: FastAPI) -> None:
    async with client_of(guarded, "198.51.100.77") as client:
        with capture_logs() as logs:
            for _ in range(4):
                await client.post("/api/v1/thing", headers={**BAD, "X-Forwarded-For": "203.0.113.99"})
    assert logs
    text = repr(logs)
    for leaked in ("198.51.100.77", "203.0.113.99", "guessed-wrong"):
        assert leaked not in text


# --- body limit and error shapes ---


async def test_the_compat_api_answers_errors_in_the_iko_server_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/endpoints/x/y/z", headers={"X-Correlation-Id": "abc-123"})
    assert response.status_code == 401
    assert set(response.json()) == {"message", "correlationId"}
    assert response.json()["correlationId"] == "abc-123"
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_body_over_the_limit_is_413_by_length_and_while_streaming(client: httpx.AsyncClient) -> None:
    by_length = await client.post("/api/v1/thing", headers=DEV, content=b"x" * 2000)
    assert by_length.status_code == 413
    assert by_length.headers["content-type"].startswith("application/problem+json")
    streamed = await client.post("/api/v1/thing", headers=DEV, content=chunks(*[b"y" * 400] * 5))
    assert streamed.status_code == 413
    small = await client.post("/api/v1/thing", headers=DEV, content=b"z" * 900)
    assert (small.status_code, small.json()["bytes"]) == (200, "900")


async def test_a_chunked_body_over_the_limit_is_413_where_fastapi_parses_it(client: httpx.AsyncClient) -> None:
    # Probe finding: a chunked body (no Content-Length) over the limit on a route with a model answered 400.
    headers = {**DEV, "Content-Type": "application/json"}
    over = await client.post("/api/v1/parsed", headers=headers, content=chunks(b'{"text": "', *[b"y" * 400] * 3))
    assert "content-length" not in over.request.headers
    assert over.status_code == 413
    assert over.headers["content-type"].startswith("application/problem+json")
    assert over.json()["status"] == 413
    within = await client.post("/api/v1/parsed", headers=headers, content=chunks(b'{"text": "', b"y" * 400, b'"}'))
    assert (within.status_code, within.json()) == (200, {"length": 400})


async def test_a_client_gone_before_its_body_is_in_runs_nothing(app: FastAPI) -> None:
    sent: list[Message] = []
    messages: list[Message] = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = AsgiCall(app, "/api/v1/thing", DEV).scope
    await app(scope, receive, send)
    assert sent == []


async def test_without_credentials_nothing_runs(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/thing")
    assert response.status_code == 401
    assert response.json()["status"] == 401
