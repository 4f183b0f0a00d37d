"""IKO's audit store: the records of who saw whose data, in PostgreSQL, append-only and hash-chained."""

from iko_audit.provision import drop_namespace_database

__all__ = ["drop_namespace_database"]
