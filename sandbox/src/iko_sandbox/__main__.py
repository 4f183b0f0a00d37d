"""python -m iko_sandbox <source> [--host H] [--port N]: the simulator of a source in the registry.

The source's ``SourceEntry`` (``iko_shared.sources``) names the simulator package, whose ``app`` module has
``create_app()``, and the default port; ``IKO_SANDBOX_<SOURCE>_PORT`` overrides that port.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import logging.config
import os
from collections.abc import Callable
from typing import cast

from fastapi import FastAPI

from iko_sandbox.logs import log_config


def _factory(simulator_module: str) -> Callable[[], FastAPI] | None:
    # Imported only for the simulator asked for, so starting one does not load the others' data.
    try:
        module = importlib.import_module(f"{simulator_module}.app")
    except ModuleNotFoundError as exc:
        if exc.name is not None and f"{simulator_module}.app".startswith(exc.name):
            return None
        raise
    factory = getattr(module, "create_app", None)
    return cast("Callable[[], FastAPI]", factory) if callable(factory) else None


def main(argv: list[str] | None = None) -> None:
    # The registry lives in iko_shared; reading it imports nothing beyond the standard library.
    from iko_shared.sources import SourceRegistryError, source_entry, source_names

    parser = argparse.ArgumentParser(prog="python -m iko_sandbox", description="Run an IKO source simulator.")
    parser.add_argument("simulator", metavar="source", help=f"a registered source: {', '.join(source_names())}")
    parser.add_argument("--host", default=os.environ.get("IKO_SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        entry = source_entry(args.simulator)
    except SourceRegistryError as exc:
        parser.error(str(exc))
    factory = _factory(entry.simulator_module)
    if factory is None:
        parser.error(f"source {entry.name!r} has no simulator: {entry.simulator_module}.app has no create_app()")
    port = args.port or int(os.environ.get(f"IKO_SANDBOX_{entry.name.upper()}_PORT", entry.simulator_port))

    logging.config.dictConfig(log_config())
    logger = logging.getLogger("iko_sandbox")
    app = factory()
    logger.info("starting %s simulator on %s:%d", entry.name, args.host, port)

    from iko_sandbox.server import serve

    serve(app, args.host, port)


if __name__ == "__main__":
    main()
