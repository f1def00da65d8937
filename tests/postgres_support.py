"""Debian's PostgreSQL for the JDBC connectors' tests (`postgresql` package, tools/install-test-deps.sh).

`PostgresServer().start()` runs initdb into `<folder>/data` (a fresh folder in /tmp: pytest's tmp_path is private
to root, and the server runs as another user) (trust authentication, superuser `odradek`) and
`pg_ctl start` on a free port of 127.0.0.1 with its unix socket in the folder, creates the database `odradek`, and
`stop()` runs `pg_ctl stop -m immediate` (then kills the postmaster by the PID in postmaster.pid if it is still
there). initdb and postgres refuse to run as root, so as root both run as the `postgres` user (`runuser`), which
then owns the folder, removed by `stop()`. `conninfo` is a psycopg connection string; `jdbc_url` the same
database as JDBC writes it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 60
USER, DATABASE = "odradek", "odradek"


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def postgres_missing() -> str | None:
    if pg_bin() is None:
        return "PostgreSQL is not installed (tools/install-test-deps.sh installs Debian's postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        return f"psycopg is not installed (pip install -e .): {exc}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb refuses root"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="odradek-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.bin = pg_bin()
        assert self.bin is not None

    def _run(self, *argv: str, timeout: float = START_TIMEOUT_S) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *argv], capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            self.folder.chmod(0o755)
        assert self.bin is not None
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )
        with self.connect("postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return self

    def stop(self) -> None:
        assert self.bin is not None
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(Exception):
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={DATABASE}"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{DATABASE}"

    def connect(self, dbname: str = DATABASE) -> Any:
        import psycopg

        return psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}", connect_timeout=10)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return list(conn.execute(sql, params or None).fetchall())

    def execute(self, sql: str, *params: Any) -> None:
        with self.connect() as conn:
            conn.execute(sql, params or None)
