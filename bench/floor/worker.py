"""A floor connector: fetches each lookup's BSN from its source (``bench.sources``) and publishes the fragment."""

from __future__ import annotations

import time
from pathlib import Path

import aio_pika
import orjson
import uvloop

from bench.floor.common import Names, parser
from bench.processes import ready_until_terminated
from bench.sources import SourceWork


async def run(namespace: str, rabbitmq_url: str, source: str, url: str, prefetch: int, ready: Path) -> None:
    names = Names(namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(names.connector_queue(source), ensure=False)
    fragments = await channel.get_exchange(names.fragments, ensure=False)

    async with SourceWork({source: url}) as work:

        async def on_lookup(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            request = orjson.loads(message.body)
            result = await work.fetch(source, request["bsn"], request["deadline"] - time.time())
            body = orjson.dumps(
                {
                    "key": source,
                    "source": source,
                    **result,
                    "request_id": request["request_id"],
                    "deadline": request["deadline"],
                }
            )
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
        await ready_until_terminated(ready)
        await connection.close()


def main() -> None:
    p = parser("worker")
    p.add_argument("--source", required=True)
    p.add_argument("--source-url", required=True, help="the source's base URL (its simulator)")
    p.add_argument("--prefetch", type=int, default=64)
    args = p.parse_args()
    uvloop.run(run(args.namespace, args.rabbitmq_url, args.source, args.source_url, args.prefetch, args.ready_file))


if __name__ == "__main__":
    main()
