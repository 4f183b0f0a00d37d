"""Loads the mock persons once and answers lookups on the mapped v2 records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from iko_sandbox.brp.mapping import NameIndex, map_persoon
from iko_sandbox.paths import data_file

# Opschorting "F" (fout) and "W" (wissen) lists are never delivered by the real API.
UNDELIVERABLE_OPSCHORTING = ("F", "W")


@dataclass(frozen=True)
class PersonRecord:
    raw: dict[str, Any]
    v2: dict[str, Any]

    @property
    def bsn(self) -> str:
        return str(self.raw["burgerservicenummer"])

    @property
    def overleden(self) -> bool:
        return bool(self.raw.get("overlijden"))


class PersonRepository:
    def __init__(self, raw_records: list[dict[str, Any]], today: date | None = None) -> None:
        names = NameIndex(raw_records)
        day = today or date.today()
        self._records = [
            PersonRecord(raw=raw, v2=map_persoon(raw, names, day))
            for raw in raw_records
            if (raw.get("opschortingBijhouding") or {}).get("reden", {}).get("code") not in UNDELIVERABLE_OPSCHORTING
        ]
        self._by_bsn = {record.bsn: record for record in self._records}

    @classmethod
    def load(cls) -> PersonRepository:
        raw = orjson.loads(data_file("brp", "personen-mock-test-data.json").read_bytes())
        return cls(raw)

    def by_bsn(self, bsn: str) -> PersonRecord | None:
        return self._by_bsn.get(bsn)

    def all(self) -> list[PersonRecord]:
        return self._records
