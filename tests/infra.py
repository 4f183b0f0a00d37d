"""Where the tests find RabbitMQ and Redis, and how each run keeps to its own namespace.

A container per run where a Docker engine answers (testcontainers); otherwise the services of this machine,
at ``IKO_RABBITMQ_URL`` / ``IKO_REDIS_URL``. Either way every run gets a namespace of its own (queue and
exchange prefix, Redis key prefix) and removes it afterwards, so runs never disturb each other or a demo.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from iko_shared.namespace import drop_namespace as shared_drop_namespace
from redis.asyncio import Redis

LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def service_urls() -> Iterator[tuple[str, str]]:
    env_rabbit, env_redis = os.environ.get("IKO_RABBITMQ_URL"), os.environ.get("IKO_REDIS_URL")
    if env_rabbit or env_redis or not _docker_answers():
        yield env_rabbit or LOCAL_RABBITMQ, env_redis or LOCAL_REDIS
        return
    from testcontainers.rabbitmq import RabbitMqContainer  # type: ignore[import-untyped]
    from testcontainers.redis import RedisContainer  # type: ignore[import-untyped]

    with RabbitMqContainer("rabbitmq:3.13-alpine") as rabbit, RedisContainer("redis:7-alpine") as redis:
        params = rabbit.get_connection_params()
        rabbit_url = f"amqp://guest:guest@{params.host}:{params.port}/"
        redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        yield rabbit_url, redis_url


def new_namespace(label: str = "t") -> str:
    return f"iko-test-{label}-{uuid.uuid4().hex[:8]}"


async def drop_namespace(rabbitmq_url: str, redis_url: str, namespace: str, sources: list[str]) -> None:
    """Delete every queue, exchange and Redis key the namespace may have created."""
    await shared_drop_namespace(rabbitmq_url, redis_url, namespace, sources)


async def namespace_keys(redis_url: str, namespace: str) -> list[str]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        return sorted([k async for k in redis.scan_iter(match=f"{namespace}:*", count=1000)])
    finally:
        await redis.aclose()
