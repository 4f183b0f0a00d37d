"""The hash chain that makes the audit store tamper-evident.

Every row carries ``hash = sha256(canonical(row))``, where the canonical form covers every column but ``id``,
``hash`` and ``recorded_at`` — ``prev_hash`` included, which is the hash of the row before it in id order (64
zeros for the first). Changing a row breaks its own hash; deleting one breaks the link of the row after it. The
purge job keeps the (id, prev_hash, hash) of each row it deletes in ``audit_purged``, so the chain bridges those.

The canonical form is JSON of the columns by name, keys sorted, no whitespace, UTF-8, timestamps as ISO 8601 in
UTC with microseconds (``2025-01-02T03:04:05.000006+00:00``), null for a missing value: anyone can recompute it
from a row with any JSON library.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

# Every column of audit_disclosure but id, hash and recorded_at (the store's own clock, not the record's).
HASHED_COLUMNS = (
    "event_id",
    "ordinal",
    "request_id",
    "kind",
    "profile",
    "verwerkingsactiviteit",
    "doelbinding",
    "verwerking",
    "vertrouwelijkheid",
    "bewaartermijn",
    "uitvoerder",
    "systeem",
    "gebruiker",
    "subject",
    "client",
    "caller_kind",
    "roles",
    "objecttype",
    "soort_object_id",
    "object_id",
    "sources",
    "search",
    "outcome",
    "started_at",
    "ended_at",
    "expires_at",
    "prev_hash",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        # A naive time is taken as UTC, as the store's sessions (TimeZone=UTC) take it.
        moment = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="microseconds")
    return value


def canonical(row: Mapping[str, Any]) -> bytes:
    content = {column: _plain(row[column]) for column in HASHED_COLUMNS}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def chained(rows: Iterable[Mapping[str, Any]], prev_hash: str) -> list[dict[str, Any]]:
    """The rows, in order, each with its ``prev_hash`` and ``hash``, continuing the chain after ``prev_hash``."""
    out = []
    for row in rows:
        linked = {**row, "prev_hash": prev_hash}
        linked["hash"] = prev_hash = row_hash(linked)
        out.append(linked)
    return out


@dataclass(frozen=True)
class ChainEntry:
    """One link in id order: a stored row (``row`` set) or a purged one (only its recorded hashes)."""

    id: int
    prev_hash: str
    hash: str
    row: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ChainBreak:
    id: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    purged: int
    head_id: int | None
    head_hash: str
    broken: ChainBreak | None = None
    # The hash the chain holds for the id an operator kept outside the database (an anchor); None: not there.
    anchor_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(entries: Iterable[ChainEntry], anchor_id: int | None = None) -> ChainReport:
    """Walk the chain in id order and stop at the first broken link.

    A stored row whose recomputed hash differs from its ``hash`` was changed; a row or bridge whose
    ``prev_hash`` is not the hash before it has a row missing before it (deleted without a purge record).
    """
    expected = GENESIS
    rows = purged = 0
    head_id: int | None = None
    anchor_hash: str | None = None
    for entry in entries:
        if entry.prev_hash != expected:
            return ChainReport(rows, purged, head_id, expected, ChainBreak(entry.id, "a row is missing before it"))
        if entry.row is not None:
            if row_hash({**entry.row, "prev_hash": entry.prev_hash}) != entry.hash:
                return ChainReport(rows, purged, head_id, expected, ChainBreak(entry.id, "its content was changed"))
            rows += 1
        else:
            purged += 1
        expected, head_id = entry.hash, entry.id
        if entry.id == anchor_id:
            anchor_hash = entry.hash
    return ChainReport(rows, purged, head_id, expected, anchor_hash=anchor_hash)
