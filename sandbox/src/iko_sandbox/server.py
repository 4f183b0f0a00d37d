"""Serves a simulator app with uvicorn, with a protocol that can reset API connections.

`refuse` must look like a source that drops connections, while the control API on the
same port keeps answering, so closing the listening socket is not an option. Instead the
HTTP protocol looks at each request's path once its headers are parsed and, for API paths
while `refuse` is active, sets SO_LINGER to 0 and aborts the transport: the kernel sends a
TCP RST and the client sees "connection reset" without any HTTP answer.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import httptools
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from iko_sandbox.control.behaviour import BehaviourStore, Mode
from iko_sandbox.control.middleware import is_control_path
from iko_sandbox.logs import log_config


def refusing_protocol(store: BehaviourStore) -> type[HttpToolsProtocol]:
    class RefusingHttpToolsProtocol(HttpToolsProtocol):
        _refused = False

        def on_headers_complete(self) -> None:
            path = httptools.parse_url(self.url).path.decode("latin-1")
            if store.current.mode is Mode.REFUSE and not is_control_path(path):
                self._reset_connection()
                return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def _reset_connection(self) -> None:
            self._refused = True
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()

    return RefusingHttpToolsProtocol


def server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    store: BehaviourStore = app.state.sandbox_control.store
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=refusing_protocol(store),
        loop="asyncio",
        # Access logs would print request lines, and other APIs put BSNs in URLs.
        access_log=False,
        log_config=log_config(),
        # Hung requests never finish by themselves; do not wait long for them on shutdown.
        timeout_graceful_shutdown=1,
        lifespan="off",
    )


def serve(app: FastAPI, host: str, port: int) -> None:
    server = uvicorn.Server(server_config(app, host, port))
    asyncio.run(server.serve())
