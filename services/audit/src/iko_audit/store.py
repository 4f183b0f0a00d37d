"""The audit store in PostgreSQL (psycopg 3, async, one connection pool): append a record to the chain, read a
data subject's disclosures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from iko_shared.contracts import AuditRecorded, Identifier, StoredDisclosure
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from iko_audit import sql
from iko_audit.chain import GENESIS, chained
from iko_audit.provision import SESSION_OPTIONS
from iko_audit.rows import disclosure_rows, stored_disclosure

# pg_advisory_xact_lock key of the chain's writers (each namespace has a database of its own).
CHAIN_LOCK = 0x494B4F_A0D17


class RecordRefusedError(Exception):
    """The database refuses the record's content (a NUL character, a bewaartermijn that is no interval, a time
    beyond its range): it will never be stored as it is, so it is poison, not an outage."""


class AuditStore:
    def __init__(self, url: str, *, max_size: int = 4, connect_timeout_s: float = 5.0) -> None:
        # ``check``: a connection that died while idle (the server restarted) is replaced before it is handed out,
        # so the first write after an outage does not fail on a stale connection.
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            kwargs={"options": SESSION_OPTIONS, "connect_timeout": max(1, round(connect_timeout_s))},
            check=AsyncConnectionPool.check_connection,
            name="audit-store",
        )

    async def open(self) -> None:
        # Without waiting: the service starts (and holds its records) while the database is still down.
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def write(self, record: AuditRecorded, *, timeout_s: float = 5.0) -> bool:
        """Append the record's rows to the chain in one transaction; False when it was stored before.

        Raises ``RecordRefusedError`` for content the database will never take; any other error means the
        store is unavailable (connection, pool timeout) and the write may be tried again.
        """
        rows = disclosure_rows(record)
        try:
            async with self._pool.connection(timeout=timeout_s) as conn, conn.transaction():
                await conn.execute(sql.load("chain_lock"), {"key": CHAIN_LOCK})
                values = [row["sources"] for row in rows] + [record.search]
                cursor = await conn.execute(
                    sql.load("prepare_record"),
                    {
                        "event_id": record.event_id,
                        "started_at": record.started_at,
                        "bewaartermijn": record.bewaartermijn,
                        "values": Jsonb(values),
                    },
                )
                prepared = await cursor.fetchone()
                assert prepared is not None
                stored, head, expires_at, normalised = prepared
                if stored:
                    return False
                for row, sources in zip(rows, normalised[:-1], strict=True):
                    row["sources"] = sources
                    row["search"] = normalised[-1]
                    row["expires_at"] = expires_at
                linked = chained(rows, head or GENESIS)
                async with conn.cursor() as insert:
                    await insert.executemany(sql.load("insert_disclosure"), [_params(row) for row in linked])
        except (psycopg.DataError, UnicodeError) as exc:
            raise RecordRefusedError(type(exc).__name__) from exc
        return True

    async def inzage(self, identifier: Identifier, page: int, page_size: int, *, timeout_s: float) -> InzagePage:
        """One page of the disclosures about ``identifier``, newest first, and how many there are."""
        params = {
            "type": identifier.type,
            "value": identifier.value,
            "limit": page_size,
            "offset": (page - 1) * page_size,
        }
        async with (
            self._pool.connection(timeout=timeout_s) as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cursor,
        ):
            # One snapshot for the total and the page.
            await cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            await cursor.execute(sql.load("inzage_total"), params)
            total_row = await cursor.fetchone()
            await cursor.execute(sql.load("inzage_page"), params)
            found = await cursor.fetchall()
        total = int(total_row["count"]) if total_row else 0
        return InzagePage(total=total, disclosures=[stored_disclosure(row) for row in found])


@dataclass(frozen=True)
class InzagePage:
    total: int
    disclosures: list[StoredDisclosure]


def _params(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "sources": Jsonb(row["sources"]),
        "search": Jsonb(row["search"]) if row["search"] is not None else None,
    }
