"""``python -m iko_audit [serve|purge|verify|migrate|provision|drop]``: the service and its operator commands.

Settings come from the environment (``AuditSettings``); each command prints one JSON line on stdout and logs on
stderr. Exit 0: done; 1: the chain is broken (verify); 2: the database could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

import orjson
import psycopg
from iko_shared.logging import configure_logging

from iko_audit.settings import AuditSettings, role_of


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2030-01-01T00:00:00+00:00")
    return moment


def _anchor(text: str) -> tuple[int, str]:
    id_, sep, hash_ = text.partition(":")
    if not sep or not id_.isdigit() or len(hash_) != 64:
        raise argparse.ArgumentTypeError("an anchor is ID:HASH, as verify printed it (head_id:head_hash)")
    return int(id_), hash_


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m iko_audit", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command")
    commands.add_parser("serve", help="consume the audit records and inzage requests (the default)")
    purge = commands.add_parser("purge", help="delete rows past their bewaartermijn (IKO_AUDIT_PURGE_URL)")
    purge.add_argument("--now", type=_moment, help="purge as of this moment (never later than the database's clock)")
    purge.add_argument("--batch", type=int, default=5000, help="rows per transaction")
    verify = commands.add_parser("verify", help="check the hash chain (IKO_AUDIT_DATABASE_URL)")
    verify.add_argument(
        "--anchor",
        type=_anchor,
        help="ID:HASH of a head printed by an earlier verify, kept outside the database: it must still be there",
    )
    commands.add_parser("migrate", help="migrate the schema as the owner (IKO_AUDIT_OWNER_URL) and grant the roles")
    commands.add_parser("provision", help="create the namespace's database and roles, then migrate (admin URL)")
    commands.add_parser("drop", help="drop the namespace's database and roles (admin URL)")
    return top


def _print(result: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "serve"
    settings = AuditSettings()
    if command == "serve":
        from iko_audit.app import serve

        serve(settings)
        return 0
    configure_logging("audit", settings.log_level)
    try:
        return _run(command, args, settings)
    except psycopg.OperationalError as exc:
        # The class only: libpq's message names hosts and users, never the data, but keep to one rule.
        _print(
            {
                "command": command,
                "ok": False,
                "error": f"the audit database could not be reached ({type(exc).__name__})",
            }
        )
        return 2


def _run(command: str, args: argparse.Namespace, settings: AuditSettings) -> int:
    from iko_audit import provision

    if command == "purge":
        from iko_audit.purge import purge

        _print(
            {"command": "purge", "ok": True, "purged": purge(settings.audit_purge_url, now=args.now, batch=args.batch)}
        )
        return 0
    if command == "verify":
        from iko_audit.verify import verify

        anchor_id, anchor_hash = args.anchor or (None, None)
        report = verify(settings.audit_database_url, anchor_id)
        result: dict[str, Any] = {
            "command": "verify",
            "ok": report.ok,
            "rows": report.rows,
            "purged": report.purged,
            "head_id": report.head_id,
            "head_hash": report.head_hash,
        }
        if report.broken is not None:
            result["broken"] = {"id": report.broken.id, "reason": report.broken.reason}
            sys.stderr.write(f"the audit chain is broken at row {report.broken.id}: {report.broken.reason}\n")
        elif anchor_id is not None and report.anchor_hash != anchor_hash:
            result["ok"] = False
            result["anchor"] = {"id": anchor_id, "found": report.anchor_hash}
            sys.stderr.write(
                f"the anchor {anchor_id} is {'changed' if report.anchor_hash else 'gone'}: "
                "rows at or before it were removed or the chain rewritten\n"
            )
        _print(result)
        return 0 if result["ok"] else 1
    if command == "migrate":
        provision.migrate(
            settings.audit_owner_url, role_of(settings.audit_database_url), role_of(settings.audit_purge_url)
        )
        _print({"command": "migrate", "ok": True})
        return 0
    if command == "provision":
        names = provision.provision(settings)
        _print({"command": "provision", "ok": True, "database": names.database})
        return 0
    if command == "drop":
        provision.drop_namespace_database(settings.audit_admin_url, settings.namespace)
        _print({"command": "drop", "ok": True, "database": settings.names.database})
        return 0
    raise AssertionError(command)
