"""What the assembler does with each message: the store decides, this class acts on its decisions."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from iko_shared import tracing
from iko_shared.contracts import (
    FragmentForwarded,
    FragmentProduced,
    LookupRequested,
    RelationPlan,
    RequestContext,
)
from iko_shared.logging import get_logger

from iko_assembler.relations import Expansion, expand, starts_relations
from iko_assembler.store import RESULT_FIELDS, ClosedRequest, RedisAssemblerStore, request_meta
from iko_assembler.view import compose_answer, source_result

log = get_logger()


@dataclass(frozen=True)
class Known:
    meta: dict[str, Any]
    relations: list[RelationPlan]


class KnownRelations:
    """The relations of requests this replica registered, so that a fragment that starts them can be recorded
    and expanded in one script call. Bounded: a request forgotten here takes the two-call path."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._known: OrderedDict[str, Known] = OrderedDict()

    def remember(self, request_id: str, meta: dict[str, Any], relations: list[RelationPlan]) -> None:
        self._known[request_id] = Known(meta, relations)
        while len(self._known) > self._limit:
            self._known.popitem(last=False)

    def get(self, request_id: str) -> Known | None:
        return self._known.get(request_id)

    def forget(self, request_id: str) -> None:
        self._known.pop(request_id, None)

    def __len__(self) -> int:
        return len(self._known)


# Where a message goes: the reply queue of the gateway replica that waits, or the lookups exchange.
# A reply is the answer (``LookupCompleted``'s JSON, as plain data) or a forwarded fragment.
SendReply = Callable[[str, str, dict[str, Any] | FragmentForwarded], Awaitable[None]]
SendLookup = Callable[[LookupRequested], Awaitable[None]]


class Coordinator:
    def __init__(
        self,
        store: RedisAssemblerStore,
        send_reply: SendReply,
        send_lookup: SendLookup,
        notice_deadline: Callable[[float], None] = lambda deadline: None,
        finished: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._send_reply = send_reply
        self._send_lookup = send_lookup
        self.notice_deadline = notice_deadline
        # Hands a published request to be forgotten later (``Finisher.add``); without one, forgotten at once.
        self.finished = finished
        self._known = KnownRelations()

    async def on_request(self, request: LookupRequested) -> None:
        registered = await self._store.register(request)
        if registered.closed is not None:
            await self.publish(registered.closed)
            return
        self.notice_deadline(request.deadline)
        meta = request_meta(request)
        if request.relations:
            self._known.remember(request.request_id, meta, list(request.relations))
        for key, fragment in registered.expand_now:
            await self._expand(request.request_id, meta, key, fragment)

    async def on_fragment(self, fragment: FragmentProduced) -> str:
        known = self._known.get(fragment.request_id)
        expansion: Expansion | None = None
        if known is not None and fragment.status == "ok" and starts_relations(known.relations, fragment.key):
            # This replica registered the request: expand before recording, and record both in one call.
            expansion = expand(known.relations, fragment.key, {"status": fragment.status, "data": fragment.data})
        recorded = await self._store.record(
            fragment, (expansion.children, expansion.branches, expansion.truncated) if expansion else None
        )
        if recorded.stream_to and recorded.seq:
            await self._forward(recorded.stream_to, fragment, recorded.seq)
        if recorded.closed is not None:
            await self.publish(recorded.closed)
        elif recorded.outcome == "expanded" and expansion is not None and known is not None:
            await self._ask(fragment.request_id, known.meta, fragment.key, expansion, recorded.accepted)
        elif recorded.meta is not None:
            data = fragment.model_dump(mode="json", include={"status", "data"})
            await self._expand(fragment.request_id, recorded.meta, fragment.key, data)
        return recorded.outcome

    async def _forward(self, reply_to: str, fragment: FragmentProduced, seq: int) -> None:
        forwarded = FragmentForwarded(
            request_id=fragment.request_id,
            key=fragment.key,
            seq=seq,
            result=source_result(fragment.source, fragment.model_dump(mode="json", include=RESULT_FIELDS)),
            subject=fragment.subject,
        )
        await self._send_reply(reply_to, fragment.request_id, forwarded)

    async def _expand(self, request_id: str, meta: dict[str, Any], key: str, fragment: dict[str, Any]) -> None:
        relations = [RelationPlan.model_validate(r) for r in meta.get("relations", [])]
        expansion = expand(relations, key, fragment)
        outcome, accepted, closed = await self._store.extend(
            request_id, key, expansion.children, expansion.branches, expansion.truncated
        )
        if closed is not None:
            await self.publish(closed)
            return
        if outcome != "extended":
            return
        await self._ask(request_id, meta, key, expansion, accepted)

    async def _ask(
        self, request_id: str, meta: dict[str, Any], key: str, expansion: Expansion, accepted: list[str]
    ) -> None:
        """Send the follow-ups of one fragment whose expansion the store accepted."""
        asked = set(accepted)
        queries = [q for followup in expansion.followups for q in followup.queries if q.key in asked]
        if queries:
            # One message for every follow-up of this fragment: each query names whom it is about, and a
            # connector that takes several at once (the BRP, 20 BSNs a call) batches them.
            await self._send_lookup(
                LookupRequested(
                    request_id=request_id,
                    profile=meta["profile"],
                    identifier=None,
                    queries=queries,
                    context=RequestContext.model_validate(meta.get("context") or {}),
                    requested_at=meta["requested_at"],
                    deadline=meta["deadline"],
                    reply_to=meta["reply_to"],
                )
            )
        log.info(
            "relations.expanded",
            request_id=request_id,
            key=key,
            branches=len(expansion.branches),
            asked=len(asked),
            truncated=len(expansion.truncated),
        )

    async def publish(self, closed: ClosedRequest) -> None:
        self._known.forget(closed.request_id)
        # Each fragment's trace context (kept when tracing is on) goes to the answer's span, never into the answer.
        traced = [tp for f in closed.fragments.values() if (tp := f.pop("traceparent", None))]
        try:
            answer = compose_answer(closed)
            with tracing.answered(traced):
                await self._send_reply(closed.meta["reply_to"], closed.request_id, answer)
        except BaseException:
            # Not published (or not known to be): its lease lapses, and a sweep publishes it again.
            self._store.release(closed.request_id)
            raise
        if self.finished is not None:
            self.finished(closed.request_id)
        else:
            await self._store.finish(closed.request_id)
        log.info(
            "lookup.completed",
            request_id=closed.request_id,
            status=answer["status"],
            completed_by=answer["completed_by"],
            redelivery=closed.redelivery,
            fragments=len(closed.fragments),
            elapsed_ms=round((answer["completed_at"] - answer["requested_at"]) * 1000, 1),
            latency_ms=round((time.time() - answer["requested_at"]) * 1000, 1),
        )
