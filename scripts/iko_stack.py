"""Run the whole IKO stack as background OS processes: one log file and one recorded pid per process.

Importable (the end-to-end tests start their own stack with its own namespace and ports) and used by
``scripts/stack.py`` for ``up`` / ``down`` / ``status``. Standard library only, but for the source registry
(``iko_shared.sources``, itself standard library only), read where the sources are needed: the simulators and
connectors to start and their default ports. ``down`` and ``status`` go by the state file and never read it.

Before any process starts, ``<python> -m iko_audit provision`` makes the namespace's audit database and roles
(idempotent, with the services' environment: ``IKO_AUDIT_ADMIN_URL`` says which PostgreSQL). The database
outlives ``down``, as the namespace's queues do; ``python -m iko_audit drop`` removes it.

Layout under ``<run_dir>`` (default ``.run/<namespace>``)::

    logs/<name>-<index>.log   stdout + stderr of one process
    logs/audit-provision.log  output of the provisioning step
    pids/state.json           what was started: name, index, pid, start time, argv, log path

Only processes recorded in the state file are ever signalled, and only while their pid still belongs to
the process that was started (checked against the start time the kernel reports in ``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAMESPACE = "iko"
DEFAULT_GATEWAY_HOST = "127.0.0.1"
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_READY_TIMEOUT = 60.0
DEFAULT_STOP_GRACE = 10.0
STATE_VERSION = 1
LOG_TAIL_LINES = 40


class StackError(RuntimeError):
    """The stack could not be started, stopped or inspected as asked."""


class ConfigError(ValueError):
    """An option or environment variable has a value the stack cannot use."""


# --------------------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackSource:
    """What the launcher needs of a registered source."""

    name: str
    connector_module: str
    simulator_port: int


@functools.cache
def registered_sources() -> tuple[StackSource, ...]:
    """The sources of the registry, sorted by name; ``ConfigError`` when it cannot be read from this interpreter."""
    try:
        from iko_shared.sources import SourceRegistryError
        from iko_shared.sources import registered_sources as registry
    except ImportError as exc:
        raise ConfigError(
            f"the source registry (iko_shared.sources) is not importable by {sys.executable}: {exc}; run `make venv`"
        ) from None
    try:
        return tuple(StackSource(e.name, e.connector_module, e.simulator_port) for e in registry())
    except SourceRegistryError as exc:
        raise ConfigError(str(exc)) from None


# --------------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackConfig:
    """Everything that decides which processes run and how they are wired together."""

    namespace: str = DEFAULT_NAMESPACE
    assemblers: int = 1
    connector_replicas: int = 1
    audit_replicas: int = 1
    # Gateway replicas: replica i listens on gateway_port + i, each with its own reply queue.
    gateways: int = 1
    gateway_host: str = DEFAULT_GATEWAY_HOST
    gateway_port: int = DEFAULT_GATEWAY_PORT
    # Simulator port by source name; a source not named gets its registry default (see sandbox_port_map).
    sandbox_ports: Mapping[str, int] = field(default_factory=dict)
    sandbox: bool = True
    # Development mode on the gateway: the dev API key with every role, purpose "demo" (make up / make demo).
    dev_mode: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)
    run_dir: Path | None = None
    log_dir: Path | None = None
    python: str | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    stop_grace: float = DEFAULT_STOP_GRACE
    root: Path = ROOT

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)
        if self.assemblers < 1:
            raise ConfigError(f"assemblers must be at least 1, got {self.assemblers}")
        if self.connector_replicas < 1:
            raise ConfigError(f"connector replicas must be at least 1, got {self.connector_replicas}")
        # At least one: without a consumer the audit queue only grows, and no inzage is answered.
        if self.audit_replicas < 1:
            raise ConfigError(f"audit replicas must be at least 1, got {self.audit_replicas}")
        if self.gateways < 1:
            raise ConfigError(f"gateways must be at least 1, got {self.gateways}")
        # Only the ports given: the defaults come from the registry, which down and status never read.
        gateway_ports = self.gateway_ports
        ports = [*gateway_ports, *self.sandbox_ports.values()] if self.sandbox else gateway_ports
        for port in ports:
            validate_port(port)
        if len(set(ports)) != len(ports):
            raise ConfigError(f"the gateway and sandbox ports must all differ, got {ports}")
        for key in self.extra_env:
            validate_env_name(key)
        if self.ready_timeout <= 0 or self.stop_grace < 0:
            raise ConfigError("ready timeout must be positive and stop grace not negative")

    @property
    def resolved_run_dir(self) -> Path:
        return self.run_dir if self.run_dir is not None else self.root / ".run" / self.namespace

    @property
    def resolved_log_dir(self) -> Path:
        return self.log_dir if self.log_dir is not None else self.resolved_run_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.resolved_run_dir / "pids" / "state.json"

    @property
    def provision_log(self) -> Path:
        return self.resolved_log_dir / "audit-provision.log"

    @property
    def resolved_python(self) -> str:
        if self.python is not None:
            return self.python
        venv_python = self.root / ".venv" / "bin" / "python"
        return str(venv_python) if venv_python.exists() else sys.executable

    @property
    def gateway_ports(self) -> list[int]:
        """The port of every gateway replica: ``gateway_port + i``."""
        return [self.gateway_port + i for i in range(self.gateways)]

    @property
    def gateway_urls(self) -> list[str]:
        host = self.gateway_host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return [f"http://{host}:{port}" for port in self.gateway_ports]

    @property
    def gateway_url(self) -> str:
        """The first gateway replica's address."""
        return self.gateway_urls[0]

    @property
    def sandbox_port_map(self) -> dict[str, int]:
        """Every registered source's simulator port: the one given, else the registry's default."""
        sources = registered_sources()
        unknown = sorted(set(self.sandbox_ports) - {s.name for s in sources})
        if unknown:
            known = ", ".join(s.name for s in sources)
            raise ConfigError(f"sandbox port for unknown source(s) {', '.join(unknown)}; registered: {known}")
        ports = {s.name: self.sandbox_ports.get(s.name, s.simulator_port) for s in sources}
        gateway_ports = self.gateway_ports
        if self.sandbox and len(set(ports.values()) | set(gateway_ports)) != len(ports) + len(gateway_ports):
            raise ConfigError(f"the gateway and sandbox ports must all differ, got gateway {gateway_ports}, {ports}")
        return ports

    @property
    def sandbox_urls(self) -> dict[str, str]:
        return {src: f"http://127.0.0.1:{port}" for src, port in self.sandbox_port_map.items()}


def validate_namespace(namespace: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not namespace or not set(namespace) <= allowed or namespace.startswith("."):
        raise ConfigError(f"namespace must be letters, digits, '-', '_' or '.', got {namespace!r}")


def validate_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"port out of range 1-65535: {port}")


def validate_env_name(name: str) -> None:
    if not name or not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
        raise ConfigError(f"not a valid environment variable name: {name!r}")


def parse_int(value: str, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"{what} must be a whole number, got {value!r}") from None


def parse_ports(value: str) -> dict[str, int]:
    """``"brp=8101,zgw=8103"`` -> ``{"brp": 8101, "zgw": 8103}``: simulator ports by source name.

    The older form, one port for every registered source in name order (``"8101,8102,8103"``), is read too.
    """
    parts = [p for p in (s.strip() for s in value.split(",")) if p]
    if not parts:
        raise ConfigError(f"sandbox ports must be a list name=port,name=port, got {value!r}")
    if all("=" not in p for p in parts):
        names = [s.name for s in registered_sources()]
        if len(parts) != len(names):
            raise ConfigError(
                f"sandbox ports without names must be one port per source ({','.join(names)}), got {value!r}"
            )
        pairs = list(zip(names, parts, strict=True))
    else:
        pairs = []
        for part in parts:
            name, equals, port = (s.strip() for s in part.partition("="))
            if not name or not equals:
                raise ConfigError(f"sandbox ports must be a list name=port,name=port, got {part!r} in {value!r}")
            pairs.append((name, port))
    names_seen = [name for name, _ in pairs]
    if len(set(names_seen)) != len(names_seen):
        raise ConfigError(f"sandbox ports name a source more than once: {value!r}")
    ports = {name: parse_int(port, f"the {name} sandbox port") for name, port in pairs}
    for number in ports.values():
        validate_port(number)
    return ports


def parse_extra_env(items: Sequence[str]) -> dict[str, str]:
    """``["K=V", "A=b=c"]`` -> ``{"K": "V", "A": "b=c"}``; a later item wins."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"extra env must be K=V, got {item!r}")
        validate_env_name(key)
        env[key] = value
    return env


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """An environment variable, with an empty value read as unset (make passes empty variables along)."""
    value = environ.get(name)
    return value if value is not None and value.strip() != "" else None


# --------------------------------------------------------------------------------------------------------
# processes and state
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack: ``<python> -m <module> <args...>`` with ``env`` on top of the parent's."""

    name: str
    index: int
    module: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    port: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}-{self.index}"


@dataclass(frozen=True)
class ProcessRecord:
    """A process that was started, as written to the state file."""

    name: str
    index: int
    pid: int
    start_ticks: int | None
    argv: tuple[str, ...]
    log: str
    # The process's ops endpoint (IKO_OPS_PORT: /metrics, /livez, /readyz); None for the simulators.
    ops_port: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}-{self.index}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "argv": list(self.argv),
            "log": self.log,
            "ops_port": self.ops_port,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        start = data.get("start_ticks")
        return cls(
            name=str(data["name"]),
            index=int(data["index"]),
            pid=int(data["pid"]),
            start_ticks=int(start) if start is not None else None,
            argv=tuple(str(a) for a in data.get("argv", [])),
            log=str(data.get("log", "")),
            ops_port=int(data["ops_port"]) if data.get("ops_port") is not None else None,
        )


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    index: int
    pid: int
    alive: bool
    log: str

    @property
    def key(self) -> str:
        return f"{self.name}-{self.index}"


def write_state(path: Path, config: Mapping[str, Any], records: Sequence[ProcessRecord]) -> None:
    """Write the state file atomically (temporary file, then rename), so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": STATE_VERSION, "config": dict(config), "processes": [r.to_json() for r in records]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_state(path: Path) -> tuple[dict[str, Any], list[ProcessRecord]]:
    """The config summary and the records in the state file; empty when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        records = [ProcessRecord.from_json(p) for p in data.get("processes", [])]
        config = data.get("config", {})
        return (dict(config) if isinstance(config, dict) else {}), records
    except (ValueError, TypeError, KeyError) as exc:
        raise StackError(f"state file {path} is unreadable ({exc}); check the processes by hand and delete it") from exc


def proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start_ticks)`` of a process from ``/proc/<pid>/stat``, or None when there is no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` runs and is still the process that started at ``start_ticks`` (zombies are dead)."""
    if pid <= 0:
        return False
    if _has_proc():
        stat = proc_stat(pid)
        if stat is None:
            return False
        state, ticks = stat
        if state in ("Z", "X", "x"):
            return False
        return start_ticks is None or ticks == start_ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_process(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid`` (or the pid alone if it leads none)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET (proxies ignored), or None when nothing answers."""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago (for a test stack beside a demo)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


# --------------------------------------------------------------------------------------------------------
# the stack
# --------------------------------------------------------------------------------------------------------
class Stack:
    """The IKO stack of one namespace: simulators, assemblers, the audit service, connectors and the gateway.

    >>> stack = Stack(namespace="e2e-1234", gateway_port=18080, sandbox_ports={"brp": 18101, "kvk": 18102})
    >>> stack.start()               # returns once /readyz answers 200, raises StackError otherwise
    >>> stack.kill("assembler", 1)  # SIGKILL one replica
    >>> stack.stop()
    """

    def __init__(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        assemblers: int = 1,
        connector_replicas: int = 1,
        audit_replicas: int = 1,
        gateways: int = 1,
        gateway_host: str = DEFAULT_GATEWAY_HOST,
        gateway_port: int = DEFAULT_GATEWAY_PORT,
        sandbox_ports: Mapping[str, int] | None = None,
        sandbox: bool = True,
        dev_mode: bool = True,
        extra_env: Mapping[str, str] | None = None,
        run_dir: Path | None = None,
        log_dir: Path | None = None,
        python: str | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        stop_grace: float = DEFAULT_STOP_GRACE,
        root: Path = ROOT,
        out: TextIO | None = None,
    ) -> None:
        self.config = StackConfig(
            namespace=namespace,
            assemblers=assemblers,
            connector_replicas=connector_replicas,
            audit_replicas=audit_replicas,
            gateways=gateways,
            gateway_host=gateway_host,
            gateway_port=gateway_port,
            sandbox_ports=dict(sandbox_ports or {}),
            sandbox=sandbox,
            dev_mode=dev_mode,
            extra_env=dict(extra_env or {}),
            run_dir=run_dir,
            log_dir=log_dir,
            python=python,
            ready_timeout=ready_timeout,
            stop_grace=stop_grace,
            root=root,
        )
        self._out = out
        self._records: dict[str, ProcessRecord] = {}
        self._popens: dict[str, subprocess.Popen[bytes]] = {}
        # Ops port by process key, chosen free when the stack starts (every process has its own).
        self._ops_ports: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: StackConfig, out: TextIO | None = None) -> Stack:
        stack = cls.__new__(cls)
        stack.config = config
        stack._out = out
        stack._records = {}
        stack._popens = {}
        stack._ops_ports = {}
        return stack

    # -- context manager: ``with Stack(...) as stack:`` starts and always stops -----------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return self.config.namespace

    @property
    def gateway_url(self) -> str:
        return self.config.gateway_url

    @property
    def gateway_urls(self) -> list[str]:
        """Every gateway replica's address, replica 0 first."""
        return self.config.gateway_urls

    @property
    def sandbox_urls(self) -> dict[str, str]:
        return self.config.sandbox_urls

    @property
    def state_file(self) -> Path:
        return self.config.state_file

    @property
    def ops_urls(self) -> dict[str, str]:
        """``{"assembler-0": "http://127.0.0.1:<port>", ...}``: every service process's ops endpoint."""
        if not self._ops_ports:
            self.records()
        return {key: f"http://127.0.0.1:{port}" for key, port in self._ops_ports.items()}

    def log_path(self, name: str, index: int = 0) -> Path:
        record = self._records.get(f"{name}-{index}")
        if record is not None and record.log:
            return Path(record.log)
        return self.config.resolved_log_dir / f"{name}-{index}.log"

    def log_paths(self) -> dict[str, Path]:
        """``{"assembler-0": Path(...), ...}`` for every process of the stack, in start order."""
        return {spec.key: self.log_path(spec.name, spec.index) for spec in self.specs()}

    # -- what runs -----------------------------------------------------------------------------------
    def service_env(self) -> dict[str, str]:
        """The variables every service gets on top of the caller's environment."""
        cfg = self.config
        env = {
            "IKO_NAMESPACE": cfg.namespace,
            "IKO_GATEWAY_HOST": cfg.gateway_host,
            "IKO_GATEWAY_PORT": str(cfg.gateway_port),
            "PYTHONUNBUFFERED": "1",
            "IKO_DEV_MODE": "true" if cfg.dev_mode else "false",
        }
        if cfg.sandbox:
            for src, url in cfg.sandbox_urls.items():
                # A settings prefix holds no hyphen: demo-bron reads IKO_DEMO_BRON_BASE_URL.
                env[f"IKO_{src.upper().replace('-', '_')}_BASE_URL"] = url
        env.update(cfg.extra_env)
        return env

    def specs(self) -> list[ProcessSpec]:
        """Every process, in start order: simulators, assemblers, audit, connectors, gateway."""
        cfg = self.config
        env = self.service_env()
        specs: list[ProcessSpec] = []
        sources = registered_sources()
        if cfg.sandbox:
            for src, port in cfg.sandbox_port_map.items():
                args = (src, "--host", "127.0.0.1", "--port", str(port))
                specs.append(ProcessSpec(f"sandbox-{src}", 0, "iko_sandbox", args, env, port))
        for i in range(cfg.assemblers):
            specs.append(ProcessSpec("assembler", i, "iko_assembler", (), env))
        for i in range(cfg.audit_replicas):
            specs.append(ProcessSpec("audit", i, "iko_audit", (), env))
        for source in sources:
            for i in range(cfg.connector_replicas):
                specs.append(ProcessSpec(f"{source.name}-connector", i, source.connector_module, (), env))
        for i, port in enumerate(cfg.gateway_ports):
            gateway_env = {**env, "IKO_GATEWAY_PORT": str(port)}
            specs.append(ProcessSpec("gateway", i, "iko_gateway", (), gateway_env, port))
        return [self._with_ops_port(spec) for spec in specs]

    def _with_ops_port(self, spec: ProcessSpec) -> ProcessSpec:
        port = self._ops_ports.get(spec.key)
        if port is None:
            return spec
        env = {**spec.env, "IKO_OPS_HOST": "127.0.0.1", "IKO_OPS_PORT": str(port)}
        return ProcessSpec(spec.name, spec.index, spec.module, spec.args, env, spec.port)

    def _choose_ops_ports(self) -> None:
        """A free port for every service process (not the simulators), kept for restarts."""
        keys = [s.key for s in self.specs() if not s.name.startswith("sandbox-")]
        self._ops_ports = dict(zip(keys, free_ports(len(keys)), strict=True))

    def _spec(self, name: str, index: int) -> ProcessSpec:
        for spec in self.specs():
            if spec.name == name and spec.index == index:
                return spec
        known = ", ".join(s.key for s in self.specs())
        raise StackError(f"no process {name}-{index} in this stack (known: {known})")

    # -- records -------------------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self._out is not None:
            print(message, file=self._out, flush=True)

    def _save(self) -> None:
        cfg = self.config
        summary = {
            "namespace": cfg.namespace,
            "gateway_url": cfg.gateway_url,
            "gateway_port": cfg.gateway_port,
            "gateway_urls": cfg.gateway_urls,
            "gateways": cfg.gateways,
            "sandbox": cfg.sandbox,
            "sandbox_ports": cfg.sandbox_port_map if cfg.sandbox else {},
            "assemblers": cfg.assemblers,
            "connector_replicas": cfg.connector_replicas,
            "audit_replicas": cfg.audit_replicas,
            "ops_ports": dict(self._ops_ports),
        }
        write_state(self.state_file, summary, list(self._records.values()))

    def _load(self) -> None:
        """Take over the records of the state file (for a ``down`` or ``status`` in another process)."""
        _, records = read_state(self.state_file)
        for record in records:
            self._records.setdefault(record.key, record)
            if record.ops_port is not None:
                self._ops_ports.setdefault(record.key, record.ops_port)

    def records(self) -> list[ProcessRecord]:
        if not self._records:
            self._load()
        return list(self._records.values())

    def alive(self, record: ProcessRecord) -> bool:
        popen = self._popens.get(record.key)
        if popen is not None and popen.pid == record.pid and popen.poll() is not None:
            return False
        return pid_alive(record.pid, record.start_ticks)

    def is_running(self, name: str, index: int = 0) -> bool:
        record = self._records.get(f"{name}-{index}")
        return record is not None and self.alive(record)

    def pid(self, name: str, index: int = 0) -> int | None:
        record = self._records.get(f"{name}-{index}")
        return record.pid if record is not None else None

    def status(self) -> list[ProcessStatus]:
        return [ProcessStatus(r.name, r.index, r.pid, self.alive(r), r.log) for r in self.records()]

    def is_ready(self) -> bool:
        return http_status(f"{self.gateway_url}/readyz") == 200

    # -- start ---------------------------------------------------------------------------------------
    def provision(self, timeout: float | None = None) -> None:
        """Run ``<python> -m iko_audit provision`` with the services' environment; StackError if it fails.

        Its output goes to :attr:`StackConfig.provision_log`; a failure's message names the step and quotes
        the output's last lines, so ``make up`` says why without a look at the log.
        """
        cfg = self.config
        timeout = cfg.ready_timeout if timeout is None else timeout
        log_path = cfg.provision_log
        log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = (cfg.resolved_python, "-m", "iko_audit", "provision")
        step = f"audit database provisioning (`{' '.join(argv[1:])}`, namespace {cfg.namespace})"
        started = time.monotonic()
        with log_path.open("wb") as log:
            try:
                result = subprocess.run(
                    argv,
                    cwd=cfg.root,
                    env={**os.environ, **self.service_env()},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=max(timeout, 1.0),
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise StackError(f"{step} did not finish within {max(timeout, 1.0):.0f} s; see {log_path}") from None
            except OSError as exc:
                raise StackError(f"{step} could not run: {exc}") from exc
        if result.returncode != 0:
            lines = "\n".join(f"  {line}" for line in tail(log_path, 15))
            raise StackError(f"{step} failed with exit code {result.returncode} (log {log_path}):\n{lines}")
        self._say(f"  provisioned the audit database in {time.monotonic() - started:.1f} s (log {log_path})")

    def _launch(self, spec: ProcessSpec) -> ProcessRecord:
        cfg = self.config
        log_path = cfg.resolved_log_dir / f"{spec.key}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = (cfg.resolved_python, "-m", spec.module, *spec.args)
        env = {**os.environ, **spec.env}
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv,
                cwd=cfg.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: no terminal Ctrl-C, one signal for its children
                close_fds=True,
            )
        stat = proc_stat(popen.pid)
        ops_port = self._ops_ports.get(spec.key)
        record = ProcessRecord(
            spec.name, spec.index, popen.pid, stat[1] if stat else None, tuple(argv), str(log_path), ops_port
        )
        self._popens[spec.key] = popen
        self._records[spec.key] = record
        self._save()
        self._say(f"  started {spec.key:<16} pid {popen.pid:<7} log {log_path}")
        return record

    def _check_free_ports(self) -> None:
        cfg = self.config
        ports = [*cfg.sandbox_port_map.values(), *cfg.gateway_ports] if cfg.sandbox else cfg.gateway_ports
        busy = [p for p in ports if tcp_open("127.0.0.1", p, timeout=0.3)]
        if busy:
            raise StackError(
                f"port(s) {', '.join(map(str, busy))} already answer on 127.0.0.1: another stack is running "
                "(stop it with `make down`) or pick other ports with --gateway-port / --sandbox-ports"
            )

    def _exited(self) -> list[str]:
        dead = []
        for key, popen in self._popens.items():
            code = popen.poll()
            if code is not None and self._records.get(key, None) is not None:
                dead.append(f"{key} exited with code {code}")
        return dead

    def _wait(self, what: str, done: Callable[[], bool], deadline: float) -> None:
        while True:
            dead = self._exited()
            if dead:
                raise StackError(f"while waiting for {what}: {'; '.join(dead)}")
            if done():
                return
            if time.monotonic() >= deadline:
                raise StackError(f"timed out after {self.config.ready_timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    def start(self) -> None:
        """Start every process and wait until the gateway's ``/readyz`` answers 200.

        On failure prints the tail of every log (to ``out``, else stderr), stops what it started and raises
        :class:`StackError`.
        """
        alive = [r.key for r in self.records() if self.alive(r)]
        if alive:
            raise StackError(
                f"namespace {self.namespace!r} already has running processes ({', '.join(alive)}); "
                "stop them first (`make down` / `stack.py down`)"
            )
        self._records.clear()
        self._popens.clear()
        started = time.monotonic()
        deadline = started + self.config.ready_timeout
        try:
            self._check_free_ports()
            self._choose_ops_ports()
            self.provision(deadline - time.monotonic())
            specs = self.specs()
            sims = [s for s in specs if s.name.startswith("sandbox-")]
            for spec in sims:
                self._launch(spec)
            for spec in sims:
                port = spec.port if spec.port is not None else 0
                self._wait(f"{spec.key} on port {port}", functools.partial(tcp_open, "127.0.0.1", port), deadline)
            for spec in specs:
                if spec not in sims:
                    self._launch(spec)
            for url in self.gateway_urls:
                ready = functools.partial(lambda u: http_status(f"{u}/readyz") == 200, url)
                self._wait(f"{url}/readyz to answer 200", ready, deadline)
        except (StackError, OSError, KeyboardInterrupt) as exc:
            if not isinstance(exc, KeyboardInterrupt):
                self._report_failure(str(exc))
            self.stop()
            if isinstance(exc, OSError):
                raise StackError(f"could not start a process: {exc}") from exc
            raise
        self._say(f"  ready in {time.monotonic() - started:.1f} s: {self.gateway_url} (namespace {self.namespace})")

    def _report_failure(self, reason: str) -> None:
        out = self._out if self._out is not None else sys.stderr
        print(f"stack {self.namespace}: {reason}", file=out)
        for record in self._records.values():
            lines = tail(Path(record.log))
            print(f"----- last {len(lines)} lines of {record.log} -----", file=out)
            for line in lines:
                print(f"  {line}", file=out)
        print(f"stack {self.namespace}: stopping what was started", file=out, flush=True)

    def restart(self, name: str, index: int = 0) -> ProcessRecord:
        """Start one process again (after :meth:`kill`); it logs to the same file, which is truncated."""
        record = self._records.get(f"{name}-{index}")
        if record is not None and self.alive(record):
            raise StackError(f"{name}-{index} is still running (pid {record.pid})")
        return self._launch(self._spec(name, index))

    # -- stop ----------------------------------------------------------------------------------------
    def kill(self, name: str, index: int = 0, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` (SIGKILL by default) to one recorded process; returns its pid."""
        self.records()
        record = self._records.get(f"{name}-{index}")
        if record is None:
            raise StackError(f"no recorded process {name}-{index} in namespace {self.namespace!r}")
        if not self.alive(record):
            raise StackError(f"{name}-{index} (pid {record.pid}) is not running")
        signal_process(record.pid, sig)
        if sig == signal.SIGKILL and self._wait_gone([record], 5.0):
            raise StackError(f"{record.key} (pid {record.pid}) still runs 5 s after SIGKILL")
        self._say(f"  sent signal {sig} to {record.key} (pid {record.pid})")
        return record.pid

    def stop(self, grace: float | None = None) -> list[ProcessRecord]:
        """Stop every recorded process that still runs: SIGTERM, then SIGKILL after ``grace`` seconds.

        Only pids from this stack's records are signalled, and only while they still belong to the process
        that was started. Safe to call again: with nothing recorded it does nothing. Returns the records of
        the processes that were signalled.
        """
        grace = self.config.stop_grace if grace is None else grace
        records = self.records()
        targets = [r for r in reversed(records) if self.alive(r)]
        for record in targets:
            signal_process(record.pid, signal.SIGTERM)
            self._say(f"  stopping {record.key:<16} pid {record.pid}")
        remaining = self._wait_gone(targets, grace)
        for record in remaining:
            self._say(f"  {record.key} did not stop within {grace:.0f} s: SIGKILL")
            signal_process(record.pid, signal.SIGKILL)
        still = self._wait_gone(remaining, 5.0)
        if still:
            raise StackError("could not stop: " + ", ".join(f"{r.key} (pid {r.pid})" for r in still))
        self._records.clear()
        self._popens.clear()
        self._ops_ports.clear()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        return targets

    def _wait_gone(self, records: Sequence[ProcessRecord], timeout: float) -> list[ProcessRecord]:
        deadline = time.monotonic() + timeout
        while True:
            for record in records:
                popen = self._popens.get(record.key)
                if popen is not None:
                    popen.poll()  # reap our own children, so they do not linger as zombies
            left = [r for r in records if self.alive(r)]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stack.py",
        description="Run the IKO stack (simulators, assemblers, audit, connectors, gateway) in the background.",
    )
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--namespace", help=f"env IKO_NAMESPACE, default {DEFAULT_NAMESPACE}")
    parser.add_argument("--assemblers", help="number of assembler replicas (env ASSEMBLERS, default 1)")
    parser.add_argument("--connector-replicas", help="replicas of each connector (env CONNECTOR_REPLICAS, default 1)")
    parser.add_argument("--audit-replicas", help="audit service replicas (env AUDIT_REPLICAS, default 1)")
    parser.add_argument("--gateways", help="gateway replicas, on --gateway-port + i (env GATEWAYS, default 1)")
    parser.add_argument("--gateway-host", help="env IKO_GATEWAY_HOST, default 127.0.0.1")
    parser.add_argument("--gateway-port", help="env IKO_GATEWAY_PORT, default 8080")
    parser.add_argument(
        "--sandbox-ports",
        metavar="NAME=PORT,...",
        help="simulator ports by source, e.g. brp=9101,zgw=9103 (env SANDBOX_PORTS; a source not named keeps its "
        "registered default, brp=8101,kvk=8102,zgw=8103; one port per source in name order is read too)",
    )
    parser.add_argument(
        "--no-sandbox", action="store_true", help="start no simulators (the IKO_*_BASE_URL variables apply)"
    )
    parser.add_argument(
        "--no-dev-mode",
        action="store_true",
        help="switch the gateway's development mode off (the dev API key and purpose demo are then refused)",
    )
    parser.add_argument(
        "--extra-env", action="append", default=[], metavar="K=V", help="extra variable for every service"
    )
    parser.add_argument("--run-dir", type=Path, help="default .run/<namespace>")
    parser.add_argument("--log-dir", type=Path, help="default <run-dir>/logs")
    parser.add_argument("--python", help="interpreter for the services, default .venv/bin/python")
    parser.add_argument("--timeout", help=f"seconds to wait for readiness, default {DEFAULT_READY_TIMEOUT:.0f}")
    parser.add_argument("--grace", help=f"seconds between SIGTERM and SIGKILL, default {DEFAULT_STOP_GRACE:.0f}")
    return parser


def parse_float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{what} must be a number, got {value!r}") from None


def config_from_args(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, StackConfig]:
    """The command and the config from the command line, falling back to the environment, then defaults."""
    args = build_parser().parse_args(list(argv))

    def pick(option: str | None, env_name: str) -> str | None:
        return option if option is not None else _env(environ, env_name)

    namespace = pick(args.namespace, "IKO_NAMESPACE") or DEFAULT_NAMESPACE
    assemblers = pick(args.assemblers, "ASSEMBLERS")
    replicas = pick(args.connector_replicas, "CONNECTOR_REPLICAS")
    audit_replicas = pick(args.audit_replicas, "AUDIT_REPLICAS")
    gateways = pick(args.gateways, "GATEWAYS")
    gateway_port = pick(args.gateway_port, "IKO_GATEWAY_PORT")
    sandbox_ports = pick(args.sandbox_ports, "SANDBOX_PORTS")
    config = StackConfig(
        namespace=namespace,
        assemblers=parse_int(assemblers, "assemblers") if assemblers is not None else 1,
        connector_replicas=parse_int(replicas, "connector replicas") if replicas is not None else 1,
        audit_replicas=parse_int(audit_replicas, "audit replicas") if audit_replicas is not None else 1,
        gateways=parse_int(gateways, "gateways") if gateways is not None else 1,
        gateway_host=pick(args.gateway_host, "IKO_GATEWAY_HOST") or DEFAULT_GATEWAY_HOST,
        gateway_port=parse_int(gateway_port, "gateway port") if gateway_port is not None else DEFAULT_GATEWAY_PORT,
        sandbox_ports=parse_ports(sandbox_ports) if sandbox_ports is not None else {},
        sandbox=not args.no_sandbox,
        dev_mode=not args.no_dev_mode,
        extra_env=parse_extra_env(args.extra_env),
        run_dir=args.run_dir,
        log_dir=args.log_dir,
        python=args.python,
        ready_timeout=parse_float(args.timeout, "timeout") if args.timeout is not None else DEFAULT_READY_TIMEOUT,
        stop_grace=parse_float(args.grace, "grace") if args.grace is not None else DEFAULT_STOP_GRACE,
    )
    if args.command == "up" and config.sandbox:
        # Unknown sources and ports clashing with a default are refused now, not halfway through starting.
        config.sandbox_port_map  # noqa: B018
    return args.command, config


def _how_to_stop(stack: Stack) -> str:
    ns = stack.namespace
    return "stop it with `make down" + (f" IKO_NAMESPACE={ns}`" if ns != DEFAULT_NAMESPACE else "`")


def _cmd_up(stack: Stack, out: TextIO) -> int:
    records = stack.records()
    if records:
        alive = [r for r in records if stack.alive(r)]
        if alive and len(alive) == len(records):
            print(f"stack {stack.namespace}: already running ({len(alive)} processes); {_how_to_stop(stack)}", file=out)
            return 0
        if alive:
            dead = ", ".join(r.key for r in records if r not in alive)
            print(
                f"stack {stack.namespace}: partly running ({dead} not running); run `make down` first",
                file=out,
            )
            return 1
    cfg = stack.config
    print(
        f"stack {cfg.namespace}: provisioning its audit database, then starting {cfg.assemblers} assembler(s), "
        f"{cfg.audit_replicas} audit replica(s), {cfg.connector_replicas} replica(s) of each connector, "
        + (f"gateway on {cfg.gateway_url}" if cfg.gateways == 1 else f"gateways on {', '.join(cfg.gateway_urls)}")
        + (
            f", simulators on {','.join(f'{n}={p}' for n, p in cfg.sandbox_port_map.items())}"
            if cfg.sandbox
            else ", no simulators"
        ),
        file=out,
        flush=True,
    )
    try:
        stack.start()
    except KeyboardInterrupt:
        print(f"stack {cfg.namespace}: interrupted, stopped what was started", file=out)
        return 130
    except StackError as exc:
        print(f"stack {cfg.namespace}: up failed: {exc}", file=out)
        return 1
    print(f"logs in {cfg.resolved_log_dir}; {_how_to_stop(stack)}", file=out)
    return 0


def _cmd_down(stack: Stack, out: TextIO) -> int:
    records = stack.records()
    if not records:
        print(f"stack {stack.namespace}: nothing recorded in {stack.state_file}, nothing to stop", file=out)
        return 0
    try:
        stopped = stack.stop()
    except StackError as exc:
        print(f"stack {stack.namespace}: {exc}", file=out)
        return 1
    gone = len(records) - len(stopped)
    print(
        f"stack {stack.namespace}: stopped {len(stopped)} process(es)"
        + (f", {gone} had already exited" if gone else ""),
        file=out,
    )
    return 0


def _cmd_status(stack: Stack, out: TextIO) -> int:
    statuses = stack.status()
    if not statuses:
        print(f"stack {stack.namespace}: not running (no {stack.state_file})", file=out)
        return 3
    summary, _ = read_state(stack.state_file)
    gateway_url = str(summary.get("gateway_url", stack.gateway_url))
    print(f"stack {stack.namespace}:", file=out)
    for st in statuses:
        state = "running" if st.alive else "DEAD"
        ops = stack.ops_urls.get(st.key)
        print(f"  {st.key:<18} pid {st.pid:<8} {state:<8} {st.log}" + (f"  ops {ops}" if ops else ""), file=out)
    ready = http_status(f"{gateway_url}/readyz")
    print(f"  gateway {gateway_url}/readyz -> {ready if ready is not None else 'no answer'}", file=out)
    return 0 if all(st.alive for st in statuses) and ready == 200 else 1


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, out: TextIO = sys.stdout) -> int:
    try:
        command, config = config_from_args(
            sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ
        )
    except ConfigError as exc:
        print(f"stack.py: {exc}", file=sys.stderr)
        return 2
    # For down and status the state file, not the options, says which processes and gateway to look at.
    stack = Stack.from_config(config, out=out)
    try:
        if command == "up":
            return _cmd_up(stack, out)
        if command == "down":
            return _cmd_down(stack, out)
        return _cmd_status(stack, out)
    except (StackError, ConfigError) as exc:
        print(f"stack.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
