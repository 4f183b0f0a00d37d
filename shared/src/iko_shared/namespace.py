"""Removing everything a namespace made: its queues, exchanges and Redis keys (tests, benchmarks, operators)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import aio_pika
from redis.asyncio import Redis

from iko_shared.sources import source_names
from iko_shared.topology import Topology


def topology_names(namespace: str, sources: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """The queues (work, dead-letter, audit, inzage) and exchanges a stack of this namespace declares.

    ``sources``: the connectors' work queues to include, default every registered source.
    """
    topology = Topology(namespace=namespace)
    queues = topology.work_queues(list(source_names() if sources is None else sources))
    names = [q.name for q in queues] + [topology.dead_letter_queue(q).name for q in queues]
    names += [topology.audit_queue.name, topology.dead_letter_queue(topology.audit_queue).name]
    names.append(topology.audit_inzage.name)
    exchanges = [e.name for e in (topology.lookups, topology.fragments, topology.dead_letters, topology.audit)]
    return names, exchanges


async def delete_names(
    rabbitmq_url: str, redis_url: str, key_prefix: str, queues: Iterable[str], exchanges: Iterable[str]
) -> None:
    """Delete the queues and exchanges (missing ones are fine) and every Redis key under ``key_prefix``."""
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        # A failed delete closes its channel: one channel per delete.
        for queue in queues:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue)
        for exchange in exchanges:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
    redis = Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{key_prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def drop_namespace(
    rabbitmq_url: str, redis_url: str, namespace: str, sources: Iterable[str] | None = None
) -> None:
    """Every queue, exchange and Redis key an IKO stack of this namespace may have made (default: every source's)."""
    queues, exchanges = topology_names(namespace, sources)
    await delete_names(rabbitmq_url, redis_url, f"{namespace}:", queues, exchanges)
