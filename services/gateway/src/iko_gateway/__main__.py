"""Entry point: ``python -m iko_gateway``."""

from __future__ import annotations

import uvicorn
from iko_shared.logging import configure_logging

from iko_gateway.app import create_app
from iko_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        loop="uvloop",
        http="httptools",
        # Access logs would print paths; the compatibility API puts identifiers in them.
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
