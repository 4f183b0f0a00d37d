"""Where the tests find RabbitMQ, Redis and PostgreSQL, and how each run keeps to its own namespace.

RabbitMQ and Redis: a container per run where a Docker engine answers (testcontainers); otherwise the services
of this machine, at ``IKO_RABBITMQ_URL`` / ``IKO_REDIS_URL``. PostgreSQL (the audit store): the server at
``IKO_AUDIT_ADMIN_URL``, this machine's by default. Either way every run gets a namespace of its own (queue and
exchange prefix, Redis key prefix, the audit database and its roles) and removes it afterwards, so runs never
disturb each other or a demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator

import psycopg
from iko_audit import drop_namespace_database
from iko_audit.settings import DatabaseNames
from iko_shared.namespace import drop_namespace as shared_drop_namespace
from redis.asyncio import Redis

LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
LOCAL_POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    """The PostgreSQL the stacks provision their audit databases on (a superuser's URL), as the stack reads it."""
    return os.environ.get("IKO_AUDIT_ADMIN_URL") or LOCAL_POSTGRES_ADMIN


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


async def drop_namespace(
    rabbitmq_url: str,
    redis_url: str,
    namespace: str,
    sources: Iterable[str] | None = None,
    admin_url: str | None = None,
) -> None:
    """Delete every queue, exchange, Redis key, database and role the namespace may have created.

    ``sources``: whose work queues to delete, default every registered source's.

    ``admin_url``: the PostgreSQL the namespace was provisioned on, default :func:`postgres_admin_url`.
    """
    await shared_drop_namespace(rabbitmq_url, redis_url, namespace, sources)
    await asyncio.to_thread(drop_namespace_database, admin_url or postgres_admin_url(), namespace)


async def namespace_keys(redis_url: str, namespace: str) -> list[str]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        return sorted([k async for k in redis.scan_iter(match=f"{namespace}:*", count=1000)])
    finally:
        await redis.aclose()


def namespace_database_leftovers(admin_url: str, namespace: str) -> list[str]:
    """The namespace's audit database and roles that still exist on the server (empty once dropped)."""
    names = DatabaseNames.of(namespace)
    roles = [names.owner, names.writer, names.purger]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        databases = admin.execute("SELECT datname FROM pg_database WHERE datname = %s", [names.database]).fetchall()
        found = admin.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [roles]).fetchall()
    return [f"database {row[0]}" for row in databases] + [f"role {row[0]}" for row in found]
