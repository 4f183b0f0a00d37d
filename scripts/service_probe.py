#!/usr/bin/env python3
"""Does Redis, RabbitMQ or PostgreSQL answer at a URL? Used by ensure_services.sh; standard library only
(no PostgreSQL client library needed: the probe speaks the first step of the wire protocol itself).

service_probe.py redis redis://127.0.0.1:6379/0      exit 0 when Redis answers PING
service_probe.py amqp amqp://guest:guest@127.0.0.1:5672/   exit 0 when an AMQP 0-9-1 broker greets us
service_probe.py postgres postgresql://postgres@127.0.0.1:5432/postgres   exit 0 when PostgreSQL takes connections
service_probe.py local URL                           exit 0 when the URL's host is this machine
service_probe.py port URL                            print the URL's port (with the scheme's default)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671, "postgresql": 5432, "postgres": 5432}
# SQLSTATE 57P03 cannot_connect_now: starting up, shutting down or in recovery. Any other error means the
# server is up and took the connection far enough to judge it (a wrong password, an unknown database).
PG_NOT_YET = "57P03"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "::1"}


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    return host, parts.port or DEFAULT_PORTS.get(parts.scheme, 0)


def is_local(url: str) -> bool:
    host, _ = host_port(url)
    return host in LOOPBACK_NAMES or host.startswith("127.")


def _resp(*words: str) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _readline(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        buf += chunk
    return buf


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    """True when a Redis server replies to PING (a reply asking for a password counts: it is up)."""
    parts = urlsplit(url)
    host, port = host_port(url)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            if parts.password:
                user = unquote(parts.username or "")
                auth = ("AUTH", user, unquote(parts.password)) if user else ("AUTH", unquote(parts.password))
                sock.sendall(_resp(*auth))
                _readline(sock)
            sock.sendall(_resp("PING"))
            reply = _readline(sock)
    except OSError:
        return False
    if reply.startswith(b"+PONG"):
        return True
    if reply.startswith((b"-NOAUTH", b"-WRONGPASS", b"-ERR")):
        print(f"redis at {host}:{port} answers but refuses: {reply.decode(errors='replace').strip()}", file=sys.stderr)
        return True
    return False  # -LOADING and the like: not ready yet


def amqp_answers(url: str, timeout: float = 2.0) -> bool:
    """True when the broker answers the AMQP 0-9-1 protocol header with a method frame (Connection.Start)."""
    host, port = host_port(url)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            reply = sock.recv(7)
    except OSError:
        return False
    return len(reply) >= 1 and reply[0] == 1


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    """True when a PostgreSQL server answers a protocol 3.0 startup message with something but "not yet".

    The same rule as ``pg_isready``: an authentication request, or any error other than 57P03, means the
    server accepts connections.
    """
    parts = urlsplit(url)
    host, port = host_port(url)
    user = unquote(parts.username or "") or "postgres"
    database = unquote(parts.path.lstrip("/")) or user
    params = b"".join(f"{k}\0{v}\0".encode() for k, v in (("user", user), ("database", database))) + b"\0"
    startup = struct.pack("!ii", 8 + len(params), 196608) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(startup)
            header = _recv_exact(sock, 5)
            if len(header) < 5:
                return False
            kind, length = header[:1], struct.unpack("!i", header[1:])[0]
            body = _recv_exact(sock, max(0, min(length - 4, 8192)))
            if kind == b"R":
                # Terminate, so the server logs no "unexpected EOF"; it may have hung up already.
                with contextlib.suppress(OSError):
                    sock.sendall(b"X\0\0\0\4")
                return True
    except OSError:
        return False
    if kind != b"E":
        return False
    fields = {f[:1]: f[1:].decode(errors="replace") for f in body.split(b"\0") if f}
    if fields.get(b"C") == PG_NOT_YET:
        return False
    print(f"postgresql at {host}:{port} answers but refuses: {fields.get(b'M', '?')}", file=sys.stderr)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("redis", "amqp", "postgres", "local", "port"):
        print(__doc__, file=sys.stderr)
        return 2
    what, url = argv
    if what == "redis":
        return 0 if redis_answers(url) else 1
    if what == "amqp":
        return 0 if amqp_answers(url) else 1
    if what == "postgres":
        return 0 if postgres_answers(url) else 1
    if what == "local":
        return 0 if is_local(url) else 1
    print(host_port(url)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
