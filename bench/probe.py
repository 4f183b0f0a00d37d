"""Watches Redis during a measurement: memory in use and the request hashes of one namespace."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis


@dataclass
class RetentionSample:
    baseline_used_memory: int = 0
    peak_used_memory: int = 0
    peak_request_keys: int = 0
    samples: int = 0
    # MEMORY USAGE of request hashes seen in flight, bytes.
    key_sizes: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        delta = self.peak_used_memory - self.baseline_used_memory
        mean_key = sum(self.key_sizes) / len(self.key_sizes) if self.key_sizes else None
        return {
            "baseline_used_memory": self.baseline_used_memory,
            "peak_used_memory": self.peak_used_memory,
            "peak_used_memory_delta": delta,
            "peak_request_keys": self.peak_request_keys,
            "used_memory_delta_per_in_flight": (delta / self.peak_request_keys) if self.peak_request_keys else None,
            "request_hash_bytes_mean": mean_key,
            "request_hash_bytes_max": max(self.key_sizes) if self.key_sizes else None,
            "samples": self.samples,
        }


class RedisProbe:
    """``async with RedisProbe(url, "ns:asm:req:*") as probe:`` samples every ``interval_s`` until it exits."""

    def __init__(self, redis_url: str, pattern: str, interval_s: float = 0.05) -> None:
        self._redis = Redis.from_url(redis_url)
        self._pattern = pattern
        self._interval = interval_s
        self.result = RetentionSample()
        self._task: asyncio.Task[None] | None = None

    async def _used_memory(self) -> int:
        info = await self._redis.info("memory")
        return int(info["used_memory"])

    async def _loop(self) -> None:
        while True:
            used = await self._used_memory()
            keys = [k async for k in self._redis.scan_iter(match=self._pattern, count=1000)]
            res = self.result
            res.samples += 1
            res.peak_used_memory = max(res.peak_used_memory, used)
            res.peak_request_keys = max(res.peak_request_keys, len(keys))
            for key in keys[:3]:
                size = await self._redis.memory_usage(key)
                if size:
                    res.key_sizes.append(int(size))
            await asyncio.sleep(self._interval)

    async def __aenter__(self) -> RedisProbe:
        self.result.baseline_used_memory = await self._used_memory()
        self.result.peak_used_memory = self.result.baseline_used_memory
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
