"""A minimal HTTP/1.1 client and server over asyncio streams: keep-alive, Content-Length bodies, nothing else.

The load generator's own client costs far less CPU per request than a full client library, which matters on a
two-core machine where it shares the cores with the system it measures. The server is the front of the floor
and of the direct fan-out: the same front door for every system, so the client side is alike for all three.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

MAX_HEAD = 64 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error", 504: "Gateway Timeout"}

Handler = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]


class HttpError(RuntimeError):
    """The peer spoke something this module does not read."""


def _content_length(head: bytes) -> int:
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return -1 if chunked else length


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def build_request(host: str, port: int, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The whole request as bytes, built once and sent as often as needed."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a request built by :func:`build_request`; returns the status and the body."""
        if self._writer is None or self._reader is None:
            await self.open()
        assert self._writer is not None
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line = head[: head.find(b"\r\n")]
        try:
            status = int(status_line.split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"not an HTTP status line: {status_line[:80]!r}") from None
        length = _content_length(head)
        body = await _read_chunked(self._reader) if length < 0 else await self._reader.readexactly(length)
        if b"\r\nconnection: close" in head.lower():
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _response(status: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def serve(handler: Handler, host: str, port: int) -> asyncio.Server:
    """Serve ``handler(method, path, body) -> (status, body)``; requests on one connection run in order."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line = head[: head.find(b"\r\n")].decode("latin-1")
                method, path, *_ = [*request_line.split(" "), "", ""]
                length = _content_length(head)
                body = await _read_chunked(reader) if length < 0 else await reader.readexactly(length)
                try:
                    status, answer = await handler(method, path, body)
                except Exception as exc:  # the benchmark must see the failure, not a hung connection
                    status, answer = 500, f'{{"error": "{type(exc).__name__}"}}'.encode()
                writer.write(_response(status, answer))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    return await asyncio.start_server(on_connection, host, port, limit=MAX_HEAD, backlog=1024)
