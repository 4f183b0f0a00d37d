"""Publishing a request and waiting for its answer: the gateway's one use of the broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from iko_shared.broker import ExchangePublisher
from iko_shared.contracts import LookupRequested
from iko_shared.failures import OutageLog
from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

from iko_gateway.coalescing import Coalescer, Run, coalescing_key
from iko_gateway.decisions import Ask
from iko_gateway.replies import ReplyWaiter, Waiter

log = get_logger()

# One warning when the replica starts shedding, one info when it has room again (below half its cap).
SHED = OutageLog("lookup.shedding")


class PublishFailedError(Exception):
    pass


class NoAnswerError(Exception):
    pass


class OverloadedError(PublishFailedError):
    """This replica has ``gateway_max_in_flight`` lookups in flight already: refused at once, not queued."""


async def publish_or_fail(
    publisher: ExchangePublisher,
    body: bytes,
    *,
    request_id: str,
    what: str,
    deadline: float | None = None,
    **options: Any,
) -> None:
    """Publish (with the broker's confirm); any failure is a ``PublishFailedError``, logged as ``<what>.…``.

    ``deadline`` (epoch seconds): retries end there, and so does a publish that hangs (a channel waiting for its
    connection to come back after a broker node is lost), so the caller is refused in time rather than held."""
    try:
        if deadline is None:
            await publisher.publish(body, correlation_id=request_id, **options)
        else:
            await asyncio.wait_for(
                publisher.publish(body, correlation_id=request_id, deadline=deadline, **options),
                timeout=max(deadline - time.time(), 0.001),
            )
    except Exception as exc:
        log.warning(f"{what}.publish_failed", request_id=request_id, error=type(exc).__name__)
        raise PublishFailedError from exc


async def wait_for_reply(waiter: Waiter, *, request_id: str, timeout_s: float, what: str) -> bytes:
    """The reply's body, or ``NoAnswerError`` after ``timeout_s``."""
    try:
        return await asyncio.wait_for(asyncio.shield(waiter.view), timeout=max(timeout_s, 0.001))
    except TimeoutError as exc:
        log.warning(f"{what}.no_answer", request_id=request_id)
        raise NoAnswerError from exc


class InOrder:
    """Releases forwarded fragments in sequence order, holding back any that overtook an earlier one.

    Another replica may close the request while a forward is still on its way; when the answer comes, what is
    held goes out in order, and a fragment whose forward has not arrived is sent from the answer itself, so
    every fragment is streamed before the answer."""

    def __init__(self) -> None:
        self._next = 1
        self._held: dict[int, bytes] = {}
        self._sent: set[str] = set()
        self._last_seq = 0

    def _release(self, body: bytes, message: dict[str, Any]) -> bytes:
        self._sent.add(str(message.get("key")))
        self._last_seq = max(self._last_seq, int(message.get("seq") or 0))
        return body

    def add(self, body: bytes) -> list[bytes]:
        message = orjson.loads(body)
        seq = int(message.get("seq", 0))
        if seq < self._next:
            return [self._release(body, message)]
        self._held[seq] = body
        released = []
        while self._next in self._held:
            held = self._held.pop(self._next)
            released.append(self._release(held, orjson.loads(held)))
            self._next += 1
        return released

    def flush(self, view: bytes | None = None) -> list[bytes]:
        released = [self._release(self._held[seq], orjson.loads(self._held[seq])) for seq in sorted(self._held)]
        self._held.clear()
        if view is None:
            return released
        answer = orjson.loads(view)
        for key, result in (answer.get("sources") or {}).items():
            if key in self._sent or result.get("status") == "timeout":
                continue
            self._last_seq += 1
            message = {"request_id": answer.get("request_id"), "key": key, "seq": self._last_seq, "result": result}
            released.append(self._release(orjson.dumps(message), message))
        return released


def answer_outcome(raw: bytes) -> metrics.LookupOutcome:
    """An assembled answer's status as a metric outcome (``complete`` or ``partial``)."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "error"
    return metrics.outcome_of(answer.get("status") if isinstance(answer, dict) else None)


class Answered:
    """One call's assembled answer, parsed once: the outcome, the audit record and the compatible API read the
    data; the native API sends the bytes (as they came for a run of its own, dumped again for a joined one).
    An answer is parsed once per call and never shared: the compatible API pages its containers in place."""

    def __init__(self, answer: dict[str, Any], raw: bytes | None = None) -> None:
        self.answer = answer
        self._raw = raw

    @classmethod
    def parse(cls, raw: bytes) -> Answered:
        answer = orjson.loads(raw)
        if not isinstance(answer, dict):
            raise ValueError("an assembled answer is a JSON object")
        return cls(answer, raw)

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = orjson.dumps(self.answer)
        return self._raw

    @property
    def outcome(self) -> metrics.LookupOutcome:
        return metrics.outcome_of(self.answer.get("status"))

    def for_call(self, request_id: str) -> Answered:
        """A shared run's answer as the answer to one of the calls that joined it: a copy of its own."""
        answer = Answered.parse(self.raw).answer
        answer["request_id"] = request_id
        return Answered(answer)


class LookupService:
    def __init__(
        self,
        topology: Topology,
        publisher: ExchangePublisher,
        waiter: ReplyWaiter,
        reply_to: str,
        reply_grace_s: float,
        max_in_flight: int = 0,
        coalescer: Coalescer[Answered] | None = None,
    ) -> None:
        self._coalescer = coalescer
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._topology = topology
        self._publisher = publisher
        self._waiter = waiter
        self._reply_to = reply_to
        self._grace = reply_grace_s

    def _message(self, ask: Ask, request_id: str, stream: bool, now: float | None = None) -> LookupRequested:
        now = time.time() if now is None else now
        return LookupRequested(
            request_id=request_id,
            profile=ask.profile,
            identifier=ask.identifier,
            queries=ask.queries,
            context=ask.context,
            relations=ask.relations,
            transform=ask.transform,
            stream=stream,
            requested_at=now,
            deadline=now + ask.timeout_ms / 1000,
            reply_to=self._reply_to,
        )

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _admit(self, message: LookupRequested) -> None:
        if self._max_in_flight and self._in_flight >= self._max_in_flight:
            SHED.failed(in_flight=self._in_flight, request_id=message.request_id)
            metrics.lookup_finished(message.profile, "refused", None)
            raise OverloadedError
        if self._in_flight < self._max_in_flight // 2:
            SHED.recovered()
        self._in_flight += 1

    async def _publish(self, message: LookupRequested) -> None:
        await publish_or_fail(
            self._publisher,
            dump_model(message),
            request_id=message.request_id,
            what="lookup",
            deadline=message.deadline,
            headers=dict(self._topology.lookup_headers(sorted({q.source for q in message.queries}))),
            persist=True,
        )

    async def ask(self, ask: Ask, request_id: str | None = None) -> bytes:
        """The assembled answer's JSON (``LookupCompleted``)."""
        return (await self.ask_answered(ask, request_id)).raw

    async def ask_json(self, ask: Ask, request_id: str | None = None) -> dict[str, Any]:
        return (await self.ask_answered(ask, request_id)).answer

    async def ask_answered(self, ask: Ask, request_id: str | None = None) -> Answered:
        """Send the request and wait for its assembled answer. With a coalescer, an identical lookup in flight
        is joined instead (``coalescing``): its answer, under this call's request id."""
        request_id = request_id or str(uuid.uuid4())
        now = time.time()
        if self._coalescer is None:
            return await self._run(ask, request_id, now)
        key = coalescing_key(ask)
        deadline = now + ask.timeout_ms / 1000
        run = self._coalescer.join(key, deadline)
        if run is None:
            run = self._coalescer.start(key, request_id, deadline, lambda: self._run(ask, request_id, now))
            return await asyncio.shield(run.task)
        return await self._joined(run, ask, request_id)

    async def _joined(self, run: Run[Answered], ask: Ask, request_id: str) -> Answered:
        log.info("lookup.coalesced", request_id=request_id, run=run.request_id)
        outcome: metrics.LookupOutcome = "error"
        started = time.perf_counter()
        metrics.lookup_started()
        metrics.lookup_coalesced()
        try:
            answered = (await asyncio.shield(run.task)).for_call(request_id)
            outcome = answered.outcome
            return answered
        finally:
            metrics.lookup_finished(ask.profile, outcome, time.perf_counter() - started)

    async def _run(self, ask: Ask, request_id: str, now: float) -> Answered:
        message = self._message(ask, request_id, stream=False, now=now)
        self._admit(message)
        waiter = self._waiter.expect(message.request_id)
        outcome: metrics.LookupOutcome = "error"
        started = time.perf_counter()
        metrics.lookup_started()
        try:
            await self._publish(message)
            answered = Answered.parse(await self._wait(waiter, message))
            outcome = answered.outcome
            return answered
        finally:
            self._in_flight -= 1
            metrics.lookup_finished(ask.profile, outcome, time.perf_counter() - started)
            self._waiter.discard(message.request_id)

    async def stream(self, ask: Ask, request_id: str | None = None) -> AsyncIterator[tuple[str, bytes]]:
        """Every fragment in the order the assembler recorded it (``("fragment", json)``), then the answer
        (``("view", json)``). Replicas forward fragments concurrently, so they are put back in order by
        their sequence number; one still missing when the answer comes is skipped."""
        message = self._message(ask, request_id or str(uuid.uuid4()), stream=True)
        self._admit(message)
        waiter = self._waiter.expect(message.request_id, stream=True)
        assert waiter.fragments is not None
        ordered = InOrder()
        outcome: metrics.LookupOutcome = "error"
        started = time.perf_counter()
        metrics.lookup_started()
        try:
            await self._publish(message)
            view_task = asyncio.ensure_future(self._wait(waiter, message))
            try:
                while True:
                    fragment_task = asyncio.ensure_future(waiter.fragments.get())
                    done, _ = await asyncio.wait({fragment_task, view_task}, return_when=asyncio.FIRST_COMPLETED)
                    if fragment_task in done:
                        for body in ordered.add(fragment_task.result()):
                            yield "fragment", body
                        continue
                    fragment_task.cancel()
                    while not waiter.fragments.empty():
                        ordered.add(waiter.fragments.get_nowait())
                    view = view_task.result()
                    for body in ordered.flush(view):
                        yield "fragment", body
                    outcome = answer_outcome(view)
                    yield "view", view
                    return
            finally:
                view_task.cancel()
        finally:
            self._in_flight -= 1
            metrics.lookup_finished(ask.profile, outcome, time.perf_counter() - started)
            self._waiter.discard(message.request_id)

    async def _wait(self, waiter: Waiter, message: LookupRequested) -> bytes:
        timeout = message.deadline - time.time() + self._grace
        return await wait_for_reply(waiter, request_id=message.request_id, timeout_s=timeout, what="lookup")
