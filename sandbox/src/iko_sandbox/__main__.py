"""python -m iko_sandbox {brp|kvk|zgw} [--host H] [--port N]"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
from collections.abc import Callable

from fastapi import FastAPI

from iko_sandbox.logs import log_config

DEFAULT_PORTS = {"brp": 8101, "kvk": 8102, "zgw": 8103}


def _factory(name: str) -> Callable[[], FastAPI]:
    # Imported lazily so starting one simulator does not load the others' data.
    if name == "brp":
        from iko_sandbox.brp.app import create_brp_app

        return create_brp_app
    if name == "kvk":
        from iko_sandbox.kvk.app import create_kvk_app

        return create_kvk_app
    from iko_sandbox.zgw.app import create_zgw_app

    return create_zgw_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m iko_sandbox", description="Run an IKO source simulator.")
    parser.add_argument("simulator", choices=sorted(DEFAULT_PORTS))
    parser.add_argument("--host", default=os.environ.get("IKO_SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    port = args.port or int(os.environ.get(f"IKO_SANDBOX_{args.simulator.upper()}_PORT", DEFAULT_PORTS[args.simulator]))

    logging.config.dictConfig(log_config())
    logger = logging.getLogger("iko_sandbox")
    app = _factory(args.simulator)()
    logger.info("starting %s simulator on %s:%d", args.simulator, args.host, port)

    from iko_sandbox.server import serve

    serve(app, args.host, port)


if __name__ == "__main__":
    main()
