"""The gateway's front door on a small app: rate limit answers, body limit, error shapes per API."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI, Request
from iko_gateway.auth import Authenticator, AuthSettings, RateLimiter
from iko_gateway.security import BodyLimit, CallerDep, Security, install_security
from iko_shared.redis_client import make_redis


@pytest.fixture
async def app(redis_url):
    redis = make_redis(redis_url)
    prefix = f"iko-test-sec-{uuid.uuid4().hex[:8]}"
    settings = AuthSettings(dev_mode=True)
    app = FastAPI()
    app.state.security = Security(Authenticator(settings), RateLimiter(redis, prefix, limit_per_minute=3))
    install_security(app)
    app.add_middleware(BodyLimit, max_bytes=1000)

    @app.post("/api/v1/thing")
    async def thing(request: Request, caller: CallerDep) -> dict[str, str]:
        return {"user": caller.user, "bytes": str(len(await request.body()))}

    @app.get("/endpoints/x/y/z")
    async def compat(caller: CallerDep) -> dict[str, str]:
        return {"user": caller.user}

    yield app
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


DEV = {"X-API-Key": "iko-dev-key"}


async def test_a_client_over_its_limit_gets_429_with_retry_after(client):
    statuses = [(await client.post("/api/v1/thing", headers=DEV)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.post("/api/v1/thing", headers=DEV)
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_the_compat_api_answers_errors_in_the_iko_server_shape(client):
    response = await client.get("/endpoints/x/y/z", headers={"X-Correlation-Id": "abc-123"})
    assert response.status_code == 401
    assert set(response.json()) == {"message", "correlationId"}
    assert response.json()["correlationId"] == "abc-123"
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_body_over_the_limit_is_413_by_length_and_while_streaming(client):
    by_length = await client.post("/api/v1/thing", headers=DEV, content=b"x" * 2000)
    assert by_length.status_code == 413
    assert by_length.headers["content-type"].startswith("application/problem+json")

    async def chunks():
        for _ in range(5):
            yield b"y" * 400

    streamed = await client.post("/api/v1/thing", headers=DEV, content=chunks())
    assert streamed.status_code == 413
    small = await client.post("/api/v1/thing", headers=DEV, content=b"z" * 900)
    assert (small.status_code, small.json()["bytes"]) == (200, "900")


async def test_without_credentials_nothing_runs(client):
    response = await client.post("/api/v1/thing")
    assert response.status_code == 401
    assert response.json()["status"] == 401
