"""Child processes of the benchmark: started with a log file each, ready when they say so, stopped by pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StartError(RuntimeError):
    """A child did not come up."""


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    ready_file: Path | None = None
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_ready(self) -> bool:
        if self.ready_file is not None and not self.ready_file.exists():
            return False
        return self.port is None or port_open(self.port)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def mark_ready(path: Path) -> None:
    """Tell the parent a child is ready: the file it waits for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("ready\n", encoding="utf-8")


async def ready_until_terminated(path: Path) -> None:
    """In a child: say it is ready, then wait until the parent sends SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    mark_ready(path)
    await stop.wait()


def _wait_all(children: Sequence[Child], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))


def launch(
    name: str,
    args: Sequence[str],
    log_dir: Path,
    *,
    ready_file: Path | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Child:
    """``<venv python> <args...>`` in the repo root, in a session of its own, logging to ``<log_dir>/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    if ready_file is not None:
        with contextlib.suppress(FileNotFoundError):
            ready_file.unlink()
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [python(), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name, popen, log, ready_file, port)


async def wait_ready(children: Sequence[Child], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        for child in children:
            if child.popen.poll() is not None:
                raise StartError(f"{child.name} exited with {child.popen.returncode}:\n{child.log_tail()}")
        if all(child.is_ready() for child in children):
            return
        if time.monotonic() > deadline:
            late = [c.name for c in children if not c.is_ready()]
            raise StartError(f"not ready after {timeout_s:.0f} s: {', '.join(late)}")
        await asyncio.sleep(0.05)


async def stop(children: Sequence[Child], grace_s: float = 5.0) -> None:
    """SIGTERM each child we started (by its pid), SIGKILL what still runs after ``grace_s``."""
    for child in children:
        if child.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.popen.send_signal(signal.SIGTERM)
    await asyncio.to_thread(_wait_all, children, grace_s)
    for child in children:
        if child.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.popen.kill()
            child.popen.wait(timeout=5)
