"""OpenTelemetry: one trace per lookup, its W3C context carried in the AMQP headers across every hop.

Configured by the standard variables only: an exporter is set up when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` names a collector (OTLP over HTTP) and ``OTEL_TRACES_EXPORTER`` is not
``none``; ``OTEL_SERVICE_NAME``, ``OTEL_BSP_*`` and the rest are read by the SDK as usual. Without one, nothing is
installed: FastStream's telemetry middleware is left out of the brokers and the helpers here do nothing, so an
untraced deployment pays no per-message cost.

What spans carry: names and attributes that describe the hop (queue, exchange, source, HTTP method, host, status),
never an identifier or a fetched value. The HTTP client span records no URL, path or query: KVK paths carry the
kvkNummer and ZGW's ``list`` mode the BSN.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

TRACER_NAME = "iko"
_configured: bool | None = None


def exporter_configured(environ: MutableMapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(service_name: str) -> bool:
    """Install the SDK's tracer provider with a batching OTLP/HTTP exporter, once per process, when the
    environment names a collector. Returns whether tracing is on."""
    global _configured
    if _configured is not None:
        return _configured
    _configured = exporter_configured()
    if _configured:
        # Imported only when used: the SDK and the exporter cost import time and memory an untraced process saves.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        name = os.environ.get("OTEL_SERVICE_NAME") or service_name
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(ScrubbingExporter(OTLPSpanExporter())))
        trace.set_tracer_provider(provider)
    return _configured


# What an exception event may keep: its type. Messages quote inputs (pydantic's quote the body, personal data),
# stack traces hold them in locals' reprs at times.
_EXCEPTION_KEEPS = frozenset({"exception.type", "exception.escaped"})


class ScrubbingExporter(SpanExporter):
    """Passes spans on with every exception event cut to its type: FastStream's consume span records the
    handler's exception as it is."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def export(self, spans: Any) -> Any:
        return self._inner.export([scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


def scrubbed(span: Any) -> Any:
    """The span with its exception events' messages and stack traces left out (a copy; others as they are)."""
    from opentelemetry.sdk.trace import Event, ReadableSpan

    if not any(event.name == "exception" for event in span.events):
        return span
    events = [
        Event("exception", {k: v for k, v in (e.attributes or {}).items() if k in _EXCEPTION_KEEPS}, e.timestamp)
        if e.name == "exception"
        else e
        for e in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def enabled() -> bool:
    return bool(_configured)


def shutdown() -> None:
    """Flush what is still batched (at exit)."""
    provider = trace.get_tracer_provider()
    stop = getattr(provider, "shutdown", None)
    if enabled() and callable(stop):
        stop()


def broker_middlewares() -> list[Any]:
    """FastStream's own telemetry middleware (publish and consume spans, context from and into the headers) when
    tracing is on; none otherwise."""
    if not enabled():
        return []
    from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

    return [RabbitTelemetryMiddleware()]


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


@contextmanager
def publish_span(destination: str, headers: dict[str, Any]) -> Iterator[None]:
    """A producer span for a publish that bypasses FastStream's publisher (``ExchangePublisher``), its context
    written into ``headers`` so the consumer's span is its child."""
    if not enabled():
        yield
        return
    with tracer().start_as_current_span(
        f"{destination} publish",
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "rabbitmq", "messaging.destination.name": destination},
    ):
        propagate.inject(headers)
        yield


def inject(headers: dict[str, Any]) -> dict[str, Any]:
    """The current context's ``traceparent`` (and ``tracestate``) into ``headers``; a no-op when tracing is off."""
    if enabled():
        propagate.inject(headers)
    return headers


def extract(headers: MutableMapping[str, Any] | None) -> context.Context:
    return propagate.extract({k: str(v) for k, v in (headers or {}).items()})


def current_traceparent() -> str | None:
    """The current span's context as a ``traceparent`` value, for work that resumes it later (a deadline sweep)."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def resumed(traceparent: str | None, name: str, **attributes: Any) -> Iterator[Span | None]:
    """A span in the trace ``traceparent`` names (stored with a request), or nothing when tracing is off."""
    if not enabled():
        yield None
        return
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(name, context=parent, attributes=attributes) as span:
        yield span


@contextmanager
def answered(traceparents: list[str]) -> Iterator[None]:
    """The span of a lookup's answer, linked to the handling of every fragment it combined (each fragment's
    ``traceparent``, kept with it when it was recorded)."""
    if not enabled():
        yield
        return
    links = []
    for traceparent in traceparents:
        span_context = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    with tracer().start_as_current_span("lookup answered", links=links, attributes={"iko.fragments": len(links)}):
        yield


class TracedTransport(httpx.AsyncBaseTransport):
    """An HTTP client span around each call to a source: method, host, port and status, never the URL (paths and
    queries carry identifiers at some sources)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, source: str) -> None:
        self._inner = inner
        self._source = source

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not enabled():
            return await self._inner.handle_async_request(request)
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "server.address": request.url.host,
            "server.port": request.url.port or (443 if request.url.scheme == "https" else 80),
            "iko.source": self._source,
        }
        with tracer().start_as_current_span(
            request.method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            # httpx's messages may name the URL: the type alone is recorded, below.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            propagate.inject(request.headers)
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class RequestSpans:
    """ASGI middleware: each HTTP request the root of its own trace, named by its route template
    (``POST /api/v1/profiles/{profile}/lookups``), never by its path: the compatible API's paths carry BSNs.

    A caller's ``traceparent`` is not continued: the gateway's request span is the root, and what a client sends is
    not trusted to shape IKO's traces."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not enabled():
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        status: dict[str, int] = {}

        async def sending(message: Any) -> None:
            if message.get("type") == "http.response.start":
                status["code"] = int(message.get("status", 0))
            await send(message)

        with tracer().start_as_current_span(
            method,
            context=context.Context(),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, sending)
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR))
                raise
            finally:
                route = getattr(scope.get("route"), "path", None)
                span.update_name(f"{method} {route or 'unmatched route'}")
                if route:
                    span.set_attribute("http.route", route)
                if "code" in status:
                    span.set_attribute("http.response.status_code", status["code"])
                    if status["code"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
