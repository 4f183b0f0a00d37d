"""ASGI middleware that records API requests and applies the configured behaviour.

It sits in front of the whole simulator app; the `/__sandbox__` control paths pass
through untouched so a test can always change or inspect the behaviour, even while
API requests hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iko_sandbox.control.behaviour import BehaviourStore, Mode
from iko_sandbox.control.recorder import RequestRecorder

CONTROL_PREFIX = "/__sandbox__"


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    content_type: str
    body: bytes


# Builds the source's own 500 answer for `error` mode (problem+json, or KVK's `fout`).
ErrorFactory = Callable[[Scope], ErrorAnswer]


class ConnectionRefusedByBehaviourError(ConnectionResetError):
    """Raised in-process when `refuse` is active and no socket-level reset is possible.

    Under the real server the refusing protocol resets the TCP connection before the
    app is called; this exception only surfaces with in-process transports (tests).
    """


# The 200s that break the contract, by mode: (content type, body).
MISBEHAVIOURS: dict[Mode, tuple[bytes, bytes]] = {
    Mode.GARBAGE: (b"application/json", b'{"personen": [{"burgerservicenummer": '),
    Mode.WRONG_TYPE: (b"text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    Mode.BROKEN: (b"application/json", b"[1, 2, 3]"),
}


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


class BehaviourMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: BehaviourStore,
        recorder: RequestRecorder,
        error_factory: ErrorFactory,
    ) -> None:
        self.app = app
        self.store = store
        self.recorder = recorder
        self.error_factory = error_factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_control_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        body, more_messages = await _read_body(receive)
        self.recorder.record(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=list(scope.get("headers", [])),
            body=body,
        )

        behaviour = self.store.current
        if behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)

        if behaviour.mode is Mode.HANG:
            await _wait_for_disconnect(receive, more_messages)
            return
        if behaviour.mode is Mode.ERROR:
            answer = self.error_factory(scope)
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [(b"content-type", answer.content_type.encode("latin-1"))],
                }
            )
            await send({"type": "http.response.body", "body": answer.body})
            return
        if behaviour.mode is Mode.REFUSE:
            raise ConnectionRefusedByBehaviourError("sandbox behaviour 'refuse'")
        if behaviour.mode in MISBEHAVIOURS:
            content_type, answer_body = MISBEHAVIOURS[behaviour.mode]
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
            await send({"type": "http.response.body", "body": answer_body})
            return

        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """Reads the whole request body; returns it and whether the client already went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


async def _wait_for_disconnect(receive: Receive, connected: bool) -> None:
    # Returning only when the client gives up frees the task instead of leaking one
    # sleeper per hung request for the life of the process.
    while connected:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
