"""``python -m iko_audit purge``: delete the rows whose retention (bewaartermijn) has passed, keeping each one's
place in the chain in ``audit_purged`` first, in batches of one transaction each."""

from __future__ import annotations

from datetime import datetime

import psycopg

from iko_audit import sql
from iko_audit.provision import SESSION_OPTIONS

PURGE_LOCK = 0x494B4F_A0D18


def purge(url: str, *, now: datetime | None = None, batch: int = 5000) -> int:
    """Purge what has expired by ``now`` (default: the database's clock; the database never lets a row go before
    its own clock says it expired, whatever ``now`` says). Returns how many rows were purged; 0 as well when
    another purge holds the lock."""
    purged = 0
    with psycopg.connect(url, options=SESSION_OPTIONS) as conn:
        while True:
            with conn.transaction():
                locked = conn.execute(sql.load("purge_lock"), {"key": PURGE_LOCK}).fetchone()
                if not (locked and locked[0]):
                    return purged
                ids = [
                    row[0] for row in conn.execute(sql.load("purge_bridge"), {"now": now, "batch": batch}).fetchall()
                ]
                if ids and conn.execute(sql.load("purge_delete"), {"ids": ids}).rowcount != len(ids):
                    # Recorded as purged but not deleted: a bridge over a row still there. Roll back.
                    raise RuntimeError("the purge deleted other rows than it recorded")
            purged += len(ids)
            if len(ids) < batch:
                return purged
