"""The port every source adapter implements: turn one query into one outcome.

Adapters know their source's HTTP API and nothing of the broker; the runtime does the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from iko_shared.contracts import FragmentStatus, LookupRequested, SourceQuery


@dataclass(frozen=True)
class FetchResult:
    status: FragmentStatus
    data: Any = None
    error_code: str | None = None
    error_message: str | None = None
    error_details: dict[str, Any] | None = None

    @classmethod
    def ok(cls, data: Any) -> FetchResult:
        return cls("ok", data)

    @classmethod
    def not_found(cls, data: Any = None) -> FetchResult:
        return cls("not_found", data)


class SourceError(Exception):
    """A documented failure of the source, carrying the source's own error code."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class FetchContext:
    """Everything an adapter may use for one fetch; ``timeout`` is what is left of the request's deadline."""

    client: httpx.AsyncClient
    query: SourceQuery
    request: LookupRequested
    timeout: float
    extra_headers: dict[str, str] = field(default_factory=dict)

    def identifier(self, *types: str) -> tuple[str, str]:
        """The query's identifier (or else the request's) as (type, value), when it is of one of ``types``."""
        identifier = self.query.identifier or self.request.identifier
        if identifier is None or identifier.type not in types:
            raise SourceError("unsupported_identifier", f"this operation looks up by {' or '.join(types)}")
        return identifier.type, identifier.value

    def remaining(self) -> float:
        """Seconds left before the request's deadline, for the next call of a multi-call fetch."""
        return max(0.001, self.request.deadline - time.time())


class Source(Protocol):
    """A source adapter: its name (the profile's key for it) and how it answers a query."""

    @property
    def name(self) -> str: ...

    def operations(self) -> frozenset[str]: ...

    async def fetch(self, ctx: FetchContext) -> FetchResult: ...
