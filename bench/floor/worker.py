"""A floor connector: answers every lookup of its source with a fixed fragment, at once or after a latency."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aio_pika
import orjson
import uvloop

from bench.floor.common import FRAGMENT_DATA, Names, parser
from bench.processes import mark_ready


async def run(namespace: str, rabbitmq_url: str, source: str, latency_s: float, prefetch: int, ready: Path) -> None:
    names = Names(namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(names.connector_queue(source), ensure=False)
    fragments = await channel.get_exchange(names.fragments, ensure=False)
    prefix = b'{"key":"' + source.encode() + b'","source":"' + source.encode() + b'","status":"ok","data":'

    async def on_lookup(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        request = orjson.loads(message.body)
        started = time.time()
        if latency_s > 0:
            await asyncio.sleep(latency_s)
        tail = orjson.dumps(
            {
                "request_id": request["request_id"],
                "retrieved_at": started,
                "duration_ms": (time.time() - started) * 1000,
                "deadline": request["deadline"],
            }
        )
        body = prefix + FRAGMENT_DATA + b"," + tail[1:]
        await fragments.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                correlation_id=request["request_id"],
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="fragment",
        )
        await message.ack()

    await queue.consume(on_lookup)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    mark_ready(ready)
    await stop.wait()
    await connection.close()


def main() -> None:
    p = parser("worker")
    p.add_argument("--source", required=True)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--prefetch", type=int, default=64)
    args = p.parse_args()
    uvloop.run(
        run(args.namespace, args.rabbitmq_url, args.source, args.latency_ms / 1000, args.prefetch, args.ready_file)
    )


if __name__ == "__main__":
    main()
