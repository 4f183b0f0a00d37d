"""The metrics helpers and the ops endpoint: names, labels, and metrics switched off."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from iko_shared.connector.breaker import CircuitBreaker
from iko_shared.ops import metrics
from iko_shared.ops.health import Health
from iko_shared.ops.server import OpsServer
from prometheus_client.parser import text_string_to_metric_families


def sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture(autouse=True)
def enabled():
    metrics.configure(enabled=True)
    yield
    metrics.configure(enabled=True)


def test_lookups_are_counted_by_profile_and_outcome_with_their_duration():
    before = sample("iko_lookups_total", profile="t-profile", outcome="partial")
    count = sample("iko_lookup_duration_seconds_count", profile="t-profile")
    flight = sample("iko_lookups_in_flight")
    metrics.lookup_started()
    assert sample("iko_lookups_in_flight") == flight + 1
    metrics.lookup_finished("t-profile", "partial", 0.3)
    assert sample("iko_lookups_in_flight") == flight
    assert sample("iko_lookups_total", profile="t-profile", outcome="partial") == before + 1
    assert sample("iko_lookup_duration_seconds_count", profile="t-profile") == count + 1
    refused = sample("iko_lookups_total", profile="t-profile", outcome="refused")
    metrics.lookup_refused("t-profile")
    assert sample("iko_lookups_total", profile="t-profile", outcome="refused") == refused + 1
    # A refusal never started: in flight and the histogram are untouched.
    assert sample("iko_lookups_in_flight") == flight
    assert sample("iko_lookup_duration_seconds_count", profile="t-profile") == count + 1


def test_outcomes_of_answers():
    assert metrics.outcome_of("complete") == "complete"
    assert metrics.outcome_of("partial") == "partial"
    assert metrics.outcome_of(None) == "error"


def test_source_fetch_statuses_are_bounded():
    metrics.source_fetched("t-src", "ok", 0.01)
    metrics.source_fetched("t-src", "timeout", 1.0)
    metrics.source_fetched("t-src", "something-else", 0.1)
    assert sample("iko_source_fetches_total", source="t-src", status="ok") >= 1
    assert sample("iko_source_fetches_total", source="t-src", status="timeout") >= 1
    assert sample("iko_source_fetches_total", source="t-src", status="error") >= 1
    assert (
        metrics.REGISTRY.get_sample_value("iko_source_fetches_total", {"source": "t-src", "status": "something-else"})
        is None
    )
    assert sample("iko_source_fetch_duration_seconds_count", source="t-src") >= 3


def test_assembler_counters():
    fired, late, dup = (
        sample(n) for n in ("iko_deadlines_fired_total", "iko_fragments_late_total", "iko_fragments_duplicate_total")
    )
    metrics.deadline_fired()
    metrics.fragment_dropped("late")
    metrics.fragment_dropped("duplicate")
    metrics.fragment_dropped("unexpected")
    assert sample("iko_deadlines_fired_total") == fired + 1
    assert sample("iko_fragments_late_total") == late + 1
    assert sample("iko_fragments_duplicate_total") == dup + 1


def test_the_circuit_state_is_read_from_the_breaker_when_scraped():
    now = [0.0]
    breaker = CircuitBreaker(1, reset_timeout_s=5.0, clock=lambda: now[0], min_callers=1)
    metrics.watch_circuit("t-circuit", breaker)
    assert sample("iko_circuit_state", source="t-circuit") == 0
    breaker.record_failure()
    assert sample("iko_circuit_state", source="t-circuit") == 2
    now[0] = 6.0  # half-open by the clock alone
    assert sample("iko_circuit_state", source="t-circuit") == 1
    breaker.allow()
    breaker.record_success()
    assert sample("iko_circuit_state", source="t-circuit") == 0


def test_switched_off_nothing_is_recorded():
    metrics.configure(enabled=False)
    before = sample("iko_lookups_total", profile="t-off", outcome="complete")
    metrics.lookup_started()
    metrics.lookup_finished("t-off", "complete", 0.1)
    metrics.audit_publish_failed()
    metrics.consumers_attached("t-off", [("q", 1)])
    assert sample("iko_lookups_total", profile="t-off", outcome="complete") == before
    assert metrics.REGISTRY.get_sample_value("iko_consumers_attached", {"service": "t-off", "queue": "q"}) is None


def test_every_series_name_is_exported_as_agreed():
    names = {family.name for family in text_string_to_metric_families(metrics.exposition().decode())}
    # The parser drops the _total suffix of counters.
    assert {
        "iko_lookups",
        "iko_lookup_duration_seconds",
        "iko_lookups_in_flight",
        "iko_source_fetches",
        "iko_source_fetch_duration_seconds",
        "iko_deadlines_fired",
        "iko_fragments_late",
        "iko_fragments_duplicate",
        "iko_circuit_state",
        "iko_consumers_attached",
        "iko_audit_publish_failures",
    } <= names
    assert "_created" not in metrics.exposition().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ops(health: Health | None, *, metrics_enabled: bool) -> OpsServer:
    server = OpsServer("127.0.0.1", free_port(), health, metrics_enabled=metrics_enabled)
    await server.start()
    return server


async def test_the_ops_endpoint_serves_metrics_and_probes():
    async def broker() -> None:
        return None

    server = await ops(Health("connector", {"broker": broker}), metrics_enabled=True)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            assert "# TYPE iko_lookups_total counter" in response.text
            assert (await client.get("/livez")).json() == {"status": "live", "checks": {}}
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"broker": "ok"}
    finally:
        await server.stop()


async def test_metrics_switched_off_answer_404():
    server = await ops(None, metrics_enabled=False)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/metrics")).status_code == 404
            # The gateway's ops port: metrics only, its probes are on the API port.
            assert (await client.get("/livez")).status_code == 404
    finally:
        await server.stop()


def test_the_setting_switches_metrics_off(monkeypatch):
    from iko_shared.settings import CommonSettings

    monkeypatch.setenv("IKO_METRICS_ENABLED", "false")
    monkeypatch.setenv("IKO_OPS_PORT", "19464")
    settings = CommonSettings()
    assert settings.metrics_enabled is False
    assert settings.ops_port == 19464
    assert CommonSettings.model_fields["ops_port"].default == 9464
    assert CommonSettings.model_fields["ops_host"].default == "0.0.0.0"


def test_every_iko_series_the_dashboard_may_use_is_exported_with_its_labels():
    """deploy/monitoring/series.txt lists what the dashboard and alert rules use: the services must export it."""
    listed = Path(__file__).resolve().parents[3] / "deploy" / "monitoring" / "series.txt"
    if not listed.exists():
        pytest.skip("no series list in this tree")
    # One sample of every labelled series, so each appears.
    metrics.lookup_finished("t-list", "complete", 0.1)
    metrics.source_fetched("t-list", "ok", 0.1)
    metrics.circuit_state("t-list", "closed")
    metrics.consumers_attached("t-list", [("q", 1)])
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            exported.setdefault(s.name, set()).update(s.labels)
    for line in listed.read_text(encoding="utf-8").splitlines():
        if not line.startswith("iko_"):
            continue
        name, _, labels = line.partition(" ")
        assert name in exported, f"{name} is listed but not exported"
        assert set(filter(None, labels.split(","))) == exported[name], name
