"""Redis as production runs it, on this machine: a primary, one replica and three Sentinels (quorum 2).

Every ``redis-server`` has its own port and folder and keeps nothing on disk (``--save "" --appendonly no``): a
restarted server comes back empty, as a pod without a volume does. The Sentinels watch the primary under the
master name ``iko`` (``down-after-milliseconds 1000``, so a killed primary is replaced within a few seconds).
Three Sentinels with quorum 2 is the textbook setup (no single Sentinel can promote on its own view); an idle
Sentinel costs next to no CPU, so nothing is saved by running one.

Usage::

    with RedisSentinel.start(Path("/tmp/x")) as rs:
        rs.sentinels              # [("127.0.0.1", 26xxx), ...] -> IKO_REDIS_SENTINELS
        old = rs.kill_primary()   # SIGKILL; returns the killed server
        rs.wait_failover(old)     # until Sentinel names the replica as primary
        rs.restart_server(old)    # back, as a replica of the new primary
        rs.restart_all()          # Redis restarted outright: every key gone

Command line (docs/reliability.md): ``python -m tests.faults.redis_sentinel up DIR`` / ``down DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.faults.rabbit_cluster import HOST, free_port, port_open

MASTER_NAME = "iko"


def is_available() -> tuple[bool, str]:
    if shutil.which("redis-server") is None:
        return False, "redis-server is not installed: apt-get install redis-server"
    return True, ""


@dataclass
class RedisServer:
    name: str
    port: int
    base: Path
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (HOST, self.port)

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=2, socket_connect_timeout=1)


@dataclass
class RedisSentinel:
    base: Path
    primary: RedisServer
    replica: RedisServer
    sentinel_servers: list[RedisServer]
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls, base: Path, sentinels: int = 3) -> RedisSentinel:
        base.mkdir(parents=True, exist_ok=True)
        primary = RedisServer("primary", free_port(), base / "primary")
        replica = RedisServer("replica", free_port(), base / "replica")
        sents = [RedisServer(f"sentinel{i}", free_port(), base / f"sentinel{i}", True) for i in range(1, sentinels + 1)]
        rs = cls(base, primary, replica, sents)
        for s in rs.servers:
            s.base.mkdir(parents=True, exist_ok=True)
        (base / "state.json").write_text(json.dumps({s.name: s.port for s in rs.servers}))
        return rs

    @classmethod
    def load(cls, base: Path) -> RedisSentinel:
        ports: dict[str, int] = json.loads((base / "state.json").read_text())
        sents = [RedisServer(n, p, base / n, True) for n, p in ports.items() if n.startswith("sentinel")]
        return cls(base, RedisServer("primary", ports["primary"], base / "primary"),
                   RedisServer("replica", ports["replica"], base / "replica"), sents)  # fmt: skip

    @classmethod
    @contextlib.contextmanager
    def start(cls, base: Path, sentinels: int = 3) -> Iterator[RedisSentinel]:
        rs = cls.create(base, sentinels)
        try:
            rs.up()
            yield rs
        finally:
            rs.destroy()

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, self.replica, *self.sentinel_servers]

    @property
    def data_servers(self) -> list[RedisServer]:
        return [self.primary, self.replica]

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [s.addr for s in self.sentinel_servers]

    @property
    def sentinels_setting(self) -> str:
        """The value of ``IKO_REDIS_SENTINELS`` for this setup."""
        return ",".join(f"{h}:{p}" for h, p in self.sentinels)

    @property
    def quorum(self) -> int:
        return len(self.sentinel_servers) // 2 + 1

    # ---------------------------------------------------------------- life cycle

    def up(self) -> None:
        t0 = time.monotonic()
        self._spawn(self.primary)
        self._spawn(self.replica, replica_of=self.primary)
        self._wait_port(self.primary)
        self._wait_port(self.replica)
        for s in self.sentinel_servers:
            (s.base / "sentinel.conf").write_text(
                f"port {s.port}\nbind {HOST}\ndir {s.base}\n"
                f"sentinel monitor {MASTER_NAME} {HOST} {self.primary.port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(s)
        for s in self.sentinel_servers:
            self._wait_port(s)
        self.wait_synced()
        self.wait_sentinels_know_replica()
        self.timings["up_s"] = time.monotonic() - t0

    def destroy(self) -> None:
        for s in self.servers:
            self.kill(s)
        shutil.rmtree(self.base, ignore_errors=True)

    def _spawn(self, server: RedisServer, replica_of: RedisServer | None = None) -> None:
        log = open(server.base / "server.log", "ab")  # noqa: SIM115 - owned by the child
        if server.sentinel:
            cmd = ["redis-server", str(server.base / "sentinel.conf"), "--sentinel"]
        else:
            cmd = ["redis-server", "--port", str(server.port), "--bind", HOST, "--dir", str(server.base),
                   "--save", "", "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
            if replica_of is not None:
                cmd += ["--replicaof", HOST, str(replica_of.port)]
        server.process = subprocess.Popen(
            cmd, cwd=server.base, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        (server.base / "pid").write_text(f"{server.process.pid}\n")

    def _wait_port(self, server: RedisServer, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not port_open(server.port):
            if server.process is not None and server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited: " + (server.base / "server.log").read_text()[-1500:])
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.name} did not listen on {server.port}")
            time.sleep(0.05)

    def kill(self, server: RedisServer) -> None:
        """SIGKILL: no shutdown, no goodbye to the Sentinels."""
        pid: int | None = server.process.pid if server.process is not None else None
        if pid is None:
            with contextlib.suppress(OSError, ValueError):
                pid = int((server.base / "pid").read_text())
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if server.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=10)
            server.process = None
        with contextlib.suppress(OSError):
            (server.base / "pid").unlink()

    # ---------------------------------------------------------------- what Sentinel says

    def master_addr(self, sentinel: RedisServer | None = None) -> tuple[str, int] | None:
        for s in [sentinel] if sentinel else self.sentinel_servers:
            try:
                with s.client() as c:
                    addr = c.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
            except redis.RedisError:
                continue
            if addr:
                return (addr[0].decode(), int(addr[1]))
        return None

    def current_primary(self) -> RedisServer:
        addr = self.master_addr()
        return next(s for s in self.data_servers if s.addr == addr)

    def other(self, server: RedisServer) -> RedisServer:
        return self.replica if server is self.primary else self.primary

    def wait_synced(self, timeout: float = 20.0) -> None:
        """Until the replica of the current primary has finished its sync."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, StopIteration):
                replica = self.other(self.current_primary()) if self.master_addr() else self.replica
                with replica.client() as c:
                    info = c.info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") == "up":
                    return
            time.sleep(0.1)
        raise TimeoutError("the replica did not sync with the primary")

    def wait_sentinels_know_replica(self, timeout: float = 20.0) -> None:
        """Sentinels learn of replicas from the primary's INFO (every 10 s at first): a failover needs one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = 0
            for s in self.sentinel_servers:
                with contextlib.suppress(redis.RedisError), s.client() as c:
                    replicas = c.execute_command("SENTINEL", "replicas", MASTER_NAME)
                    others = c.execute_command("SENTINEL", "sentinels", MASTER_NAME)
                    if replicas and len(others) >= len(self.sentinel_servers) - 1:
                        known += 1
            if known == len(self.sentinel_servers):
                return
            time.sleep(0.2)
        raise TimeoutError("the Sentinels did not discover the replica and each other")

    # ---------------------------------------------------------------- faults

    def kill_primary(self) -> RedisServer:
        server = self.current_primary()
        self.kill(server)
        self._killed_at = time.monotonic()
        return server

    def wait_failover(self, old: RedisServer, timeout: float = 30.0) -> float:
        """Until a Sentinel names another server primary and that server answers as one.

        Returns the seconds from the kill of the primary (``kill_primary``), else from this call.
        """
        t0 = getattr(self, "_killed_at", None) or time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            addr = self.master_addr()
            if addr is not None and addr != old.addr:
                new = next(s for s in self.data_servers if s.addr == addr)
                with contextlib.suppress(redis.RedisError), new.client() as c:
                    if c.info("replication").get("role") == "master":
                        self.timings["failover_s"] = time.monotonic() - t0
                        return self.timings["failover_s"]
            time.sleep(0.1)
        raise TimeoutError(f"no failover within {timeout:.0f} s (Sentinel says {self.master_addr()})")

    def restart_server(self, server: RedisServer) -> None:
        """Start a killed server again (empty): a replica of the current primary when that is the other server."""
        addr = self.master_addr()
        replica_of = self.other(server) if addr is not None and addr != server.addr else None
        self._spawn(server, replica_of=replica_of)
        self._wait_port(server)

    def restart_all(self, timeout: float = 30.0) -> None:
        """Redis restarted outright: both data servers killed and started empty, in the roles Sentinel knows."""
        primary = self.current_primary()
        for s in self.data_servers:
            self.kill(s)
        self._spawn(primary)
        self._spawn(self.other(primary), replica_of=primary)
        self._wait_port(primary)
        self._wait_port(self.other(primary))
        self.wait_synced(timeout)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python -m tests.faults.redis_sentinel up|down DIR", file=sys.stderr)
        return 2
    base = Path(argv[1]).resolve()
    if argv[0] == "up":
        rs = RedisSentinel.create(base)
        try:
            rs.up()
        except BaseException:
            rs.destroy()
            raise
        print(f"up in {rs.timings['up_s']:.1f} s: primary {rs.primary.port}, replica {rs.replica.port}")
        print(f"IKO_REDIS_SENTINELS={rs.sentinels_setting} IKO_REDIS_SENTINEL_MASTER={MASTER_NAME}")
        return 0
    RedisSentinel.load(base).destroy()
    print(f"removed {base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
