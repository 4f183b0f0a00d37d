"""Redis down at the gateway's front door: the rate limit and the failed-authentication limit cannot be checked,
so the answer is a 503 problem with Retry-After (not a 500 in plain text), logged once per outage."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.exceptions
from fastapi import FastAPI
from iko_gateway.auth import Authenticator, AuthSettings, RateLimiter
from iko_gateway.auth.failures import AuthFailureLimiter
from iko_gateway.security import LIMITS_OUTAGE, CallerDep, Security, install_security
from structlog.testing import capture_logs

DEV = {"X-API-Key": "iko-dev-key"}


class FailingRedis:
    """Every call fails as redis-py fails with the server away; ``up`` makes it answer again."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.up = False

    def register_script(self, script: str) -> Any:
        async def run(keys: Any = None, args: Any = None, client: Any = None) -> Any:
            if not self.up:
                raise self.error
            return [1, 59_000]

        return run

    async def get(self, key: str) -> Any:
        if not self.up:
            raise self.error
        return None


def build_app(security: Security) -> FastAPI:
    app = FastAPI()
    app.state.security = security
    install_security(app)

    @app.post("/api/v1/thing")
    async def thing(caller: CallerDep) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/endpoints/x/y/z")
    async def compat(caller: CallerDep) -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.fixture(autouse=True)
def fresh_outage():
    LIMITS_OUTAGE.since = None
    LIMITS_OUTAGE.failures = 0
    yield
    LIMITS_OUTAGE.since = None


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "Connect call failed"), redis.exceptions.ConnectionError("Error 111 connecting")],
)
@pytest.mark.parametrize("limit", ["rate", "auth_failures"])
async def test_redis_down_is_503_problem_with_retry_after(error, limit):
    fake = FailingRedis(error)
    authenticator = Authenticator(AuthSettings(dev_mode=True))
    security = Security(
        authenticator,
        RateLimiter(fake, "t", 60) if limit == "rate" else None,  # type: ignore[arg-type]
        auth_failures=AuthFailureLimiter(fake, "t", 5) if limit == "auth_failures" else None,  # type: ignore[arg-type]
    )
    app = build_app(security)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answers = [await client.post("/api/v1/thing", headers=DEV) for _ in range(5)]
            compat = await client.get("/endpoints/x/y/z", headers=DEV)
            fake.up = True
            back = await client.post("/api/v1/thing", headers=DEV)
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.json()["status"] == 503
    assert compat.status_code == 503
    assert "retry-after" in compat.headers
    assert back.status_code == 200
    events = [line["event"] for line in logs if line["event"].startswith("gateway.limits.redis")]
    assert events == ["gateway.limits.redis.unavailable", "gateway.limits.redis.recovered"], "once per outage"


async def test_a_bug_in_the_limiter_is_not_hidden_as_503():
    fake = FailingRedis(redis.exceptions.ResponseError("NOSCRIPT"))
    security = Security(Authenticator(AuthSettings(dev_mode=True)), RateLimiter(fake, "t", 60))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=build_app(security), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.post("/api/v1/thing", headers=DEV)
    assert answer.status_code == 500
