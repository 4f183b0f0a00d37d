"""Wiring the ops endpoint and the consumer watchdog into a FastStream service (connectors, assembler, audit)."""

from __future__ import annotations

from collections.abc import Mapping

from faststream import FastStream
from faststream.rabbit import RabbitBroker

from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.ops.health import Health, Probe
from iko_shared.ops.server import OpsServer
from iko_shared.ops.watchdog import Watchdog, broker_connected, watch_broker
from iko_shared.settings import CommonSettings

log = get_logger()


class BrokerDownError(Exception):
    pass


def broker_probe(broker: RabbitBroker) -> Probe:
    connected = broker_connected(broker)

    async def probe() -> None:
        if not connected():
            raise BrokerDownError

    return probe


class Ops:
    """The ops server and watchdog of one process; ``watchdog`` and ``server`` are set once the service runs."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.watchdog: Watchdog | None = None
        self.server: OpsServer | None = None
        self.health: Health | None = None


def attach_ops(
    app: FastStream,
    broker: RabbitBroker,
    settings: CommonSettings,
    *,
    service: str,
    kind: str,
    probes: Mapping[str, Probe] | None = None,
) -> Ops:
    """Serve ``/metrics``, ``/livez`` and ``/readyz`` on ``settings.ops_port`` and watch the broker's consumers.

    Readiness checks the broker plus ``probes``; what decides is ``health.REQUIREMENTS[kind]``. Started after the
    subscribers (a failed start leaves no port bound for the retry), the watchdog stopped before them.
    """
    metrics.configure(enabled=settings.metrics_enabled)
    ops = Ops(service)

    @app.after_startup
    async def _start_ops() -> None:
        watchdog = watch_broker(
            service, broker, interval_s=settings.watchdog_interval_s, grace_s=settings.watchdog_grace_s
        )
        health = Health(kind, {"broker": broker_probe(broker), **(probes or {})}, liveness=watchdog.liveness)
        server = OpsServer(settings.ops_host, settings.ops_port, health, metrics_enabled=settings.metrics_enabled)
        try:
            await server.start()
            ops.server = server
        except OSError as exc:
            # The service itself works; its probes will not answer, which the orchestrator sees.
            log.error("ops.bind_failed", host=settings.ops_host, port=settings.ops_port, error=str(exc))
        await watchdog.check_once()
        watchdog.start()
        ops.watchdog, ops.health = watchdog, health

    @app.on_shutdown
    async def _stop_watchdog() -> None:
        if ops.watchdog is not None:
            await ops.watchdog.stop()

    @app.after_shutdown
    async def _stop_ops() -> None:
        if ops.server is not None:
            await ops.server.stop()
            ops.server = None

    return ops
