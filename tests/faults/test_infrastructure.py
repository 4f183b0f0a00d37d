"""The clustered infrastructure itself: what the fault scenarios stand on must do what production's does."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import pytest
from iko_shared.redis_client import SentinelConfig, make_redis
from redis.asyncio import Redis

from tests.faults.rabbit_cluster import RabbitCluster
from tests.faults.redis_sentinel import MASTER_NAME, RedisSentinel

pytestmark = pytest.mark.faults

QUORUM = {"x-queue-type": "quorum"}


async def _declare(url: str, name: str, **extra: str) -> None:
    conn = await aio_pika.connect(url, timeout=5)
    async with conn:
        channel = await conn.channel()
        await channel.declare_queue(name, durable=True, arguments={**QUORUM, **extra})


async def _round_trip(url: str, queue: str, deadline_s: float) -> float:
    """Publish one message to the queue through ``url`` and get it back, retrying until the deadline."""
    t0 = time.monotonic()
    last: BaseException | None = None
    while time.monotonic() - t0 < deadline_s:
        try:
            conn = await aio_pika.connect(url, timeout=3)
            async with conn:
                channel = await conn.channel(publisher_confirms=True)
                body = uuid.uuid4().bytes
                await channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=queue
                )
                q = await channel.get_queue(queue, ensure=False)
                while time.monotonic() - t0 < deadline_s:
                    msg = await q.get(fail=False, no_ack=False)
                    if msg is not None:
                        await msg.ack()
                        if msg.body == body:
                            return time.monotonic() - t0
                    else:
                        await asyncio.sleep(0.1)
        except Exception as exc:  # a node down: try again until the deadline
            last = exc
            await asyncio.sleep(0.3)
    raise AssertionError(f"no round trip through {url} within {deadline_s} s: {last!r}")


async def _drain_get(url: str, queue: str) -> list[bytes]:
    conn = await aio_pika.connect(url, timeout=5)
    out: list[bytes] = []
    async with conn:
        channel = await conn.channel()
        q = await channel.get_queue(queue, ensure=False)
        while (msg := await q.get(fail=False, no_ack=True)) is not None:
            out.append(msg.body)
    return out


def test_cluster_has_three_running_nodes(rabbit_cluster: RabbitCluster) -> None:
    names = sorted(n.name for n in rabbit_cluster.nodes)
    for node in rabbit_cluster.nodes:
        assert rabbit_cluster.running_nodes(node) == names
    print(f"cluster timings: {rabbit_cluster.timings}")


async def test_quorum_queue_through_haproxy_spans_all_nodes(rabbit_cluster: RabbitCluster) -> None:
    name = f"iko-fault-q-{uuid.uuid4().hex[:6]}"
    await _declare(rabbit_cluster.url, name)
    row = rabbit_cluster.queue(name)
    assert row["type"] == "quorum"
    assert sorted(row["members"]) == sorted(n.name for n in rabbit_cluster.nodes)  # type: ignore[arg-type]
    await _round_trip(rabbit_cluster.url, name, 10)


async def test_leader_placement(rabbit_cluster: RabbitCluster) -> None:
    # Declared on a chosen node with the client-local locator, the leader is there; and it can be moved.
    first, second = rabbit_cluster.nodes[1], rabbit_cluster.nodes[2]
    name = f"iko-fault-q-{uuid.uuid4().hex[:6]}"
    await _declare(first.url, name, **{"x-queue-leader-locator": "client-local"})
    assert rabbit_cluster.leader(name) == first.name
    rabbit_cluster.transfer_leader(name, second)
    assert rabbit_cluster.leader(name) == second.name


async def test_killed_leader_node_keeps_queue_available(rabbit_cluster: RabbitCluster) -> None:
    name = f"iko-fault-q-{uuid.uuid4().hex[:6]}"
    victim = rabbit_cluster.nodes[0]
    await _declare(victim.url, name, **{"x-queue-leader-locator": "client-local"})
    assert rabbit_cluster.leader(name) == victim.name
    rabbit_cluster.kill(victim)
    assert not rabbit_cluster.running(victim)
    elapsed = await _round_trip(rabbit_cluster.url, name, 20)
    assert rabbit_cluster.leader(name) != victim.name
    print(f"queue available through HAProxy {elapsed:.1f} s after the leader's node was killed")
    t0 = time.monotonic()
    rabbit_cluster.restart(victim)
    print(f"killed node back in {time.monotonic() - t0:.1f} s")
    assert len(rabbit_cluster.running_nodes(victim)) == 3
    deadline = time.monotonic() + 20
    while len(rabbit_cluster.queue(name)["online"]) < 3:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, rabbit_cluster.queue(name)
        await asyncio.sleep(0.5)
    await _round_trip(rabbit_cluster.url, name, 10)


async def test_whole_cluster_stopped_and_started(rabbit_cluster: RabbitCluster) -> None:
    name = f"iko-fault-q-{uuid.uuid4().hex[:6]}"
    await _declare(rabbit_cluster.url, name)
    conn = await aio_pika.connect(rabbit_cluster.url, timeout=5)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"kept", delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=name
        )
    t0 = time.monotonic()
    rabbit_cluster.stop_all()
    assert not any(rabbit_cluster.running(n) for n in rabbit_cluster.nodes)
    t1 = time.monotonic()
    rabbit_cluster.start_all()
    print(f"cluster stopped in {t1 - t0:.1f} s, started in {time.monotonic() - t1:.1f} s")
    assert len(rabbit_cluster.running_nodes()) == 3
    deadline = time.monotonic() + 30
    while True:
        try:
            got = await _drain_get(rabbit_cluster.url, name)
            break
        except Exception:  # the queue's leader is being elected
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
    assert got == [b"kept"]


async def _write_until(client: Redis, key: str, value: str, deadline_s: float) -> float:
    t0 = time.monotonic()
    last: BaseException | None = None
    while time.monotonic() - t0 < deadline_s:
        try:
            await client.set(key, value, ex=60)
            return time.monotonic() - t0
        except Exception as exc:  # the primary is gone until Sentinel promotes the replica
            last = exc
            await asyncio.sleep(0.1)
    raise AssertionError(f"no write within {deadline_s} s: {last!r}")


async def test_redis_client_follows_sentinel_failover(
    redis_sentinel: RedisSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configured as a service is: through the environment; the URL's host is not used (nothing listens on 1).
    monkeypatch.setenv("IKO_REDIS_SENTINELS", redis_sentinel.sentinels_setting)
    monkeypatch.setenv("IKO_REDIS_SENTINEL_MASTER", MASTER_NAME)
    client = make_redis("redis://127.0.0.1:1/0", max_connections=4)
    try:
        await client.set("iko-fault:k", "before", ex=60)
        old = redis_sentinel.current_primary()
        with old.client() as direct:
            assert direct.get("iko-fault:k") == b"before"
        redis_sentinel.wait_synced()
        redis_sentinel.kill_primary()
        t0 = time.monotonic()
        elapsed = await _write_until(client, "iko-fault:k", "after", 30)
        failover_s = redis_sentinel.wait_failover(old)
        print(f"write succeeded {elapsed:.1f} s after the primary was killed; promoted at {failover_s:.1f} s")
        new = redis_sentinel.current_primary()
        assert new is not old
        with new.client() as direct:
            assert direct.get("iko-fault:k") == b"after"
        assert time.monotonic() - t0 < 30
        # The killed server comes back as a replica of the new primary.
        redis_sentinel.restart_server(old)
        redis_sentinel.wait_synced()
        assert redis_sentinel.current_primary() is new
        # Redis restarted outright: everything gone, the same client writes again.
        redis_sentinel.restart_all()
        await _write_until(client, "iko-fault:fresh", "1", 15)
        assert await client.get("iko-fault:k") is None
    finally:
        await client.aclose()


async def test_explicit_sentinel_config(redis_sentinel: RedisSentinel) -> None:
    client = make_redis("redis://127.0.0.1:1/3", sentinel=SentinelConfig(tuple(redis_sentinel.sentinels), MASTER_NAME))
    try:
        await _write_until(client, "iko-fault:db3", "x", 15)
        with redis_sentinel.current_primary().client() as direct:
            direct.select(3)
            assert direct.get("iko-fault:db3") == b"x"
    finally:
        await client.aclose()
