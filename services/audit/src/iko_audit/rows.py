"""An audit record as the store keeps it: one row per data subject disclosed, shaped for "who saw this subject"."""

from __future__ import annotations

from typing import Any

from iko_shared.contracts import AuditRecorded, DisclosedSource, Identifier, StoredDisclosure
from iko_shared.identifiers import objecttype


def _sources(sources: list[DisclosedSource]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in sources]


def disclosure_rows(record: AuditRecorded) -> list[dict[str, Any]]:
    """One row per subject, in the record's order (``ordinal``). A record that names no subject (a search
    without rows, a lookup that failed) still gets one row, without an object, so that the access is on record;
    that row's sources are what the record says was asked.

    The chain columns (``expires_at``, ``prev_hash``, ``hash``) are the store's to add. Nothing of the record
    beyond the identifiers and what was disclosed of whom is kept.
    """
    common: dict[str, Any] = {
        "event_id": record.event_id,
        "request_id": record.request_id,
        "kind": record.kind,
        "profile": record.profile,
        "verwerkingsactiviteit": record.verwerkingsactiviteit,
        "doelbinding": record.doelbinding,
        "verwerking": record.verwerking,
        "vertrouwelijkheid": record.vertrouwelijkheid,
        "bewaartermijn": record.bewaartermijn,
        "uitvoerder": record.uitvoerder,
        "systeem": record.systeem,
        "gebruiker": record.gebruiker,
        "subject": record.subject,
        "client": record.client,
        "caller_kind": record.caller_kind,
        "roles": list(record.roles),
        "search": record.search,
        "outcome": record.outcome,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
    }
    if not record.subjects:
        return [
            {
                **common,
                "ordinal": 0,
                "objecttype": None,
                "soort_object_id": None,
                "object_id": None,
                "sources": _sources(record.disclosed),
            }
        ]
    return [
        {
            **common,
            "ordinal": ordinal,
            "objecttype": objecttype(subject.identifier.type),
            "soort_object_id": subject.identifier.type,
            "object_id": subject.identifier.value,
            "sources": _sources(subject.sources),
        }
        for ordinal, subject in enumerate(record.subjects)
    ]


def stored_disclosure(row: dict[str, Any]) -> StoredDisclosure:
    """A stored row as the inzage answer shows it."""
    identifier = None
    if row["soort_object_id"] is not None and row["object_id"] is not None:
        identifier = Identifier(type=row["soort_object_id"], value=row["object_id"])
    return StoredDisclosure(
        id=row["id"],
        event_id=row["event_id"],
        request_id=row["request_id"],
        kind=row["kind"],
        profile=row["profile"],
        verwerkingsactiviteit=row["verwerkingsactiviteit"],
        doelbinding=row["doelbinding"],
        verwerking=row["verwerking"],
        vertrouwelijkheid=row["vertrouwelijkheid"],
        bewaartermijn=row["bewaartermijn"],
        uitvoerder=row["uitvoerder"],
        systeem=row["systeem"],
        gebruiker=row["gebruiker"],
        subject=row["subject"],
        client=row["client"],
        caller_kind=row["caller_kind"],
        roles=list(row["roles"]),
        identifier=identifier,
        sources=[DisclosedSource.model_validate(s) for s in row["sources"]],
        search=row["search"],
        outcome=row["outcome"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )
