"""The consumer watchdog against the real RabbitMQ: a connector whose consumer the broker cancelled comes back.

"Connection recovered, consumer gone" is reproduced at the broker: the connector's queue is deleted, which
sends the consumer a ``basic.cancel`` while its connection and channel stay up (what a replaced node leaves
behind when a consumer is not restored). The connector must consume again by itself. When the queue cannot be
had (another connection holds a queue of that name exclusively), the connector reports not-live on ``/livez``
after the watchdog's grace, and recovers once the queue can be declared again.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import aio_pika
import httpx
import pytest
from iko_shared.connector import ConnectorSettings, FetchContext, FetchResult, SourceHttpSettings, build_connector_app
from iko_shared.contracts import Identifier, LookupRequested, SourceQuery
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

pytestmark = pytest.mark.integration

GRACE_S = 1.5


class EchoSource:
    name = "brp"

    def operations(self):
        return frozenset({"echo"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        return FetchResult.ok({"echo": ctx.query.key})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def connector(namespace, rabbitmq_url):
    port = free_port()
    settings = ConnectorSettings(
        namespace=namespace,
        rabbitmq_url=rabbitmq_url,
        ops_host="127.0.0.1",
        ops_port=port,
        watchdog_interval_s=0.2,
        watchdog_grace_s=GRACE_S,
    )
    app, _ = build_connector_app(EchoSource(), SourceHttpSettings(base_url="http://127.0.0.1:9"), settings)
    await app.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as ops:
        yield Topology(namespace=namespace), ops
    await app.stop()


@pytest.fixture
async def broker_side(rabbitmq_url, connector):
    topology, _ = connector
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True)
    fragments = await channel.declare_queue(exclusive=True)
    await fragments.bind(topology.fragments.name, routing_key=topology.fragment_routing_key)
    yield connection, channel, fragments
    if not connection.is_closed:
        await connection.close()


async def roundtrip(channel, fragments, topology: Topology, wait_s: float = 1.0) -> bool:
    """One lookup to the connector: True when its fragment came back within ``wait_s``."""
    now = time.time()
    request = LookupRequested(
        request_id=str(uuid.uuid4()),
        profile="p",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key="brp", source="brp", operation="echo")],
        requested_at=now,
        deadline=now + 5,
        reply_to="nobody",
    )
    exchange = await channel.get_exchange(topology.lookups.name)
    await exchange.publish(
        aio_pika.Message(dump_model(request), headers=topology.lookup_headers(["brp"])), routing_key=""
    )
    until = time.monotonic() + wait_s
    while time.monotonic() < until:
        message = await fragments.get(fail=False)
        if message is not None:
            await message.ack()
            if message.correlation_id == request.request_id:
                return True
        await asyncio.sleep(0.05)
    return False


async def until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


def attached(metrics_text: str, queue: str) -> float | None:
    for line in metrics_text.splitlines():
        if line.startswith("iko_consumers_attached{") and f'queue="{queue}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_a_consumer_the_broker_cancelled_is_reattached(connector, broker_side):
    topology, ops = connector
    _, channel, fragments = broker_side
    queue = topology.connector_queue("brp").name
    assert await roundtrip(channel, fragments, topology)
    assert (await ops.get("/livez")).status_code == 200
    assert (await ops.get("/readyz")).status_code == 200
    assert attached((await ops.get("/metrics")).text, queue) == 1

    # basic.cancel to the connector's consumer; its connection and channel stay open.
    await channel.queue_delete(queue)

    async def works() -> bool:
        return await roundtrip(channel, fragments, topology, wait_s=0.5)

    await until(works, 20, "the connector to consume again")
    assert (await ops.get("/livez")).status_code == 200
    assert attached((await ops.get("/metrics")).text, queue) == 1


async def test_a_consumer_that_cannot_be_reattached_fails_liveness_until_it_can(connector, broker_side, rabbitmq_url):
    topology, ops = connector
    _, channel, fragments = broker_side
    queue = topology.connector_queue("brp").name
    assert await roundtrip(channel, fragments, topology)

    # Another connection takes the name exclusively right after the delete: neither the client library's own
    # recovery nor the watchdog can declare or consume the connector's queue.
    squatter = await aio_pika.connect(rabbitmq_url)
    try:
        squatting = await squatter.channel()
        await channel.queue_delete(queue)
        await squatting.declare_queue(queue, exclusive=True)

        async def not_live() -> httpx.Response | None:
            response = await ops.get("/livez")
            return response if response.status_code == 503 else None

        started = time.monotonic()
        response = await until(not_live, 10 + GRACE_S, "/livez to answer 503")
        assert time.monotonic() - started >= GRACE_S - 0.5
        body = response.json()
        assert body["status"] == "not live"
        assert body["failing"] == [f"consumer {queue}"]
        assert attached((await ops.get("/metrics")).text, queue) == 0
        # The broker is there: ready, only not live.
        assert (await ops.get("/readyz")).status_code == 200
    finally:
        await squatter.close()

    async def live() -> bool:
        return (await ops.get("/livez")).status_code == 200

    await until(live, 10, "/livez to answer 200 again")

    async def works() -> bool:
        return await roundtrip(channel, fragments, topology, wait_s=0.5)

    await until(works, 10, "the connector to consume again")
    assert attached((await ops.get("/metrics")).text, queue) == 1
