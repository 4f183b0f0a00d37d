"""The operators' dead-letter command against the real RabbitMQ, in a namespace of its own: a poison message
ends in the dead-letter queue, ``list`` shows it, ``show`` describes it without its body, ``replay`` puts it back
where it was published, ``drop`` removes it."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys

import aio_pika
import orjson
import pytest
from iko_shared import deadletters
from iko_shared.connector import ConnectorSettings, FetchContext, FetchResult, SourceHttpSettings, build_connector_app
from iko_shared.topology import Topology

pytestmark = pytest.mark.integration

SECRET = "999993653"
POISON = orjson.dumps({"request_id": "req-poison", "identifier": {"type": "bsn", "value": SECRET}})


class EchoSource:
    name = "brp"

    def operations(self):
        return frozenset({"echo"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        return FetchResult.ok({})


async def command(namespace: str, rabbitmq_url: str, *argv: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    args = deadletters.parser().parse_args([*argv, "--namespace", namespace, "--rabbitmq-url", rabbitmq_url])
    code = await deadletters.run(args, out)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    return code, lines


async def count(channel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count


async def until_count(channel, name: str, expected: int) -> int:
    for _ in range(100):
        if (found := await count(channel, name)) == expected:
            return found
        await asyncio.sleep(0.05)
    return await count(channel, name)


async def test_list_show_replay_drop(namespace, rabbitmq_url):
    topology = Topology(namespace=namespace, delivery_limit=5)
    settings = ConnectorSettings(namespace=namespace, rabbitmq_url=rabbitmq_url, delivery_limit=5)
    work = topology.connector_queue("brp").name
    dead = topology.dead_letter_queue(topology.connector_queue("brp")).name

    async def start_connector():
        app, _ = build_connector_app(EchoSource(), SourceHttpSettings(base_url="http://127.0.0.1:9"), settings)
        await app.start()
        return app

    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        app = await start_connector()
        try:
            exchange = await channel.get_exchange(topology.lookups.name)
            await exchange.publish(
                aio_pika.Message(
                    POISON,
                    content_type="application/json",
                    message_id="poison-1",
                    correlation_id="req-poison",
                    headers=topology.lookup_headers(["brp"]),
                ),
                routing_key="",
            )
            assert await until_count(channel, dead, 1) == 1
        finally:
            await app.stop()

        code, lines = await command(namespace, rabbitmq_url, "list")
        assert code == 0
        assert {"queue": dead, "messages": 1} in lines
        [listed] = [line for line in lines if "id" in line]
        assert listed["id"] == "poison-1"
        assert listed["reason"] == "rejected"
        assert listed["from_queue"] == work
        assert await until_count(channel, dead, 1) == 1, "list leaves the message where it is"

        code, [shown] = await command(namespace, rabbitmq_url, "show", "--queue", work, "--id", "poison-1")
        assert code == 0
        assert shown["size"] == len(POISON)
        assert shown["keys"] == ["identifier", "request_id"]
        assert shown["origin"] == {"exchange": topology.lookups.name, "routing_key": ""}
        assert shown["headers"]["iko-source-brp"] == "1"
        assert SECRET not in orjson.dumps(shown).decode(), "show prints no body without --body"
        code, [with_body] = await command(namespace, rabbitmq_url, "show", "--id", "poison-1", "--body")
        assert SECRET in with_body["body"]

        code, lines = await command(namespace, rabbitmq_url, "replay", "--id", "nope")
        assert code == 1
        assert await until_count(channel, dead, 1) == 1
        code, [replayed] = await command(namespace, rabbitmq_url, "replay", "--id", "poison-1")
        assert code == 0
        assert replayed["exchange"] == topology.lookups.name
        # Routed again by its headers, to the connector's work queue; gone from the dead-letter queue.
        assert await until_count(channel, work, 1) == 1
        assert await until_count(channel, dead, 0) == 0

        # Still poison: the connector parks it again at once.
        app = await start_connector()
        try:
            assert await until_count(channel, dead, 1) == 1
        finally:
            await app.stop()
        env = {**os.environ, "IKO_RABBITMQ_URL": rabbitmq_url, "IKO_NAMESPACE": namespace}
        listed_by_process = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "iko_shared.deadletters", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed_by_process.returncode == 0, listed_by_process.stderr
        assert '"id":"poison-1"' in listed_by_process.stdout

        code, lines = await command(namespace, rabbitmq_url, "drop")
        assert code == 2, "drop names what it drops"
        code, [dropped] = await command(namespace, rabbitmq_url, "drop", "--id", "poison-1")
        assert dropped == {"dropped": "poison-1", "queue": dead}
        assert await until_count(channel, dead, 0) == 0
        assert await count(channel, work) == 0
    finally:
        await connection.close()
