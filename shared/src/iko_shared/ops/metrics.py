"""The IKO metric objects, in one registry, and the functions the adapters record through.

Labels hold only bounded values from configuration (profile, source, service and queue names) and fixed outcome
words, never an identifier or anything a caller typed. ``configure(enabled=False)`` turns every recording function
into a no-op, and the ops server then answers ``/metrics`` with 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

# ``*_created`` series double every counter and histogram; nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LookupOutcome = Literal["complete", "partial", "refused", "error"]
FetchStatus = Literal["ok", "not_found", "error", "timeout"]
CircuitState = Literal["closed", "half_open", "open"]

LOOKUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
FETCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CIRCUIT_VALUES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}

LOOKUPS = Counter(
    "iko_lookups_total",
    "Lookups answered by the gateway, by profile and outcome.",
    ["profile", "outcome"],
    registry=REGISTRY,
)
LOOKUP_DURATION = Histogram(
    "iko_lookup_duration_seconds",
    "End-to-end duration of a lookup at the gateway.",
    ["profile"],
    buckets=LOOKUP_BUCKETS,
    registry=REGISTRY,
)
LOOKUPS_COALESCED = Counter(
    "iko_lookups_coalesced_total",
    "Lookups answered by joining an identical lookup in flight rather than by a pipeline run of their own.",
    registry=REGISTRY,
)
LOOKUPS_IN_FLIGHT = Gauge("iko_lookups_in_flight", "Lookups the gateway is waiting on.", registry=REGISTRY)
SOURCE_FETCHES = Counter(
    "iko_source_fetches_total",
    "Fetches from a source by a connector, by status.",
    ["source", "status"],
    registry=REGISTRY,
)
SOURCE_FETCH_DURATION = Histogram(
    "iko_source_fetch_duration_seconds",
    "Duration of one fetch from a source (retries included).",
    ["source"],
    buckets=FETCH_BUCKETS,
    registry=REGISTRY,
)
DEADLINES_FIRED = Counter(
    "iko_deadlines_fired_total", "Requests the assembler's deadline sweep completed.", registry=REGISTRY
)
FRAGMENTS_LATE = Counter(
    "iko_fragments_late_total", "Fragments for a request that was already closed.", registry=REGISTRY
)
FRAGMENTS_DUPLICATE = Counter(
    "iko_fragments_duplicate_total", "Fragments the assembler had recorded already.", registry=REGISTRY
)
CIRCUIT = Gauge(
    "iko_circuit_state", "A source's circuit breaker: 0 closed, 1 half-open, 2 open.", ["source"], registry=REGISTRY
)
CONSUMERS_ATTACHED = Gauge(
    "iko_consumers_attached",
    "Consumers attached per subscribed queue, as the watchdog sees them.",
    ["service", "queue"],
    registry=REGISTRY,
)
AUDIT_PUBLISH_FAILURES = Counter(
    "iko_audit_publish_failures_total", "Audit records the gateway could not publish.", registry=REGISTRY
)

_enabled = True


class HasState(Protocol):
    @property
    def state(self) -> str: ...


def configure(*, enabled: bool) -> None:
    """Switch recording on or off for this process (``IKO_METRICS_ENABLED``)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    return _enabled


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


def lookup_started() -> None:
    if _enabled:
        LOOKUPS_IN_FLIGHT.inc()


def lookup_finished(profile: str, outcome: LookupOutcome, duration_s: float | None) -> None:
    """A lookup ended: ``duration_s`` None for one that never started (refused before it was sent)."""
    if not _enabled:
        return
    LOOKUPS.labels(profile, outcome).inc()
    if duration_s is not None:
        LOOKUPS_IN_FLIGHT.dec()
        LOOKUP_DURATION.labels(profile).observe(duration_s)


def lookup_coalesced() -> None:
    if _enabled:
        LOOKUPS_COALESCED.inc()


def lookup_refused(profile: str) -> None:
    lookup_finished(profile, "refused", None)


def outcome_of(status: object) -> LookupOutcome:
    """A lookup answer's ``status`` as an outcome label."""
    return "complete" if status == "complete" else "partial" if status == "partial" else "error"


def source_fetched(source: str, status: str, duration_s: float) -> None:
    if not _enabled:
        return
    label = status if status in ("ok", "not_found", "timeout") else "error"
    SOURCE_FETCHES.labels(source, label).inc()
    SOURCE_FETCH_DURATION.labels(source).observe(duration_s)


def deadline_fired(count: int = 1) -> None:
    if _enabled and count:
        DEADLINES_FIRED.inc(count)


def fragment_dropped(outcome: str) -> None:
    """The assembler's outcome for a fragment it did not record: ``late`` or ``duplicate`` are counted."""
    if not _enabled:
        return
    if outcome == "late":
        FRAGMENTS_LATE.inc()
    elif outcome == "duplicate":
        FRAGMENTS_DUPLICATE.inc()


def circuit_state(source: str, state: str) -> None:
    if _enabled:
        CIRCUIT.labels(source).set(CIRCUIT_VALUES.get(state, 0))


def watch_circuit(source: str, breaker: HasState) -> None:
    """Report ``breaker``'s state as ``iko_circuit_state{source}``, read when scraped (the breaker turns half-open
    by the clock alone, with no call to tell it)."""
    if _enabled:
        CIRCUIT.labels(source).set_function(lambda: CIRCUIT_VALUES.get(str(breaker.state), 0))


def consumers_attached(service: str, attached: Iterable[tuple[str, int]]) -> None:
    if not _enabled:
        return
    for queue, count in attached:
        CONSUMERS_ATTACHED.labels(service, queue).set(count)


def audit_publish_failed() -> None:
    if _enabled:
        AUDIT_PUBLISH_FAILURES.inc()
