"""Message contracts: what travels between the gateway, the connectors and the assembler.

Every message carries ``schema_version``; a consumer rejects a version it does not accept rather than guess.

Rolling upgrades run old and new replicas side by side, so the contracts evolve by two rules:

- a consumer ignores fields it does not know: adding an optional field is no break, and an older replica reads a
  newer replica's message (``Contract`` ignores extra fields);
- a change that breaks a contract (a field removed, renamed or retyped, a meaning changed) bumps
  ``SCHEMA_VERSION``, and consumers keep accepting the previous version (``ACCEPTED_SCHEMA_VERSIONS``) for at least
  one release, so that every replica is upgraded before the old version is dropped.
Times are epoch seconds (float) where code computes with them, ISO 8601 where a person reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from iko_shared.identifiers import IdentifierType

# The version this build writes, and the versions it reads (the previous one too, after a breaking change).
SCHEMA_VERSION = 1
ACCEPTED_SCHEMA_VERSIONS = frozenset({1})


def _accepted_version(version: int) -> int:
    if version not in ACCEPTED_SCHEMA_VERSIONS:
        accepted = ", ".join(str(v) for v in sorted(ACCEPTED_SCHEMA_VERSIONS))
        raise ValueError(f"schema_version {version} is not accepted by this build (accepted: {accepted})")
    return version


SchemaVersion = Annotated[
    int,
    AfterValidator(_accepted_version),
    WithJsonSchema({"type": "integer", "enum": sorted(ACCEPTED_SCHEMA_VERSIONS)}),
]

FragmentStatus = Literal["ok", "not_found", "error"]
SourceStatus = Literal["ok", "not_found", "error", "timeout"]


class Contract(BaseModel):
    # Fields a newer replica added are ignored, not refused: see the module's rules for rolling upgrades.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Identifier(Contract):
    type: IdentifierType
    value: str


class SubjectRule(Contract):
    """Whom a source's answer is about when that is not the identifier it was asked with (the residents a search by
    an address finds): ``select`` (jq over the fragment's data) gives one identifier value per subject. Read by the
    gateway's audit; the assembler and the connectors pass it by."""

    type: IdentifierType
    select: str


class SourceQuery(Contract):
    """One fetch the request expects: ``key`` names its slot in the answer, ``source`` the connector."""

    key: str
    source: str
    operation: str
    fields: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    # Whom this query is about, when not the request's identifier (the follow-ups of a relation).
    identifier: Identifier | None = None
    # Whom its answer is about, when the answer names them itself (see SubjectRule).
    subjects: SubjectRule | None = None


class RelationPlan(Contract):
    """A follow-up the assembler runs when the fragment at ``from_key`` arrives: ``select`` (jq) picks the
    identifiers, and each one gets the ``queries`` (their keys local to the branch) and nested relations."""

    name: str
    from_key: str
    select: str
    identifier_type: IdentifierType
    queries: list[SourceQuery]
    max_fanout: int = 50
    relations: list[RelationPlan] = Field(default_factory=list)


class RequestContext(Contract):
    """Why and for whom data is fetched: sent on to the sources as their protocol headers (BRP)."""

    doelbinding: str | None = None
    verwerking: str | None = None
    gebruiker: str | None = None
    # Who asks, as an opaque token (the gateway's caller key: client and end user): the connectors use it to
    # tell callers apart (a source failure counts against the source only when more than one caller meets it).
    # Never sent to a source.
    caller: str | None = None


class LookupRequested(Contract):
    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str
    profile: str
    # None for a search, whose criteria travel in the queries' params.
    identifier: Identifier | None
    queries: list[SourceQuery]
    context: RequestContext = Field(default_factory=RequestContext)
    # The relation tree of the profile: the request describes itself, so the assembler needs no profiles.
    relations: list[RelationPlan] = Field(default_factory=list)
    # jq over the assembled answer, giving its ``view``; None gives the sources' data as they are.
    transform: str | None = None
    # The gateway streams this request: the assembler forwards every fragment as it records it.
    stream: bool = False
    requested_at: float
    deadline: float
    # Routing key of the gateway replica's own reply queue (default exchange).
    reply_to: str

    def remaining(self, now: float) -> float:
        return self.deadline - now


class FragmentError(Contract):
    code: str
    message: str
    details: dict[str, Any] | None = None


class FragmentProduced(Contract):
    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str
    key: str
    source: str
    status: FragmentStatus
    data: Any = None
    error: FragmentError | None = None
    retrieved_at: datetime
    duration_ms: float
    # The request's deadline travels along, so the assembler can expire a fragment that beats its request.
    deadline: float
    # Whom the fragment is about (the query's identifier, else the request's): the audit trail names it.
    subject: Identifier | None = None


class SourceResult(Contract):
    source: str
    status: SourceStatus
    retrieved_at: datetime | None = None
    duration_ms: float | None = None
    data: Any = None
    error: FragmentError | None = None


class BranchResult(Contract):
    """One relation instance in the answer: which fragment it came from and whom it followed."""

    relation: str
    parent: str
    identifier: Identifier
    keys: list[str]


class FragmentForwarded(Contract):
    """A fragment as the assembler recorded it, for a gateway that streams the answer."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str
    key: str
    seq: int
    result: SourceResult
    # Whom the fragment is about: a streamed relation branch is recorded with its own subject.
    subject: Identifier | None = None


class LookupCompleted(Contract):
    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str
    profile: str
    identifier: Identifier | None
    status: Literal["complete", "partial"]
    completed_by: Literal["all_sources", "deadline"]
    requested_at: float
    completed_at: float
    sources: dict[str, SourceResult]
    # Relation instances by branch prefix ("partners[0]"), and what stayed open at the deadline.
    branches: dict[str, BranchResult] = Field(default_factory=dict)
    timed_out: list[str] = Field(default_factory=list)
    not_expanded: list[str] = Field(default_factory=list)
    truncated: list[str] = Field(default_factory=list)
    view: Any = None


class DisclosedSource(Contract):
    """What one source gave the caller: never the data, only which source, which fields and how it went."""

    key: str
    source: str
    operation: str
    fields: list[str]
    status: str


class DisclosedSubject(Contract):
    """One person or company whose data was disclosed, with what of it: a data subject's inzage request finds
    every record that names them here."""

    identifier: Identifier
    sources: list[DisclosedSource]


class AuditRecorded(Contract):
    """Protocollering: one record per lookup or search, shaped after the VNG Verwerkingenlogging fields.

    It says who looked up whom, why, and which sources and fields were disclosed; it never holds fetched data.
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    event_id: str
    request_id: str
    kind: Literal["lookup", "search", "endpoint", "inzage"]
    # Verwerkingenlogging
    verwerkingsactiviteit: str
    doelbinding: str
    verwerking: str
    vertrouwelijkheid: str
    bewaartermijn: str
    uitvoerder: str
    systeem: str
    gebruiker: str
    gegevensbron: list[str]
    # Who, precisely
    subject: str
    client: str
    caller_kind: str
    roles: list[str]
    # What
    profile: str
    identifier: Identifier | None = None
    search: dict[str, Any] | None = None
    disclosed: list[DisclosedSource]
    # Every data subject disclosed: the looked-up one, each relation branch's, each search row's.
    subjects: list[DisclosedSubject] = Field(default_factory=list)
    outcome: str
    started_at: datetime
    ended_at: datetime


class InzageRequested(Contract):
    """The gateway asks the audit service for every stored disclosure about one data subject (AVG art. 15)."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str
    identifier: Identifier
    # 1-based; newest first.
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)
    # Routing key of the gateway replica's own reply queue (default exchange), correlation id = request_id.
    reply_to: str
    deadline: float


class StoredDisclosure(Contract):
    """One disclosure about one data subject as the audit store keeps it (one row of the store)."""

    id: int
    event_id: str
    request_id: str
    kind: str
    profile: str
    verwerkingsactiviteit: str
    doelbinding: str
    verwerking: str
    vertrouwelijkheid: str
    bewaartermijn: str
    uitvoerder: str
    systeem: str
    gebruiker: str
    subject: str
    client: str
    caller_kind: str
    roles: list[str]
    identifier: Identifier | None
    # What of this subject was disclosed: sources, operations, fields and how each went.
    sources: list[DisclosedSource]
    search: dict[str, Any] | None = None
    outcome: str
    started_at: datetime
    ended_at: datetime


class InzageAnswered(Contract):
    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str
    identifier: Identifier
    page: int
    page_size: int
    total: int
    disclosures: list[StoredDisclosure]
    # Set when the store could not be read (the gateway answers 503 then).
    error: str | None = None
