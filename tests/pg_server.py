"""A PostgreSQL 15 server of a test's own, for tests that stop and start the database under a running service.

It never touches the machine's own server: ``initdb`` into a temporary folder, its own free port on 127.0.0.1,
its own socket folder, trust authentication, superuser ``postgres``. As root (the tests here run as root) every
PostgreSQL command runs as the ``postgres`` user through ``runuser``, which owns the folder; as anyone else it
runs as that user.

    server = PgServer()
    server.start()                # initdb on the first start, then pg_ctl start
    os.environ["IKO_AUDIT_ADMIN_URL"] = server.admin_url   # the audit URLs follow its host and port
    ...
    server.stop()                 # pg_ctl stop -m fast: sessions are cut, as in an outage
    server.start()                # the same data, the same port
    server.close()                # stopped and removed

``with PgServer() as server:`` starts it and closes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

BIN_DIR = Path(os.environ.get("IKO_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgServer:
    def __init__(self, bin_dir: Path = BIN_DIR, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or _free_port()
        self._root: Path | None = None
        self._running = False

    @property
    def admin_url(self) -> str:
        """The superuser's URL (trust authentication, no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        return self._running

    @property
    def log_file(self) -> Path | None:
        return self._root / "server.log" if self._root else None

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self._as_owner(), *command], capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            server_log = (
                self.log_file.read_text(errors="replace")[-2000:] if self.log_file and self.log_file.exists() else ""
            )
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}\n{server_log}"
            )

    def _init(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="iko-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
        root.chmod(0o700)
        self._root = root
        self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(root / "data"),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        return root

    def start(self) -> None:
        """Start the server (initdb on the first call) and wait until it takes connections."""
        if self._running:
            return
        root = self._root or self._init()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {root} "
            # A test database: durability is not what is under test, speed is welcome.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(root / "data"),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
        )
        self._running = True

    def stop(self) -> None:
        """Stop the server at once (``-m fast``: open sessions are cut), keeping its data for the next start."""
        if not self._running or self._root is None:
            return
        self._run(str(self.bin_dir / "pg_ctl"), "stop", "-w", "-t", "30", "-m", "fast", "-D", str(self._root / "data"))
        self._running = False

    def close(self) -> None:
        """Stop the server and remove its folder (safe to repeat)."""
        if self._running:
            with contextlib.suppress(Exception):
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "stop",
                    "-w",
                    "-t",
                    "30",
                    "-m",
                    "immediate",
                    "-D",
                    str(self._root / "data") if self._root else "",
                )
            self._running = False
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
