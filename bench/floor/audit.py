"""The floor's audit consumer: takes the records off their queue and acks them, so the queue stays short as it
does in the pipeline, where the audit service stores them."""

from __future__ import annotations

from pathlib import Path

import aio_pika
import uvloop

from bench.floor.common import Names, parser
from bench.processes import ready_until_terminated


async def run(namespace: str, rabbitmq_url: str, prefetch: int, ready: Path) -> None:
    names = Names(namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(names.audit_queue, ensure=False)

    async def on_record(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()

    await queue.consume(on_record)
    await ready_until_terminated(ready)
    await connection.close()


def main() -> None:
    p = parser("audit")
    p.add_argument("--prefetch", type=int, default=128)
    args = p.parse_args()
    uvloop.run(run(args.namespace, args.rabbitmq_url, args.prefetch, args.ready_file))


if __name__ == "__main__":
    main()
