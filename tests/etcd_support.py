"""Real etcd members for the tests (Debian's ``etcd-server``: ``/usr/bin/etcd``), on free loopback ports.

``EtcdCluster(folder, size).start()`` starts ``size`` members named m0.. with data dirs under ``folder``, on ports
the OS hands out (never 2379/2380, where a packaged etcd may listen), with the fast timing of notes/etcd.md
section 5 (heartbeat 10 ms, election 100 ms: a leader change takes about 0.2 s, the minimum lease TTL is 1 s).
Each member runs in its own session and is killed by PID (``stop``) however the test ends; readiness is the
member's own PID alive and ``/v3/maintenance/status`` answering with a leader (a stale process on the port
would answer ``/health`` too). Sync code (``urllib``), usable from fixtures and, briefly, from async tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

ETCD = "/usr/bin/etcd"
START_TIMEOUT_S = 20.0


def etcd_missing() -> str | None:
    """Why the etcd tests cannot run here, or ``None``."""
    if shutil.which(ETCD) is None:
        return f"{ETCD} not installed (tools/install-test-deps.sh installs Debian's etcd-server)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(endpoint: str, path: str, body: dict[str, Any], timeout: float = 1.0) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{endpoint}/v3/{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply: dict[str, Any] = json.loads(response.read().decode().splitlines()[0])
        return reply


class EtcdMember:
    def __init__(self, name: str, data_dir: Path) -> None:
        self.name = name
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.initial_cluster = ""
        self.cluster_token = ""
        self.heartbeat_ms = 10

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def launch(self) -> None:
        """Starts the process (on its existing data dir, if any: it then rejoins with its old data)."""
        assert not self.alive()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir.parent / f"{self.name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen(
            [
                ETCD,
                "--name", self.name,
                "--data-dir", str(self.data_dir / "data"),
                "--listen-client-urls", self.endpoint,
                "--advertise-client-urls", self.endpoint,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", self.cluster_token,
                "--heartbeat-interval", str(self.heartbeat_ms),
                "--election-timeout", str(self.heartbeat_ms * 10),
                "--logger", "zap",
                "--log-level", "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self, timeout: float = 0.5) -> dict[str, Any] | None:
        try:
            return post(self.endpoint, "maintenance/status", {}, timeout)
        except (OSError, ValueError):
            return None

    def member_id(self) -> str:
        status = self.status()
        assert status is not None, f"etcd member {self.name} does not answer"
        return str(status["header"]["member_id"])

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"etcd {self.name} exited: {self.log_tail()}")
            status = self.status()
            if status is not None and int(status.get("leader", 0) or 0):
                return
            time.sleep(0.02)
        raise RuntimeError(f"etcd {self.name} not ready after {timeout} s: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.data_dir.parent / f"{self.name}.log").read_text(errors="replace")[-2000:]
        return ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)


class EtcdCluster:
    """``size`` members on loopback; ``with EtcdCluster(folder, 3) as cluster:`` starts and always stops them."""

    def __init__(self, folder: Path, size: int = 1, heartbeat_ms: int = 10) -> None:
        """``heartbeat_ms``: etcd's heartbeat interval; the election timeout is ten of them (etcd's defaults: 100)."""
        self.folder = folder
        self.members = [EtcdMember(f"m{i}", folder / f"m{i}") for i in range(size)]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        token = f"odradek-test-{os.getpid()}-{self.members[0].peer_port}"
        for member in self.members:
            member.initial_cluster = initial
            member.cluster_token = token
            member.heartbeat_ms = heartbeat_ms

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def url(self, prefix: str = "") -> str:
        """The ``etcd://`` store URL of every member."""
        return "etcd://" + ",".join(f"127.0.0.1:{m.client_port}" for m in self.members) + prefix

    def start(self) -> EtcdCluster:
        for member in self.members:
            member.launch()
        try:
            for member in self.members:
                member.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def leader(self, timeout: float = 5.0) -> EtcdMember:
        """The member that is the raft leader now (as a live member reports it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for member in self.members:
                status = member.status() if member.alive() else None
                if status and int(status.get("leader", 0) or 0):
                    leader_id = str(status["leader"])
                    for candidate in self.members:
                        if candidate.alive() and candidate.status() and candidate.member_id() == leader_id:
                            return candidate
            time.sleep(0.02)
        raise RuntimeError("no etcd leader")

    def stop(self) -> None:
        for member in self.members:
            with contextlib.suppress(Exception):
                member.kill()

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
