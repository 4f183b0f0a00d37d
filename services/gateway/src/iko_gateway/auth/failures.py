"""A limit on failed authentication attempts per source address, on Redis: a fixed window of one minute.

Guessing API keys or replaying stolen tokens takes many attempts; this bounds them per address. Every failed
attempt counts (``rate_limit.lua``: the same fixed-window step as the rate limiter, INCR and an expiry at the
window's end); once an address has ``limit_per_minute`` failures in the current window, every request from it is
refused before its credentials are looked at, until the window ends. A correct key from that address is refused
too: checking it first would tell the guesser when it guessed right.

Counted per address as ``client_address`` determines it (behind trusted proxies the client's, never the
proxy's), an IPv6 client per /64. The address is a Redis key, never a log line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from importlib.resources import files

from iko_shared.logging import get_logger
from redis.asyncio import Redis

from iko_gateway.auth.rate_limit import WINDOW_S

log = get_logger()

_SCRIPT = files("iko_gateway.auth").joinpath("rate_limit.lua").read_text(encoding="utf-8")


class AuthFailureLimiter:
    """Keys are ``<prefix>:authfail:<address>:<window>``; ``prefix`` is the namespace."""

    def __init__(
        self, redis: Redis, prefix: str, limit_per_minute: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        if limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1")
        self._redis = redis
        self._script = redis.register_script(_SCRIPT)
        self._prefix = prefix
        self.limit = limit_per_minute
        self._clock = clock

    def key(self, address_key: str, window: int) -> str:
        return f"{self._prefix}:authfail:{address_key}:{window}"

    def _window(self) -> tuple[int, int]:
        """The current window and the milliseconds left in it."""
        now = self._clock()
        window = int(now // WINDOW_S)
        return window, max(1, math.ceil(((window + 1) * WINDOW_S - now) * 1000))

    async def retry_after_s(self, address_key: str) -> int:
        """0 when ``address_key`` may try to authenticate, else the seconds until its window ends."""
        window, left_ms = self._window()
        count = await self._redis.get(self.key(address_key, window))
        if count is None or int(count) < self.limit:
            return 0
        return max(1, math.ceil(left_ms / 1000))

    async def record_failure(self, address_key: str) -> None:
        window, left_ms = self._window()
        count, _ttl_ms = await self._script(keys=[self.key(address_key, window)], args=[left_ms])
        if int(count) == self.limit:
            # Once per address and window, and without the address: nothing in a log line is the caller's choice.
            log.warning(
                "auth.failure_limit_reached", limit_per_minute=self.limit, retry_after_s=math.ceil(left_ms / 1000)
            )
