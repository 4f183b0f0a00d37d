"""The IKO pipeline itself: the whole stack as OS processes (``scripts/iko_stack.py``) in a namespace of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from redis.asyncio import Redis

from bench import processes
from bench.cpu import infrastructure_pids
from bench.loadgen import Target
from bench.sandbox import set_behaviour, set_latency
from bench.system import DEV_HEADERS, Infra, complete, lookup_body

sys.path.insert(0, str(processes.ROOT / "scripts"))

from iko_stack import Stack, StackError, registered_sources  # scripts/ is not a package: on the path above

SOURCES = ("brp", "zgw")
SHIPPED_PROFILES = processes.ROOT / "deploy" / "config" / "profiles"
BENCH_PROFILES = processes.ROOT / "bench" / "profiles"
# The two-source lookup the floor and the direct fan-out make too (bench/profiles/bench-persoon.yaml).
PROFILE = "bench-persoon"
PIPELINE_LOOKUP_PATH = f"/api/v1/profiles/{PROFILE}/lookups"


def profiles_dir(target: Path) -> Path:
    """The shipped profiles and the benchmark's own (``bench/profiles``) in one folder, for ``IKO_PROFILES_DIR``."""
    target.mkdir(parents=True, exist_ok=True)
    for folder in (SHIPPED_PROFILES, BENCH_PROFILES):
        for profile in sorted(folder.glob("*.yaml")):
            shutil.copyfile(profile, target / profile.name)
    return target


class PipelineSystem:
    def __init__(
        self,
        infra: Infra,
        run_dir: Path,
        *,
        log_level: str = "WARNING",
        connector_replicas: int = 1,
        extra_env: Mapping[str, str] | None = None,
        label: str = "pipeline",
        coalescing: bool = False,
    ) -> None:
        self.name = label
        self.infra = infra
        self.namespace = f"bench-{label}-{uuid.uuid4().hex[:8]}"
        gateway = processes.free_port()
        # Every registered source's simulator runs (the stack starts them all), each on a free port.
        simulators = {source.name: processes.free_port() for source in registered_sources()}
        profiles = profiles_dir(run_dir / self.namespace / "profiles")
        self.stack = Stack(
            self.namespace,
            gateway_port=gateway,
            sandbox_ports=simulators,
            connector_replicas=connector_replicas,
            dev_mode=True,
            run_dir=run_dir / self.namespace,
            extra_env={
                "IKO_RABBITMQ_URL": infra.rabbitmq_url,
                "IKO_REDIS_URL": infra.redis_url,
                "IKO_GATEWAY_RATE_LIMIT_PER_MINUTE": "0",
                # Every simulated caller uses the one dev key: the per-caller cap would refuse the ladders' load.
                "IKO_GATEWAY_MAX_IN_FLIGHT_PER_CALLER": "0",
                "IKO_LOG_LEVEL": log_level,
                # A hanging source must keep being asked, so the deadline (not an open circuit) ends its lookups.
                "IKO_CONNECTOR_CIRCUIT_FAILURES": "1000",
                "IKO_PROFILES_DIR": str(profiles),
                # The load generator sends one lookup over and over: with coalescing on, the identical calls in
                # flight at once would share pipeline runs, and the figures would be of fewer runs than lookups.
                # Only the Valtimo tab, which measures coalescing, turns it on.
                **({} if coalescing else {"IKO_GATEWAY_COALESCE_TOLERANCE_MS": "0"}),
                **(extra_env or {}),
            },
        )
        self.port = gateway
        self.start_failures: list[str] = []

    async def start(self) -> None:
        """Start the stack (its services retry a start that RabbitMQ refused); on failure leave nothing behind."""
        try:
            await asyncio.to_thread(self.stack.start)
        except StackError as exc:
            self.start_failures.append(str(exc).splitlines()[0])
            await drop_namespace(self.infra, self.namespace)
            raise

    @property
    def sandbox_urls(self) -> dict[str, str]:
        return {s: self.stack.sandbox_urls[s] for s in SOURCES}

    def target(self, timeout_ms: int | None = None, keep_bodies: bool = False) -> Target:
        path = PIPELINE_LOOKUP_PATH
        return Target("127.0.0.1", self.port, path, lookup_body(timeout_ms), DEV_HEADERS, complete, keep_bodies)

    def cpu_groups(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for record in self.stack.records():
            if not record.name.startswith("sandbox-"):
                groups.setdefault(record.name, []).append(record.pid)
        groups.update(infrastructure_pids())
        return groups

    def source_pids(self) -> list[int]:
        return [r.pid for r in self.stack.records() if r.name.startswith("sandbox-")]

    async def set_latency(self, latency_ms: int) -> None:
        await set_latency(self.sandbox_urls, latency_ms)

    async def hang(self, source: str) -> None:
        await set_behaviour({source: self.stack.sandbox_urls[source]}, {"mode": "hang"})

    async def reset(self) -> None:
        await set_behaviour(self.sandbox_urls, None)

    async def request_keys(self) -> int:
        """Request hashes of this namespace left in Redis (``<ns>:asm:req:*``)."""
        return len(await self.namespace_keys(f"{self.namespace}:asm:req:*"))

    async def namespace_keys(self, pattern: str | None = None) -> list[str]:
        redis = Redis.from_url(self.infra.redis_url, decode_responses=True)
        try:
            return sorted([k async for k in redis.scan_iter(match=pattern or f"{self.namespace}:*", count=1000)])
        finally:
            await redis.aclose()

    async def stop(self) -> None:
        await asyncio.to_thread(self.stack.stop)
        await drop_namespace(self.infra, self.namespace)


async def drop_namespace(infra: Infra, namespace: str) -> None:
    """Every queue, exchange, Redis key, audit database and role the stack's namespace may have made."""
    from iko_audit import drop_namespace_database
    from iko_audit.settings import DEFAULT_ADMIN_URL
    from iko_shared.namespace import drop_namespace as drop

    await drop(infra.rabbitmq_url, infra.redis_url, namespace)
    admin_url = os.environ.get("IKO_AUDIT_ADMIN_URL") or DEFAULT_ADMIN_URL
    await asyncio.to_thread(drop_namespace_database, admin_url, namespace)
