"""The audit database's schema and roles: migrations as the owner, and for development and tests a database and
three roles of a namespace's own, made and removed with a superuser.

PostgreSQL roles are cluster-wide, so every namespace gets its own: ``<db>_owner`` owns the tables and runs the
migrations, ``<db>_writer`` (the service) may only INSERT and SELECT, ``<db>_purger`` may SELECT, delete expired
rows and record them in ``audit_purged``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from iko_shared.logging import get_logger
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from iko_audit import sql as statements
from iko_audit.settings import AuditSettings, DatabaseNames, role_of

log = get_logger()

# Every session of the store computes and reads times in UTC: expires_at (started_at + bewaartermijn, a calendar
# interval) must not depend on a server's or a role's time zone.
SESSION_OPTIONS = "-c TimeZone=UTC"


def alembic_config() -> Config:
    # No alembic.ini: the migrations ship inside the package.
    config = Config()
    config.set_main_option("script_location", "iko_audit:migrations")
    return config


def migrate(owner_url: str, writer: str, purger: str) -> None:
    """Bring the schema to the newest revision as its owner, then grant the service and the purge job their
    privileges (idempotent: run it on every deploy)."""
    url = make_url(owner_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, poolclass=NullPool, connect_args={"options": SESSION_OPTIONS})
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    grants = sql.SQL(statements.load("grants")).format(writer=sql.Identifier(writer), purger=sql.Identifier(purger))
    with psycopg.connect(owner_url, autocommit=True) as connection:
        connection.execute(grants)
    log.info("audit.migrated", writer=writer, purger=purger)


def _ensure(admin: psycopg.Connection[Any], statement: sql.Composed) -> None:
    # Two provisioners at once (parallel test workers, replicas of the stack launcher) race on CREATE: the loser's
    # error only says the object is there, which is what it wanted.
    with contextlib.suppress(
        psycopg.errors.DuplicateObject, psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
    ):
        admin.execute(statement)


def provision(settings: AuditSettings) -> DatabaseNames:
    """The namespace's database and roles (idempotent), its schema at the newest revision, and the grants."""
    names = settings.names
    with psycopg.connect(settings.audit_admin_url, autocommit=True) as admin:
        for role in (names.owner, names.writer, names.purger):
            if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
                _ensure(admin, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [names.database]).fetchone() is None:
            _ensure(
                admin,
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(names.database), sql.Identifier(names.owner)
                ),
            )
        admin.execute(
            sql.SQL("REVOKE ALL ON DATABASE {db} FROM PUBLIC; GRANT CONNECT ON DATABASE {db} TO {w}, {p}").format(
                db=sql.Identifier(names.database), w=sql.Identifier(names.writer), p=sql.Identifier(names.purger)
            )
        )
    migrate(settings.audit_owner_url, role_of(settings.audit_database_url), role_of(settings.audit_purge_url))
    log.info("audit.provisioned", database=names.database)
    return names


def drop_namespace_database(admin_url: str, namespace: str) -> None:
    """Remove the namespace's audit database and its three roles, closing whatever is still connected to it
    (a test's teardown, ``python -m iko_audit drop``). Missing ones are fine."""
    names = DatabaseNames.of(namespace)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [names.database],
        )
        # FORCE: a pool that reconnected in between is closed too.
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names.database)))
        for role in (names.writer, names.purger, names.owner):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    log.info("audit.dropped", database=names.database)
