"""Starts the floor (topology, the BRP and ZGW simulators, then gateway, two workers and the assembler as
processes) and removes it again."""

from __future__ import annotations

import uuid
from pathlib import Path

import aio_pika
from iko_shared.namespace import delete_names

from bench import processes
from bench.cpu import infrastructure_pids
from bench.floor.common import SOURCES, Names
from bench.loadgen import Target
from bench.sandbox import Simulators, set_latency
from bench.system import DEV_HEADERS, LOOKUP_PATH, Infra, complete, lookup_body

DELIVERY_LIMIT = 5


async def declare(rabbitmq_url: str, names: Names) -> None:
    """The pipeline's shape: headers exchange for lookups, direct for fragments, quorum work queues."""
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        lookups = await channel.declare_exchange(names.lookups, aio_pika.ExchangeType.HEADERS, durable=True)
        fragments = await channel.declare_exchange(names.fragments, aio_pika.ExchangeType.DIRECT, durable=True)
        await channel.declare_exchange(names.dead_letters, aio_pika.ExchangeType.DIRECT, durable=True)

        async def work_queue(name: str) -> aio_pika.abc.AbstractQueue:
            return await channel.declare_queue(
                name,
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": DELIVERY_LIMIT,
                    "x-dead-letter-exchange": names.dead_letters,
                    "x-dead-letter-routing-key": name,
                },
            )

        for source in SOURCES:
            queue = await work_queue(names.connector_queue(source))
            await queue.bind(lookups, arguments={"x-match": "all", f"iko-source-{source}": "1"})
        requests = await work_queue(names.assembler_requests)
        await requests.bind(lookups, arguments={"x-match": "all", "iko-kind": "lookup"})
        fragment_queue = await work_queue(names.assembler_fragments)
        await fragment_queue.bind(fragments, routing_key="fragment")
        # Every IKO must record each disclosure, confirmed, before it answers: the floor does that much too.
        audit = await channel.declare_exchange(names.audit, aio_pika.ExchangeType.DIRECT, durable=True)
        audit_queue = await work_queue(names.audit_queue)
        await audit_queue.bind(audit, routing_key="record")
    finally:
        await connection.close()


async def drop(infra: Infra, names: Names) -> None:
    await delete_names(
        infra.rabbitmq_url,
        infra.redis_url,
        f"{names.namespace}:",
        names.work_queues(),
        (names.lookups, names.fragments, names.dead_letters, names.audit),
    )


class FloorSystem:
    """The floor's processes, and the two simulators its workers call (their CPU is reported as the sources')."""

    name = "floor"

    def __init__(self, infra: Infra, run_dir: Path) -> None:
        self.infra = infra
        self.names = Names(f"bench-floor-{uuid.uuid4().hex[:8]}")
        self._run_dir = run_dir / self.names.namespace
        self.simulators = Simulators(self._run_dir, SOURCES)
        self.port = processes.free_port()
        self._children: list[processes.Child] = []

    def _launch(self, role: str, name: str, args: list[str]) -> processes.Child:
        ready = self._run_dir / f"{name}.ready"
        common = ["--namespace", self.names.namespace, "--rabbitmq-url", self.infra.rabbitmq_url]
        common += ["--redis-url", self.infra.redis_url, "--ready-file", str(ready)]
        return processes.launch(name, ["-m", f"bench.floor.{role}", *common, *args], self._run_dir, ready_file=ready)

    async def start(self) -> None:
        await declare(self.infra.rabbitmq_url, self.names)
        try:
            await self.simulators.start()
            self._children = [
                self._launch("assembler", "assembler", []),
                self._launch("audit", "audit", []),
                self._launch("gateway", "gateway", ["--port", str(self.port)]),
                *(
                    self._launch("worker", f"worker-{s}", ["--source", s, "--source-url", self.simulators.urls[s]])
                    for s in SOURCES
                ),
            ]
            await processes.wait_ready(self._children)
        except BaseException:
            await self.stop()
            raise

    async def set_latency(self, latency_ms: int) -> None:
        await set_latency(self.simulators.urls, latency_ms)

    def target(self, timeout_ms: int | None = None, keep_bodies: bool = False) -> Target:
        return Target("127.0.0.1", self.port, LOOKUP_PATH, lookup_body(timeout_ms), DEV_HEADERS, complete, keep_bodies)

    def cpu_groups(self) -> dict[str, list[int]]:
        groups = {child.name: [child.pid] for child in self._children}
        groups.update(infrastructure_pids())
        return groups

    def source_pids(self) -> list[int]:
        return self.simulators.pids

    async def stop(self) -> None:
        await processes.stop(self._children)
        self._children = []
        await self.simulators.stop()
        await drop(self.infra, self.names)
