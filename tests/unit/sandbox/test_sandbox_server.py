"""The simulators as real servers: `refuse` resets TCP connections while control answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def kvk_server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "IKO_SANDBOX_KVK_API_KEY": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "iko_sandbox", "kvk", "--host", HOST, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/__sandbox__/behaviour", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("simulator did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
        # No access log: request lines must not reach the logs.
        assert b"/v1/basisprofielen/" not in stderr


def test_refuse_resets_api_connections_while_control_answers(kvk_server: str) -> None:
    with httpx.Client(base_url=kvk_server, timeout=5) as client:
        assert client.get("/v1/basisprofielen/69599084").status_code == 200
        client.put("/__sandbox__/behaviour", json={"mode": "refuse"})
        try:
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)) as raised:
                client.get("/v1/basisprofielen/69599084")
            control = client.get("/__sandbox__/behaviour")
        finally:
            client.delete("/__sandbox__/behaviour")
        recovered = client.get("/v1/basisprofielen/69599084")

    # httpx reports a reset before any response bytes as one of these; the raw-socket test
    # below checks that it is a reset and not a clean close.
    assert raised.value is not None
    assert control.status_code == 200
    assert control.json()["mode"] == "refuse"
    assert recovered.status_code == 200


def test_refuse_sends_a_tcp_reset_not_an_http_answer(kvk_server: str) -> None:
    port = int(kvk_server.rsplit(":", 1)[1])
    httpx.put(f"{kvk_server}/__sandbox__/behaviour", json={"mode": "refuse"})
    try:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(b"GET /v1/basisprofielen/69599084 HTTP/1.1\r\nHost: x\r\n\r\n")
            # A reset raises; a clean close would return b"", an HTTP answer its bytes.
            try:
                data: bytes | None = sock.recv(4096)
            except ConnectionResetError:
                data = None
            assert data is None, f"expected a TCP reset, got {data[:60]!r}"
    finally:
        httpx.delete(f"{kvk_server}/__sandbox__/behaviour")


def test_hang_is_cut_by_the_client_timeout(kvk_server: str) -> None:
    with httpx.Client(base_url=kvk_server) as client:
        client.put("/__sandbox__/behaviour", json={"mode": "hang"})
        try:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                client.get("/v1/basisprofielen/69599084", timeout=0.5)
            elapsed = time.monotonic() - started
            control = client.get("/__sandbox__/behaviour", timeout=2)
        finally:
            client.delete("/__sandbox__/behaviour", timeout=2)

    assert 0.5 <= elapsed < 3
    assert control.json()["mode"] == "hang"
