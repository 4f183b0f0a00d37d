"""Tamper evidence and retention against the real PostgreSQL: what each role may do, the hash chain verified,
broken by a superuser's UPDATE and DELETE, bridged over purged rows."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
from iko_audit.cli import main
from iko_audit.purge import purge
from iko_audit.store import AuditStore
from iko_audit.verify import verify

from tests.integration.audit_kit import PARTNER, PERSON, provisioned, query, record, superuser

pytestmark = pytest.mark.integration


@pytest.fixture
async def audit(rabbitmq_url, redis_url):
    # A database per test: the tests below break its chain on purpose.
    async with provisioned(rabbitmq_url, redis_url, label="chain") as settings:
        yield settings


@pytest.fixture
async def store(audit):
    store = AuditStore(audit.audit_database_url)
    await store.open()
    yield store
    await store.close()


def tamper(audit, statement: str, params=None) -> None:
    with psycopg.connect(superuser(audit), autocommit=True) as conn:
        conn.execute(statement, params)


def ids(audit) -> list[int]:
    return [i for (i,) in query(audit.audit_database_url, "SELECT id FROM audit_disclosure ORDER BY id")]


def as_role(url: str, statement: str, params=None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).rowcount


def run_cli(audit, *args: str) -> tuple[int, dict]:
    """``python -m iko_audit`` as its own process, as an operator or a CronJob runs it."""
    env = {**os.environ, "IKO_NAMESPACE": audit.namespace, "IKO_AUDIT_ADMIN_URL": audit.audit_admin_url}
    done = subprocess.run(
        [sys.executable, "-m", "iko_audit", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return done.returncode, orjson.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def cli(audit, monkeypatch, capsys):
    """The same commands in this process (a process start costs seconds)."""
    monkeypatch.setenv("IKO_NAMESPACE", audit.namespace)
    monkeypatch.setenv("IKO_AUDIT_ADMIN_URL", audit.audit_admin_url)
    # Its logging setup would bind structlog for good to a stderr that pytest captures and closes.
    monkeypatch.setattr("iko_audit.cli.configure_logging", lambda *_args, **_kwargs: None)

    async def run(*args: str) -> tuple[int, dict]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        return code, orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])

    return run


async def test_the_writer_may_only_append_and_read(audit, store):
    assert await store.write(record(PERSON))
    writer = audit.audit_database_url
    for statement in (
        "UPDATE audit_disclosure SET gebruiker = 'someone else'",
        "DELETE FROM audit_disclosure",
        "TRUNCATE audit_disclosure",
        "INSERT INTO audit_purged (id, prev_hash, hash) VALUES (1, repeat('0', 64), repeat('0', 64))",
        "DELETE FROM audit_purged",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_role(writer, statement)
    assert len(ids(audit)) == 1


async def test_the_purger_deletes_only_expired_rows_and_cannot_forge_a_bridge(audit, store):
    assert await store.write(record(PERSON))
    [live] = ids(audit)
    purger = audit.audit_purge_url
    for statement in ("UPDATE audit_disclosure SET gebruiker = 'x'", "TRUNCATE audit_disclosure"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_role(purger, statement)
    # Row-level security: a record that has not expired is invisible to the purger's DELETE.
    assert as_role(purger, "DELETE FROM audit_disclosure") == 0
    # ... and a purge record for it (which would bridge its deletion by someone else) is refused.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role(
            purger,
            "INSERT INTO audit_purged (id, prev_hash, hash) SELECT id, prev_hash, hash FROM audit_disclosure",
        )
    # A --now past the database's own clock does not purge it either.
    assert purge(purger, now=datetime.now(UTC) + timedelta(days=365 * 30)) == 0
    assert ids(audit) == [live]


async def test_verify_finds_a_changed_row_and_a_missing_row(audit, store):
    for subjects in ((PERSON, PARTNER), (PERSON,), (PARTNER,), (PERSON,)):
        assert await store.write(record(*subjects))
    report = verify(audit.audit_database_url)
    assert (report.ok, report.rows, report.purged) == (True, 5, 0)
    first, second, third, _fourth, fifth = ids(audit)
    assert report.head_id == fifth

    tamper(audit, "UPDATE audit_disclosure SET doelbinding = 'iets anders' WHERE id = %s", [third])
    report = verify(audit.audit_database_url)
    assert report.broken is not None
    assert (report.broken.id, report.broken.reason) == (third, "its content was changed")

    # Set it back and the chain holds again: the hash is over the content, not the act of writing.
    tamper(audit, "UPDATE audit_disclosure SET doelbinding = 'wmo' WHERE id = %s", [third])
    assert verify(audit.audit_database_url).ok

    tamper(audit, "DELETE FROM audit_disclosure WHERE id = %s", [second])
    code, result = run_cli(audit, "verify")
    assert code == 1
    assert result["broken"] == {"id": third, "reason": "a row is missing before it"}
    assert first in ids(audit)


async def test_an_anchor_catches_the_newest_rows_cut_off(audit, store, cli):
    for _ in range(3):
        assert await store.write(record(PERSON))
    report = verify(audit.audit_database_url)
    anchor = f"{report.head_id}:{report.head_hash}"
    assert await store.write(record(PERSON))
    assert (await cli("verify", "--anchor", anchor))[0] == 0

    # Deleting the newest rows leaves a chain that is whole, only shorter: the anchor kept outside sees it.
    tamper(audit, "DELETE FROM audit_disclosure WHERE id >= %s", [report.head_id])
    assert verify(audit.audit_database_url).ok
    code, result = await cli("verify", "--anchor", anchor)
    assert code == 1
    assert result["anchor"] == {"id": report.head_id, "found": None}


async def test_purge_removes_expired_rows_and_the_chain_still_verifies(audit, store, cli):
    past = datetime.now(UTC) - timedelta(minutes=10)
    # Short and long retention interleaved, the newest of them short: the chain's head is then a purged row.
    kinds = ["PT1S", "P20Y", "PT1S", "PT1S", "P20Y", "PT1S"]
    written = [record(PERSON, PARTNER, bewaartermijn=b, started_at=past) for b in kinds]
    for rec in written:
        assert await store.write(rec)
    assert len(ids(audit)) == 12

    # As of a moment before any of them expired: nothing goes.
    assert purge(audit.audit_purge_url, now=past) == 0
    code, result = await cli("purge")
    assert (code, result["purged"]) == (0, 8)
    kept = {e for (e,) in query(audit.audit_database_url, "SELECT DISTINCT event_id FROM audit_disclosure")}
    assert kept == {r.event_id for r in written if r.bewaartermijn == "P20Y"}
    assert len(query(audit.audit_database_url, "SELECT id FROM audit_purged")) == 8

    report = verify(audit.audit_database_url)
    assert (report.ok, report.rows, report.purged) == (True, 4, 8)
    # A record written after the purge chains on the purged head.
    assert await store.write(record(PERSON))
    report = verify(audit.audit_database_url)
    assert (report.ok, report.rows) == (True, 5)
    assert purge(audit.audit_purge_url) == 0

    # A deletion nobody recorded is still seen, purged rows or not.
    kept_ids = ids(audit)
    tamper(audit, "DELETE FROM audit_disclosure WHERE id = %s", [kept_ids[1]])
    report = verify(audit.audit_database_url)
    assert report.broken is not None
    assert report.broken.id > kept_ids[1]
    assert report.broken.reason == "a row is missing before it"
