"""Transient faults and poison over the real RabbitMQ: a publish no queue takes fails loudly and is retried within
its deadline; poison goes to the dead-letter queue at once (one delivery, one error line) and the consumer goes on."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import pytest
import structlog
from faststream.rabbit import RabbitBroker, RabbitExchange
from iko_shared.broker import ExchangePublisher
from iko_shared.connector import ConnectorSettings, FetchContext, FetchResult, SourceHttpSettings, build_connector_app
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested, SourceQuery
from iko_shared.failures import MAX_BODY_BYTES, UnroutableError
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

pytestmark = pytest.mark.integration


class EchoSource:
    name = "brp"

    def operations(self):
        return frozenset({"echo"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        return FetchResult.ok({"echo": ctx.query.key})


def lookup(deadline_s: float = 5.0) -> LookupRequested:
    now = time.time()
    return LookupRequested(
        request_id=str(uuid.uuid4()),
        profile="p",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key="brp", source="brp", operation="echo")],
        requested_at=now,
        deadline=now + deadline_s,
        reply_to="nobody",
    )


@pytest.fixture
async def channel(rabbitmq_url):
    connection = await aio_pika.connect(rabbitmq_url)
    yield await connection.channel(publisher_confirms=True)
    await connection.close()


@pytest.fixture
async def connector(namespace, rabbitmq_url):
    settings = ConnectorSettings(namespace=namespace, rabbitmq_url=rabbitmq_url, delivery_limit=5)
    app, _ = build_connector_app(EchoSource(), SourceHttpSettings(base_url="http://127.0.0.1:9"), settings)
    await app.start()
    yield Topology(namespace=namespace, delivery_limit=5)
    await app.stop()


async def publish_lookup(channel, topology: Topology, body: bytes, **properties) -> None:
    exchange = await channel.get_exchange(topology.lookups.name)
    await exchange.publish(
        aio_pika.Message(body, content_type="application/json", headers=topology.lookup_headers(["brp"]), **properties),
        routing_key="",
    )


async def wait_for(get, within_s: float = 5.0):
    until = time.monotonic() + within_s
    while time.monotonic() < until:
        message = await get()
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    return None


async def test_unroutable_publish_raises_instead_of_vanishing(namespace, rabbitmq_url):
    broker = RabbitBroker(rabbitmq_url, logger=None)
    await broker.connect()
    try:
        exchange = RabbitExchange(f"{namespace}.fragments", durable=False, auto_delete=True)
        await broker.declare_exchange(exchange)
        publisher = ExchangePublisher(broker, exchange)
        attempts = 0
        attempt = publisher._attempt

        async def counted(*args: object, **kwargs: object) -> None:
            nonlocal attempts
            attempts += 1
            await attempt(*args, **kwargs)  # type: ignore[arg-type]

        publisher._attempt = counted  # type: ignore[method-assign]
        started = time.monotonic()
        with pytest.raises(UnroutableError):
            await publisher.publish(b"{}", routing_key="fragment", deadline=time.time() + 0.5)
        # Retried within its deadline (how many times follows the jittered backoff), not past it.
        assert attempts >= 2
        assert time.monotonic() - started < 2.0
        # Without mandatory the broker drops it, as asked (a reply to a gateway that has gone).
        await publisher.publish(b"{}", routing_key="fragment", mandatory=False)
    finally:
        await broker.stop()


async def test_a_nacked_publish_is_retried_on_a_fresh_channel(namespace, rabbitmq_url, channel):
    """A nack retires the channel (one restored during a quorum queue's re-election keeps nacking, scenario 4 of
    docs/reliability.md): the retry goes out on a new channel and is confirmed once the queue takes it."""
    broker = RabbitBroker(rabbitmq_url, logger=None)
    await broker.connect()
    try:
        exchange = RabbitExchange(f"{namespace}.lookups", durable=False, auto_delete=True)
        await broker.declare_exchange(exchange)
        publisher = ExchangePublisher(broker, exchange)
        # Full, and refusing more: the broker nacks every publish until the message in it is taken.
        queue = await channel.declare_queue(
            exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
        await queue.bind(exchange.name, routing_key="k")
        await publisher.publish(b'{"first": true}', routing_key="k")
        assert publisher.channels_opened == 1

        async def take_later() -> None:
            await asyncio.sleep(0.4)
            first = await wait_for(lambda: queue.get(fail=False), 2)
            assert first is not None
            await first.ack()

        taker = asyncio.create_task(take_later())
        with structlog.testing.capture_logs() as logs:
            await publisher.publish(b'{"second": true}', routing_key="k", deadline=time.time() + 5)
        await taker
        assert publisher.channels_opened >= 2, "each nack retires the channel it came on"
        second = await wait_for(lambda: queue.get(fail=False), 2)
        assert second is not None
        assert second.body == b'{"second": true}'
        # One warning for the outage, one line when it is over: not a line per retry.
        assert [e["event"] for e in logs if e["event"].startswith("publish.")] == [
            "publish.unavailable",
            "publish.recovered",
        ]
    finally:
        await broker.stop()


async def test_publish_retried_until_its_queue_exists(namespace, rabbitmq_url, channel):
    broker = RabbitBroker(rabbitmq_url, logger=None)
    await broker.connect()
    try:
        exchange = RabbitExchange(f"{namespace}.fragments", durable=False, auto_delete=True)
        await broker.declare_exchange(exchange)
        publisher = ExchangePublisher(broker, exchange)
        queue = await channel.declare_queue(exclusive=True)

        async def bind_later() -> None:
            await asyncio.sleep(0.3)
            await queue.bind(exchange.name, routing_key="fragment")

        binder = asyncio.create_task(bind_later())
        await publisher.publish(b'{"late": true}', routing_key="fragment", deadline=time.time() + 3)
        await binder
        message = await wait_for(lambda: queue.get(fail=False), 2)
        assert message is not None
        assert message.body == b'{"late": true}'
    finally:
        await broker.stop()


async def test_connector_holds_a_fragment_until_its_queue_exists(connector, channel):
    """The assembler's fragment queue is not there yet: the connector's publish fails loudly and is retried in
    the handler, within the lookup's deadline; the fragment arrives once the queue is bound, nothing dead-lettered."""
    topology = connector
    request = lookup()
    await publish_lookup(channel, topology, dump_model(request))
    await asyncio.sleep(0.4)
    fragments = await channel.declare_queue(exclusive=True)
    await fragments.bind(topology.fragments.name, routing_key=topology.fragment_routing_key)
    message = await wait_for(lambda: fragments.get(fail=False))
    assert message is not None
    assert FragmentProduced.model_validate_json(message.body).request_id == request.request_id
    dead = await channel.declare_queue(topology.dead_letter_queue(topology.connector_queue("brp")).name, passive=True)
    assert dead.declaration_result.message_count == 0


POISON = {
    "bad-json": b'{"request_id": "x", ',
    "missing-fields": b'{"not": "a lookup"}',
    "unknown-version": dump_model(lookup()).replace(b'"schema_version":1', b'"schema_version":99'),
    "too-large": b'{"pad": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}',
}


async def test_poison_is_parked_at_once_and_the_consumer_goes_on(connector, channel):
    topology = connector
    assert b'"schema_version":99' in POISON["unknown-version"]
    fragments = await channel.declare_queue(exclusive=True)
    await fragments.bind(topology.fragments.name, routing_key=topology.fragment_routing_key)
    queue_name = topology.connector_queue("brp").name
    dead_name = topology.dead_letter_queue(topology.connector_queue("brp")).name
    with structlog.testing.capture_logs() as logs:
        for name, body in POISON.items():
            await publish_lookup(channel, topology, body, message_id=f"poison-{name}", correlation_id=f"req-{name}")
        good = lookup()
        await publish_lookup(channel, topology, dump_model(good))
        message = await wait_for(lambda: fragments.get(fail=False))
        assert message is not None, "the consumer must keep consuming after poison"
        assert FragmentProduced.model_validate_json(message.body).request_id == good.request_id
        for _ in range(100):
            dead = await channel.declare_queue(dead_name, passive=True)
            if dead.declaration_result.message_count == len(POISON):
                break
            await asyncio.sleep(0.05)
        assert dead.declaration_result.message_count == len(POISON)
    parked = []
    for _ in POISON:
        message = await dead.get(timeout=2)
        death = message.headers["x-death"][0]
        # Rejected at its first delivery, not worn out by the delivery limit.
        assert (death["reason"], death["count"]) == ("rejected", 1), death
        parked.append(message.message_id)
        await message.ack()
    assert sorted(parked) == sorted(f"poison-{name}" for name in POISON)
    poison_lines = [line for line in logs if line["event"] == "message.poison"]
    assert sorted(line["message_id"] for line in poison_lines) == sorted(parked), "one error line per message"
    for line in poison_lines:
        assert line["log_level"] == "error"
        assert line["queue"] == queue_name
        assert line["request_id"] == line["message_id"].replace("poison-", "req-")
        assert "x" * 100 not in str(line), "never the body"


async def test_an_outbox_entry_whose_data_expired_unpublished_is_handed_back_as_dropped(namespace, redis_url):
    """A closed request its publisher never published (its publishes blocked) and whose data expired at deadline +
    grace is not removed from the outbox silently: the sweep says which, and the sweeper logs it."""
    from iko_assembler.store import RedisAssemblerStore
    from iko_shared.redis_client import make_redis

    redis = make_redis(redis_url)
    try:
        store = RedisAssemblerStore(redis, namespace, grace_s=0.1, lease_s=0.3)
        request = lookup(deadline_s=0.05)
        await store.register(request)
        await asyncio.sleep(0.1)
        first = await store.sweep()
        assert [c.request_id for c in first.closed] == [request.request_id]
        assert first.dropped == ()
        # Never published nor finished; its data expires (deadline + grace), then its lease.
        await asyncio.sleep(0.5)
        later = await store.sweep()
        assert later.closed == []
        assert later.dropped == (request.request_id,)
        assert (await store.sweep()).dropped == ()
    finally:
        await redis.aclose()
