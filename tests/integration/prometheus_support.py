"""A real Prometheus (Debian's `/usr/bin/prometheus`, 2.42) on 127.0.0.1, scraping test processes.

`PrometheusProcess(workdir, targets)` writes `<workdir>/prometheus.yml` (one job, `odradek`, scraping the given
`127.0.0.1:<port>` targets' `/metrics` every second), runs Prometheus with its TSDB in `<workdir>/data` and its
web API on a free 127.0.0.1 port, and waits for `/-/ready`. Its output goes to `<workdir>/prometheus.out`.

PromQL goes through the HTTP API (`/api/v1/query`): `query()` returns the result list of an instant query, each
item `{"metric": {label: value}, "value": [timestamp, "string value"]}`; `wait_for()` polls a query until a
predicate holds; `wait_for_value()` until a query gives one sample with a given value. Samples arrive once a
second, so anything asserted through Prometheus is waited for, never read once.

Every wait is bounded; `stop()` (SIGTERM, then SIGKILL) and the `prometheus_factory` fixture make sure no process
outlives its test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from it_support import KILL_TIMEOUT_S, PORT_ATTEMPTS, free_port

PROMETHEUS = "/usr/bin/prometheus"
JOB = "odradek"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 5.0
SCRAPE_INTERVAL = "1s"

Result = list[dict[str, Any]]


def prometheus_available() -> bool:
    return shutil.which(PROMETHEUS) is not None


def sample_value(item: dict[str, Any]) -> float:
    """The float value of one instant-query result item (`"value": [ts, "12"]`)."""
    return float(item["value"][1])


def values_by(result: Result, *labels: str) -> dict[tuple[str, ...], float]:
    """{(label values...): value} for an instant-query result, e.g. `values_by(r, "topic", "partition")`."""
    return {tuple(item["metric"].get(label, "") for label in labels): sample_value(item) for item in result}


class PrometheusError(RuntimeError):
    pass


class PrometheusProcess:
    """One Prometheus subprocess scraping `targets` (`host:port` strings) every second."""

    def __init__(self, workdir: Path, targets: Sequence[str], scrape_interval: str = SCRAPE_INTERVAL) -> None:
        self.workdir = workdir
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.config_path = workdir / "prometheus.yml"
        self.data_dir = workdir / "data"
        self.out_path = workdir / "prometheus.out"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle -------------------------------------------------------------------------------------

    def write_config(self) -> None:
        """The configuration file; JSON is YAML, so no YAML library is needed."""
        interval = self.scrape_interval
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": self.targets}]}
            ],
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")

    def start(self) -> PrometheusProcess:
        """Start on a free port (retried if it was taken in between) and wait for `/-/ready`."""
        self.write_config()
        last = ""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self._launch()
                return self
            except PrometheusError as exc:
                last = str(exc)
                if "address already in use" not in last.lower():
                    raise
        raise PrometheusError(f"no free port after {PORT_ATTEMPTS} attempts: {last}")

    def _command(self) -> list[str]:
        return [
            PROMETHEUS,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def _launch(self) -> None:
        with open(self.out_path, "ab") as out:
            out.write(f"\n=== start on port {self.port} ===\n".encode())
            out.flush()
            offset = out.tell()
            self.proc = subprocess.Popen(
                self._command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._ready():
                return
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.proc.returncode}:\n{self._read_from(offset)}")
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus not ready after {START_TIMEOUT_S:.0f} s:\n{self._read_from(offset)}")

    def _read_from(self, offset: int) -> str:
        with open(self.out_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")[-3000:]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT_S) as resp:
                status: int = resp.status
                return status == 200
        except (OSError, http.client.HTTPException):  # refused, 503 while starting, or cut off
            return False

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM and wait (bounded); SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=KILL_TIMEOUT_S)

    def cleanup(self) -> None:
        """Finalizer: whatever state the process is in, make sure it is gone."""
        with contextlib.suppress(Exception):
            self.stop()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=KILL_TIMEOUT_S)

    # -- HTTP API --------------------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET `/api/v1/<path>`; the `data` of a `"status": "success"` answer (PrometheusError otherwise)."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # 400 and 422 carry the PromQL error as JSON
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> Result:
        """An instant query: the list of result items (a vector; a scalar result comes back as one item)."""
        data = self.api("query", query=promql)
        if data["resultType"] == "vector":
            result: Result = data["result"]
            return result
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        raise PrometheusError(f"{promql}: unexpected result type {data['resultType']}")

    def targets_health(self) -> list[dict[str, Any]]:
        """The active targets' `scrapeUrl`, `health` and `lastError` (what to print when a wait times out)."""
        data = self.api("targets")
        keys = ("scrapeUrl", "health", "lastError")
        return [{k: t.get(k) for k in keys} for t in data["activeTargets"]]

    # -- waiting ---------------------------------------------------------------------------------------

    def wait_for(
        self, promql: str, predicate: Callable[[Result], bool], timeout: float = 20.0, interval: float = 0.25
    ) -> Result:
        """Poll `promql` until `predicate(result)` holds (result returned) or `timeout` s pass (AssertionError)."""
        deadline = time.monotonic() + timeout
        last: Result = []
        while True:
            last = self.query(promql)
            if predicate(last):
                return last
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting on {promql!r}; last result {last!r}; "
                    f"targets {self.targets_health()!r}"
                )
            time.sleep(interval)

    def wait_for_value(self, promql: str, expected: float, timeout: float = 20.0) -> float:
        """Wait until `promql` gives exactly one sample and its value is `expected`."""
        result = self.wait_for(promql, lambda r: len(r) == 1 and sample_value(r[0]) == expected, timeout)
        return sample_value(result[0])

    def wait_until_up(self, timeout: float = 30.0) -> None:
        """Wait until every target has been scraped successfully (`up == 1`). Prometheus applies a new target list
        at most every 5 s, so the first scrape comes 5 to 6 s after start."""
        n = len(self.targets)
        self.wait_for(f'up{{job="{JOB}"}} == 1', lambda r: len(r) == n, timeout)
