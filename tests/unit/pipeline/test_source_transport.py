"""SourceTransport: httpx's errors from aiohttp's failures, as the retries and the error codes expect them."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from iko_shared.connector.http import SourceTransport
from iko_shared.connector.resilience import RETRYABLE_ERRORS


async def test_a_server_that_hangs_up_without_answering_is_a_retryable_protocol_error():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = SourceTransport()
    try:
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/x"))
        assert isinstance(raised.value, RETRYABLE_ERRORS)
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_is_a_connect_error_not_a_timeout():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    transport = SourceTransport()
    try:
        with pytest.raises(httpx.ConnectError):
            await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/x"))
    finally:
        await transport.aclose()


async def test_a_read_timeout_stays_a_timeout():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = SourceTransport()
    try:
        request = httpx.Request("GET", f"http://127.0.0.1:{port}/x")
        request.extensions["timeout"] = {"connect": 1.0, "read": 0.1, "write": 1.0, "pool": 1.0}
        with pytest.raises(httpx.TimeoutException):
            await transport.handle_async_request(request)
    finally:
        await transport.aclose()
        server.close()
