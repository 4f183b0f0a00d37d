"""The floor's gateway: takes a lookup over HTTP, publishes it (with its BSN) once, takes the reply from its own
queue, publishes the audit record of what it is about to disclose and answers once the broker has confirmed it."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aio_pika
import orjson
import uvloop

from bench.floor.common import SOURCES, Names, parser
from bench.http1 import serve
from bench.processes import ready_until_terminated
from bench.sources import requested_bsn

HEADERS: dict[str, aio_pika.abc.FieldValue] = {"iko-kind": "lookup", **{f"iko-source-{s}": "1" for s in SOURCES}}


async def run(namespace: str, rabbitmq_url: str, port: int, timeout_s: float, ready_file: str) -> None:
    names = Names(namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = await channel.get_exchange(names.lookups, ensure=False)
    audit = await channel.get_exchange(names.audit, ensure=False)
    replies = await channel.declare_queue(
        f"{namespace}.gateway.replies.{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True
    )
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[bytes]] = {}

    async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    await replies.consume(on_reply, no_ack=True)

    async def record(request_id: str, bsn: str) -> None:
        """Who asked about whom, which sources and when: what the pipeline's audit record holds but its view."""
        body = orjson.dumps(
            {
                "record_id": str(uuid.uuid4()),
                "request_id": request_id,
                "at": time.time(),
                "client": "bench",
                "purpose": "demo",
                "subject": {"type": "bsn", "value": bsn},
                "sources": [{"key": s, "source": s} for s in SOURCES],
            }
        )
        # Confirmed (the channel's publisher confirms) and mandatory: no disclosure without a stored record.
        await audit.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                message_id=request_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="record",
            mandatory=True,
        )

    async def handle(_method: str, _path: str, request: bytes) -> tuple[int, bytes]:
        request_id = str(uuid.uuid4())
        now = time.time()
        bsn = requested_bsn(request)
        body = orjson.dumps(
            {
                "request_id": request_id,
                "bsn": bsn,
                "keys": list(SOURCES),
                "requested_at": now,
                "deadline": now + timeout_s,
                "reply_to": replies.name,
            }
        )
        future: asyncio.Future[bytes] = loop.create_future()
        waiting[request_id] = future
        try:
            await exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    correlation_id=request_id,
                    headers=HEADERS,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="",
            )
            answer = await asyncio.wait_for(future, timeout_s + 1.0)
            await record(request_id, bsn)
            return 200, answer
        except TimeoutError:
            return 504, b'{"error": "timeout"}'
        finally:
            waiting.pop(request_id, None)

    server = await serve(handle, "127.0.0.1", port)
    await ready_until_terminated(Path(ready_file))
    server.close()
    await connection.close()


def main() -> None:
    p = parser("gateway")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout-s", type=float, default=2.0)
    args = p.parse_args()
    uvloop.run(run(args.namespace, args.rabbitmq_url, args.port, args.timeout_s, str(args.ready_file)))


if __name__ == "__main__":
    main()
