"""The RabbitMQ broker every service builds, with FastStream's per-message logging off (it would log payloads)."""

from __future__ import annotations

from faststream.rabbit import RabbitBroker, RabbitQueue

from iko_shared.settings import CommonSettings
from iko_shared.topology import Topology


def make_broker(settings: CommonSettings, *, description: str = "") -> RabbitBroker:
    return RabbitBroker(
        settings.rabbitmq_url,
        logger=None,
        description=description or None,
        graceful_timeout=10.0,
    )


def make_topology(settings: CommonSettings) -> Topology:
    return Topology(namespace=settings.namespace, delivery_limit=settings.delivery_limit)


async def declare_dead_letter_path(broker: RabbitBroker, topology: Topology, queue: RabbitQueue) -> None:
    """Declare the dead-letter exchange and the queue that keeps what ``queue`` could not process."""
    exchange = await broker.declare_exchange(topology.dead_letters)
    dead = topology.dead_letter_queue(queue)
    declared = await broker.declare_queue(dead)
    await declared.bind(exchange, routing_key=queue.name)
