"""A per-client rate limit on Redis: a fixed window of one minute.

Why a fixed window: one counter per client per minute, one atomic round trip (``rate_limit.lua``: INCR, and
PEXPIRE when the key is new), the key expires when its window ends so nothing is left behind, and the
Retry-After is exact (the time left in the window). The price is that a client may spend its limit at the end
of one window and again at the start of the next: up to twice the limit within a short span. For a guard
against a runaway or abusive client that is acceptable; a sliding log (a sorted set of every call) would cost a
member per request and more work per call for a smoothness this limit does not need.

Windows are numbered from the gateway's clock (``floor(now / 60)``); replicas with NTP-synchronised clocks
agree on them. Denied calls count too, so a client hammering through its limit stays limited for the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

from redis.asyncio import Redis

WINDOW_S = 60

_SCRIPT = files("iko_gateway.auth").joinpath("rate_limit.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    # Seconds until the current window ends: the Retry-After of a denied call (0 when allowed).
    retry_after_s: int
    # Calls left in the current window after this one.
    remaining: int


class RateLimiter:
    """``limit_per_minute`` calls per client per window; keys are ``<prefix>:rate:<client>:<window>``.

    ``prefix`` is the namespace (``IKO_NAMESPACE``), so a test run or a second stack never shares counters.
    """

    def __init__(
        self, redis: Redis, prefix: str, limit_per_minute: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        if limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1")
        self._script = redis.register_script(_SCRIPT)
        self._prefix = prefix
        self.limit = limit_per_minute
        self._clock = clock

    def key(self, client_key: str, window: int) -> str:
        return f"{self._prefix}:rate:{client_key}:{window}"

    async def check(self, client_key: str) -> RateDecision:
        now = self._clock()
        window = int(now // WINDOW_S)
        left_ms = max(1, math.ceil(((window + 1) * WINDOW_S - now) * 1000))
        count, ttl_ms = await self._script(keys=[self.key(client_key, window)], args=[left_ms])
        count, ttl_ms = int(count), int(ttl_ms)
        if count <= self.limit:
            return RateDecision(allowed=True, retry_after_s=0, remaining=self.limit - count)
        return RateDecision(allowed=False, retry_after_s=max(1, math.ceil(ttl_ms / 1000)), remaining=0)
