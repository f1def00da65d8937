"""A local Odradek cluster in one folder: one etcd member (or an etcd cluster of M members) and N broker
processes (`odradek cluster up/down`).

Layout of the folder (docs/cluster.md, "Running a cluster"):

    <dir>/cluster.json                  the state file (below)
    <dir>/etcd/data/                    etcd's data dir; <dir>/etcd/etcd.log its output (one member)
    <dir>/etcd-m<i>/data/, etcd.log     the same for member m<i> (i = 0..M-1) of an etcd cluster of M > 1 members
    <dir>/broker-<id>/server.properties the broker's configuration (Kafka's keys)
    <dir>/broker-<id>/data/             its log dir (partition folders `<topic>-<partition>/`)
    <dir>/broker-<id>/broker.out        its output, appended across starts

Ports: with a base port P, broker i (1-based) listens on P+i-1, serves metrics on P+100+i-1, and etcd member m<j>
takes P+200+2j (clients) and P+201+2j (peers); without one, free ports are chosen once and kept in the state file,
so a cluster brought down and up again keeps its addresses (etcd's data dir records its peer URL). The brokers get
every member's client endpoint in `metadata.store.url` (`etcd://h:p,h:p,h:p/odradek`): the store client fails over
between them.

The state file is JSON: `{"format": 2, "etcd": [{"name", "pid", "start_time", "client_port", "peer_port",
"host"}, ...], "brokers": [{"node_id", "pid", "start_time", "port", "metrics_port", "host"}], "configs": {key:
value}}`; format 1 (one member: `"etcd"` an object) is still read. A pid of 0 means stopped. Processes are
recorded with their start time (`processes.ProcessId`), so a PID reused by another program is never signalled.
Every process runs in its own session (it outlives the command that started it and a Ctrl-C there); every wait
is bounded.
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
ETCD_MAX_TXN_OPS = 10_240  # Kafka's controller allows 10,000 records per user operation
ETCD_MAX_REQUEST_BYTES = 10 * 1024 * 1024
STATE_FILE = "cluster.json"
STORE_PREFIX = "/odradek"
ETCD_READY_S = 30.0
BROKER_READY_S = 60.0
REGISTERED_S = 60.0
STOP_S = 30.0
PORT_ATTEMPTS = 5
METRICS_OFFSET = 100
ETCD_OFFSET = 200
MAX_ETCD_MEMBERS = 7
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
    """An etcd member: name, ports and the process running it (pid 0: stopped)."""

    client_port: int
    peer_port: int
    host: str = "127.0.0.1"
    pid: int = 0
    start_time: int = 0
    name: str = "m0"

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.pid, self.start_time)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    def command(self, binary: str, folder: Path, initial_cluster: str, token: str) -> list[str]:
        """`initial_cluster`: `name=peer-url,...` of every member (etcd's --initial-cluster)."""
        peer = self.peer_url
        return [
            binary,
            "--name", self.name,
            "--data-dir", str(folder / "data"),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial_cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", token,
            # A topic's creation is one etcd transaction (1 + partitions puts): etcd's defaults (128 operations,
            # 1.5 MiB) would refuse topics of more than ~100 partitions (POLICY_VIOLATION, docs/cluster.md).
            "--max-txn-ops", str(ETCD_MAX_TXN_OPS),
            "--max-request-bytes", str(ETCD_MAX_REQUEST_BYTES),
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
    etcd_members: list[EtcdNode]
    brokers: list[BrokerNode]
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def etcd(self) -> EtcdNode:
        """The first etcd member (the only one, unless `--etcd-members` asked for more)."""
        return self.etcd_members[0]

    def to_json(self) -> str:
        brokers = [asdict(b) for b in self.brokers]
        members = [asdict(m) for m in self.etcd_members]
        return json.dumps({"format": 2, "etcd": members, "brokers": brokers, "configs": self.configs}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        doc = json.loads(text)
        if doc.get("format") == 1:
            members = [EtcdNode(**doc["etcd"])]
        elif doc.get("format") == 2:
            members = [EtcdNode(**m) for m in doc["etcd"]]
        else:
            raise ClusterError(f"unknown state file format {doc.get('format')!r}")
        return cls(members, [BrokerNode(**b) for b in doc["brokers"]], dict(doc.get("configs", {})))


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
        """The first etcd member (the only one by default)."""
        return self._require().etcd

    @property
    def etcd_members(self) -> list[EtcdNode]:
        return list(self._require().etcd_members)

    def store_url(self) -> str:
        """`metadata.store.url` for the brokers: every member's client endpoint."""
        endpoints = ",".join(f"{m.host}:{m.client_port}" for m in self.etcd_members)
        return f"etcd://{endpoints}{STORE_PREFIX}"

    def etcd_label(self, member: EtcdNode) -> str:
        return "etcd" if len(self._require().etcd_members) == 1 else f"etcd {member.name}"

    def live(self) -> list[str]:
        """Names of the processes of this cluster that are alive ("etcd" or "etcd m0", ..., "broker 1", ...)."""
        if self.state is None:
            return []
        names = [self.etcd_label(m) for m in self.state.etcd_members if m.pid and m.process.alive()]
        names += [f"broker {b.node_id}" for b in self.state.brokers if b.pid and b.process.alive()]
        return names

    # ---- folders -------------------------------------------------------------------------------------------

    def broker_dir(self, node_id: int) -> Path:
        return self.folder / f"broker-{node_id}"

    def log_dir(self, node_id: int) -> Path:
        return self.broker_dir(node_id) / "data"

    def etcd_dir(self, member: EtcdNode) -> Path:
        """`<dir>/etcd` for a single member (the layout before etcd clusters), `<dir>/etcd-<name>` otherwise."""
        return self.folder / ("etcd" if len(self._require().etcd_members) == 1 else f"etcd-{member.name}")

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
        etcd_members: int = 1,
    ) -> str:
        """Start etcd (`etcd_members` members: an etcd cluster on loopback when more than one) and brokers
        1..`brokers`, wait until every broker answers Metadata listing all of them, and return the bootstrap
        servers. Refused while a process of this folder's cluster is alive."""
        if brokers < 1:
            raise ClusterError("--brokers must be at least 1")
        if not 1 <= etcd_members <= MAX_ETCD_MEMBERS:
            raise ClusterError(f"--etcd-members must be between 1 and {MAX_ETCD_MEMBERS}")
        alive = self.live()
        if alive:
            raise ClusterError(
                f"a cluster is running in {self.folder} ({', '.join(alive)} alive): `odradek cluster down` first"
            )
        binary = etcd_binary(self.etcd_path)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state = self._plan(brokers, base_port, dict(configs or {}), etcd_members)
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

    def _plan(self, count: int, base_port: int | None, configs: dict[str, str], etcd_members: int = 1) -> ClusterState:
        """Ports for etcd and each broker: from the base port, else those of the previous run (etcd's only if it
        had as many members: a member's data dir records its peers), else free ones."""
        previous = {b.node_id: b for b in self.state.brokers} if self.state else {}
        old_members = self.state.etcd_members if self.state else []
        etcd_host = self.placement.etcd_host()
        members = []
        for index in range(etcd_members):
            name = f"m{index}"
            if base_port is not None:
                client = base_port + ETCD_OFFSET + 2 * index
                members.append(EtcdNode(client, client + 1, etcd_host, name=name))
            elif len(old_members) == etcd_members:
                old = old_members[index]
                members.append(EtcdNode(old.client_port, old.peer_port, etcd_host, name=name))
            else:
                members.append(EtcdNode(free_port(), free_port(), etcd_host, name=name))
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
            etcd_ports = [p for m in members for p in (m.client_port, m.peer_port)]
            for port in [*etcd_ports, *(p for b in nodes for p in (b.port, b.metrics_port))]:
                if not 0 < port < 65536:
                    raise ClusterError(f"--base-port {base_port} puts port {port} out of range")
        return ClusterState(members, nodes, configs)

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
        for member in state.etcd_members:
            if member.pid:
                process = member.process
                process.signal(signal.SIGCONT)
                report.append(f"{self.etcd_label(member)} (pid {process.pid}): {process.stop(timeout_s=timeout_s)}")
                member.pid = member.start_time = 0
        self._save()
        return report

    # ---- single processes (also the fault tools' primitives) --------------------------------------------

    def start_etcd(self, binary: str | None = None, member: int | None = None) -> None:
        """Start (or restart, on its data dir) etcd member `member` (an index; None: every member not running, all
        spawned before any is waited for, since a new etcd cluster elects a leader only once a quorum runs) and
        wait until each answers with a leader."""
        state = self._require()
        if member is None:
            chosen = [m for m in state.etcd_members if not (m.pid and m.process.alive())]
            if not chosen:
                raise ClusterError("etcd already runs (every member)")
        else:
            chosen = [state.etcd_members[member]]
            if chosen[0].pid and chosen[0].process.alive():
                raise ClusterError(f"{self.etcd_label(chosen[0])} already runs (pid {chosen[0].pid})")
        executable = binary or etcd_binary(self.etcd_path)
        initial = ",".join(f"{m.name}={m.peer_url}" for m in state.etcd_members)
        token = f"odradek-{self.folder}"
        started = []
        for etcd in chosen:
            folder = self.etcd_dir(etcd)
            folder.mkdir(parents=True, exist_ok=True)
            command = etcd.command(executable, folder, initial, token)
            process = spawn([*self.placement.command_prefix(0), *command], folder / "etcd.log", folder)
            etcd.pid, etcd.start_time = process.pid, process.start_time
            started.append((etcd, process, folder))
        self._save()
        deadline = time.monotonic() + ETCD_READY_S
        for etcd, process, folder in started:
            label = self.etcd_label(etcd)
            while True:
                if not process.alive():
                    raise ClusterError(f"{label} exited at start-up: {self._tail(folder / 'etcd.log')}")
                status = etcd.status(timeout_s=0.5)
                # The member's own PID alive and a leader known: a stale process on the port would answer too.
                if status is not None and int(status.get("leader", 0) or 0):
                    break
                if time.monotonic() >= deadline:
                    raise ClusterError(
                        f"{label} not ready after {ETCD_READY_S:.0f} s: {self._tail(folder / 'etcd.log')}"
                    )
                time.sleep(0.05)

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

    def kill_etcd(self, member: int | None = None) -> None:
        """SIGKILL etcd member `member` (an index; None: every member)."""
        members = self.etcd_members
        for etcd in members if member is None else [members[member]]:
            if etcd.pid:
                etcd.process.kill()
            etcd.pid = etcd.start_time = 0
        self._save()

    def move_etcd_leader(self, member: int) -> None:
        """Make member `member` (an index) etcd's leader (etcd's MoveLeader, sent to the current leader)."""
        current = self.etcd_leader()
        if current is None:
            raise ClusterError("no etcd member leads")
        if current == member:
            return
        members = self.etcd_members
        target = members[member].status(timeout_s=2.0)
        if target is None:
            raise ClusterError(f"{self.etcd_label(members[member])} does not answer")
        body = json.dumps({"targetID": target["header"]["member_id"]}).encode()
        request = urllib.request.Request(
            f"{members[current].endpoint}/v3/maintenance/transfer-leadership",
            body,
            {"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except (OSError, urllib.error.URLError) as exc:
            raise ClusterError(f"etcd leader transfer to {members[member].name} failed: {exc}") from None

    def etcd_leader(self) -> int | None:
        """The index of the member that is etcd's leader now (as the first member that answers says), or None."""
        members = self.etcd_members
        for etcd in members:
            if not etcd.pid or not etcd.process.alive():
                continue
            status = etcd.status(timeout_s=1.0)
            if status is None or not int(status.get("leader", 0) or 0):
                continue
            leader = int(status["leader"])
            for index, candidate in enumerate(members):
                if candidate.pid and candidate.process.alive():
                    answer = candidate.status(timeout_s=1.0)
                    if answer is not None and int(answer.get("header", {}).get("member_id", 0) or 0) == leader:
                        return index
        return None

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
        lines = [f"{self.etcd_label(m):<9} {_liveness(m.pid, m.process)}  {m.endpoint}" for m in state.etcd_members]
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
