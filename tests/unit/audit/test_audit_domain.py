"""The audit store's plain code: rows per subject, the canonical form and the chain, names, backoff."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from iko_audit.chain import GENESIS, HASHED_COLUMNS, ChainEntry, canonical, chained, row_hash, verify_chain
from iko_audit.holding import HeldTooLongError, Holder, ShuttingDownError, backoff_delays
from iko_audit.rows import disclosure_rows, stored_disclosure
from iko_audit.settings import AuditSettings, DatabaseNames, database_name, role_of, with_role
from iko_audit.store import RecordRefusedError

from tests.integration.audit_kit import PARTNER, PERSON, record


def stored(rows):
    """Rows as the store holds them: with the columns the database adds."""
    expires = datetime(2045, 1, 1, tzinfo=UTC)
    return chained([{**r, "expires_at": expires} for r in rows], GENESIS)


def test_one_row_per_subject_in_order_and_one_without_object_for_no_subject():
    rec = record(PERSON, PARTNER)
    rows = disclosure_rows(rec)
    assert [(r["ordinal"], r["soort_object_id"], r["object_id"], r["objecttype"]) for r in rows] == [
        (0, "bsn", PERSON, "natuurlijk persoon"),
        (1, "bsn", PARTNER, "natuurlijk persoon"),
    ]
    assert rows[1]["sources"] == [s.model_dump(mode="json") for s in rec.subjects[1].sources]
    [nobody] = disclosure_rows(record(kind="search", search={"filters": {"naam": "x"}}))
    assert (nobody["ordinal"], nobody["object_id"], nobody["soort_object_id"]) == (0, None, None)
    # Only the columns of the table; what the record holds beyond them (the disclosed list) is not kept twice.
    assert set(rows[0]) | {"expires_at", "prev_hash"} == set(HASHED_COLUMNS)


def test_a_stored_row_reads_back_as_a_stored_disclosure():
    rec = record(PERSON)
    [row] = stored(disclosure_rows(rec))
    disclosure = stored_disclosure({**row, "id": 7})
    assert (disclosure.id, disclosure.event_id, disclosure.identifier.value) == (7, rec.event_id, PERSON)
    assert disclosure.sources == rec.subjects[0].sources


def test_the_canonical_form_is_plain_sorted_json_with_utc_times():
    [row] = stored(
        disclosure_rows(
            record(PERSON, started_at=datetime(2025, 1, 2, 4, 4, 5, 6, tzinfo=timezone(timedelta(hours=1))))
        )
    )
    text = canonical(row).decode()
    content = json.loads(text)
    assert list(content) == sorted(HASHED_COLUMNS)
    assert content["started_at"] == "2025-01-02T03:04:05.000006+00:00"
    assert text == json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row["hash"] == hashlib.sha256(text.encode()).hexdigest()
    # The same moment in another zone, or as a naive UTC time, is the same content.
    naive = {**row, "started_at": row["started_at"].astimezone(UTC).replace(tzinfo=None)}
    assert row_hash(naive) == row_hash(row)


def test_the_chain_links_rows_and_any_change_shows():
    rows = stored(disclosure_rows(record(PERSON, PARTNER)) + disclosure_rows(record(PERSON)))
    assert rows[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    entries = [ChainEntry(i, r["prev_hash"], r["hash"], r) for i, r in enumerate(rows, start=1)]
    report = verify_chain(entries, anchor_id=2)
    assert (report.ok, report.rows, report.head_id, report.head_hash, report.anchor_hash) == (
        True,
        3,
        3,
        rows[2]["hash"],
        rows[1]["hash"],
    )

    changed = [
        *entries[:1],
        ChainEntry(2, rows[1]["prev_hash"], rows[1]["hash"], {**rows[1], "gebruiker": "x"}),
        entries[2],
    ]
    assert verify_chain(changed).broken.__dict__ == {"id": 2, "reason": "its content was changed"}
    missing = [entries[0], entries[2]]
    assert verify_chain(missing).broken.__dict__ == {"id": 3, "reason": "a row is missing before it"}
    # A purged row bridges: its recorded hashes stand in for its content.
    bridged = [entries[0], ChainEntry(2, rows[1]["prev_hash"], rows[1]["hash"]), entries[2]]
    assert (verify_chain(bridged).ok, verify_chain(bridged).purged) == (True, 1)
    # The first row missing is seen too: the second does not start from the genesis.
    assert verify_chain(entries[1:]).broken.id == 2


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("iko", "iko"),
        ("iko-test-e2e-1a2b3c4d", "iko_test_e2e_1a2b3c4d"),
        ("Bench.Run", "bench_run"),
        ("1st", "iko_1st"),
    ],
)
def test_database_names_are_plain_postgresql_identifiers(namespace, expected):
    assert database_name(namespace) == expected
    names = DatabaseNames.of(namespace)
    assert (names.owner, names.writer, names.purger) == (
        f"{expected}_owner",
        f"{expected}_writer",
        f"{expected}_purger",
    )


def test_a_long_namespace_is_cut_and_kept_apart():
    a, b = database_name("x" * 80 + "a"), database_name("x" * 80 + "b")
    assert a != b
    assert max(len(a), len(b)) + len("_purger") <= 63


def test_settings_derive_the_urls_from_the_namespace_on_the_admin_server(monkeypatch):
    monkeypatch.setenv("IKO_NAMESPACE", "iko-test-e2e-1a2b3c4d")
    for name in ("IKO_AUDIT_DATABASE_URL", "IKO_AUDIT_PURGE_URL", "IKO_AUDIT_OWNER_URL", "IKO_AUDIT_ADMIN_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = AuditSettings()
    db = "iko_test_e2e_1a2b3c4d"
    assert settings.audit_database_url == f"postgresql://{db}_writer@127.0.0.1:5432/{db}"
    assert settings.audit_purge_url == f"postgresql://{db}_purger@127.0.0.1:5432/{db}"
    assert settings.audit_owner_url == f"postgresql://{db}_owner@127.0.0.1:5432/{db}"
    monkeypatch.setenv("IKO_AUDIT_ADMIN_URL", "postgresql://postgres:secret@10.0.0.1:6543/postgres?sslmode=require")
    monkeypatch.setenv("IKO_AUDIT_DATABASE_URL", "postgresql://svc:pw@db/audit")
    settings = AuditSettings()
    assert settings.audit_database_url == "postgresql://svc:pw@db/audit"
    assert settings.audit_purge_url == f"postgresql://{db}_purger@10.0.0.1:6543/{db}?sslmode=require"
    assert role_of(settings.audit_database_url) == "svc"
    assert with_role("postgresql://a:b@h:1/d", "r", "x") == "postgresql://r@h:1/x"


def test_backoff_doubles_up_to_its_cap():
    delays = backoff_delays(0.1, 5.0)
    assert [round(next(delays), 2) for _ in range(9)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


async def test_the_holder_tries_until_it_works_gives_up_only_on_poison_or_at_shutdown():
    holder = Holder(first_s=0.001, cap_s=0.005)
    tries = []

    async def flaky():
        tries.append(1)
        if len(tries) < 5:
            raise OSError("down")
        return "stored"

    assert await holder.run(flaky) == "stored"
    assert len(tries) == 5

    async def refused():
        raise RecordRefusedError("DataError")

    with pytest.raises(RecordRefusedError):
        await holder.run(refused, give_up_on=(RecordRefusedError,))

    async def down():
        raise OSError("down")

    slow = Holder(first_s=10, cap_s=10)
    waiting = asyncio.create_task(slow.run(down))
    await asyncio.sleep(0.05)
    slow.stop()
    with pytest.raises(ShuttingDownError):
        await asyncio.wait_for(waiting, timeout=1)


async def test_the_holder_gives_a_message_back_after_its_hold_limit():
    holder = Holder(first_s=0.01, cap_s=0.01, hold_limit_s=0.05)

    async def down():
        raise OSError("down")

    with pytest.raises(HeldTooLongError):
        await asyncio.wait_for(holder.run(down), timeout=1)


async def test_an_outage_of_the_store_is_one_warning_for_every_record_held_through_it():
    import structlog

    holder = Holder(first_s=0.01, cap_s=0.02)
    up = asyncio.Event()

    async def store():
        if not up.is_set():
            raise OSError("connection refused")
        return "stored"

    with structlog.testing.capture_logs() as logs:
        held = [asyncio.create_task(holder.run(store, request_id=f"r{i}")) for i in range(20)]
        await asyncio.sleep(0.3)  # every record tried several times meanwhile
        up.set()
        assert await asyncio.gather(*held) == ["stored"] * 20
    events = [line["event"] for line in logs]
    assert events == ["audit.store.unavailable", "audit.store.recovered"], events
    assert logs[1]["failures"] >= 40
    assert "connection refused" not in str(logs), "the error's type only, not its message"
