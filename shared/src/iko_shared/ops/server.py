"""The ops HTTP endpoint of a process: ``/metrics`` and, where a ``Health`` is given, ``/livez`` and ``/readyz``.

Served by aiohttp on its own port (``IKO_OPS_PORT``), in the process's event loop; the public Service exposes
the API port only.
"""

from __future__ import annotations

from aiohttp import web

from iko_shared.logging import get_logger
from iko_shared.ops import metrics
from iko_shared.ops.health import Health

log = get_logger()


def make_ops_app(health: Health | None, *, metrics_enabled: bool) -> web.Application:
    app = web.Application()

    async def get_metrics(_: web.Request) -> web.Response:
        if not metrics_enabled:
            raise web.HTTPNotFound(text="metrics are switched off (IKO_METRICS_ENABLED=false)")
        return web.Response(body=metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})

    app.router.add_get("/metrics", get_metrics)
    if health is not None:
        checked = health

        async def livez(_: web.Request) -> web.Response:
            report = checked.liveness()
            return web.json_response(report.body(), status=report.status_code)

        async def readyz(_: web.Request) -> web.Response:
            report = await checked.readiness()
            return web.json_response(report.body(), status=report.status_code)

        app.router.add_get("/livez", livez)
        app.router.add_get("/readyz", readyz)
    return app


class OpsServer:
    def __init__(self, host: str, port: int, health: Health | None = None, *, metrics_enabled: bool = True) -> None:
        self.host = host
        self.port = port
        self._app = make_ops_app(health, metrics_enabled=metrics_enabled)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        if self.port == 0:
            # An ephemeral port (tests): what the kernel gave.
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        log.info("ops.listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
