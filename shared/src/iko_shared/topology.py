"""Every exchange, queue and binding of IKO, declared in this one place.

Lookups go out on a headers exchange: the gateway publishes each request once, with one header per source it
names, and the broker delivers it only to the queues of those sources' connectors and to the assembler.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiormq.abc import FieldValue
from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

LOOKUP_KIND_HEADER = "iko-kind"
SOURCE_HEADER_PREFIX = "iko-source-"
# On a reply: "view" (the assembled answer) or "fragment" (one fragment of a streamed lookup).
MESSAGE_HEADER = "iko-message"


def source_header(source: str) -> str:
    return SOURCE_HEADER_PREFIX + source


@dataclass(frozen=True)
class Topology:
    namespace: str = "iko"
    delivery_limit: int = 5

    # -- exchanges ---------------------------------------------------------------------------------------
    @property
    def lookups(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.lookups", type=ExchangeType.HEADERS, durable=True)

    @property
    def fragments(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.fragments", type=ExchangeType.DIRECT, durable=True)

    @property
    def audit(self) -> RabbitExchange:
        # Its own exchange, so a deployment can route the records to its log store as it likes.
        return RabbitExchange(f"{self.namespace}.audit", type=ExchangeType.TOPIC, durable=True)

    @property
    def audit_queue(self) -> RabbitQueue:
        return RabbitQueue(
            f"{self.namespace}.audit",
            queue_type=QueueType.QUORUM,
            routing_key="#",
        )

    @property
    def audit_inzage(self) -> RabbitQueue:
        """Inzage requests from the gateways to the audit service (default exchange, routing key = this name)."""
        return RabbitQueue(f"{self.namespace}.audit.inzage", queue_type=QueueType.QUORUM)

    @property
    def dead_letters(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.dead-letters", type=ExchangeType.DIRECT, durable=True)

    # -- queues ------------------------------------------------------------------------------------------
    def _work_queue(
        self, name: str, bind_arguments: dict[str, str] | None = None, routing_key: str = ""
    ) -> RabbitQueue:
        # Quorum queues survive a broker node; the delivery limit (set by hand: RabbitMQ 3.10 has no default)
        # moves a message that keeps failing to its dead-letter queue instead of looping forever.
        return RabbitQueue(
            name,
            queue_type=QueueType.QUORUM,
            arguments={
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": self.dead_letters.name,
                "x-dead-letter-routing-key": name,
            },
            bind_arguments=bind_arguments,
            routing_key=routing_key,
        )

    def connector_queue(self, source: str) -> RabbitQueue:
        return self._work_queue(
            f"{self.namespace}.connector.{source}",
            bind_arguments={"x-match": "all", source_header(source): "1"},
        )

    @property
    def assembler_requests(self) -> RabbitQueue:
        return self._work_queue(
            f"{self.namespace}.assembler.requests",
            bind_arguments={"x-match": "all", LOOKUP_KIND_HEADER: "lookup"},
        )

    @property
    def assembler_fragments(self) -> RabbitQueue:
        return self._work_queue(f"{self.namespace}.assembler.fragments", routing_key=self.fragment_routing_key)

    @property
    def fragment_routing_key(self) -> str:
        return "fragment"

    def dead_letter_queue(self, queue: RabbitQueue) -> RabbitQueue:
        return RabbitQueue(
            f"{queue.name}.dead",
            queue_type=QueueType.QUORUM,
            routing_key=queue.name,
        )

    def gateway_replies(self, instance: str) -> RabbitQueue:
        # One per gateway replica, gone with its connection: a reply for a replica that died has nobody to
        # answer anyway, and the client that waited on it has lost its connection too.
        return RabbitQueue(
            f"{self.namespace}.gateway.replies.{instance}",
            exclusive=True,
            auto_delete=True,
            durable=False,
        )

    def work_queues(self, sources: list[str]) -> list[RabbitQueue]:
        return [self.assembler_requests, self.assembler_fragments, *(self.connector_queue(s) for s in sources)]

    def lookup_headers(self, sources: list[str], kind: str = "lookup") -> dict[str, FieldValue]:
        headers: dict[str, FieldValue] = {LOOKUP_KIND_HEADER: kind}
        headers.update({source_header(s): "1" for s in sources})
        return headers

    def followup_headers(self, sources: list[str]) -> dict[str, FieldValue]:
        # Follow-ups reach the connectors only: the assembler extended the request itself, atomically.
        return self.lookup_headers(sources, kind="followup")
