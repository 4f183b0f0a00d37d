"""The limit on failed authentication per address, against the real Redis, each test under its own prefix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from iko_gateway.auth.failures import AuthFailureLimiter
from redis.asyncio import Redis
from structlog.testing import capture_logs

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    namespace = f"iko-test-authfail-{uuid.uuid4().hex[:8]}"
    yield namespace
    keys = [k async for k in redis.scan_iter(match=f"{namespace}:*")]
    if keys:
        await redis.delete(*keys)


async def test_an_address_is_refused_once_it_has_failed_the_limit_until_the_window_ends(
    redis: Redis, prefix: str
) -> None:
    clock = FakeClock(60 * 1_000_000 + 15.2)  # 15.2 s into a window
    limiter = AuthFailureLimiter(redis, prefix, 3, clock=clock)
    for _ in range(2):
        await limiter.record_failure("192.0.2.1")
        assert await limiter.retry_after_s("192.0.2.1") == 0
    await limiter.record_failure("192.0.2.1")
    assert 44 <= await limiter.retry_after_s("192.0.2.1") <= 45
    # Looking does not count: a refused address is not pushed further into its window.
    assert 44 <= await limiter.retry_after_s("192.0.2.1") <= 45
    assert await limiter.retry_after_s("192.0.2.2") == 0
    clock.now += 45  # the next window
    assert await limiter.retry_after_s("192.0.2.1") == 0


async def test_the_count_expires_with_its_window(redis: Redis, prefix: str) -> None:
    limiter = AuthFailureLimiter(redis, prefix, 5, clock=FakeClock(60 * 1_000_000 + 50.0))
    await limiter.record_failure("2001:db8::/64")
    keys = [k.decode() async for k in redis.scan_iter(match=f"{prefix}:*")]
    assert keys == [f"{prefix}:authfail:2001:db8::/64:1000000"]
    assert 0 < await redis.pttl(keys[0]) <= 10_000


async def test_concurrent_failures_all_count(redis: Redis, prefix: str) -> None:
    limiter = AuthFailureLimiter(redis, prefix, 10, clock=FakeClock(60 * 2_000_000 + 1.0))
    await asyncio.gather(*(limiter.record_failure("192.0.2.1") for _ in range(10)))
    assert await limiter.retry_after_s("192.0.2.1") >= 1


async def test_reaching_the_limit_is_logged_once_without_the_address(redis: Redis, prefix: str) -> None:
    limiter = AuthFailureLimiter(redis, prefix, 2, clock=FakeClock(60 * 3_000_000 + 1.0))
    with capture_logs() as logs:
        for _ in range(4):
            await limiter.record_failure("192.0.2.77")
    assert [entry["event"] for entry in logs] == ["auth.failure_limit_reached"]
    assert "192.0.2.77" not in repr(logs)


def test_limit_must_be_positive(redis: Redis) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AuthFailureLimiter(redis, "x", 0)
