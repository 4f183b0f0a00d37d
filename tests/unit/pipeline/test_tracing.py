"""Tracing's rules in isolation: on only with a collector named, exception events cut to their type, no URL on a
client span, request spans named by route template and rooted at the gateway."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from iko_shared import tracing
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.ScrubbingExporter(exporter)))
    monkeypatch.setattr(tracing, "_configured", True)
    monkeypatch.setattr(tracing, "tracer", lambda: provider.get_tracer("test"))
    return exporter


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_when_a_collector_is_named(environ: dict[str, str], on: bool) -> None:
    assert tracing.exporter_configured(environ) is on


def test_off_nothing_is_injected_and_no_middleware_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_configured", False)
    assert tracing.inject({}) == {}
    assert tracing.broker_middlewares() == []
    assert tracing.current_traceparent() is None


def test_an_exception_event_keeps_its_type_and_loses_its_message(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError, match="input was"), tracing.tracer().start_as_current_span("process"):
        raise ValueError("input was {'burgerservicenummer': '999993653'}")
    [span] = spans.get_finished_spans()
    [event] = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "ValueError"
    assert set(event.attributes or {}) <= {"exception.type", "exception.escaped"}
    assert "999993653" not in repr(span.to_json())


async def test_a_client_span_names_the_host_and_status_never_the_url(spans: InMemorySpanExporter) -> None:
    inner = httpx.MockTransport(lambda request: httpx.Response(404))
    async with httpx.AsyncClient(
        transport=tracing.TracedTransport(inner, "kvk"), base_url="https://kvk.test"
    ) as client:
        await client.get("/basisprofielen/69599084", params={"bsn": "999993653"})
    [span] = spans.get_finished_spans()
    assert span.name == "GET"
    assert span.kind == trace.SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "server.address": "kvk.test",
        "server.port": 443,
        "iko.source": "kvk",
        "http.response.status_code": 404,
    }
    assert "69599084" not in span.to_json()
    assert "999993653" not in span.to_json()


async def test_a_request_span_is_a_root_named_by_its_route_template(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.get("/aggregated-data-profiles/{profile}/{bsn}")
    async def detail(profile: str, bsn: str) -> dict[str, str]:
        return {"profile": profile}

    app.add_middleware(tracing.RequestSpans)
    caller_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.get(
            "/aggregated-data-profiles/persoon/999993653", headers={"traceparent": caller_trace}
        )
    assert response.status_code == 200
    [span] = spans.get_finished_spans()
    assert span.name == "GET /aggregated-data-profiles/{profile}/{bsn}"
    assert span.parent is None, "a caller's traceparent is not continued"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert "999993653" not in span.to_json()
