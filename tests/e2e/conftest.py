"""End-to-end: every service as its own OS process, as ``make up`` starts them, in a namespace of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from iko_shared.sources import source_names
from iko_stack import Stack

from tests.infra import drop_namespace, new_namespace
from tests.unit.gateway.jwks_server import JwksServer, SigningKey

pytestmark = pytest.mark.e2e


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


SHIPPED_PROFILES = Path(__file__).resolve().parents[2] / "deploy" / "config" / "profiles"
TEST_PROFILES = Path(__file__).resolve().parent / "profiles"


def profiles_folder() -> Path:
    """The shipped profiles plus the test profiles, in a folder of their own for one stack."""
    folder = Path(tempfile.mkdtemp(prefix="iko-e2e-profiles-"))
    for source in (SHIPPED_PROFILES, TEST_PROFILES):
        for path in source.glob("*.yaml"):
            shutil.copy(path, folder / path.name)
    return folder


ISSUER = "iko-e2e-identity-provider"

# The development stack raises these out of reach; the production stack (test_edges.py) keeps the defaults.
DEV_STACK_LIMITS = {
    # Tests that make a source fail on purpose must not open its circuit for the tests after them.
    "IKO_CONNECTOR_CIRCUIT_FAILURES": "1000",
    # The suite looks up every person of the data set with one key; the limits have tests of their own.
    "IKO_GATEWAY_RATE_LIMIT_PER_MINUTE": "100000",
    "IKO_GATEWAY_MAX_IN_FLIGHT_PER_CALLER": "0",
    "IKO_GATEWAY_AUTH_FAILURES_PER_MINUTE": "0",
}


@pytest.fixture(scope="session")
def identity() -> Iterator[JwksServer]:
    """The identity provider of the e2e stack: a JWKS endpoint with one RSA signing key (tests rotate it)."""
    server = JwksServer()
    server.serve(SigningKey.rsa())
    server.start()
    yield server
    server.stop()


def start_stack(
    rabbitmq_url: str,
    redis_url: str,
    label: str,
    identity: JwksServer | None = None,
    *,
    production: bool = False,
    env: dict[str, str] | None = None,
    **options: object,
) -> Stack:
    """A stack of its own. ``production``: no development mode, and the breaker and rate-limit defaults."""
    sources = source_names()
    gateway, *simulators = free_ports(1 + len(sources))
    auth_env = (
        {
            "IKO_AUTH_JWKS_URL": identity.url,
            "IKO_AUTH_ISSUER": ISSUER,
            "IKO_AUTH_AUDIENCE": "iko",
            # Rotation is picked up on the next unknown kid, at most this often.
            "IKO_AUTH_JWKS_MIN_REFRESH_S": "0.2",
        }
        if identity is not None
        else {}
    )
    namespace = new_namespace(label)
    stack = Stack(
        namespace,
        # Logs and pids in a folder of the test run's own, removed with the stack (see stop_stack).
        run_dir=Path(tempfile.mkdtemp(prefix=f"{namespace}-")),
        gateway_port=gateway,
        sandbox_ports=dict(zip(sources, simulators, strict=True)),
        extra_env={
            "IKO_RABBITMQ_URL": rabbitmq_url,
            "IKO_REDIS_URL": redis_url,
            "IKO_PROFILES_DIR": str(profiles_folder()),
            **({} if production else DEV_STACK_LIMITS),
            **auth_env,
            **(env or {}),
        },
        dev_mode=not production,
        **options,  # type: ignore[arg-type]
    )
    try:
        stack.start()
    except BaseException:
        # A stack that did not come up leaves nothing behind either: its processes, queues, keys and database.
        stack.stop()
        admin_url = stack.config.extra_env.get("IKO_AUDIT_ADMIN_URL")
        dropping = threading.Thread(
            target=lambda: asyncio.run(drop_namespace(rabbitmq_url, redis_url, namespace, admin_url=admin_url))
        )
        dropping.start()
        dropping.join(timeout=60)
        shutil.rmtree(stack.config.resolved_run_dir, ignore_errors=True)
        shutil.rmtree(stack.config.extra_env["IKO_PROFILES_DIR"], ignore_errors=True)
        raise
    return stack


async def stop_stack(stack: Stack, rabbitmq_url: str, redis_url: str) -> None:
    """Stop the processes, drop the namespace from RabbitMQ and Redis, and remove the logs (copied first into
    ``$IKO_TEST_KEEP_LOGS/<namespace>`` when that is set: the fault suite's runs are read afterwards)."""
    stack.stop()
    keep = os.environ.get("IKO_TEST_KEEP_LOGS")
    if keep:
        target = Path(keep) / stack.namespace
        shutil.copytree(stack.config.resolved_log_dir, target, dirs_exist_ok=True)
    # On the PostgreSQL the stack's audit database was provisioned on (a private one in the outage test).
    admin_url = stack.config.extra_env.get("IKO_AUDIT_ADMIN_URL")
    await drop_namespace(rabbitmq_url, redis_url, stack.namespace, admin_url=admin_url)
    shutil.rmtree(stack.config.resolved_run_dir, ignore_errors=True)
    shutil.rmtree(stack.config.extra_env["IKO_PROFILES_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
async def stack(rabbitmq_url: str, redis_url: str, identity: JwksServer) -> AsyncIterator[Stack]:
    """One stack for the tests that only read: two assembler replicas, as a production deployment runs."""
    running = start_stack(rabbitmq_url, redis_url, "e2e", identity, assemblers=2)
    try:
        yield running
    finally:
        await stop_stack(running, rabbitmq_url, redis_url)


DEV_HEADERS = {"X-API-Key": "iko-dev-key", "x-doelbinding": "demo", "x-verwerking": "e2e-test"}


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway as a development-mode caller: the dev key (every role) and the purpose "demo"."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10, headers=DEV_HEADERS) as client:
        yield client


@pytest.fixture
def sandbox(stack: Stack) -> Iterator[httpx.Client]:
    """Control of the BRP simulator's behaviour; always reset afterwards so tests stay independent."""
    with closing(httpx.Client(base_url=stack.sandbox_urls["brp"], timeout=5)) as client:
        yield client
        client.delete("/__sandbox__/behaviour")


@pytest.fixture
def simulators(stack: Stack) -> Iterator[dict[str, httpx.Client]]:
    """Control of every simulator, with its recorded requests cleared first and its behaviour reset after."""
    clients = {name: httpx.Client(base_url=url, timeout=5) for name, url in stack.sandbox_urls.items()}
    try:
        for client in clients.values():
            client.delete("/__sandbox__/requests")
        yield clients
    finally:
        for client in clients.values():
            client.delete("/__sandbox__/behaviour")
            client.close()


# The production-mode stack (tests/e2e/production.py): imported last, as it builds on start_stack above.
from tests.e2e.production import audit, production_stack  # noqa: E402, F401
