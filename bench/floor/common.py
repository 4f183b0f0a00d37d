"""What every floor role shares: names in the floor's namespace, the command line, readiness, the fragment."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import orjson

SOURCES = ("brp", "zgw")
# A fixed small fragment, about the size of a BRP person with a handful of fields.
FRAGMENT_DATA = orjson.dumps(
    {
        "burgerservicenummer": "999993653",
        "naam": {"voornamen": "Suzanne", "geslachtsnaam": "Moulin", "volledigeNaam": "Suzanne Moulin"},
        "geboorte": {"datum": {"type": "Datum", "datum": "1983-05-26"}},
        "verblijfplaats": {"straat": "Spui", "huisnummer": 70, "postcode": "2511BT", "woonplaats": "'s-Gravenhage"},
    }
)


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

    def work_queues(self) -> list[str]:
        return [self.assembler_requests, self.assembler_fragments, *(self.connector_queue(s) for s in SOURCES)]

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
