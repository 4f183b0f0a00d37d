"""Protocollering: one audit record per lookup or search, published with confirms before anything is disclosed.

Records go to their own exchange on a channel of their own, with ``mandatory`` set and returns raised: a record
that reaches no queue, or an exchange that is gone, fails the publish, and the gateway then refuses to answer
(503) — no disclosure without a record.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from iko_shared.broker import close_channel_later
from iko_shared.contracts import (
    AuditRecorded,
    DisclosedSource,
    DisclosedSubject,
    Identifier,
    RelationPlan,
    SourceQuery,
)
from iko_shared.failures import Throttled
from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.profiles import SearchAction, run_jq
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

log = get_logger()


class AuditUnavailableError(Exception):
    """The audit record could not be published: nothing may be disclosed."""


@dataclass(frozen=True)
class AuditFacts:
    """The deployment facts every record carries (from the gateway's settings)."""

    uitvoerder: str
    systeem: str
    bewaartermijn: str
    vertrouwelijkheid: str


def _template(key: str, queries: list[SourceQuery], relations: list[RelationPlan]) -> SourceQuery | None:
    """The query a key came from: a root query, or the query of a relation branch (``partners[0].brp``)."""
    *segments, local = key.split(".")
    current_queries, current_relations = queries, relations
    for segment in segments:
        name = segment.split("[", 1)[0]
        plan = next((r for r in current_relations if r.name == name), None)
        if plan is None:
            return None
        current_queries, current_relations = plan.queries, plan.relations
    return next((q for q in current_queries if q.key == local), None)


def disclosed_sources(
    queries: list[SourceQuery], answer: dict[str, Any] | None, relations: list[RelationPlan] | None = None
) -> list[DisclosedSource]:
    """Per answered key: which source, operation and fields, and how it went — never the data. Without an
    answer yet (a stream about to start), what will be asked."""
    sources = (answer or {}).get("sources") or {}
    if not sources:
        return [
            DisclosedSource(key=q.key, source=q.source, operation=q.operation, fields=list(q.fields), status="asked")
            for q in queries
        ]
    disclosed = []
    for key, result in sources.items():
        query = _template(key, queries, relations or [])
        disclosed.append(
            DisclosedSource(
                key=key,
                source=str(result.get("source")),
                operation=query.operation if query else "",
                fields=list(query.fields) if query else [],
                status=str(result.get("status")),
            )
        )
    return disclosed


def branch_of(key: str) -> str:
    """``partners[0].kinderen[1].brp`` -> ``partners[0].kinderen[1]``; a root key -> ``""``."""
    return key.rpartition(".")[0]


def _subject_key(identifier: Identifier) -> tuple[str, str]:
    return identifier.type, identifier.value


def group_subjects(pairs: list[tuple[Identifier | None, DisclosedSource]]) -> list[DisclosedSubject]:
    """Disclosed sources grouped by whom they are about, in the order first met (unknown subjects left out)."""
    grouped: dict[tuple[str, str], tuple[Identifier, list[DisclosedSource]]] = {}
    for identifier, disclosed in pairs:
        if identifier is None:
            continue
        entry = grouped.setdefault(_subject_key(identifier), (identifier, []))
        entry[1].append(disclosed)
    return [DisclosedSubject(identifier=i, sources=s) for i, s in grouped.values()]


def branch_identifiers(answer: dict[str, Any] | None) -> dict[str, Identifier]:
    """The identifier each relation branch of an answer followed, by branch prefix."""
    found: dict[str, Identifier] = {}
    for prefix, branch in ((answer or {}).get("branches") or {}).items():
        identifier = branch.get("identifier") if isinstance(branch, dict) else None
        if isinstance(identifier, dict):
            found[prefix] = Identifier.model_validate(identifier)
    return found


def named_subjects(query: SourceQuery | None, result: Any) -> list[Identifier]:
    """The subjects a fragment's data names by its query's ``subjects`` rule (the persons a search by an address
    found); none without a rule or data."""
    rule = query.subjects if query is not None else None
    data = result.get("data") if isinstance(result, dict) else None
    if rule is None or data is None:
        return []
    named: list[Identifier] = []
    for value in run_jq(rule.select, data).all():
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            named.append(Identifier(type=rule.type, value=str(value)))
    return named


def _about(
    asked: Identifier | None, query: SourceQuery | None, result: Any, disclosed: DisclosedSource
) -> list[tuple[Identifier | None, DisclosedSource]]:
    """Whom one disclosed source is about: those its data names, or else the identifier it was asked with."""
    subjects: list[Identifier | None] = [*named_subjects(query, result)] or [asked]
    return [(subject, disclosed) for subject in subjects]


def lookup_subjects(
    identifier: Identifier | None,
    disclosed: list[DisclosedSource],
    answer: dict[str, Any] | None,
    queries: list[SourceQuery] | None = None,
    relations: list[RelationPlan] | None = None,
) -> list[DisclosedSubject]:
    """Every person or company a lookup's answer holds data of: the looked-up one for the root sources, each
    relation branch's own identifier for the branch's sources, and whoever a source's data names by its query's
    ``subjects`` rule instead."""
    branches = branch_identifiers(answer)
    sources = (answer or {}).get("sources") or {}
    pairs: list[tuple[Identifier | None, DisclosedSource]] = []
    for d in disclosed:
        asked = branches.get(branch_of(d.key)) if branch_of(d.key) else identifier
        pairs.extend(_about(asked, _template(d.key, queries or [], relations or []), sources.get(d.key), d))
    return group_subjects(pairs)


def row_subjects(action: SearchAction, rows: list[Any], disclosed: DisclosedSource) -> list[DisclosedSubject]:
    """The persons or companies in a search's rows, by the action's ``subject`` rule."""
    pairs: list[tuple[Identifier | None, DisclosedSource]] = []
    for row in rows:
        value = run_jq(action.subject.value, row).first() if row is not None else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            pairs.append((Identifier(type=action.subject.type, value=str(value)), disclosed))
    return group_subjects(pairs)


class StreamDisclosure:
    """What one streamed lookup has sent so far, for the record written when the stream ends.

    A fragment names its own subject (a relation branch's person); the answer, once sent, holds everything.
    """

    def __init__(self, ask: Any) -> None:
        self._ask = ask
        self._fragments: list[tuple[Identifier | None, DisclosedSource]] = []
        self._answer: dict[str, Any] | None = None
        self._failure: str | None = None

    def sent(self, event: str, data: bytes) -> None:
        message = orjson.loads(data)
        if event == "view":
            self._answer = message
            return
        if event != "fragment":
            return
        key = str(message.get("key"))
        result = message.get("result") or {}
        query = _template(key, self._ask.queries, self._ask.relations)
        subject = message.get("subject")
        identifier = Identifier.model_validate(subject) if isinstance(subject, dict) else None
        if identifier is None and not branch_of(key):
            identifier = self._ask.identifier
        disclosed = DisclosedSource(
            key=key,
            source=str(result.get("source")),
            operation=query.operation if query else "",
            fields=list(query.fields) if query else [],
            status=str(result.get("status")),
        )
        self._fragments.extend(_about(identifier, query, result, disclosed))

    def failed(self, reason: str) -> None:
        self._failure = reason

    def outcome(self) -> str:
        if self._answer is not None:
            return f"streamed: {self._answer.get('status')}"
        return f"stream ended: {self._failure or 'disconnected'}"

    def disclosed(self) -> list[DisclosedSource]:
        if self._answer is not None:
            return disclosed_sources(self._ask.queries, self._answer, self._ask.relations)
        return [d for _, d in self._fragments]

    def subjects(self) -> list[DisclosedSubject]:
        if self._answer is not None:
            return lookup_subjects(
                self._ask.identifier, self.disclosed(), self._answer, self._ask.queries, self._ask.relations
            )
        # Before the answer, a fragment sent from a branch names its subject itself.
        return group_subjects(self._fragments)


# The start's retries (module constants while settings.py has another owner): about 20 s in all.
START_ATTEMPTS = 10
START_BASE_PAUSE_S = 0.2
START_MAX_PAUSE_S = 4.0
START_LOG_EVERY_S = 3.0


class AuditPublisher:
    def __init__(self, rabbitmq_url: str, topology: Topology, timeout_s: float = 2.0) -> None:
        self._url = rabbitmq_url
        self._topology = topology
        self._timeout = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def start(self, attempts: int = START_ATTEMPTS) -> None:
        """Declare the audit exchange and queue; a refusal (RabbitMQ not up yet, or 3.10 refusing replicas that
        declare one quorum queue at the same moment with INTERNAL_ERROR) is retried with a jittered backoff."""
        throttle = Throttled(every_s=START_LOG_EVERY_S)
        for attempt in range(1, attempts + 1):
            try:
                await self._declare()
                return
            except Exception as exc:
                if attempt == attempts:
                    raise
                pause = min(START_MAX_PAUSE_S, START_BASE_PAUSE_S * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                if throttle.allow():
                    log.warning(
                        "audit.start_failed",
                        attempt=attempt,
                        retry_in_s=round(pause, 2),
                        error=type(exc).__name__,
                        suppressed=throttle.take_suppressed(),
                    )
                await asyncio.sleep(pause)

    async def _declare(self) -> None:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._open_channel()
        exchange = await channel.declare_exchange(self._topology.audit.name, aio_pika.ExchangeType.TOPIC, durable=True)
        # Declared by the audit service too: one place (the topology) says its arguments.
        audit_queue = self._topology.audit_queue
        queue = await channel.declare_queue(audit_queue.name, durable=True, arguments=dict(audit_queue.arguments or {}))
        await queue.bind(exchange, routing_key="#")

    async def _open_channel(self) -> AbstractChannel:
        assert self._connection is not None
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        return self._channel

    async def publish(self, record: AuditRecorded) -> None:
        # The whole publish is bounded, the channel's (re)opening too: while the connection is coming back after a
        # broker node was lost, opening a channel waits for it, and the caller must be refused in time, not held.
        try:
            await asyncio.wait_for(self._publish(record), timeout=self._timeout)
        except Exception as exc:
            # The channel is not used again: one restored while a quorum queue's leader was re-elected keeps
            # nacking (see iko_shared.broker.ExchangePublisher); the next record goes out on a fresh one.
            self._retire_channel()
            metrics.audit_publish_failed()
            log.error("audit.unavailable", request_id=record.request_id, error=type(exc).__name__)
            raise AuditUnavailableError from exc

    async def _publish(self, record: AuditRecorded) -> None:
        async with self._lock:
            channel = self._channel
            if channel is None or channel.is_closed:
                # A channel the broker closed (e.g. the exchange was gone) is not reused.
                channel = await self._open_channel()
        exchange = await channel.get_exchange(self._topology.audit.name, ensure=False)
        message = aio_pika.Message(
            dump_model(record),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=record.event_id,
            correlation_id=record.request_id,
        )
        await exchange.publish(message, routing_key=f"{record.kind}.{record.profile}", mandatory=True)

    def _retire_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            # Closed a little later, so that confirms still on their way for other records arrive.
            task = asyncio.create_task(close_channel_later(channel))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        if self._connection is not None:
            await self._connection.close()


def new_record(
    *,
    facts: AuditFacts,
    request_id: str,
    kind: Literal["lookup", "search", "endpoint", "inzage"],
    profile: str,
    activity: str,
    doelbinding: str,
    verwerking: str,
    caller: Any,
    identifier: Identifier | None,
    search: dict[str, Any] | None,
    gegevensbron: list[str],
    disclosed: list[DisclosedSource],
    subjects: list[DisclosedSubject],
    outcome: str,
    started_at: datetime,
) -> AuditRecorded:
    return AuditRecorded(
        event_id=str(uuid.uuid4()),
        request_id=request_id,
        kind=kind,
        verwerkingsactiviteit=activity,
        doelbinding=doelbinding,
        verwerking=verwerking,
        vertrouwelijkheid=facts.vertrouwelijkheid,
        bewaartermijn=facts.bewaartermijn,
        uitvoerder=facts.uitvoerder,
        systeem=facts.systeem,
        gebruiker=caller.user,
        gegevensbron=sorted(set(gegevensbron)),
        subject=caller.subject,
        client=caller.client or "",
        caller_kind=caller.kind,
        roles=sorted(caller.roles) if not caller.all_roles else ["*"],
        profile=profile,
        identifier=identifier,
        search=search,
        disclosed=disclosed,
        subjects=subjects,
        outcome=outcome,
        started_at=started_at,
        ended_at=datetime.now(UTC),
    )


class Auditor:
    """Builds and publishes the record of one access; raises ``AuditUnavailableError`` when it cannot."""

    def __init__(self, publisher: AuditPublisher, facts: AuditFacts) -> None:
        self.publisher = publisher
        self.facts = facts
        self._later: set[asyncio.Task[Any]] = set()

    def record_later(self, record: Coroutine[Any, Any, Any]) -> None:
        """Publish a record on a task of its own: for a stream that ended where nothing can be awaited (a
        cancelled or closed generator). A failure is logged, as there is nobody left to refuse."""

        async def run() -> None:
            try:
                await record
            except AuditUnavailableError:
                log.error("audit.stream_record_lost")

        task = asyncio.get_running_loop().create_task(run())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def drain(self) -> None:
        """Wait for the records still on their way (at shutdown)."""
        if self._later:
            await asyncio.gather(*self._later, return_exceptions=True)

    async def record(
        self,
        *,
        request_id: str,
        kind: Literal["lookup", "search", "endpoint", "inzage"],
        profile: str,
        activity: str,
        context: Any,
        caller: Any,
        queries: list[SourceQuery],
        answer: dict[str, Any] | None,
        started_at: datetime,
        relations: list[RelationPlan] | None = None,
        identifier: Identifier | None = None,
        search: dict[str, Any] | None = None,
        outcome: str | None = None,
        disclosed: list[DisclosedSource] | None = None,
        subjects: list[DisclosedSubject] | None = None,
    ) -> AuditRecorded:
        """``subjects`` default to those of a lookup's answer (the identifier and its relation branches)."""
        if disclosed is None:
            disclosed = disclosed_sources(queries, answer, relations)
        if subjects is None:
            subjects = lookup_subjects(identifier, disclosed, answer, queries, relations)
        record = new_record(
            facts=self.facts,
            request_id=request_id,
            kind=kind,
            profile=profile,
            activity=activity,
            doelbinding=context.doelbinding or "",
            verwerking=context.verwerking or "",
            caller=caller,
            identifier=identifier,
            search=search,
            gegevensbron=[d.source for d in disclosed],
            disclosed=disclosed,
            subjects=subjects,
            outcome=outcome or str((answer or {}).get("status", "asked")),
            started_at=started_at,
        )
        await self.publisher.publish(record)
        return record

    async def record_lookup(
        self,
        ask: Any,
        *,
        request_id: str,
        caller: Any,
        started_at: datetime,
        answer: dict[str, Any] | None,
        via: str = "",
        outcome: str | None = None,
        disclosed: list[DisclosedSource] | None = None,
        subjects: list[DisclosedSubject] | None = None,
    ) -> AuditRecorded:
        """The record of one profile lookup (``ask``: the ``decisions.Ask`` that was sent)."""
        return await self.record(
            request_id=request_id,
            kind="lookup",
            profile=ask.profile,
            activity=f"{ask.profile}: raadplegen{via}",
            context=ask.context,
            caller=caller,
            queries=ask.queries,
            relations=ask.relations,
            answer=answer,
            started_at=started_at,
            identifier=ask.identifier,
            outcome=outcome,
            disclosed=disclosed,
            subjects=subjects,
        )
