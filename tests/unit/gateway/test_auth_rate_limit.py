"""The per-client rate limiter against the real Redis (IKO_REDIS_URL), each test under its own prefix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from iko_gateway.auth import RateLimiter
from redis.asyncio import Redis

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
    namespace = f"iko-test-rate-{uuid.uuid4().hex[:8]}"
    yield namespace
    keys = [k async for k in redis.scan_iter(match=f"{namespace}:*")]
    if keys:
        await redis.delete(*keys)


async def test_allows_the_limit_then_denies_with_retry_after(redis: Redis, prefix: str) -> None:
    clock = FakeClock(60 * 1_000_000 + 15.2)  # 15.2 s into a window
    limiter = RateLimiter(redis, prefix, 3, clock=clock)
    decisions = [await limiter.check("valtimo") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    denied = await limiter.check("valtimo")
    assert not denied.allowed
    assert denied.remaining == 0
    assert 44 <= denied.retry_after_s <= 45  # the rest of the window
    # Another client has its own count.
    assert (await limiter.check("zac")).allowed


async def test_key_lives_no_longer_than_its_window(redis: Redis, prefix: str) -> None:
    clock = FakeClock(60 * 1_000_000 + 50.0)
    limiter = RateLimiter(redis, prefix, 5, clock=clock)
    await limiter.check("valtimo")
    keys = [k.decode() async for k in redis.scan_iter(match=f"{prefix}:*")]
    assert keys == [f"{prefix}:rate:valtimo:1000000"]
    ttl_ms = await redis.pttl(keys[0])
    assert 0 < ttl_ms <= 10_000


async def test_next_window_starts_afresh(redis: Redis, prefix: str) -> None:
    clock = FakeClock(60 * 2_000_000 + 58.0)
    limiter = RateLimiter(redis, prefix, 2, clock=clock)
    assert (await limiter.check("c")).allowed
    assert (await limiter.check("c")).allowed
    assert not (await limiter.check("c")).allowed
    clock.now += 3  # into the next window
    decision = await limiter.check("c")
    assert decision.allowed
    assert decision.remaining == 1


async def test_counting_is_atomic_under_concurrency(redis: Redis, prefix: str) -> None:
    limiter = RateLimiter(redis, prefix, 10, clock=FakeClock(60 * 3_000_000 + 1.0))
    decisions = await asyncio.gather(*(limiter.check("burst") for _ in range(40)))
    assert sum(d.allowed for d in decisions) == 10
    assert all(d.retry_after_s >= 1 for d in decisions if not d.allowed)


async def test_real_clock(redis: Redis, prefix: str) -> None:
    limiter = RateLimiter(redis, prefix, 1)
    assert (await limiter.check("c")).allowed
    denied = await limiter.check("c")
    assert not denied.allowed
    assert 1 <= denied.retry_after_s <= 60


def test_limit_must_be_positive(redis: Redis) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(redis, "x", 0)
