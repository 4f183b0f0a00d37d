"""scripts/ensure_services.sh against fake Redis / RabbitMQ / PostgreSQL servers and fake server binaries."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "ensure_services.sh"
PROBE = SCRIPT.parent / "service_probe.py"
BASH = "/bin/bash"
# AuthenticationOk, as a trust-auth PostgreSQL answers a startup message first.
PG_AUTH_OK = b"R\x00\x00\x00\x08\x00\x00\x00\x00"


def pg_error(sqlstate: str, message: str) -> bytes:
    body = b"SFATAL\x00C" + sqlstate.encode() + b"\x00M" + message.encode() + b"\x00\x00"
    return b"E" + struct.pack("!i", 4 + len(body)) + body


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


@pytest.fixture
def fake_postgres() -> Iterator[FakeServer]:
    server = FakeServer(PG_AUTH_OK)
    yield server
    server.close()


def unused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port: int = s.getsockname()[1]
    return port


# Started by the fake pg_ctlcluster when FAKE_PG_START_PORT is set: a PostgreSQL that says AuthenticationOk.
FAKE_PG_SERVER = f"""
import socket, sys
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = srv.accept()
    conn.recv(1024)
    conn.sendall({PG_AUTH_OK!r})
    conn.close()
"""


@pytest.fixture
def fake_bin(tmp_path: Path) -> Iterator[Path]:
    """Stand-ins for the server binaries: each records its arguments in <name>.called.

    pg_lsclusters lists the clusters in ``FAKE_PG_CLUSTERS`` (its --no-header lines); pg_ctlcluster starts a
    fake PostgreSQL on ``FAKE_PG_START_PORT`` when that is set (its pid in pg.pid, killed afterwards).
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("redis-server", "rabbitmq-server", "rabbitmqctl"):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/{name}.called"\nexit 0\n')
        path.chmod(0o755)
    (tmp_path / "fake_pg_server.py").write_text(FAKE_PG_SERVER)
    scripts = {
        "pg_lsclusters": f'echo "$@" >> "{tmp_path}/pg_lsclusters.called"\nprintf "%s" "$FAKE_PG_CLUSTERS"\n',
        "pg_ctlcluster": (
            f'echo "$@" >> "{tmp_path}/pg_ctlcluster.called"\n'
            'if [ -n "$FAKE_PG_START_PORT" ]; then\n'
            f'  "$PYTHON" "{tmp_path}/fake_pg_server.py" "$FAKE_PG_START_PORT" </dev/null >/dev/null 2>&1 &\n'
            f'  echo $! > "{tmp_path}/pg.pid"\n'
            "fi\n"
        ),
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}exit 0\n")
        path.chmod(0o755)
    yield bin_dir
    pid_file = tmp_path / "pg.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def run(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def base_env(fake_bin: Path, redis_port: int, rabbit_port: int, pg_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHON": sys.executable,
        "IKO_SBIN_DIRS": "",
        "IKO_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "IKO_RABBITMQ_URL": f"amqp://guest:secret@127.0.0.1:{rabbit_port}/",
        "IKO_AUDIT_ADMIN_URL": f"postgresql://postgres:pgsecret@127.0.0.1:{pg_port}/postgres",
        "ENSURE_SERVICES_TIMEOUT": "2",
        "FAKE_PG_CLUSTERS": "",
        "FAKE_PG_START_PORT": "",
    }


def test_no_op_when_every_service_answers(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_rabbit: FakeServer, fake_postgres: FakeServer
) -> None:
    result = run(base_env(fake_bin, fake_redis.port, fake_rabbit.port, fake_postgres.port))
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert "secret" not in result.stdout  # no password is printed
    assert fake_redis.connections >= 1
    assert fake_rabbit.connections >= 1
    assert fake_postgres.connections >= 1
    assert list(tmp_path.glob("*.called")) == []  # nothing was started


def test_starts_redis_when_it_does_not_answer(
    tmp_path: Path, fake_bin: Path, fake_rabbit: FakeServer, fake_postgres: FakeServer
) -> None:
    port = unused_port()
    result = run(base_env(fake_bin, port, fake_rabbit.port, fake_postgres.port))
    # The fake redis-server starts nothing, so the wait must run out and say so.
    assert result.returncode == 1
    assert "Redis does not answer" in result.stderr
    called = (tmp_path / "redis-server.called").read_text()
    assert "--daemonize yes" in called
    assert f"--port {port}" in called
    assert "--save  --appendonly no" in called
    assert not (tmp_path / "rabbitmq-server.called").exists()


def test_starts_rabbitmq_detached_and_awaits_startup(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_postgres: FakeServer
) -> None:
    result = run(base_env(fake_bin, fake_redis.port, unused_port(), fake_postgres.port))
    assert result.returncode == 1
    assert "does not answer AMQP" in result.stderr
    assert (tmp_path / "rabbitmq-server.called").read_text().strip() == "-detached"
    assert "await_startup" in (tmp_path / "rabbitmqctl.called").read_text()
    assert not (tmp_path / "redis-server.called").exists()


def test_missing_servers_are_named_with_the_install_command(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = base_env(empty, unused_port(), unused_port(), unused_port())
    env["PATH"] = str(empty)  # no server, no rabbitmqctl, no pg_ctlcluster
    result = run(env)
    assert result.returncode == 1
    assert "not installed: redis-server rabbitmq-server postgresql" in result.stderr
    assert "apt-get install rabbitmq-server redis-server postgresql" in result.stderr


def cluster_line(version: str, name: str, port: int, log: Path) -> str:
    return f"{version} {name} {port} down postgres /var/lib/postgresql/{version}/{name} {log}\n"


def test_starts_the_postgresql_cluster_on_the_urls_port(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_rabbit: FakeServer
) -> None:
    port = unused_port()
    env = base_env(fake_bin, fake_redis.port, fake_rabbit.port, port)
    # Another cluster on another port comes first: the one on the URL's port is started, not the first.
    env["FAKE_PG_CLUSTERS"] = cluster_line("14", "main", unused_port(), tmp_path / "14.log") + cluster_line(
        "15", "main", port, tmp_path / "15.log"
    )
    env["FAKE_PG_START_PORT"] = str(port)
    env["ENSURE_SERVICES_TIMEOUT"] = "20"
    result = run(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "pg_ctlcluster.called").read_text().strip() == "--skip-systemctl-redirect 15 main start"
    assert "--no-header" in (tmp_path / "pg_lsclusters.called").read_text()
    assert "PostgreSQL answers after" in result.stdout
    assert "pgsecret" not in result.stdout + result.stderr
    assert not (tmp_path / "redis-server.called").exists()
    assert not (tmp_path / "rabbitmq-server.called").exists()


def test_a_postgresql_that_never_answers_is_reported_with_its_log(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_rabbit: FakeServer
) -> None:
    port = unused_port()
    log = tmp_path / "15.log"
    log.write_text("FATAL:  could not create lock file\n")
    env = base_env(fake_bin, fake_redis.port, fake_rabbit.port, port)
    env["FAKE_PG_CLUSTERS"] = cluster_line("15", "main", port, log)
    result = run(env)
    assert result.returncode == 1
    assert f"PostgreSQL does not answer at postgresql://postgres:***@127.0.0.1:{port}/postgres" in result.stderr
    assert "cluster 15/main" in result.stderr
    assert "could not create lock file" in result.stderr
    assert (tmp_path / "pg_ctlcluster.called").read_text().strip() == "--skip-systemctl-redirect 15 main start"


def test_no_cluster_on_the_port_is_a_clear_error(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_rabbit: FakeServer
) -> None:
    port = unused_port()
    env = base_env(fake_bin, fake_redis.port, fake_rabbit.port, port)
    env["FAKE_PG_CLUSTERS"] = cluster_line("15", "main", unused_port(), tmp_path / "15.log")
    result = run(env)
    assert result.returncode == 1
    assert f"no PostgreSQL cluster on port {port}" in result.stderr
    assert "IKO_AUDIT_ADMIN_URL" in result.stderr
    assert not (tmp_path / "pg_ctlcluster.called").exists()


def test_a_remote_postgresql_that_does_not_answer_is_not_started_here(
    tmp_path: Path, fake_bin: Path, fake_redis: FakeServer, fake_rabbit: FakeServer
) -> None:
    env = base_env(fake_bin, fake_redis.port, fake_rabbit.port, unused_port())
    # TEST-NET-1 (RFC 5737): never this machine, and nothing answers there.
    env["IKO_AUDIT_ADMIN_URL"] = "postgresql://postgres@192.0.2.1:5432/postgres"
    result = run(env)
    assert result.returncode == 1
    assert "not on this machine" in result.stderr
    assert "IKO_AUDIT_ADMIN_URL" in result.stderr
    assert not (tmp_path / "pg_ctlcluster.called").exists()


def probe_postgres(port: int) -> subprocess.CompletedProcess[str]:
    url = f"postgresql://iko@127.0.0.1:{port}/iko"
    return subprocess.run(
        [sys.executable, str(PROBE), "postgres", url], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("reply", "answers", "said"),
    [
        (PG_AUTH_OK, True, ""),
        # Asked for a password: up, it just wants credentials.
        (b"R\x00\x00\x00\x08\x00\x00\x00\x03", True, ""),
        (pg_error("28P01", "password authentication failed"), True, "password authentication failed"),
        (pg_error("57P03", "the database system is starting up"), False, ""),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", False, ""),
        (b"", False, ""),
    ],
)
def test_the_postgres_probe_follows_pg_isready(reply: bytes, answers: bool, said: str) -> None:
    server = FakeServer(reply)
    try:
        result = probe_postgres(server.port)
    finally:
        server.close()
    assert (result.returncode == 0) is answers, result.stderr
    assert said in result.stderr


def test_the_postgres_probe_needs_no_client_library(fake_postgres: FakeServer) -> None:
    # make services runs on machines without libpq or psycopg: -I -S leaves out every site-packages folder.
    url = f"postgresql://postgres@127.0.0.1:{fake_postgres.port}/postgres"
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(PROBE), "postgres", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
