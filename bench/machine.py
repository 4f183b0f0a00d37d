"""The machine the figures come from: CPU, cores, memory, Python, RabbitMQ and Redis versions, date."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

import aio_pika
from redis.asyncio import Redis


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


async def rabbitmq_version(url: str) -> str:
    connection = await aio_pika.connect(url)
    try:
        props = connection.transport.connection.server_properties if connection.transport else {}
        version = props.get("version", b"?")
        return version.decode() if isinstance(version, bytes) else str(version)
    finally:
        await connection.close()


async def redis_version(url: str) -> str:
    redis = Redis.from_url(url)
    try:
        return str((await redis.info("server"))["redis_version"])
    finally:
        await redis.aclose()


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]


async def describe(rabbitmq_url: str, redis_url: str) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rabbitmq": await rabbitmq_version(rabbitmq_url),
        "redis": await redis_version(redis_url),
        "loadavg_at_start": loadavg(),
    }
