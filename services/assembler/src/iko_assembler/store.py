"""Request state in Redis: every change is one call of ``assembler.lua``, atomic across replicas."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import orjson
from iko_shared.contracts import FragmentProduced, LookupRequested
from redis.asyncio import Redis


@dataclass(frozen=True)
class ClosedRequest:
    """A request closed exactly once, with all that arrived for it; the replica holding it publishes it."""

    request_id: str
    closed_by: str
    closed_at: float
    meta: dict[str, Any]
    fragments: dict[str, dict[str, Any]]
    redelivery: bool = False


@dataclass(frozen=True)
class SweepResult:
    closed: list[ClosedRequest]
    # Redis time of the sweep and of the next due deadline or lease, in seconds; None when nothing is due.
    now: float
    next_due: float | None


_RESULT_FIELDS = {"status", "data", "error", "retrieved_at", "duration_ms"}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _closed_from_fields(request_id: str, flat: list[Any], redelivery: bool = False) -> ClosedRequest:
    fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    fragments = {name[2:]: orjson.loads(raw) for name, raw in fields.items() if name.startswith("f:")}
    meta = orjson.loads(fields["meta"]) if "meta" in fields else {}
    return ClosedRequest(
        request_id=request_id,
        closed_by=_text(fields.get("closed_by", b"deadline")),
        closed_at=float(fields.get("closed_at", 0)) / 1000,
        meta=meta,
        fragments=fragments,
        redelivery=redelivery,
    )


class RedisAssemblerStore:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        grace_s: float = 30.0,
        lease_s: float = 2.0,
    ) -> None:
        self._redis = redis
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

    async def register(self, request: LookupRequested) -> ClosedRequest | None:
        meta = orjson.dumps(
            {
                "profile": request.profile,
                "identifier": request.identifier.model_dump() if request.identifier else None,
                "requested_at": request.requested_at,
                "deadline": request.deadline,
                "reply_to": request.reply_to,
                "queries": [{"key": q.key, "source": q.source} for q in request.queries],
            }
        )
        reply = await self._call(
            self._request_key(request.request_id),
            "register",
            request.request_id,
            meta,
            int(request.deadline * 1000),
            self._grace_ms,
            self._keep_ms,
            self._lease_ms,
            *(q.key for q in request.queries),
        )
        return self._closed_or_none(request.request_id, reply)

    async def record(self, fragment: FragmentProduced) -> tuple[str, ClosedRequest | None]:
        reply = await self._call(
            self._request_key(fragment.request_id),
            "record",
            fragment.request_id,
            fragment.key,
            orjson.dumps(fragment.model_dump(mode="json", include=_RESULT_FIELDS)),
            int(fragment.deadline * 1000),
            self._grace_ms,
            self._keep_ms,
            self._lease_ms,
        )
        return _text(reply[0]), self._closed_or_none(fragment.request_id, reply)

    async def sweep(self, limit: int = 500) -> SweepResult:
        now_ms, next_due, entries = await self._call(self.request_prefix, "sweep", limit, self._keep_ms, self._lease_ms)
        closed = [
            _closed_from_fields(_text(rid), flat, redelivery=_text(kind) == "redeliver") for kind, rid, flat in entries
        ]
        due = float(next_due) / 1000 if next_due not in (b"", "") else None
        return SweepResult(closed=closed, now=float(now_ms) / 1000, next_due=due)

    async def finish(self, request_id: str) -> None:
        await self._call(self._request_key(request_id), "finish", request_id)

    async def stats(self) -> dict[str, int]:
        raw = await self._redis.hgetall(self._shared_keys[3])
        return {_text(k): int(v) for k, v in raw.items()}

    def _closed_or_none(self, request_id: str, reply: list[Any]) -> ClosedRequest | None:
        if _text(reply[0]) != "closed_now":
            return None
        return _closed_from_fields(request_id, reply[1])
