"""The floor's assembler: one Lua call to register, one per fragment, one to finish; replies to the gateway."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import uvloop
from redis.asyncio import Redis

from bench.floor.common import Names, parser
from bench.processes import ready_until_terminated

GRACE_MS = 30_000
KEEP_MS = 30_000
LEASE_MS = 2_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def answer(request_id: str, flat: list[Any]) -> tuple[str, bytes]:
    """The reply queue and the answer, from the request hash as the script returned it."""
    fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    meta = orjson.loads(fields["meta"])
    sources = {name[2:]: orjson.loads(raw) for name, raw in fields.items() if name.startswith("f:")}
    body = orjson.dumps(
        {
            "request_id": request_id,
            "status": "complete",
            "completed_by": _text(fields.get("closed_by", b"all_sources")),
            "requested_at": meta["requested_at"],
            "completed_at": int(fields.get("closed_at", 0)) / 1000,
            "sources": sources,
        }
    )
    return str(meta["reply_to"]), body


async def run(namespace: str, rabbitmq_url: str, redis_url: str, prefetch: int, ready: Path) -> None:
    names = Names(namespace)
    redis = Redis.from_url(redis_url)
    script = redis.register_script((files("bench.floor") / "floor.lua").read_text(encoding="utf-8"))
    shared = names.redis_keys()
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    requests = await channel.get_queue(names.assembler_requests, ensure=False)
    fragments = await channel.get_queue(names.assembler_fragments, ensure=False)

    async def publish_and_finish(request_id: str, flat: list[Any]) -> None:
        reply_to, body = answer(request_id, flat)
        await channel.default_exchange.publish(
            aio_pika.Message(body, content_type="application/json", correlation_id=request_id),
            routing_key=reply_to,
            mandatory=False,
        )
        await script(keys=[*shared, names.request_prefix + request_id], args=["finish", request_id])

    async def on_request(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        request = orjson.loads(message.body)
        request_id = request["request_id"]
        keys = list(request["keys"])
        reply = await script(
            keys=[*shared, names.request_prefix + request_id],
            args=[
                "register",
                request_id,
                message.body,
                int(request["deadline"] * 1000),
                GRACE_MS,
                KEEP_MS,
                LEASE_MS,
                len(keys),
                *keys,
            ],
        )
        if _text(reply[0]) == "closed_now":
            await publish_and_finish(request_id, reply[1])
        await message.ack()

    async def on_fragment(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        fragment = orjson.loads(message.body)
        request_id = fragment["request_id"]
        reply = await script(
            keys=[*shared, names.request_prefix + request_id],
            args=[
                "record",
                request_id,
                fragment["key"],
                message.body,
                int(fragment["deadline"] * 1000),
                GRACE_MS,
                KEEP_MS,
                LEASE_MS,
            ],
        )
        if _text(reply[0]) == "closed_now":
            await publish_and_finish(request_id, reply[1])
        await message.ack()

    await requests.consume(on_request)
    await fragments.consume(on_fragment)
    await ready_until_terminated(ready)
    await connection.close()
    await redis.aclose()


def main() -> None:
    p = parser("assembler")
    p.add_argument("--prefetch", type=int, default=128)
    args = p.parse_args()
    uvloop.run(run(args.namespace, args.rabbitmq_url, args.redis_url, args.prefetch, args.ready_file))


if __name__ == "__main__":
    main()
