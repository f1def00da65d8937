"""What bench/connect.py and bench/mirror.py share: a Connect-runtime process of this checkout and its metrics.

`worker_env()` puts this checkout's broker/, connect/ and mirror/ first on PYTHONPATH (whatever `pip install -e`
points at), or another checkout's (`--base-tree` of both benches: the same run measures both trees).
`RuntimeProcess` runs `python -m odradek.cli <command> <config files>`, waits (bounded) for its "started"
line in `<workdir>/<name>.out` and stops it (SIGTERM, then SIGKILL). `scrape(url)` sums a Prometheus text
exposition per metric name (labels dropped). `Profiler` runs `py-spy record --format raw` on a pid until stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from run import REPO, quantiles

START_TIMEOUT_S = 60.0


def worker_env(repo: Path = REPO, site: Path | None = None) -> dict[str, str]:
    """The environment of a runtime process: `repo`'s packages first on PYTHONPATH (another checkout of the project
    to compare against, e.g. a `git worktree` of main), after `site` (a directory with a sitecustomize.py) if given."""
    env = dict(os.environ)
    paths = [str(site) if site else None, str(repo / "broker"), str(repo / "connect"), str(repo / "mirror")]
    paths.append(env.get("PYTHONPATH"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


def write_properties(path: Path, props: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
    return path


class RuntimeProcess:
    """`python -m odradek.cli <command> <files...>` with its output in `<workdir>/<name>.out`."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        command: str,
        files: list[Path],
        started: str,
        repo: Path = REPO,
        site: Path | None = None,
    ) -> None:
        self.workdir, self.name, self.command, self.files, self.started = workdir, name, command, files, started
        self.repo, self.site = repo, site
        self.out_path = workdir / f"{name}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> RuntimeProcess:
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "odradek.cli", self.command, *map(str, self.files)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=worker_env(self.repo, self.site),
                cwd=self.workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.started in self.output():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command} not started after {START_TIMEOUT_S} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def http(method: str, url: str, body: Any = None, timeout_s: float = 30.0) -> tuple[int, Any]:
    """A raw HTTP call with a JSON body; (status, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def scrape(url: str, timeout_s: float = 10.0) -> dict[str, float]:
    """Prometheus text format -> {metric name: sum over its label sets}; an unreachable endpoint reads as empty."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        with contextlib.suppress(ValueError):
            out[name] = out.get(name, 0.0) + float(value)
    return out


class Progress:
    """Polls `count()` every `interval_s` until it reaches `total`; the rate is taken from the first poll that saw
    records (t0, n0) to the poll that saw all of them (t1): (total - n0) / (t1 - t0), so start-up (group join,
    connector start) is not counted. The error is at most one interval at each end."""

    def __init__(self, count: Any, total: int, interval_s: float = 0.1, stall_s: float = 60.0) -> None:
        self.count, self.total, self.interval_s, self.stall_s = count, total, interval_s, stall_s

    def run(self, on_start: Any = None) -> dict[str, float]:
        t0 = n0 = None
        last_n, last_change = -1, time.monotonic()
        while True:
            n = self.count()
            now = time.perf_counter()
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > self.stall_s:
                raise RuntimeError(f"stalled at {n} of {self.total} records for {self.stall_s:.0f} s")
            if t0 is None and n > 0:
                t0, n0 = now, n
                if on_start is not None:
                    on_start()
            if n >= self.total:
                assert t0 is not None and n0 is not None
                if now - t0 < 1e-3:
                    raise RuntimeError("the run finished between two polls: use more records")
                return {"t0": t0, "t1": now, "n0": float(n0), "records_per_s": (self.total - n0) / (now - t0)}
            time.sleep(self.interval_s)


class LatencyProbe:
    """A thread calling `probe()` every `interval_s` and timing each call (ms), until `stop()`."""

    def __init__(self, probe: Any, interval_s: float = 0.02) -> None:
        self.probe, self.interval_s = probe, interval_s
        self.samples: list[tuple[float, float]] = []  # (perf_counter at the start, latency ms)
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LatencyProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            try:
                self.probe()
            except Exception:
                self.errors += 1
            self.samples.append((began, (time.perf_counter() - began) * 1000))
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def between(self, t0: float, t1: float) -> dict[str, float]:
        ms = [latency for at, latency in self.samples if t0 <= at <= t1]
        p50, p99 = quantiles(ms, 0.5, 0.99)
        return {"probes": len(ms), "p50_ms": p50, "p99_ms": p99, "max_ms": max(ms, default=0.0), "errors": self.errors}


class Profiler:
    """`py-spy record --format raw` of `pid` into `path` until `stop()` (SIGINT makes py-spy write its file)."""

    def __init__(self, pid: int, path: Path, rate: int = 100) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            ["py-spy", "record", "-p", str(pid), "-o", str(path), "--format", "raw", "-r", str(rate), "--threads"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def switch_interval_site(directory: Path, seconds: float) -> Path:
    """A directory whose sitecustomize.py sets `sys.setswitchinterval(seconds)` in every process started with it
    first on PYTHONPATH (bench/connect.py --switch-interval: the GIL hand-over interval of the worker; without it the
    worker's own default applies, 1 ms since ODRADEK_SWITCH_INTERVAL_MS)."""
    directory.mkdir(parents=True, exist_ok=True)
    # The processes set the interval from ODRADEK_SWITCH_INTERVAL_MS when they start (odradek.connect.runtime.gil),
    # which would undo a bare setswitchinterval here: set both (a tree from before that variable reads neither).
    (directory / "sitecustomize.py").write_text(
        f"import os\nimport sys\n\nsys.setswitchinterval({seconds!r})\n"
        f"os.environ['ODRADEK_SWITCH_INTERVAL_MS'] = {str(seconds * 1000)!r}\n"
    )
    return directory
