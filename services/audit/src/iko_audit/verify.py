"""``python -m iko_audit verify``: walk the stored chain and the purge records in id order."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iko_audit import sql
from iko_audit.chain import ChainEntry, ChainReport, verify_chain
from iko_audit.provision import SESSION_OPTIONS


def _stored(conn: psycopg.Connection[Any]) -> Iterator[ChainEntry]:
    # A server-side cursor: the chain is read in pieces, never held in memory whole.
    with conn.cursor("audit_chain", row_factory=dict_row) as cursor:
        cursor.itersize = 2000
        cursor.execute(sql.load("chain_rows"))
        for row in cursor:
            yield ChainEntry(id=row["id"], prev_hash=row["prev_hash"], hash=row["hash"], row=row)


def _purged(conn: psycopg.Connection[Any]) -> Iterator[ChainEntry]:
    with conn.cursor("audit_purged_chain") as cursor:
        cursor.itersize = 10000
        cursor.execute(sql.load("purged_rows"))
        for id_, prev_hash, hash_ in cursor:
            yield ChainEntry(id=id_, prev_hash=prev_hash, hash=hash_)


def verify(url: str, anchor_id: int | None = None) -> ChainReport:
    """The chain as one consistent snapshot: a purge or a write running meanwhile is either seen whole or not."""
    with psycopg.connect(url, options=SESSION_OPTIONS) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            # A row both stored and recorded as purged cannot be made by the purge (one transaction deletes
            # what it records); should it be there, the stored row is the one checked.
            merged = heapq.merge(_stored(conn), _purged(conn), key=lambda e: (e.id, e.row is None))
            return verify_chain(_first_per_id(merged), anchor_id)


def _first_per_id(entries: Iterator[ChainEntry]) -> Iterator[ChainEntry]:
    last: int | None = None
    for entry in entries:
        if entry.id != last:
            yield entry
        last = entry.id
