"""A real 3-node RabbitMQ cluster on this machine, fronted by HAProxy, for the fault suite.

Each node is its own Erlang VM with its own name (``iko-fault-<run>-<n>@localhost``), AMQP port, distribution port,
data, log and pid folders, config file (its own listener; no plugins, so no management port) and the one Erlang
cookie of the cluster (``HOME`` points at the cluster's folder, where ``.erlang.cookie`` lives, for the server and
for ``rabbitmqctl`` alike). Nodes 2 and 3 join node 1 (``stop_app; join_cluster; start_app``). HAProxy listens on a
port of its own in TCP mode, round-robin over the three nodes with health checks, as a Kubernetes Service fronts a
StatefulSet: :attr:`RabbitCluster.url` is the AMQP URL services get.

The machine's own RabbitMQ (``rabbit@localhost`` on 5672) is never touched: every command names its node with
``-n``, and ``RABBITMQ_CONF_ENV_FILE`` / ``RABBITMQ_CONFIG_FILE`` replace the machine's files for these nodes.
They share the machine's epmd (a name registry, one per host), which is how Erlang nodes find each other.

Usage::

    with RabbitCluster.start(Path("/tmp/x")) as cluster:
        cluster.url                       # amqp://guest:guest@127.0.0.1:<haproxy>/
        cluster.kill(cluster.nodes[0])    # SIGKILL of the node's beam process
        cluster.restart(cluster.nodes[0]) # start it again (it rejoins by itself)
        cluster.leader("q")               # "iko-fault-...-2@localhost"

Command line (docs/reliability.md): ``python -m tests.faults.rabbit_cluster up DIR`` / ``down DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = HOST, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _haproxy() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )


def is_available(install: bool = True) -> tuple[bool, str]:
    """Whether a cluster can run here; installs HAProxy from Debian's packages when missing and root."""
    if not (RABBIT_BIN / "rabbitmq-server").exists() or shutil.which("erl") is None:
        return False, f"RabbitMQ is not installed ({RABBIT_BIN}/rabbitmq-server, erl): apt-get install rabbitmq-server"
    if _haproxy() is None:
        if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
            return False, "HAProxy is not installed and cannot be installed here (needs root and apt-get)"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        rc = subprocess.run(["apt-get", "install", "-y", "-q", "haproxy"], env=env, capture_output=True).returncode
        if rc != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            rc = subprocess.run(["apt-get", "install", "-y", "-q", "haproxy"], env=env, capture_output=True).returncode
        if rc != 0 or _haproxy() is None:
            return False, "HAProxy is missing and `apt-get install -y haproxy` failed"
    return True, ""


@dataclass
class RabbitNode:
    index: int
    name: str
    port: int
    dist_port: int
    base: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A direct AMQP URL to this node (bypassing HAProxy): to place a queue's leader here."""
        return f"amqp://guest:guest@{HOST}:{self.port}/"

    @property
    def pid_file(self) -> Path:
        return self.base / "rabbit.pid"


@dataclass
class RabbitCluster:
    base: Path
    nodes: list[RabbitNode]
    haproxy_port: int
    cookie: str
    haproxy: subprocess.Popen[bytes] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    # ---------------------------------------------------------------- life cycle

    @classmethod
    def create(cls, base: Path, size: int = 3, prefix: str | None = None) -> RabbitCluster:
        base.mkdir(parents=True, exist_ok=True)
        prefix = prefix or f"iko-fault-{secrets.token_hex(3)}"
        cookie_file = base / ".erlang.cookie"
        if cookie_file.exists():
            cookie = cookie_file.read_text().strip()
        else:
            cookie = secrets.token_hex(16).upper()
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        nodes = [
            RabbitNode(i, f"{prefix}-{i}@localhost", free_port(), free_port(), base / f"node{i}")
            for i in range(1, size + 1)
        ]
        cluster = cls(base=base, nodes=nodes, haproxy_port=free_port(), cookie=cookie)
        for node in nodes:
            node.base.mkdir(parents=True, exist_ok=True)
            (node.base / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = {HOST}:{node.port}\n"
                "loopback_users.guest = true\n"
                "log.console = false\n"
                "log.file.level = info\n"
                # A test machine's disk may be small; the default 50 MB limit is fine, do not block publishers.
                "disk_free_limit.absolute = 10MB\n"
            )
            (node.base / "enabled_plugins").write_text("[].\n")
            (node.base / "rabbitmq-env.conf").write_text("")
        cluster._write_haproxy_cfg()
        cluster._write_state()
        return cluster

    @classmethod
    @contextlib.contextmanager
    def start(cls, base: Path, size: int = 3) -> Iterator[RabbitCluster]:
        """Start, yield, and always remove (even when the start failed half-way)."""
        try:
            cluster = cls.create(base, size)
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise
        try:
            cluster.up()
            yield cluster
        finally:
            cluster.destroy()

    def up(self) -> None:
        t0 = time.monotonic()
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            self.wait_node(node)
        self.timings["nodes_started_s"] = time.monotonic() - t0
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        self.timings["cluster_formed_s"] = time.monotonic() - t0
        self.start_haproxy()
        self.wait_haproxy()
        self.timings["up_s"] = time.monotonic() - t0

    def destroy(self) -> None:
        """Kill HAProxy and every node, and delete the cluster's folder. Safe to call twice."""
        self.stop_haproxy()
        for node in self.nodes:
            self.kill(node)
        shutil.rmtree(self.base, ignore_errors=True)

    # ---------------------------------------------------------------- nodes

    def env(self, node: RabbitNode) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.base),  # where the Erlang cookie is, for the server and for rabbitmqctl
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_IP_ADDRESS=HOST,
            RABBITMQ_NODE_PORT=str(node.port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(node.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(node.base / "log"),
            RABBITMQ_PID_FILE=str(node.pid_file),
            RABBITMQ_CONFIG_FILE=str(node.base / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(node.base / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(node.base / "rabbitmq-env.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(node.base / "advanced.config"),
            ERL_EPMD_ADDRESS=HOST,
            # Two cores are shared with other work: fewer schedulers and no busy-waiting.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none",
        )
        return env

    def start_node(self, node: RabbitNode, wait: bool = True) -> None:
        (node.base / "log").mkdir(parents=True, exist_ok=True)
        out = open(node.base / "log" / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        node.process = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self.env(node),
            cwd=node.base,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        if wait:
            self.wait_node(node)

    def wait_node(self, node: RabbitNode, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                log = (node.base / "log" / "stdout.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{node.name} exited ({node.process.returncode}) while starting:\n{log}")
            if port_open(node.port):
                return
            time.sleep(0.25)
        raise TimeoutError(f"{node.name} did not open port {node.port} within {timeout:.0f} s")

    def beam_pid(self, node: RabbitNode) -> int | None:
        try:
            pid = int(node.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def kill(self, node: RabbitNode) -> None:
        """SIGKILL of the node's Erlang VM (and of its start script's session): a node lost, no goodbye."""
        pid = self.beam_pid(node)
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if node.process is not None:
            with contextlib.suppress(OSError):
                os.killpg(node.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=10)
            node.process = None
        deadline = time.monotonic() + 10
        while pid is not None and time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            node.pid_file.unlink()

    def restart(self, node: RabbitNode) -> None:
        """Start a killed or stopped node again; it rejoins the cluster from its own data folder."""
        self.start_node(node, wait=True)
        self.ctl(node, "await_startup", timeout=90)

    def stop_node(self, node: RabbitNode) -> None:
        """A clean stop (the node says goodbye to its peers), as a rolling restart does."""
        self.ctl(node, "stop", timeout=90)
        if node.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=30)
            node.process = None

    def stop_all(self) -> None:
        """Stop the whole cluster cleanly, the last node first so that it comes back first without waiting."""
        for node in reversed(self.nodes):
            self.stop_node(node)

    def start_all(self) -> None:
        """Start every node together: each waits for its peers (Mnesia) before it opens its port."""
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            self.wait_node(node, timeout=120)

    def running(self, node: RabbitNode) -> bool:
        return self.beam_pid(node) is not None and port_open(node.port)

    # ---------------------------------------------------------------- rabbitmqctl

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 60.0, tool: str = "rabbitmqctl") -> str:
        cmd = [str(RABBIT_BIN / tool), "-n", node.name, *args]
        res = subprocess.run(cmd, env=self.env(node), capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout}")
        return res.stdout

    def any_running(self) -> RabbitNode:
        for node in self.nodes:
            if self.running(node):
                return node
        raise RuntimeError("no node of the cluster is running")

    def cluster_status(self, node: RabbitNode | None = None) -> dict[str, object]:
        out = self.ctl(node or self.any_running(), "cluster_status", "--formatter", "json")
        status: dict[str, object] = json.loads(out)
        return status

    def running_nodes(self, node: RabbitNode | None = None) -> list[str]:
        return sorted(str(n) for n in self.cluster_status(node).get("running_nodes", []))  # type: ignore[attr-defined]

    def queues(self, node: RabbitNode | None = None) -> list[dict[str, object]]:
        out = self.ctl(
            node or self.any_running(), "list_queues", "name", "type", "leader", "members", "online", "messages",
            "--formatter", "json",
        )  # fmt: skip
        rows: list[dict[str, object]] = json.loads(out) if out.strip() else []
        return rows

    def queue(self, name: str, node: RabbitNode | None = None) -> dict[str, object]:
        for row in self.queues(node):
            if row.get("name") == name:
                return row
        raise KeyError(name)

    def leader(self, queue: str, node: RabbitNode | None = None) -> str:
        """The node that leads the quorum queue now."""
        return str(self.queue(queue, node).get("leader"))

    def node_named(self, name: str) -> RabbitNode:
        return next(n for n in self.nodes if n.name == name)

    def transfer_leader(self, queue: str, to: RabbitNode, vhost: str = "/", timeout: float = 30.0) -> None:
        """Move a quorum queue's leader to ``to`` (3.10 has no CLI for one queue: Ra's own leadership transfer)."""
        deadline = time.monotonic() + timeout
        while self.leader(queue) != to.name:
            current = self.node_named(self.leader(queue))
            expr = (
                f'QName = rabbit_misc:r(<<"{vhost}">>, queue, <<"{queue}">>), '
                f"{{ok, Q}} = rabbit_amqqueue:lookup(QName), "
                f"{{RaName, _}} = amqqueue:get_pid(Q), "
                f"ra:transfer_leadership({{RaName, '{current.name}'}}, {{RaName, '{to.name}'}})."
            )
            self.ctl(current, "eval", expr)
            if time.monotonic() > deadline:
                raise TimeoutError(f"leader of {queue} stays on {self.leader(queue)}, not {to.name}")
            time.sleep(0.5)

    # ---------------------------------------------------------------- HAProxy

    def _write_haproxy_cfg(self) -> None:
        servers = "\n".join(
            f"    server {n.name.split('@')[0]} {HOST}:{n.port} check inter 1s fall 2 rise 2" for n in self.nodes
        )
        (self.base / "haproxy.cfg").write_text(
            "global\n"
            "    maxconn 2000\n"
            "defaults\n"
            "    mode tcp\n"
            "    timeout connect 2s\n"
            # AMQP connections are long-lived; heartbeats (60 s) keep them busy.
            "    timeout client 3h\n"
            "    timeout server 3h\n"
            "    option redispatch\n"
            "    retries 3\n"
            "frontend amqp\n"
            f"    bind {HOST}:{self.haproxy_port}\n"
            "    default_backend rabbit\n"
            "backend rabbit\n"
            "    balance roundrobin\n"
            "    option tcp-check\n"
            # A node whose port is closed, or that stops answering, is taken out within ~2 s;
            # its clients' connections are cut (as a Service's endpoints change).
            "    default-server on-marked-down shutdown-sessions\n"
            f"{servers}\n"
        )

    def start_haproxy(self) -> None:
        exe = _haproxy()
        if exe is None:
            raise RuntimeError("haproxy is not installed")
        out = open(self.base / "haproxy.log", "ab")  # noqa: SIM115 - owned by the child
        self.haproxy = subprocess.Popen(
            [exe, "-db", "-f", str(self.base / "haproxy.cfg")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        (self.base / "haproxy.pid").write_text(f"{self.haproxy.pid}\n")

    def wait_haproxy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.haproxy is not None and self.haproxy.poll() is not None:
                raise RuntimeError("haproxy exited: " + (self.base / "haproxy.log").read_text(errors="replace"))
            if port_open(self.haproxy_port):
                return
            time.sleep(0.1)
        raise TimeoutError("haproxy did not listen")

    def stop_haproxy(self) -> None:
        if self.haproxy is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.haproxy.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.haproxy.wait(timeout=10)
            self.haproxy = None
        else:
            try:
                pid = int((self.base / "haproxy.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass

    @property
    def url(self) -> str:
        """The cluster's AMQP URL for services: through HAProxy."""
        return f"amqp://guest:guest@{HOST}:{self.haproxy_port}/"

    # ---------------------------------------------------------------- state file (for the command line)

    def _write_state(self) -> None:
        state = {
            "haproxy_port": self.haproxy_port,
            "nodes": [{"index": n.index, "name": n.name, "port": n.port, "dist_port": n.dist_port} for n in self.nodes],
        }
        (self.base / "cluster.json").write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, base: Path) -> RabbitCluster:
        state = json.loads((base / "cluster.json").read_text())
        nodes = [
            RabbitNode(n["index"], n["name"], n["port"], n["dist_port"], base / f"node{n['index']}")
            for n in state["nodes"]
        ]
        cookie = (base / ".erlang.cookie").read_text().strip()
        return cls(base=base, nodes=nodes, haproxy_port=state["haproxy_port"], cookie=cookie)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie (the start script has not reaped it yet) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down", "status"):
        print("usage: python -m tests.faults.rabbit_cluster up|status|down DIR", file=sys.stderr)
        return 2
    base = Path(argv[1]).resolve()
    if argv[0] == "up":
        ok, reason = is_available()
        if not ok:
            print(reason, file=sys.stderr)
            return 1
        cluster = RabbitCluster.create(base)
        try:
            cluster.up()
        except BaseException:
            cluster.destroy()
            raise
        # Leave HAProxy running detached: `down` kills it by its pid file.
        print(f"cluster up in {cluster.timings['up_s']:.1f} s: {cluster.url}")
        for n in cluster.nodes:
            print(f"  {n.name}  amqp {n.port}  dist {n.dist_port}  HOME={base} rabbitmqctl -n {n.name} ...")
        return 0
    cluster = RabbitCluster.load(base)
    if argv[0] == "status":
        print(json.dumps(cluster.cluster_status(), indent=2))
        return 0
    cluster.destroy()
    print(f"removed {base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
