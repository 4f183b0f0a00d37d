"""Scenario 7 of issue 14 on the clustered broker: malformed ``LookupRequested`` and ``FragmentProduced`` published
straight onto the lookups and fragments exchanges under a steady load (bad JSON, an unknown schema version, missing
fields, a 10 MB body). Each is parked in its queue's dead-letter queue at once (one death, no retries burnt), the
consumers keep consuming (the load's invariants hold), one error line per message and queue names both; then the
operators' command (``python -m iko_shared.deadletters``) lists them, replays one and drops the rest."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import orjson
import pytest
from iko_shared.failures import MAX_BODY_BYTES
from iko_shared.sources import source_names
from iko_shared.topology import Topology, source_header
from iko_stack import ROOT, Stack

from tests.e2e.conftest import DEV_HEADERS, start_stack, stop_stack
from tests.faults.steady_load import SteadyLoad, judge
from tests.faults.test_process_faults import MARGIN_S, REPLY_GRACE_S, TIMEOUT_MS, drained, wait_until

RATE = 10.0
TEN_MB = 10 * 1024 * 1024
BIG_LOOKUP_SOURCE = "brp"
BIG_LOOKUP_HEADERS = {source_header(BIG_LOOKUP_SOURCE): "1"}


def _lookup(**override: object) -> dict[str, object]:
    now = time.time()
    body: dict[str, object] = {
        "schema_version": 1,
        "request_id": "poison-request",
        "profile": "persoon",
        "identifier": {"type": "bsn", "value": "999993653"},
        "queries": [],
        "requested_at": now,
        "deadline": now + 30,
        "reply_to": "nobody",
    }
    body.update(override)
    return body


def _fragment(**override: object) -> dict[str, object]:
    now = time.time()
    body: dict[str, object] = {
        "schema_version": 1,
        "request_id": "poison-request",
        "key": "brp",
        "source": "brp",
        "status": "ok",
        "retrieved_at": "2026-01-01T00:00:00Z",
        "duration_ms": 1.0,
        "deadline": now + 30,
    }
    body.update(override)
    return body


def poison_bodies(kind: str) -> dict[str, bytes]:
    """Message id -> body: the four kinds of poison for ``kind`` (``lookup`` or ``fragment``)."""
    valid = _lookup if kind == "lookup" else _fragment
    missing = {k: v for k, v in valid().items() if k not in ("request_id", "deadline")}
    return {
        f"poison-{kind}-bad-json": b'{"schema_version": 1, "request_id": ',
        f"poison-{kind}-schema-99": orjson.dumps(valid(schema_version=99)),
        f"poison-{kind}-missing-fields": orjson.dumps(missing),
        f"poison-{kind}-10mb": orjson.dumps(valid(padding="x" * TEN_MB)),
    }


@pytest.fixture
async def poisoned(rabbit_cluster, redis_url) -> AsyncIterator[Stack]:
    stack = start_stack(rabbit_cluster.url, redis_url, "fault-poison", ready_timeout=150)
    try:
        yield stack
    finally:
        await stop_stack(stack, rabbit_cluster.url, redis_url)


async def publish_poison(broker_url: str, topology: Topology) -> tuple[dict[str, bytes], dict[str, bytes]]:
    lookups, fragments = poison_bodies("lookup"), poison_bodies("fragment")
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        lookups_x = await channel.get_exchange(topology.lookups.name, ensure=False)
        fragments_x = await channel.get_exchange(topology.fragments.name, ensure=False)
        headers = topology.lookup_headers(source_names())
        for message_id, body in lookups.items():
            # The 10 MB one to the BRP connector's queue alone: to every lookup queue (seven quorum queues, each copy
            # replicated to three nodes) it held the 2-core machine's broker up for seconds (docs/reliability.md).
            big = len(body) > MAX_BODY_BYTES
            message = aio_pika.Message(
                body, message_id=message_id, headers=dict(BIG_LOOKUP_HEADERS if big else headers)
            )
            await lookups_x.publish(message, routing_key="", mandatory=True)
            await asyncio.sleep(0.2)
        for message_id, body in fragments.items():
            message = aio_pika.Message(body, message_id=message_id)
            await fragments_x.publish(message, routing_key=topology.fragment_routing_key, mandatory=True)
            await asyncio.sleep(0.2)
    return lookups, fragments


async def dead_counts(broker_url: str, queues: list[str]) -> dict[str, int]:
    counts = {}
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            declared = await channel.declare_queue(name, passive=True)
            counts[name] = declared.declaration_result.message_count or 0
    return counts


def deadletters(stack: Stack, broker_url: str, *args: str) -> list[dict[str, object]]:
    """The operators' command, as an operator runs it; its JSON lines."""
    env = {**os.environ, "IKO_RABBITMQ_URL": broker_url, "IKO_NAMESPACE": stack.namespace}
    done = subprocess.run(
        [sys.executable, "-m", "iko_shared.deadletters", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def poison_lines(path: Path) -> list[dict[str, object]]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if "message.poison" in line and line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_poison_is_parked_at_once_and_the_consumers_keep_consuming(poisoned, rabbit_cluster):
    stack = poisoned
    topology = Topology(namespace=stack.namespace)
    sources = source_names()
    assert MAX_BODY_BYTES < TEN_MB, "a 10 MB body is over IKO's own limit"
    lookup_queues = [topology.assembler_requests, *(topology.connector_queue(s) for s in sources)]
    fragment_queue = topology.assembler_fragments
    dead = {q.name: topology.dead_letter_queue(q).name for q in [*lookup_queues, fragment_queue]}

    # Warmed up first (a fresh stack's first lookups on the cluster are slow: connectors still attaching), not judged.
    warm = judge(
        await SteadyLoad([stack.gateway_url], DEV_HEADERS, rate=RATE, timeout_ms=TIMEOUT_MS).run(duration_s=5),
        TIMEOUT_MS,
        margin_s=MARGIN_S,
        reply_grace_s=REPLY_GRACE_S,
        allow_connection_errors=False,
    )
    print(f"poison: warm-up {warm}")
    load = SteadyLoad([stack.gateway_url], DEV_HEADERS, rate=RATE, timeout_ms=TIMEOUT_MS)
    running = asyncio.create_task(load.run(duration_s=15))
    await asyncio.sleep(3.0)
    started = time.monotonic()
    lookups, fragments = await publish_poison(rabbit_cluster.url, topology)
    published_in = time.monotonic() - started
    big_queue = topology.connector_queue(BIG_LOOKUP_SOURCE).name
    small = sorted(i for i, b in lookups.items() if len(b) <= MAX_BODY_BYTES)
    expected_ids = {q.name: sorted(lookups) if q.name == big_queue else small for q in lookup_queues}
    expected_ids[fragment_queue.name] = sorted(fragments)
    expected = {dead[q]: len(ids) for q, ids in expected_ids.items()}
    end = time.monotonic() + 15
    counts = await dead_counts(rabbit_cluster.url, list(expected))
    while counts != expected and time.monotonic() < end:
        await asyncio.sleep(0.2)
        counts = await dead_counts(rabbit_cluster.url, list(expected))
    parked_in = time.monotonic() - started
    assert counts == expected
    outcomes = await running

    verdict = judge(outcomes, TIMEOUT_MS, margin_s=MARGIN_S, reply_grace_s=REPLY_GRACE_S, allow_connection_errors=False)
    late = [
        (o.index, round(o.due - outcomes[0].due, 2))
        for o in outcomes
        if o.http_status == 200 and (o.elapsed_s or 0) > TIMEOUT_MS / 1000
    ]
    print(
        f"poison: {verdict}; {sum(expected.values())} poison messages published in {published_in:.2f} s, parked "
        f"within {parked_in:.2f} s; late (index, sent at s): {late}"
    )
    assert verdict.violations == [], verdict.violations[:10]
    assert verdict.lost == 0
    assert verdict.complete >= verdict.sent * 0.9, verdict
    # The lookups sent after the poison were answered too: the consumers kept consuming.
    assert [o.status for o in outcomes[-20:]].count("complete") >= 18
    assert set((await drained(rabbit_cluster.url, stack)).values()) == {0}

    # One error line per message and queue, naming both; never the body.
    logs = {"assembler": stack.log_path("assembler", 0), **{s: stack.log_path(f"{s}-connector", 0) for s in sources}}
    by_queue: dict[str, list[str]] = {}
    for path in logs.values():
        for line in poison_lines(path):
            assert line["level"] == "error", line
            assert "padding" not in json.dumps(line), line
            assert "999993653" not in json.dumps(line), line
            by_queue.setdefault(str(line["queue"]), []).append(str(line["message_id"]))
    for queue, ids in expected_ids.items():
        assert sorted(by_queue.get(queue, [])) == ids, (queue, by_queue.get(queue))

    # The operators' command: each parked once (one death: no retries burnt), its queue named.
    listed = deadletters(stack, rabbit_cluster.url, "list")
    messages = [m for m in listed if "id" in m]
    listed_counts = {str(m["queue"]): int(str(m["messages"])) for m in listed if "messages" in m}
    assert {q: n for q, n in listed_counts.items() if q in expected} == expected
    assert {n for q, n in listed_counts.items() if q not in expected} <= {0}, listed_counts
    assert len(messages) == sum(expected.values())
    assert {int(str(m["deaths"])) for m in messages} == {1}, messages
    assert {str(m["reason"]) for m in messages} == {"rejected"}, messages
    fragment_dead = dead[fragment_queue.name]
    assert sorted(str(m["id"]) for m in messages if m["queue"] == fragment_dead) == sorted(fragments)
    shown = deadletters(stack, rabbit_cluster.url, "show", "--queue", fragment_dead, "--id", "poison-fragment-10mb")
    assert len(shown) == 1, shown
    assert "body" not in shown[0], shown
    assert int(str(shown[0]["size"])) > TEN_MB, shown

    # Replayed: back to the fragments exchange with its routing key, consumed, and parked again (poison stays poison).
    replayed = deadletters(
        stack, rabbit_cluster.url, "replay", "--queue", fragment_dead, "--id", "poison-fragment-bad-json"
    )
    assert replayed == [
        {"replayed": "poison-fragment-bad-json", "exchange": topology.fragments.name, "routing_key": "fragment"}
    ]
    parked_again = len(expected_ids[topology.assembler_requests.name]) + len(fragments) + 1
    await wait_until(lambda: len(poison_lines(logs["assembler"])) >= parked_again, 15, "the replay parked again")
    assert len(poison_lines(logs["assembler"])) == parked_again
    assert (await dead_counts(rabbit_cluster.url, [fragment_dead]))[fragment_dead] == len(fragments)

    # Dropped: every dead letter of the namespace gone.
    dropped = deadletters(stack, rabbit_cluster.url, "drop", "--all")
    assert len(dropped) == sum(expected.values())
    assert set((await dead_counts(rabbit_cluster.url, list(expected))).values()) == {0}
    assert [m for m in deadletters(stack, rabbit_cluster.url, "list") if "id" in m] == []
