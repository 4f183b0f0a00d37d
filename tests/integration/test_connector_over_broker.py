"""The connector runtime over the real RabbitMQ: routing by source header, fragments out, poison parked."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import pytest
from iko_shared.connector import ConnectorSettings, FetchContext, FetchResult, SourceHttpSettings, build_connector_app
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested, SourceQuery
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

pytestmark = pytest.mark.integration


class EchoSource:
    name = "brp"

    def operations(self):
        return frozenset({"echo"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        return FetchResult.ok({"echo": ctx.query.key})


def lookup(sources: list[str]) -> LookupRequested:
    now = time.time()
    return LookupRequested(
        request_id=str(uuid.uuid4()),
        profile="p",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key=s, source=s, operation="echo") for s in sources],
        requested_at=now,
        deadline=now + 5,
        reply_to="nobody",
    )


@pytest.fixture
async def connector(namespace, rabbitmq_url):
    settings = ConnectorSettings(namespace=namespace, rabbitmq_url=rabbitmq_url, delivery_limit=2)
    app, _ = build_connector_app(EchoSource(), SourceHttpSettings(base_url="http://127.0.0.1:9"), settings)
    await app.start()
    yield Topology(namespace=namespace, delivery_limit=2)
    await app.stop()


@pytest.fixture
async def channel(rabbitmq_url):
    connection = await aio_pika.connect(rabbitmq_url)
    yield await connection.channel(publisher_confirms=True)
    await connection.close()


async def publish(channel, topology: Topology, body: bytes, sources: list[str]) -> None:
    exchange = await channel.get_exchange(topology.lookups.name)
    await exchange.publish(
        aio_pika.Message(body, content_type="application/json", headers=topology.lookup_headers(sources)),
        routing_key="",
    )


async def test_fragments_for_its_source_only_and_poison_is_dead_lettered(connector, channel):
    topology = connector
    fragments = await channel.declare_queue(exclusive=True)
    await fragments.bind(topology.fragments.name, routing_key=topology.fragment_routing_key)

    mine = lookup(["brp", "zgw"])
    await publish(channel, topology, dump_model(mine), ["brp", "zgw"])
    await publish(channel, topology, dump_model(lookup(["zgw"])), ["zgw"])

    message = await fragments.get(timeout=5, fail=False)
    for _ in range(50):
        if message is not None:
            break
        await asyncio.sleep(0.1)
        message = await fragments.get(fail=False)
    assert message is not None
    fragment = FragmentProduced.model_validate_json(message.body)
    assert fragment.request_id == mine.request_id
    # Published as the assembler's quorum queue needs it: persistent, JSON, correlated to its request.
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (message.content_type, message.correlation_id) == ("application/json", mine.request_id)
    assert (fragment.key, fragment.status, fragment.data) == ("brp", "ok", {"echo": "brp"})
    await asyncio.sleep(0.3)
    assert await fragments.get(fail=False) is None, "a request not naming brp must not be answered"

    # A body that is no LookupRequested is retried up to the delivery limit, then parked, never lost.
    await publish(channel, topology, b'{"not": "a lookup"}', ["brp"])
    dead_name = topology.dead_letter_queue(topology.connector_queue("brp")).name
    for _ in range(100):
        dead = await channel.declare_queue(dead_name, passive=True)
        if dead.declaration_result.message_count == 1:
            break
        await asyncio.sleep(0.1)
    assert dead.declaration_result.message_count == 1
