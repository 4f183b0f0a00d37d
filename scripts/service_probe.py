#!/usr/bin/env python3
"""Does Redis or RabbitMQ answer at a URL? Used by ensure_services.sh; standard library only.

service_probe.py redis redis://127.0.0.1:6379/0      exit 0 when Redis answers PING
service_probe.py amqp amqp://guest:guest@127.0.0.1:5672/   exit 0 when an AMQP 0-9-1 broker greets us
service_probe.py local URL                           exit 0 when the URL's host is this machine
service_probe.py port URL                            print the URL's port (with the scheme's default)
"""

from __future__ import annotations

import socket
import sys
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671}
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


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("redis", "amqp", "local", "port"):
        print(__doc__, file=sys.stderr)
        return 2
    what, url = argv
    if what == "redis":
        return 0 if redis_answers(url) else 1
    if what == "amqp":
        return 0 if amqp_answers(url) else 1
    if what == "local":
        return 0 if is_local(url) else 1
    print(host_port(url)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
