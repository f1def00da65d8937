"""A local Odradek cluster in one folder: one etcd member and N broker processes (`odradek cluster up/down`).

Layout of the folder (docs/cluster.md, "Running a cluster"):

    <dir>/cluster.json                  the state file (below)
    <dir>/etcd/data/                    etcd's data dir; <dir>/etcd/etcd.log its output
    <dir>/broker-<id>/server.properties the broker's configuration (Kafka's keys)
    <dir>/broker-<id>/data/             its log dir (partition folders `<topic>-<partition>/`)
    <dir>/broker-<id>/broker.out        its output, appended across starts

Ports: with a base port P, broker i (1-based) listens on P+i-1, serves metrics on P+100+i-1, and etcd takes
P+200 (clients) and P+201 (peers); without one, free ports are chosen once and kept in the state file, so a
cluster brought down and up again keeps its addresses (etcd's data dir records its peer URL).

The state file is JSON: `{"format": 1, "etcd": {"pid", "start_time", "client_port", "peer_port", "host"},
"brokers": [{"node_id", "pid", "start_time", "port", "metrics_port", "host"}], "configs": {key: value}}`; a pid of
0 means stopped. Processes are recorded with their start time (`processes.ProcessId`), so a PID reused by another
program is never signalled. Every process runs in its own session (it outlives the command that started it and
a Ctrl-C there); every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from odradek.faults.processes import ProcessId, launch

DEFAULT_ETCD = "/usr/bin/etcd"
STATE_FILE = "cluster.json"
STORE_PREFIX = "/odradek"
ETCD_READY_S = 30.0
BROKER_READY_S = 60.0
REGISTERED_S = 60.0
STOP_S = 30.0
PORT_ATTEMPTS = 5
METRICS_OFFSET = 100
ETCD_OFFSET = 200
READY_LINE = "listening on port(s)"
# Environment variables the test suite sets for itself: the broker reads ODRADEK_<KEY> as configuration keys and
# refuses keys it does not know, so these are never passed to it.
_NOT_FOR_BROKERS = ("ODRADEK_SLOW", "ODRADEK_FUZZ_")


class ClusterError(Exception):
    """A user-facing failure of `up`, `down` or a fault: one line, no traceback."""


class Placement(Protocol):
    """Where processes run: their addresses and the command prefix that puts them there (a network namespace)."""

    def broker_host(self, node_id: int) -> str: ...

    def etcd_host(self) -> str: ...

    def command_prefix(self, node_id: int) -> list[str]: ...


class Loopback:
    """Everything on 127.0.0.1 in this network namespace (the default)."""

    def broker_host(self, node_id: int) -> str:
        return "127.0.0.1"

    def etcd_host(self) -> str:
        return "127.0.0.1"

    def command_prefix(self, node_id: int) -> list[str]:
        return []


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def etcd_binary(path: str = DEFAULT_ETCD) -> str:
    """The etcd executable, or a ClusterError that says how to install it."""
    found = shutil.which(path)
    if found is None:
        raise ClusterError(
            f"etcd not found at {path}: install Debian's etcd-server (`apt-get install etcd-server`) "
            "or pass --etcd /path/to/etcd"
        )
    return found


def source_root() -> Path:
    """The folder holding the `odradek` package this module was imported from (put first on the brokers'
    PYTHONPATH, so that they run the same code as the command)."""
    return Path(__file__).resolve().parents[2]


def process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_FOR_BROKERS)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_root()), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(command: Sequence[str], out: Path, cwd: Path) -> ProcessId:
    """Start `command` detached (own session, stdin closed, output appended to `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "ab") as handle:
        return launch(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=process_env(),
            cwd=cwd,
            start_new_session=True,
        )


def read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@dataclass(slots=True)
class EtcdNode:
    """The etcd member: ports and the process running it (pid 0: stopped)."""

    client_port: int
    peer_port: int
    host: str = "127.0.0.1"
    pid: int = 0
    start_time: int = 0

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.pid, self.start_time)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    def command(self, binary: str, folder: Path) -> list[str]:
        peer = f"http://{self.host}:{self.peer_port}"
        return [
            binary,
            "--name", "m0",
            "--data-dir", str(folder / "data"),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"m0={peer}",
            "--initial-cluster-state", "new",
            "--initial-cluster-token", f"odradek-{folder.resolve()}",
            "--auto-compaction-mode", "revision",
            "--auto-compaction-retention", "10000",
            "--logger", "zap",
            "--log-level", "warn",
        ]  # fmt: skip

    def status(self, timeout_s: float = 1.0) -> dict[str, Any] | None:
        """`/v3/maintenance/status`, or None when it does not answer."""
        request = urllib.request.Request(
            f"{self.endpoint}/v3/maintenance/status", b"{}", {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                reply: dict[str, Any] = json.loads(response.read().decode().splitlines()[0])
                return reply
        except (OSError, ValueError, urllib.error.URLError):
            return None


@dataclass(slots=True)
class BrokerNode:
    """One broker: id, addresses and the process running it (pid 0: stopped)."""

    node_id: int
    port: int
    metrics_port: int
    host: str = "127.0.0.1"
    pid: int = 0
    start_time: int = 0

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.pid, self.start_time)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(slots=True)
class ClusterState:
    etcd: EtcdNode
    brokers: list[BrokerNode]
    configs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        brokers = [asdict(b) for b in self.brokers]
        return json.dumps(
            {"format": 1, "etcd": asdict(self.etcd), "brokers": brokers, "configs": self.configs}, indent=2
        )

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        doc = json.loads(text)
        if doc.get("format") != 1:
            raise ClusterError(f"unknown state file format {doc.get('format')!r}")
        return cls(EtcdNode(**doc["etcd"]), [BrokerNode(**b) for b in doc["brokers"]], dict(doc.get("configs", {})))


class LocalCluster:
    """The cluster of one folder. `up` starts it (refused while any of its processes lives), `down` stops it;
    between the two, the fault tools stop, kill, pause and restart single processes through it."""

    def __init__(self, folder: Path | str, placement: Placement | None = None, etcd: str = DEFAULT_ETCD) -> None:
        self.folder = Path(folder).resolve()
        self.placement: Placement = placement or Loopback()
        self.etcd_path = etcd
        self.state: ClusterState | None = self._load()

    # ---- state ----------------------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    def _load(self) -> ClusterState | None:
        try:
            return ClusterState.from_json(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(f"unreadable state file {self.state_path}: {exc}") from None

    def _save(self) -> None:
        assert self.state is not None
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(self.state.to_json())
        os.replace(tmp, self.state_path)

    def _require(self) -> ClusterState:
        if self.state is None:
            raise ClusterError(f"no cluster in {self.folder} (no {STATE_FILE}): run `odradek cluster up` first")
        return self.state

    def broker(self, node_id: int) -> BrokerNode:
        for broker in self._require().brokers:
            if broker.node_id == node_id:
                return broker
        raise ClusterError(f"no broker {node_id} in {self.folder}")

    @property
    def brokers(self) -> list[BrokerNode]:
        return list(self._require().brokers)

    @property
    def node_ids(self) -> list[int]:
        return [b.node_id for b in self.brokers]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    @property
    def etcd(self) -> EtcdNode:
        return self._require().etcd

    def store_url(self) -> str:
        etcd = self.etcd
        return f"etcd://{etcd.host}:{etcd.client_port}{STORE_PREFIX}"

    def live(self) -> list[str]:
        """Names of the processes of this cluster that are alive ("etcd", "broker 1", ...)."""
        if self.state is None:
            return []
        names = ["etcd"] if self.state.etcd.pid and self.state.etcd.process.alive() else []
        names += [f"broker {b.node_id}" for b in self.state.brokers if b.pid and b.process.alive()]
        return names

    # ---- folders -------------------------------------------------------------------------------------------

    def broker_dir(self, node_id: int) -> Path:
        return self.folder / f"broker-{node_id}"

    def log_dir(self, node_id: int) -> Path:
        return self.broker_dir(node_id) / "data"

    def partition_dir(self, node_id: int, topic: str, partition: int) -> Path:
        """The replica's folder on broker `node_id` (Kafka's `<topic>-<partition>`)."""
        return self.log_dir(node_id) / f"{topic}-{partition}"

    # ---- up / down -----------------------------------------------------------------------------------------

    def up(
        self,
        brokers: int,
        base_port: int | None = None,
        configs: Mapping[str, str] | None = None,
        ready_timeout_s: float = BROKER_READY_S,
    ) -> str:
        """Start etcd and brokers 1..`brokers`, wait until every broker answers Metadata listing all of them, and
        return the bootstrap servers. Refused while a process of this folder's cluster is alive."""
        if brokers < 1:
            raise ClusterError("--brokers must be at least 1")
        alive = self.live()
        if alive:
            raise ClusterError(
                f"a cluster is running in {self.folder} ({', '.join(alive)} alive): `odradek cluster down` first"
            )
        binary = etcd_binary(self.etcd_path)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state = self._plan(brokers, base_port, dict(configs or {}))
        self._save()
        try:
            self.start_etcd(binary)
            for broker in self.state.brokers:
                self._write_properties(broker)
                self.start_broker(broker.node_id, ready_timeout_s, retry_ports=base_port is None)
            self.wait_registered(timeout_s=REGISTERED_S)
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return self.bootstrap

    def _plan(self, count: int, base_port: int | None, configs: dict[str, str]) -> ClusterState:
        """Ports for etcd and each broker: from the base port, else those of the previous run, else free ones."""
        previous = {b.node_id: b for b in self.state.brokers} if self.state else {}
        old_etcd = self.state.etcd if self.state else None
        etcd_host = self.placement.etcd_host()
        if base_port is not None:
            etcd = EtcdNode(base_port + ETCD_OFFSET, base_port + ETCD_OFFSET + 1, etcd_host)
        elif old_etcd is not None:
            etcd = EtcdNode(old_etcd.client_port, old_etcd.peer_port, etcd_host)
        else:
            etcd = EtcdNode(free_port(), free_port(), etcd_host)
        nodes = []
        for node_id in range(1, count + 1):
            host = self.placement.broker_host(node_id)
            if base_port is not None:
                port, metrics = base_port + node_id - 1, base_port + METRICS_OFFSET + node_id - 1
            elif node_id in previous:
                port, metrics = previous[node_id].port, previous[node_id].metrics_port
            else:
                port, metrics = free_port(), free_port()
            nodes.append(BrokerNode(node_id, port, metrics, host))
        if base_port is not None:
            for port in [etcd.client_port, etcd.peer_port, *(p for b in nodes for p in (b.port, b.metrics_port))]:
                if not 0 < port < 65536:
                    raise ClusterError(f"--base-port {base_port} puts port {port} out of range")
        return ClusterState(etcd, nodes, configs)

    def down(self, timeout_s: float = STOP_S) -> list[str]:
        """SIGTERM every broker (at once), SIGKILL those still there after `timeout_s`, then etcd. Returns one
        line per process, saying how it ended."""
        state = self._require()
        report = []
        stopping = []
        for broker in state.brokers:
            process = broker.process
            if broker.pid and process.alive():
                process.signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
                process.signal(signal.SIGTERM)
                stopping.append((broker, process))
            elif broker.pid:
                report.append(f"broker {broker.node_id} (pid {broker.pid}): was not running")
        deadline = time.monotonic() + timeout_s
        for broker, process in stopping:
            if process.wait_gone(max(0.0, deadline - time.monotonic())):
                how = "stopped"
            else:
                process.kill()
                how = f"killed (still running {timeout_s:g} s after SIGTERM)"
            report.append(f"broker {broker.node_id} (pid {process.pid}): {how}")
        for broker in state.brokers:
            broker.pid = broker.start_time = 0
        if state.etcd.pid:
            process = state.etcd.process
            process.signal(signal.SIGCONT)
            report.append(f"etcd (pid {process.pid}): {process.stop(timeout_s=timeout_s)}")
            state.etcd.pid = state.etcd.start_time = 0
        self._save()
        return report

    # ---- single processes (also the fault tools' primitives) --------------------------------------------

    def start_etcd(self, binary: str | None = None) -> None:
        """Start (or restart, on its data dir) the etcd member and wait until it answers with a leader."""
        state = self._require()
        etcd = state.etcd
        if etcd.pid and etcd.process.alive():
            raise ClusterError(f"etcd already runs (pid {etcd.pid})")
        folder = self.folder / "etcd"
        folder.mkdir(parents=True, exist_ok=True)
        command = etcd.command(binary or etcd_binary(self.etcd_path), folder)
        process = spawn([*self.placement.command_prefix(0), *command], folder / "etcd.log", folder)
        etcd.pid, etcd.start_time = process.pid, process.start_time
        self._save()
        deadline = time.monotonic() + ETCD_READY_S
        while time.monotonic() < deadline:
            if not process.alive():
                raise ClusterError(f"etcd exited at start-up: {self._tail(folder / 'etcd.log')}")
            status = etcd.status(timeout_s=0.5)
            # The member's own PID alive and a leader known: a stale process on the port would answer too.
            if status is not None and int(status.get("leader", 0) or 0):
                return
            time.sleep(0.05)
        raise ClusterError(f"etcd not ready after {ETCD_READY_S:.0f} s: {self._tail(folder / 'etcd.log')}")

    def _write_properties(self, broker: BrokerNode) -> Path:
        folder = self.broker_dir(broker.node_id)
        folder.mkdir(parents=True, exist_ok=True)
        settings = {
            "node.id": str(broker.node_id),
            "listeners": f"PLAINTEXT://{broker.host}:{broker.port}",
            "log.dirs": str(self.log_dir(broker.node_id)),
            "metadata.store.url": self.store_url(),
            "metrics.host": broker.host,
            "metrics.port": str(broker.metrics_port),
            **self._require().configs,
        }
        path = folder / "server.properties"
        header = "# written by `odradek cluster up`; rewritten at every start"
        lines = [header, *(f"{k}={v}" for k, v in settings.items())]
        path.write_text("\n".join(lines) + "\n")
        return path

    def start_broker(self, node_id: int, timeout_s: float = BROKER_READY_S, retry_ports: bool = False) -> None:
        """Start broker `node_id` on its folder and wait for its "listening" line. `retry_ports`: pick new free
        ports when its port was taken meanwhile (only while the cluster is being created)."""
        broker = self.broker(node_id)
        if broker.pid and broker.process.alive():
            raise ClusterError(f"broker {node_id} already runs (pid {broker.pid})")
        last = ""
        for _ in range(PORT_ATTEMPTS):
            properties = self._write_properties(broker)
            out = self.broker_dir(node_id) / "broker.out"
            offset = file_size(out)
            command = [*self.placement.command_prefix(node_id), sys.executable, "-m", "odradek.broker", str(properties)]
            process = spawn(command, out, self.broker_dir(node_id))
            broker.pid, broker.start_time = process.pid, process.start_time
            self._save()
            text = self._wait_line(process, out, offset, f"{READY_LINE} {broker.port}", timeout_s)
            if text is None:
                return
            broker.pid = broker.start_time = 0
            self._save()
            last = text[-2000:]
            if not (retry_ports and "address already in use" in text.lower()):
                break
            broker.port, broker.metrics_port = free_port(), free_port()
        raise ClusterError(f"broker {node_id} did not start:\n{last}")

    def _wait_line(self, process: ProcessId, out: Path, offset: int, needle: str, timeout_s: float) -> str | None:
        """None once `needle` appears in `out` after `offset`; else the output, after the process exited or (killed
        here) after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = read_from(out, offset)
            if needle in text:
                return None
            if not process.alive():
                return read_from(out, offset) or "(no output)"
            time.sleep(0.05)
        process.kill()
        return f"not listening after {timeout_s:.0f} s:\n{read_from(out, offset)}"

    def stop_broker(self, node_id: int, timeout_s: float = STOP_S) -> str:
        """SIGTERM (controlled shutdown), SIGKILL after `timeout_s`."""
        broker = self.broker(node_id)
        how = broker.process.stop(timeout_s=timeout_s) if broker.pid else "gone"
        broker.pid = broker.start_time = 0
        self._save()
        return how

    def kill_broker(self, node_id: int) -> None:
        """SIGKILL: the page cache survives, so nothing written is lost (see nemesis.torn_tail for that)."""
        broker = self.broker(node_id)
        if broker.pid:
            broker.process.kill()
        broker.pid = broker.start_time = 0
        self._save()

    def signal_broker(self, node_id: int, signum: int) -> None:
        broker = self.broker(node_id)
        if not broker.pid or not broker.process.signal(signum):
            raise ClusterError(f"broker {node_id} is not running")

    def kill_etcd(self) -> None:
        etcd = self.etcd
        if etcd.pid:
            etcd.process.kill()
        etcd.pid = etcd.start_time = 0
        self._save()

    # ---- readiness -----------------------------------------------------------------------------------------

    def wait_registered(self, node_ids: Iterable[int] | None = None, timeout_s: float = REGISTERED_S) -> None:
        """Until each live broker answers Metadata (after ApiVersions) listing every broker of `node_ids` (default:
        all), within `timeout_s`."""
        expected = set(self.node_ids if node_ids is None else node_ids)
        deadline = time.monotonic() + timeout_s
        pending = {b.node_id: b for b in self.brokers if b.node_id in expected}
        seen: dict[int, set[int]] = {}
        while pending and time.monotonic() < deadline:
            for node_id, broker in list(pending.items()):
                seen[node_id] = described_nodes(broker.bootstrap, timeout_s=min(5.0, timeout_s))
                if expected <= seen[node_id]:
                    del pending[node_id]
            if pending:
                time.sleep(0.2)
        if pending:
            views = ", ".join(f"broker {n} sees {sorted(seen.get(n, set()))}" for n in sorted(pending))
            raise ClusterError(f"brokers not all registered after {timeout_s:.0f} s: {views}")

    def status_lines(self) -> list[str]:
        state = self._require()
        etcd = state.etcd
        lines = [f"etcd      {_liveness(etcd.pid, etcd.process)}  {etcd.endpoint}"]
        for b in state.brokers:
            metrics = f"http://{b.host}:{b.metrics_port}/metrics"
            lines.append(f"broker {b.node_id:<2} {_liveness(b.pid, b.process)}  {b.bootstrap}  {metrics}")
        lines.append(f"bootstrap servers: {self.bootstrap}")
        return lines

    def _tail(self, path: Path) -> str:
        return read_from(path, max(0, file_size(path) - 2000)).strip() or "(no output)"


def _liveness(pid: int, process: ProcessId) -> str:
    if not pid:
        return "stopped         "
    state = process.state()
    word = {"-": "dead", "T": "paused", "Z": "dead"}.get(state, "alive")
    return f"{word:<6} pid {pid:<6}"


def described_nodes(bootstrap: str, timeout_s: float = 5.0) -> set[int]:
    """The broker ids a Metadata request to `bootstrap` lists (empty when it does not answer in time)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout_s * 1000)})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception:
        return set()
    return {int(node_id) for node_id in metadata.brokers}
