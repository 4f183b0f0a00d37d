"""The gateway: FastAPI in front, one FastStream broker behind, one reply queue per replica."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitMessage
from iko_shared.broker import ExchangePublisher, make_broker, make_topology
from iko_shared.contracts import AuditRecorded, InzageRequested, LookupRequested
from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.ops.server import OpsServer
from iko_shared.ops.watchdog import watch_broker
from iko_shared.profiles import ProfileCatalogue, load_profiles
from iko_shared.redis_client import make_redis
from iko_shared.topology import MESSAGE_HEADER
from iko_shared.tracing import RequestSpans
from starlette.exceptions import HTTPException as StarletteHTTPException

from iko_gateway.api import router
from iko_gateway.audit import AuditFacts, Auditor, AuditPublisher
from iko_gateway.auth import Authenticator, AuthSettings
from iko_gateway.coalescing import Coalescer
from iko_gateway.compat import compat_router
from iko_gateway.decisions import AccessDecider
from iko_gateway.inzage import InzageService
from iko_gateway.inzage_api import inzage_router
from iko_gateway.lookups import Answered, LookupService
from iko_gateway.problems import problem
from iko_gateway.readiness import ReadinessProbe
from iko_gateway.replies import ReplyWaiter
from iko_gateway.security import BodyLimit, install_security, security_from
from iko_gateway.settings import GatewaySettings

log = get_logger()


@dataclass(frozen=True, slots=True)
class Reply:
    correlation_id: str | None
    kind: str | None
    body: bytes


async def as_reply(message: RabbitMessage) -> Reply:
    """The reply as it came: the body is answered as it is, so it is not parsed here.

    A decoder rather than a ``RabbitMessage`` parameter: FastStream decodes a JSON body before the handler
    runs, and resolves a message parameter in a worker thread, on every reply.
    """
    kind = message.headers.get(MESSAGE_HEADER)
    return Reply(message.correlation_id, kind if isinstance(kind, str) else None, message.body)


def build_gateway_broker(
    settings: GatewaySettings, waiter: ReplyWaiter, instance: str
) -> tuple[RabbitBroker, str, ExchangePublisher]:
    topology = make_topology(settings)
    broker = make_broker(settings, description="IKO gateway")
    replies = topology.gateway_replies(instance)
    # Sent by ``lookups_out``; the FastStream publisher documents them in the AsyncAPI document.
    lookups_out = ExchangePublisher(broker, topology.lookups)
    broker.publisher(
        topology.audit_inzage,
        title=f"{topology.audit_inzage.name}:InzageRequested",
        description="Every stored disclosure about one data subject, asked of the audit service.",
        schema=InzageRequested,
    )
    broker.publisher(
        exchange=topology.lookups,
        title=f"{topology.lookups.name}:LookupRequested",
        description="One lookup; headers name the sources it asks (iko-source-<name>: 1).",
        schema=LookupRequested,
    )

    # Documents the audit records in the AsyncAPI document; they are sent by ``audit.AuditPublisher`` on a channel
    # of their own, where an unroutable record raises (FastStream's shared channel would drop it silently).
    broker.publisher(
        exchange=topology.audit,
        routing_key="<kind>.<profile>",
        title=f"{topology.audit.name}:AuditRecorded",
        description="One record per lookup, search or endpoint call, before anything is disclosed (protocollering).",
        schema=AuditRecorded,
    )

    @broker.subscriber(
        replies,
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        decoder=as_reply,
        title=f"{topology.namespace}.gateway.replies.<instance>:LookupCompleted",
        description="Assembled views for the lookups this replica waits on, matched by correlation id.",
    )
    async def on_view(reply: Reply) -> None:
        if not reply.correlation_id:
            return
        if reply.kind == "fragment":
            waiter.forward(reply.correlation_id, reply.body)
        else:
            waiter.resolve(reply.correlation_id, reply.body)

    return broker, replies.name, lookups_out


def create_app(
    settings: GatewaySettings | None = None,
    profiles: ProfileCatalogue | None = None,
    auth_settings: AuthSettings | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    catalogue = profiles or load_profiles(settings.profiles_dir)
    topology = make_topology(settings)
    waiter = ReplyWaiter()
    instance = uuid.uuid4().hex[:12]
    broker, reply_queue, lookups_out = build_gateway_broker(settings, waiter, instance)
    # Built now, not at the first request: a bad keys file or auth setting stops the start, naming itself.
    authenticator = Authenticator(auth_settings or AuthSettings())

    metrics.configure(enabled=settings.metrics_enabled)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = make_redis(settings.redis_url, max_connections=16)
        await broker.start()
        # The reply queue's consumer, watched like every service's; /metrics on the ops port (the probes stay on
        # the API port: /healthz and /readyz).
        watchdog = watch_broker(
            "gateway", broker, interval_s=settings.watchdog_interval_s, grace_s=settings.watchdog_grace_s
        )
        await watchdog.check_once()
        watchdog.start()
        app.state.watchdog = watchdog
        ops_server = OpsServer(settings.ops_host, settings.ops_port, metrics_enabled=settings.metrics_enabled)
        try:
            await ops_server.start()
        except OSError as exc:
            log.error("ops.bind_failed", host=settings.ops_host, port=settings.ops_port, error=str(exc))
        audit = AuditPublisher(settings.rabbitmq_url, topology)
        await audit.start()
        queues = [q.name for q in topology.work_queues(catalogue.connectors())]
        probe = ReadinessProbe(settings.rabbitmq_url, redis, queues)
        app.state.settings = settings
        app.state.security = security_from(settings, authenticator, redis)
        app.state.auditor = Auditor(
            audit,
            AuditFacts(
                uitvoerder=settings.audit_uitvoerder,
                systeem=f"{settings.audit_systeem} gateway {instance}",
                bewaartermijn=settings.audit_bewaartermijn,
                vertrouwelijkheid=settings.audit_vertrouwelijkheid,
            ),
        )
        app.state.lookups = LookupService(
            topology,
            lookups_out,
            waiter,
            reply_queue,
            settings.gateway_reply_grace_s,
            max_in_flight=settings.gateway_max_in_flight,
            coalescer=(
                Coalescer[Answered](settings.gateway_coalesce_tolerance_ms / 1000)
                if settings.gateway_coalesce_tolerance_ms
                else None
            ),
        )
        # Declared here too, so that a request waits in it while the audit service starts (and is not returned).
        await broker.declare_queue(topology.audit_inzage)
        app.state.inzage = InzageService(
            topology,
            ExchangePublisher(broker),
            waiter,
            reply_queue,
            settings.gateway_inzage_timeout_ms / 1000,
        )
        app.state.probe = probe
        app.state.waiter = waiter
        log.info("gateway.ready", reply_queue=reply_queue, dev_mode=settings.dev_mode)
        try:
            yield
        finally:
            await watchdog.stop()
            await broker.stop()
            await app.state.auditor.drain()
            await audit.close()
            await probe.close()
            await authenticator.aclose()
            await redis.aclose()
            await ops_server.stop()

    app = FastAPI(
        title="IKO gateway",
        version="0.1.0",
        description="Integraal Klant- en Objectbeeld: everything the sources know about a person or company.",
        lifespan=lifespan,
        # No redirect for a trailing slash: Starlette's would be answered before authentication and build its
        # Location from the Host header. A path with a slash it does not have is a 404.
        redirect_slashes=False,
        # FastAPI's own telemetry records url.path and url.query (the compatible API's carry BSNs) and exception
        # messages: off. The request span is iko_shared.tracing.RequestSpans', named by the route template.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.decider = AccessDecider(
        catalogue,
        dev_mode=settings.dev_mode,
        compat_doelbinding=settings.gateway_compat_doelbinding,
        compat_verwerking=settings.gateway_compat_verwerking,
        compat_timeout_ms=settings.gateway_compat_timeout_ms,
        inzage_roles=tuple(settings.gateway_inzage_roles),
        portal_roles=tuple(settings.gateway_inzage_portal_roles),
    )
    app.include_router(router)
    app.include_router(compat_router)
    app.include_router(inzage_router)
    install_security(app)
    app.add_middleware(BodyLimit, max_bytes=settings.gateway_max_body_bytes)
    # Outermost: the request span is the root of the lookup's trace (a no-op without an OTEL exporter).
    app.add_middleware(RequestSpans)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return problem(422, "Invalid request", "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's 405 names the allowed methods in an Allow header: it is kept.
        answer = problem(exc.status_code, str(exc.detail))
        answer.headers.update(exc.headers or {})
        return answer

    @app.get("/healthz", summary="The process is alive (503 when its reply consumer is lost and not re-attached)")
    async def healthz(request: Request) -> Response:
        watchdog = getattr(request.app.state, "watchdog", None)
        if watchdog is not None and not (report := watchdog.liveness()).ok:
            return JSONResponse(report.body(), status_code=503)
        return JSONResponse({"status": "alive"})

    @app.get("/readyz", summary="Broker and Redis reachable, every consumer attached")
    async def readyz(request: Request) -> Response:
        report = await request.app.state.probe.check()
        return JSONResponse(
            {"status": "ready" if report.ready else "not ready", "checks": report.checks},
            status_code=200 if report.ready else 503,
        )

    return app
