"""Publishes lookups straight onto the lookups exchange and counts every view that comes back.

The gateway hands each request one answer whatever arrives; to prove the assemblers publish each view
exactly once, the tests must see every copy, so they take the gateway's place here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter

import aio_pika
from iko_shared.contracts import Identifier, LookupCompleted, LookupRequested, SourceQuery
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

BSNS = ["999993653", "999990408", "999994086"]


class LookupDriver:
    def __init__(self, rabbitmq_url: str, namespace: str) -> None:
        self._url = rabbitmq_url
        self._topology = Topology(namespace=namespace)
        self.replies: Counter[str] = Counter()
        self.views: dict[str, LookupCompleted] = {}
        self.sent: dict[str, float] = {}
        self._pending: set[str] = set()
        self._all_answered = asyncio.Event()

    async def __aenter__(self) -> LookupDriver:
        self._connection = await aio_pika.connect(self._url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        self._exchange = await self._channel.get_exchange(self._topology.lookups.name)
        await self._queue.consume(self._on_reply, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        view = LookupCompleted.model_validate_json(message.body)
        self.replies[view.request_id] += 1
        self.views.setdefault(view.request_id, view)
        self._pending.discard(view.request_id)
        if not self._pending:
            self._all_answered.set()

    async def send(self, index: int, timeout_s: float = 5.0) -> str:
        request_id = str(uuid.uuid4())
        now = time.time()
        request = LookupRequested(
            request_id=request_id,
            profile="persoon",
            identifier=Identifier(type="bsn", value=BSNS[index % len(BSNS)]),
            queries=[
                SourceQuery(key="brp", source="brp", operation="RaadpleegMetBurgerservicenummer", fields=["naam"]),
                SourceQuery(key="zgw", source="zgw", operation="zaken"),
            ],
            requested_at=now,
            deadline=now + timeout_s,
            reply_to=self._queue.name,
        )
        message = aio_pika.Message(
            dump_model(request),
            content_type="application/json",
            headers=self._topology.lookup_headers(["brp", "zgw"]),
            correlation_id=request_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        self.sent[request_id] = now
        self._pending.add(request_id)
        self._all_answered.clear()
        await self._exchange.publish(message, routing_key="")
        return request_id

    async def wait_for_all(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_answered.wait(), timeout=timeout_s)
        # Linger a little: a second copy of a view would arrive shortly after the first.
        await asyncio.sleep(0.5)

    def unanswered(self) -> list[str]:
        return [r for r in self.sent if self.replies[r] == 0]
