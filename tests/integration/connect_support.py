"""Support for the Connect integration tests: a `connect-standalone` worker process on 127.0.0.1.

`ConnectProcess(workdir, bootstrap, extra)` writes `worker.properties` (offsets in the workdir, a free REST port,
`offset.flush.interval.ms=500`), runs `python -m odradek.cli connect-standalone worker.properties <files>` with this
repository's `broker/` and `connect/` first on PYTHONPATH, and waits (bounded) for "Kafka Connect started" in
`<workdir>/connect.out`. `rest(method, path, body)` is a raw HTTP call returning (status, parsed JSON or None,
headers). `stop()` sends SIGTERM and waits; `cleanup()` kills whatever is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from it_support import REPO, broker_env, free_port

START_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30.0


def connect_env() -> dict[str, str]:
    env = broker_env()
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "broker"), str(REPO / "connect"), env.get("PYTHONPATH")])
    )
    return env


class ConnectStartError(RuntimeError):
    pass


class ConnectProcess:
    def __init__(self, workdir: Path, bootstrap: str, extra: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.bootstrap = bootstrap
        self.extra = dict(extra or {})
        self.port = free_port()
        self.out_path = workdir / "connect.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.offsets_file = workdir / "connect.offsets"
        self.env: dict[str, str] = {}  # added to the worker's environment (e.g. OTEL_* variables)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_worker_properties(self) -> Path:
        props = {
            "bootstrap.servers": self.bootstrap,
            "offset.storage.file.filename": str(self.offsets_file),
            "offset.flush.interval.ms": "500",
            "listeners": f"http://127.0.0.1:{self.port}",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "task.shutdown.graceful.timeout.ms": "10000",
            **self.extra,
        }
        path = self.workdir / "worker.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
        return path

    def launch(self, connector_files: list[Path]) -> subprocess.Popen[bytes]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        worker = self.write_worker_properties()
        offset = self.out_path.stat().st_size if self.out_path.exists() else 0
        self._offset = offset
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "odradek.cli", "connect-standalone", str(worker), *map(str, connector_files)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**connect_env(), **self.env},
                cwd=self.workdir,
            )
        return self.proc

    def start(self, connector_files: list[Path] | None = None) -> ConnectProcess:
        proc = self.launch(connector_files or [])
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.output()[self._offset :]
            if "Kafka Connect started" in text:
                return self
            if proc.poll() is not None:
                raise ConnectStartError(f"connect-standalone exited with {proc.returncode}:\n{text[-4000:]}")
            time.sleep(0.1)
        self.cleanup()
        raise ConnectStartError(f"connect-standalone not started after {START_TIMEOUT_S} s:\n{self.output()[-4000:]}")

    def output(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None, dict(response.headers)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None, dict(exc.headers)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"connect-standalone ignored SIGTERM for {STOP_TIMEOUT_S} s") from None
        return self.proc.returncode

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)


def write_properties(path: Path, props: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
    return path


class DistributedConnectProcess(ConnectProcess):
    """A `connect-distributed` worker: the same REST helpers; the group and topics given by `extra`.

    `worker.properties` has the three storage topics (`<prefix>-configs`, `-offsets`, `-status`, replication factor 1,
    few partitions), `group.id=<prefix>`, short session and heartbeat timeouts and a free REST port.
    """

    def __init__(self, workdir: Path, bootstrap: str, prefix: str, extra: dict[str, str] | None = None) -> None:
        distributed = {
            "group.id": prefix,
            "config.storage.topic": f"{prefix}-configs",
            "offset.storage.topic": f"{prefix}-offsets",
            "status.storage.topic": f"{prefix}-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.storage.partitions": "3",
            "status.storage.partitions": "2",
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            **(extra or {}),
        }
        super().__init__(workdir, bootstrap, distributed)

    def write_worker_properties(self) -> Path:
        path = super().write_worker_properties()
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "offset.storage.file" not in line]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def launch(self, connector_files: list[Path]) -> subprocess.Popen[bytes]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        worker = self.write_worker_properties()
        self._offset = self.out_path.stat().st_size if self.out_path.exists() else 0
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "odradek.cli", "connect-distributed", str(worker)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**connect_env(), **self.env},
                cwd=self.workdir,
            )
        return self.proc

    @property
    def worker_id(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9, and wait for the process to be gone."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
