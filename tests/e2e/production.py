"""The production-mode stack shared by the e2e tests of access rules, limits and the audit trail: no development
mode, API keys with few roles, JWTs from the test identity provider, the default breaker, rate-limit and
in-flight settings. One stack for the whole run (conftest imports the fixture), so ``make test`` stays short."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
import yaml
from iko_shared.contracts import AuditRecorded
from iko_shared.topology import Topology
from iko_stack import Stack

from tests.e2e.conftest import start_stack, stop_stack
from tests.unit.gateway.jwks_server import JwksServer

KEYS = {
    "bedrijf": ("key-bedrijf-only", ["iko-bedrijf"]),
    "persoon": ("key-persoon-only", ["iko-persoon"]),
    "zaken": ("key-persoon-zaken", ["iko-persoon", "iko-zaken"]),
    "attacker": ("key-attacker", ["iko-persoon", "iko-bedrijf"]),
    "victim": ("key-victim", ["iko-persoon", "iko-bedrijf"]),
    "privacy": ("key-privacy-officer", ["iko-privacy"]),
    "portaal": ("key-burgerportaal", ["iko-portaal"]),
    "contact": ("key-persoon-contactmomenten", ["iko-persoon", "iko-bedrijf", "iko-contactmomenten"]),
    "adres": ("key-adres-only", ["iko-adres"]),
    "adres-bewoners": ("key-adres-bewoners-zaken", ["iko-adres", "iko-persoon", "iko-zaken"]),
}
PURPOSE = {"x-doelbinding": "klantcontact", "x-verwerking": "Vraag burger"}


def headers(who: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[who][0], **PURPOSE, **extra}


@pytest.fixture(scope="session")
async def production_stack(
    rabbitmq_url: str, redis_url: str, identity: JwksServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("production-keys")
    keys_file = folder / "api-keys.yaml"
    keys_file.write_text(
        yaml.safe_dump(
            [
                {"client": name, "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "roles": roles}
                for name, (key, roles) in KEYS.items()
            ]
        )
    )
    stack = start_stack(
        rabbitmq_url,
        redis_url,
        "prod",
        identity,
        production=True,
        env={
            "IKO_AUTH_API_KEYS_FILE": str(keys_file),
            # The tests' own client is the ingress: the addresses it forwards are the callers'.
            "IKO_GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
        },
    )
    try:
        yield stack
    finally:
        await stop_stack(stack, rabbitmq_url, redis_url)


@pytest.fixture
async def audit(production_stack, rabbitmq_url):
    """The records published from now on (a tap on the audit exchange); ``read(n)`` waits for n (or the timeout)."""
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    # A tap of our own on the audit exchange: the audit service consumes the audit queue itself.
    exchange = await channel.get_exchange(Topology(namespace=production_stack.namespace).audit.name)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="#")

    async def read(count: int, timeout_s: float = 10.0) -> list[AuditRecorded]:
        records: list[AuditRecorded] = []
        end = time.monotonic() + timeout_s
        while len(records) < count and time.monotonic() < end:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            records.append(AuditRecorded.model_validate_json(message.body))
            await message.ack()
        return records

    yield read
    await connection.close()
