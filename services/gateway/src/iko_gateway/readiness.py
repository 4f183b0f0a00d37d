"""Readiness: the broker and Redis answer, and every queue the gateway depends on has a consumer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from redis.asyncio import Redis


@dataclass
class ReadinessReport:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


class ReadinessProbe:
    def __init__(self, rabbitmq_url: str, redis: Redis, queues: list[str], cache_s: float = 1.0) -> None:
        self._url = rabbitmq_url
        self._redis = redis
        self._queues = queues
        self._cache_s = cache_s
        self._connection: AbstractRobustConnection | None = None
        self._last: tuple[float, ReadinessReport] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> ReadinessReport:
        async with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self._cache_s:
                return self._last[1]
            report = await self._check()
            self._last = (time.monotonic(), report)
            return report

    async def _check(self) -> ReadinessReport:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=1.0)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect_robust(self._url, timeout=2.0)
            checks["rabbitmq"] = "ok"
            for name in self._queues:
                checks[f"queue {name}"] = await self._consumers(name)
        except Exception as exc:
            checks["rabbitmq"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return ReadinessReport(ready=ready, checks=checks)

    async def _consumers(self, name: str) -> str:
        assert self._connection is not None
        # A passive declare of a missing queue closes its channel: one short-lived channel per queue.
        channel = await self._connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
            result = queue.declaration_result
            return "ok" if (result.consumer_count or 0) > 0 else "no consumer"
        except aio_pika.exceptions.ChannelClosed:
            return "missing"
        finally:
            if not channel.is_closed:
                await channel.close()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
