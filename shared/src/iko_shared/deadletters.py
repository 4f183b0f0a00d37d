"""What sits in the dead-letter queues, for operators: list, inspect, replay or drop it.

    python -m iko_shared.deadletters list   [--queue Q]
    python -m iko_shared.deadletters show   [--queue Q] [--id ID] [--body]
    python -m iko_shared.deadletters replay [--queue Q] (--id ID | --all)
    python -m iko_shared.deadletters drop   [--queue Q] (--id ID | --all)

The broker and the namespace come from ``IKO_RABBITMQ_URL`` / ``IKO_NAMESPACE`` (or ``--rabbitmq-url`` /
``--namespace``). ``--queue``: a dead-letter queue (``<work queue>.dead``) or its work queue; default every
dead-letter queue of the namespace. A message's id is its AMQP message id, else its correlation id (the request
id), else ``sha-`` and the start of its body's SHA-256. ``show`` prints the headers, the body's size and its
top-level keys, never the body itself unless ``--body`` is given: bodies hold personal data.

``replay`` republishes a message to the exchange and routing key its ``x-death`` header records (where it was
first published), without that header, and removes it from the dead-letter queue once the broker confirmed it;
a message without ``x-death`` (parked by the audit service itself) goes to its work queue directly.
Messages looked at and not replayed or dropped go back to their queue.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import aio_pika
import aiormq.abc
import aiormq.exceptions
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from iko_shared.namespace import topology_names
from iko_shared.settings import CommonSettings

DEAD_SUFFIX = ".dead"
# At most this many messages are looked at per queue and command (each is held unacked while the command runs).
DEFAULT_LIMIT = 1000


def message_id(message: AbstractIncomingMessage) -> str:
    if message.message_id:
        return str(message.message_id)
    if message.correlation_id:
        return str(message.correlation_id)
    return "sha-" + hashlib.sha256(message.body).hexdigest()[:16]


def origin(message: AbstractIncomingMessage, queue: str) -> tuple[str, str]:
    """Where a dead letter was first published: (exchange, routing key) from its ``x-death`` header; without one,
    its work queue through the default exchange."""
    deaths: Any = dict(message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        death = deaths[-1]  # the oldest death: the first queue the message was published to
        keys = death.get("routing-keys") or []
        exchange = death.get("exchange")
        if isinstance(exchange, bytes):
            exchange = exchange.decode()
        key = keys[0] if keys else ""
        if isinstance(key, bytes):
            key = key.decode()
        return str(exchange or ""), str(key)
    return "", queue.removesuffix(DEAD_SUFFIX)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def body_summary(body: bytes) -> dict[str, Any]:
    """The body's size and, when it is a JSON object, its top-level keys; never its content."""
    summary: dict[str, Any] = {"size": len(body)}
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        summary["json"] = False
        return summary
    summary["json"] = True
    summary["keys"] = sorted(parsed) if isinstance(parsed, dict) else None
    return summary


def describe(message: AbstractIncomingMessage, queue: str, *, with_body: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = dict(message.headers or {})
    deaths: list[Any] = headers["x-death"] if isinstance(headers.get("x-death"), list) else []
    first: dict[str, Any] = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    exchange, routing_key = origin(message, queue)
    described: dict[str, Any] = {
        "queue": queue,
        "id": message_id(message),
        "correlation_id": message.correlation_id,
        "reason": _plain(first.get("reason")) or _plain(headers.get("iko-dead-reason")),
        "from_queue": _plain(first.get("queue")),
        "deaths": sum(int(d.get("count", 1)) for d in deaths if isinstance(d, dict)) if deaths else 0,
        "origin": {"exchange": exchange, "routing_key": routing_key},
        **body_summary(message.body),
    }
    if with_body:
        described["headers"] = _plain(headers)
        described["body"] = message.body.decode(errors="replace")
    else:
        described["headers"] = _plain({k: v for k, v in headers.items() if k != "x-death"})
    return described


@dataclass
class Held:
    queue: str
    message: AbstractIncomingMessage


async def dead_letter_queues(connection: AbstractConnection, namespace: str, queue: str | None) -> list[str]:
    """The dead-letter queues asked for that exist on the broker."""
    if queue:
        names = [queue if queue.endswith(DEAD_SUFFIX) else queue + DEAD_SUFFIX]
    else:
        names = [n for n in topology_names(namespace)[0] if n.endswith(DEAD_SUFFIX)]
    found = []
    for name in names:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
            found.append(name)
        except aiormq.exceptions.ChannelNotFoundEntity:
            pass
        finally:
            if not channel.is_closed:
                await channel.close()
    return found


async def take(channel: AbstractChannel, queue: str, limit: int) -> list[Held]:
    """Up to ``limit`` messages of ``queue``, held unacked (basic.get) until settled or the channel closes."""
    declared = await channel.declare_queue(queue, passive=True)
    held: list[Held] = []
    while len(held) < limit:
        message = await declared.get(no_ack=False, fail=False)
        if message is None:
            break
        held.append(Held(queue, message))
    return held


async def replay(channel: AbstractChannel, held: Held) -> tuple[str, str]:
    exchange_name, routing_key = origin(held.message, held.queue)
    exchange = await channel.get_exchange(exchange_name, ensure=False) if exchange_name else channel.default_exchange
    headers = {k: v for k, v in (held.message.headers or {}).items() if k != "x-death"}
    message = aio_pika.Message(
        held.message.body,
        headers=headers or None,
        content_type=held.message.content_type,
        correlation_id=held.message.correlation_id,
        message_id=held.message.message_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    confirmed = await exchange.publish(message, routing_key=routing_key, mandatory=True)
    if isinstance(confirmed, aiormq.abc.DeliveredMessage):
        raise RuntimeError(f"replay unroutable: exchange={exchange_name or '(default)'} routing_key={routing_key}")
    return exchange_name, routing_key


def _print(out: TextIO, data: dict[str, Any]) -> None:
    out.write(orjson.dumps(data, default=str).decode() + "\n")


async def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    settings = CommonSettings()
    url = args.rabbitmq_url or settings.rabbitmq_url
    namespace = args.namespace or settings.namespace
    if args.command in ("replay", "drop") and not (args.id or args.all):
        out.write(f"{args.command}: name the message (--id ID) or every message (--all)\n")
        return 2
    connection = await aio_pika.connect(url)
    settled = 0
    try:
        queues = await dead_letter_queues(connection, namespace, args.queue)
        # The messages are held on one channel; replays are published on another, with confirms, so that a
        # message is removed from its dead-letter queue only once its copy is confirmed.
        holding = await connection.channel()
        publishing = await connection.channel(publisher_confirms=True)
        held: list[Held] = []
        for queue in queues:
            held += await take(holding, queue, args.limit)
        chosen = [h for h in held if args.all or args.id is None or message_id(h.message) == args.id]
        if args.command == "list":
            counts: dict[str, int] = {q: 0 for q in queues}
            for h in held:
                counts[h.queue] += 1
            for queue in queues:
                _print(out, {"queue": queue, "messages": counts[queue]})
            for h in chosen:
                d = describe(h.message, h.queue)
                _print(out, {k: d[k] for k in ("queue", "id", "reason", "from_queue", "deaths", "size")})
        elif args.command == "show":
            for h in chosen:
                _print(out, describe(h.message, h.queue, with_body=args.body))
        elif args.command == "replay":
            for h in chosen:
                exchange, routing_key = await replay(publishing, h)
                await h.message.ack()
                settled += 1
                _print(out, {"replayed": message_id(h.message), "exchange": exchange, "routing_key": routing_key})
        elif args.command == "drop":
            for h in chosen:
                await h.message.ack()
                settled += 1
                _print(out, {"dropped": message_id(h.message), "queue": h.queue})
        if args.id is not None and not chosen:
            out.write(f"no message with id {args.id}\n")
            return 1
        # Everything else goes back to its queue, in its order.
        for h in held:
            if not h.message.processed:
                await h.message.nack(requeue=True)
        # Closed before the command returns: the broker has taken the messages back when it answers the close.
        await holding.close()
    finally:
        await connection.close()
    return 0


def parser() -> argparse.ArgumentParser:
    parsed = argparse.ArgumentParser(prog="python -m iko_shared.deadletters", description=__doc__.split("\n")[0])
    parsed.add_argument("command", choices=["list", "show", "replay", "drop"])
    parsed.add_argument("--queue", help="a dead-letter queue or its work queue (default: every one)")
    parsed.add_argument("--id", help="a message's id (as list prints it)")
    parsed.add_argument("--all", action="store_true", help="replay/drop: every message of the queues")
    parsed.add_argument("--body", action="store_true", help="show: the body and every header too (personal data)")
    parsed.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="at most this many messages per queue")
    parsed.add_argument("--rabbitmq-url", help="default IKO_RABBITMQ_URL")
    parsed.add_argument("--namespace", help="default IKO_NAMESPACE")
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
