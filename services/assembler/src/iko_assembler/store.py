"""Request state in Redis: every change is one call of ``assembler.lua``, atomic across replicas."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import orjson
from iko_shared import tracing
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested
from redis.asyncio import Redis

from iko_assembler.leases import Holdings

RESULT_FIELDS = {"status", "data", "error", "retrieved_at", "duration_ms"}


@dataclass(frozen=True)
class ClosedRequest:
    """A request closed exactly once, with all that arrived for it; the replica holding it publishes it."""

    request_id: str
    closed_by: str
    closed_at: float
    meta: dict[str, Any]
    # What was expected (key -> descriptor) and what arrived (key -> fragment).
    expected: dict[str, dict[str, Any]]
    fragments: dict[str, dict[str, Any]]
    branches: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_expanded: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    redelivery: bool = False


@dataclass(frozen=True)
class Recorded:
    """What recording one fragment led to."""

    outcome: str
    seq: int = 0
    # The reply queue to forward the fragment to when the request is streamed.
    stream_to: str | None = None
    closed: ClosedRequest | None = None
    # Set when the fragment starts relations still to expand: the request's meta, to expand them from.
    meta: dict[str, Any] | None = None
    # Set when the fragment's expansion went along and was applied (outcome "expanded"): the keys to ask for.
    accepted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Registered:
    closed: ClosedRequest | None = None
    # Fragments that arrived before their request and start relations: (key, fragment).
    expand_now: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class ChildQuery:
    """One follow-up fragment a relation adds to the request."""

    key: str
    descriptor: dict[str, Any]
    dedup_token: str
    expanding: bool


@dataclass(frozen=True)
class SweepResult:
    closed: list[ClosedRequest]
    # Redis time of the sweep and of the next due deadline or lease, in seconds; None when nothing is due.
    now: float
    next_due: float | None
    # Closed requests whose data expired (deadline + grace) in the outbox before they were published: lost.
    dropped: tuple[str, ...] = ()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _closed_from_fields(request_id: str, flat: list[Any], redelivery: bool = False) -> ClosedRequest:
    fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}

    def prefixed(prefix: str) -> dict[str, Any]:
        return {name[len(prefix) :]: raw for name, raw in fields.items() if name.startswith(prefix)}

    expected = {key: orjson.loads(raw) for key, raw in prefixed("q:").items()}
    expanded = set(prefixed("xd:"))
    fragments = {key: orjson.loads(raw) for key, raw in prefixed("f:").items() if key in expected}
    return ClosedRequest(
        request_id=request_id,
        closed_by=_text(fields.get("closed_by", b"deadline")),
        closed_at=float(fields.get("closed_at", 0)) / 1000,
        meta=orjson.loads(fields["meta"]) if "meta" in fields else {},
        expected=expected,
        fragments=fragments,
        branches={name: orjson.loads(raw) for name, raw in prefixed("b:").items()},
        not_expanded=sorted(k for k in prefixed("x:") if k not in expanded and k in fragments),
        truncated=sorted(prefixed("tr:")),
        redelivery=redelivery,
    )


# What a fragment's relations add to its request: the children to expect, the branches, the truncation notes.
Expanding = tuple[list[ChildQuery], dict[str, dict[str, Any]], list[str]]


def _expansion_args(children: list[ChildQuery], branches: dict[str, dict[str, Any]], truncated: list[str]) -> list[Any]:
    """The expansion as ``assembler.lua``'s ``apply_extend`` reads it."""
    args: list[Any] = [len(children)]
    for child in children:
        args += [child.key, orjson.dumps(child.descriptor), child.dedup_token, "1" if child.expanding else "0"]
    args.append(len(branches))
    for name, branch in branches.items():
        args += [name, orjson.dumps(branch)]
    args += [len(truncated), *truncated]
    return args


def dedup_token(source: str, operation: str, identifier: Identifier) -> str:
    """What makes two queries of one request the same question: asked once, whether root or relation child."""
    return f"{source}|{operation}|{identifier.type}:{identifier.value}"


def root_tokens(request: LookupRequested) -> list[str]:
    """The dedup tokens of the request's own queries; a query about nobody (a search's) has none."""
    tokens: list[str] = []
    for query in request.queries:
        identifier = query.identifier or request.identifier
        if identifier is not None:
            token = dedup_token(query.source, query.operation, identifier)
            if token not in tokens:
                tokens.append(token)
    return tokens


def descriptor(source: str, **extra: Any) -> bytes:
    return orjson.dumps({"source": source, **extra})


def request_meta(request: LookupRequested) -> dict[str, Any]:
    """What the assembler keeps of a request to expand its relations and answer it."""
    return {
        "profile": request.profile,
        "identifier": request.identifier.model_dump() if request.identifier else None,
        "requested_at": request.requested_at,
        "deadline": request.deadline,
        "reply_to": request.reply_to,
        "context": request.context.model_dump(),
        "relations": [r.model_dump() for r in request.relations],
        "transform": request.transform,
        # The request's trace (when tracing is on): a deadline sweep, which no message starts, resumes it.
        "traceparent": tracing.current_traceparent(),
    }


def _stored(fragment: FragmentProduced) -> str:
    """A fragment as the request keeps it: its result's fields, and, when tracing is on, the context of its
    handling here, so that the answer's span can link to every fragment it combined."""
    traceparent = tracing.current_traceparent()
    if traceparent is None:
        return fragment.model_dump_json(include=RESULT_FIELDS)
    result = fragment.model_dump(mode="json", include=RESULT_FIELDS)
    return orjson.dumps({**result, "traceparent": traceparent}).decode()


class RedisAssemblerStore:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        grace_s: float = 30.0,
        lease_s: float = 2.0,
        holdings: Holdings | None = None,
    ) -> None:
        self._redis = redis
        # Every request a call here closes (or takes from the outbox) is held by this replica from that moment
        # until ``finish`` or ``release``: its lease is renewed meanwhile (``LeaseRenewer``).
        self.holdings = holdings if holdings is not None else Holdings(max_hold_s=10 * lease_s)
        prefix = f"{namespace}:asm:"
        self.request_prefix = prefix + "req:"
        self._shared_keys = [prefix + "deadlines", prefix + "closed", prefix + "outbox", prefix + "stats"]
        self._grace_ms = int(grace_s * 1000)
        # Closed ids are remembered as long as a fragment or a redelivered request could still turn up.
        self._keep_ms = self._grace_ms
        self._lease_ms = int(lease_s * 1000)
        self._script = redis.register_script(files("iko_assembler").joinpath("assembler.lua").read_text())

    def _request_key(self, request_id: str) -> str:
        return self.request_prefix + request_id

    async def _call(self, request_key: str, *args: Any) -> Any:
        return await self._script(keys=[*self._shared_keys, request_key], args=list(args))

    async def register(self, request: LookupRequested) -> Registered:
        meta = orjson.dumps(request_meta(request))
        keys = [q.key for q in request.queries]
        descriptors = [descriptor(q.source) for q in request.queries]
        # A root fragment starts relations when a top-level relation is rooted at its key.
        expanding = sorted({r.from_key for r in request.relations} & set(keys))
        tokens = root_tokens(request)
        reply = await self._call(
            self._request_key(request.request_id),
            "register",
            request.request_id,
            meta,
            int(request.deadline * 1000),
            self._grace_ms,
            self._keep_ms,
            self._lease_ms,
            request.reply_to if request.stream else "",
            len(keys),
            *keys,
            *descriptors,
            len(expanding),
            *expanding,
            len(tokens),
            *tokens,
        )
        outcome = _text(reply[0])
        if outcome == "closed_now":
            self.holdings.take(request.request_id)
            return Registered(closed=_closed_from_fields(request.request_id, reply[1]))
        if outcome == "registered":
            return Registered(expand_now=[(_text(k), orjson.loads(f)) for k, f in reply[1]])
        return Registered()

    async def record(self, fragment: FragmentProduced, expansion: Expanding | None = None) -> Recorded:
        """Record one fragment. With its ``expansion`` (children, branches, truncated) the relations it starts
        are added in the same call, when the request expects them from it (outcome ``expanded``)."""
        reply = await self._call(
            self._request_key(fragment.request_id),
            "record",
            fragment.request_id,
            fragment.key,
            _stored(fragment),
            int(fragment.deadline * 1000),
            self._grace_ms,
            self._keep_ms,
            self._lease_ms,
            *(["1", *_expansion_args(*expansion)] if expansion is not None else []),
        )
        outcome, seq, stream, payload = _text(reply[0]), int(reply[1]), _text(reply[2]) or None, reply[3]
        if outcome == "closed_now":
            self.holdings.take(fragment.request_id)
            return Recorded(outcome, seq, stream, closed=_closed_from_fields(fragment.request_id, payload))
        if outcome == "expand":
            return Recorded(outcome, seq, stream, meta=orjson.loads(payload))
        if outcome == "expanded":
            return Recorded(outcome, seq, stream, accepted=[_text(k) for k in payload])
        return Recorded(outcome, seq, stream)

    async def extend(
        self,
        request_id: str,
        parent_key: str,
        children: list[ChildQuery],
        branches: dict[str, dict[str, Any]],
        truncated: list[str],
    ) -> tuple[str, list[str], ClosedRequest | None]:
        """Add a fragment's follow-ups atomically; returns the outcome and the child keys to ask for."""
        args = [request_id, parent_key, self._keep_ms, self._lease_ms, *_expansion_args(children, branches, truncated)]
        reply = await self._call(self._request_key(request_id), "extend", *args)
        outcome = _text(reply[0])
        if outcome == "closed_now":
            self.holdings.take(request_id)
            return outcome, [], _closed_from_fields(request_id, reply[1])
        return outcome, [_text(k) for k in reply[1]], None

    async def sweep(self, limit: int = 500) -> SweepResult:
        now_ms, next_due, entries = await self._call(self.request_prefix, "sweep", limit, self._keep_ms, self._lease_ms)
        closed = [
            _closed_from_fields(_text(rid), flat, redelivery=_text(kind) == "redeliver")
            for kind, rid, flat in entries
            # One this replica holds still (its publish is under way, its lease lapsed in a stall) is not
            # published a second time by this replica's own sweep.
            if _text(kind) == "deadline" or (_text(kind) == "redeliver" and _text(rid) not in self.holdings)
        ]
        self.holdings.take(*(c.request_id for c in closed))
        dropped = tuple(_text(rid) for kind, rid, _ in entries if _text(kind) == "dropped")
        due = float(next_due) / 1000 if next_due not in (b"", "") else None
        return SweepResult(closed=closed, now=float(now_ms) / 1000, next_due=due, dropped=dropped)

    async def finish(self, *request_ids: str) -> None:
        """Forget requests whose results are published (their keys and outbox entries), in one call."""
        if request_ids:
            await self._call(self.request_prefix, "finish", *request_ids)
            self.holdings.release(*request_ids)

    def release(self, *request_ids: str) -> None:
        """Give up requests this replica could not publish: their leases lapse, and a sweep (of any replica)
        publishes them again."""
        self.holdings.release(*request_ids)

    async def renew(self, request_ids: list[str]) -> None:
        """Start the leases of requests this replica still holds again (those still in the outbox)."""
        if request_ids:
            await self._call(self.request_prefix, "renew", self._lease_ms, *request_ids)

    async def stats(self) -> dict[str, int]:
        raw = await self._redis.hgetall(self._shared_keys[3])
        return {_text(k): int(v) for k, v in raw.items()}
