"""What the scenarios need of a system under test, whichever of the three it is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from bench.loadgen import Target

LOOKUP_PATH = "/api/v1/profiles/persoon/lookups"
BSN = "999993653"
DEV_HEADERS = (("X-API-Key", "iko-dev-key"), ("x-doelbinding", "demo"))


@dataclass(frozen=True)
class Infra:
    """Where RabbitMQ and Redis are (the services' own variables, else this machine's defaults)."""

    rabbitmq_url: str
    redis_url: str

    @classmethod
    def from_env(cls) -> Infra:
        return cls(
            os.environ.get("IKO_RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/",
            os.environ.get("IKO_REDIS_URL") or "redis://127.0.0.1:6379/0",
        )


def lookup_body(timeout_ms: int | None = None) -> bytes:
    timeout = f', "timeout_ms": {timeout_ms}' if timeout_ms is not None else ""
    return f'{{"identifier": {{"type": "bsn", "value": "{BSN}"}}{timeout}}}'.encode()


def complete(status: int, body: bytes) -> bool:
    """A good answer: 200, ``complete``, and no source answered with an error or timed out."""
    return (
        status == 200
        and b'"status":"complete"' in body
        and b'"status":"error"' not in body
        and b'"status":"timeout"' not in body
    )


class System(Protocol):
    name: str

    def target(self, timeout_ms: int | None = None, keep_bodies: bool = False) -> Target: ...

    def cpu_groups(self) -> dict[str, list[int]]:
        """The processes of the system under test by role, RabbitMQ and Redis included where it uses them."""
        ...

    def source_pids(self) -> list[int]: ...

    async def set_latency(self, latency_ms: int) -> None: ...

    async def stop(self) -> None: ...
