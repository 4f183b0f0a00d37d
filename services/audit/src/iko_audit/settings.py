"""The audit service's settings and the names of a namespace's audit database and roles."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from iko_shared.settings import CommonSettings
from pydantic import model_validator

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# PostgreSQL cuts identifiers at 63 bytes; the longest role suffix ("_purger") must still fit.
_MAX_DATABASE_NAME = 63 - len("_purger")


def database_name(namespace: str) -> str:
    """The namespace as an identifier PostgreSQL takes unquoted: ``iko-test-e2e-1a2b`` -> ``iko_test_e2e_1a2b``."""
    name = re.sub(r"[^a-z0-9_]", "_", namespace.lower())
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = f"iko_{name}"
    if len(name) > _MAX_DATABASE_NAME:
        # Cut, but keep namespaces that share a long prefix apart.
        digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
        name = f"{name[: _MAX_DATABASE_NAME - 9]}_{digest}"
    return name


@dataclass(frozen=True)
class DatabaseNames:
    """One namespace's audit database and its three roles (roles are cluster-wide: each namespace has its own)."""

    database: str
    owner: str
    writer: str
    purger: str

    @classmethod
    def of(cls, namespace: str) -> DatabaseNames:
        db = database_name(namespace)
        return cls(database=db, owner=f"{db}_owner", writer=f"{db}_writer", purger=f"{db}_purger")


def with_role(url: str, role: str, database: str) -> str:
    """``url``'s server (host, port, query options) reached as ``role`` in ``database``, without a password."""
    parts = urlsplit(url)
    server = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{role}@{server}", f"/{database}", parts.query, ""))


def with_database(url: str, database: str) -> str:
    """``url`` (its user and password too) in another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def role_of(url: str) -> str:
    user = urlsplit(url).username
    if not user:
        raise ValueError("the database URL names no user")
    return user


class AuditSettings(CommonSettings):
    """Empty URLs are derived from the namespace, on the admin URL's server: a test or a second stack that sets
    only ``IKO_NAMESPACE`` (and ``IKO_AUDIT_ADMIN_URL`` for another server) gets a database of its own."""

    # The service's own connection: a role that may only INSERT and SELECT.
    audit_database_url: str = ""
    # ``python -m iko_audit purge``: a role that may delete rows and record them as purged.
    audit_purge_url: str = ""
    # Migrations: the role that owns the tables.
    audit_owner_url: str = ""
    # A superuser, for ``provision`` and ``drop`` (development and tests only).
    audit_admin_url: str = DEFAULT_ADMIN_URL
    audit_prefetch: int = 32
    # A record held this long while the database is down goes back to the queue (and comes again): below
    # RabbitMQ's consumer_timeout, which would otherwise close the channel over it.
    audit_hold_s: float = 600.0

    @model_validator(mode="after")
    def _derive_urls(self) -> Self:
        names = self.names
        self.audit_database_url = self.audit_database_url or with_role(
            self.audit_admin_url, names.writer, names.database
        )
        self.audit_purge_url = self.audit_purge_url or with_role(self.audit_admin_url, names.purger, names.database)
        self.audit_owner_url = self.audit_owner_url or with_role(self.audit_admin_url, names.owner, names.database)
        return self

    @property
    def names(self) -> DatabaseNames:
        return DatabaseNames.of(self.namespace)
