"""scripts/ensure_services.sh against fake Redis / RabbitMQ servers and fake server binaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "ensure_services.sh"
BASH = "/bin/bash"


class FakeServer:
    """Listens on a free loopback port and answers every connection's first bytes with ``reply``."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                conn.settimeout(2)
                try:
                    conn.recv(1024)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake_redis() -> Iterator[FakeServer]:
    server = FakeServer(b"+PONG\r\n")
    yield server
    server.close()


@pytest.fixture
def fake_rabbit() -> Iterator[FakeServer]:
    # An AMQP 0-9-1 method frame header, as RabbitMQ's Connection.Start begins.
    server = FakeServer(b"\x01\x00\x00\x00\x00\x01\xf4")
    yield server
    server.close()


def unused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """Stand-ins for the server binaries: each records its arguments in <name>.called and does nothing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("redis-server", "rabbitmq-server", "rabbitmqctl"):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/{name}.called"\nexit 0\n')
        path.chmod(0o755)
    return bin_dir


def run(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def base_env(fake_bin: Path, redis_port: int, rabbit_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHON": sys.executable,
        "IKO_SBIN_DIRS": "",
        "IKO_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "IKO_RABBITMQ_URL": f"amqp://guest:secret@127.0.0.1:{rabbit_port}/",
        "ENSURE_SERVICES_TIMEOUT": "2",
    }


def test_no_op_when_both_services_answer(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_rabbit: FakeServer
) -> None:
    result = run(base_env(fake_bin, fake_redis.port, fake_rabbit.port))
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert "secret" not in result.stdout  # the password is not printed
    assert fake_redis.connections >= 1
    assert fake_rabbit.connections >= 1
    assert list(tmp_path.glob("*.called")) == []  # nothing was started


def test_starts_redis_when_it_does_not_answer(tmp_path: Path, fake_bin: Path, fake_rabbit: FakeServer) -> None:
    port = unused_port()
    result = run(base_env(fake_bin, port, fake_rabbit.port))
    # The fake redis-server starts nothing, so the wait must run out and say so.
    assert result.returncode == 1
    assert "Redis does not answer" in result.stderr
    called = (tmp_path / "redis-server.called").read_text()
    assert "--daemonize yes" in called
    assert f"--port {port}" in called
    assert "--save  --appendonly no" in called
    assert not (tmp_path / "rabbitmq-server.called").exists()


def test_starts_rabbitmq_detached_and_awaits_startup(tmp_path: Path, fake_bin: Path, fake_redis: FakeServer) -> None:
    result = run(base_env(fake_bin, fake_redis.port, unused_port()))
    assert result.returncode == 1
    assert "does not answer AMQP" in result.stderr
    assert (tmp_path / "rabbitmq-server.called").read_text().strip() == "-detached"
    assert "await_startup" in (tmp_path / "rabbitmqctl.called").read_text()
    assert not (tmp_path / "redis-server.called").exists()


def test_missing_servers_are_named_with_the_install_command(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = base_env(empty, unused_port(), unused_port())
    env["PATH"] = str(empty)  # neither server nor rabbitmqctl can be found
    result = run(env)
    assert result.returncode == 1
    assert "not installed: redis-server rabbitmq-server" in result.stderr
    assert "apt-get install rabbitmq-server redis-server" in result.stderr
