"""What every floor role shares: names in the floor's namespace and the command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.sources import SOURCES

__all__ = ["SOURCES", "Names", "parser"]


@dataclass(frozen=True)
class Names:
    namespace: str

    @property
    def lookups(self) -> str:
        return f"{self.namespace}.lookups"

    @property
    def fragments(self) -> str:
        return f"{self.namespace}.fragments"

    @property
    def dead_letters(self) -> str:
        return f"{self.namespace}.dead-letters"

    def connector_queue(self, source: str) -> str:
        return f"{self.namespace}.connector.{source}"

    @property
    def assembler_requests(self) -> str:
        return f"{self.namespace}.assembler.requests"

    @property
    def assembler_fragments(self) -> str:
        return f"{self.namespace}.assembler.fragments"

    @property
    def audit(self) -> str:
        return f"{self.namespace}.audit"

    @property
    def audit_queue(self) -> str:
        return f"{self.namespace}.audit.records"

    def work_queues(self) -> list[str]:
        return [
            self.assembler_requests,
            self.assembler_fragments,
            self.audit_queue,
            *(self.connector_queue(s) for s in SOURCES),
        ]

    def redis_keys(self) -> list[str]:
        """deadlines, closed, outbox: the shared sorted sets; a request's hash is ``request_prefix + id``."""
        prefix = f"{self.namespace}:asm:"
        return [prefix + "deadlines", prefix + "closed", prefix + "outbox"]

    @property
    def request_prefix(self) -> str:
        return f"{self.namespace}:asm:req:"


def parser(role: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m bench.floor.{role}")
    p.add_argument("--namespace", required=True)
    p.add_argument("--rabbitmq-url", required=True)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--ready-file", type=Path, required=True)
    return p
