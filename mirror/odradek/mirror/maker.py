"""Dedicated mode (Kafka's MirrorMaker and MirrorMakerConfig): `odradek mirror-maker mm2.properties [--clusters X]`.

mm2.properties, as connect-mirror-maker.sh reads it:
- `clusters = A, B`; per cluster `A.bootstrap.servers`, other `A.<client setting>` (shared by every client of A,
  e.g. `A.security.protocol`), `A.consumer.*`, `A.producer.*`, `A.admin.*`;
- flows: `A->B.enabled = true` (default false), and `A->B.<key>` overriding any connector key for that flow only
  (`A->B.topics = orders.*`);
- top-level connector keys apply to every flow (`topics`, `groups`, `replication.factor`, `sync.group.offsets.enabled`,
  `emit.heartbeats.interval.seconds`, `replication.policy.class`...: the keys of `odradek.mirror.config`).

For each enabled flow whose target is in `--clusters` (all when not given), one Connect worker and standalone herder
run the three connectors, named as in Kafka `MirrorSourceConnector`, `MirrorCheckpointConnector`,
`MirrorHeartbeatConnector`. The worker's cluster is the flow's target (its producer gets `B.producer.*`), its
converters are ByteArrayConverter, and source offsets live in the file `mm2-offsets.<source>.<target>.json` in the
offsets folder (`--offsets-dir`, default: the folder of mm2.properties), or in `A->B.offset.storage.file.filename`.
Kafka keeps them in the topic `mm2-offsets.<source>.internal` on the target; a file is what standalone Connect has.
Worker keys given at the top level (`offset.flush.interval.ms`, `task.shutdown.graceful.timeout.ms`) apply to
every flow's worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from odradek.connect.config.providers import ConfigTransformer
from odradek.connect.config.worker import WORKER_CONFIG, WorkerConfig
from odradek.connect.plugins import Plugins
from odradek.connect.runtime.metrics import serve as serve_metrics
from odradek.connect.runtime.offsets import FileOffsetBackingStore
from odradek.connect.runtime.standalone import StandaloneHerder
from odradek.connect.runtime.states import StatusBackingStore
from odradek.connect.runtime.worker import Worker
from odradek.mirror.metrics import MirrorCollector

log = logging.getLogger(__name__)

BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
CONNECTORS = (
    ("MirrorSourceConnector", "odradek.mirror.source.MirrorSourceConnector"),
    ("MirrorCheckpointConnector", "odradek.mirror.checkpoint.MirrorCheckpointConnector"),
    ("MirrorHeartbeatConnector", "odradek.mirror.heartbeat.MirrorHeartbeatConnector"),
)
_CLIENT_KINDS = ("consumer.", "producer.", "admin.")
_WORKER_KEYS = ("offset.flush.interval.ms", "offset.flush.timeout.ms", "task.shutdown.graceful.timeout.ms")
# Keys of the dedicated process itself, not of its connectors.
_PROCESS_KEYS = ("metrics.port", "metrics.host")


class MirrorMakerConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SourceAndTarget:
    source: str
    target: str

    def __str__(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass(frozen=True, slots=True)
class MirrorMakerConfig:
    props: Mapping[str, str]

    @property
    def clusters(self) -> list[str]:
        clusters = [c.strip() for c in self.props.get("clusters", "").split(",") if c.strip()]
        if not clusters:
            raise MirrorMakerConfigError('Missing required configuration "clusters" which has no default value.')
        return clusters

    def flows(self, targets: Sequence[str] | None = None) -> list[SourceAndTarget]:
        """Enabled flows, limited to those whose target is in `targets` when given (Kafka's --clusters)."""
        clusters = self.clusters
        for alias in targets or ():
            if alias not in clusters:
                raise MirrorMakerConfigError(f"--clusters names {alias}, which is not in clusters={','.join(clusters)}")
        return [
            SourceAndTarget(s, t)
            for s in clusters
            for t in clusters
            if s != t
            and self.props.get(f"{s}->{t}.enabled", "false").strip().lower() == "true"
            and (not targets or t in targets)
        ]

    @property
    def metrics_port(self) -> int:
        """`metrics.port`: the process's Prometheus /metrics port (odradek.mirror.metrics); 0, the default, is off."""
        raw = self.props.get("metrics.port", "0").strip() or "0"
        try:
            port = int(raw)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise MirrorMakerConfigError(f"Invalid value {raw} for configuration metrics.port: a port (0 to 65535)")
        return port

    @property
    def metrics_host(self) -> str:
        return self.props.get("metrics.host", "127.0.0.1").strip() or "127.0.0.1"  # Connect's default

    def cluster_props(self, alias: str) -> dict[str, str]:
        prefix = f"{alias}."
        out = {k[len(prefix) :]: v for k, v in self.props.items() if k.startswith(prefix)}
        if not out.get("bootstrap.servers"):
            raise MirrorMakerConfigError(f"Missing {alias}.bootstrap.servers")
        return out

    def _top_level(self) -> dict[str, str]:
        aliases = tuple(f"{c}." for c in self.clusters)
        return {k: v for k, v in self.props.items() if "->" not in k and not k.startswith(aliases) and k != "clusters"}

    def connector_config(self, flow: SourceAndTarget, name: str, class_name: str) -> dict[str, str]:
        """One connector's config for `flow` (Kafka's MirrorMakerConfig.connectorBaseConfig)."""
        out = {k: v for k, v in self._top_level().items() if k not in _WORKER_KEYS and k not in _PROCESS_KEYS}
        for side, alias in (("source", flow.source), ("target", flow.target)):
            for key, value in self.cluster_props(alias).items():
                if key.startswith(_CLIENT_KINDS):
                    out[f"{side}.{key}"] = value
                else:
                    out[f"{side}.cluster.{key}"] = value
        out.update(
            {
                "name": name,
                "connector.class": class_name,
                "source.cluster.alias": flow.source,
                "target.cluster.alias": flow.target,
                "key.converter": BYTE_ARRAY_CONVERTER,
                "value.converter": BYTE_ARRAY_CONVERTER,
                "header.converter": BYTE_ARRAY_CONVERTER,
            }
        )
        prefix = f"{flow}."
        out.update(
            {k[len(prefix) :]: v for k, v in self.props.items() if k.startswith(prefix) and k != prefix + "enabled"}
        )
        out.pop("offset.storage.file.filename", None)
        return out

    def worker_props(self, flow: SourceAndTarget, offsets_dir: Path) -> dict[str, str]:
        """The worker of `flow`: the target cluster's clients, ByteArrayConverter, an offsets file."""
        target = self.cluster_props(flow.target)
        out = {k: v for k, v in target.items() if k.startswith(_CLIENT_KINDS)}
        shared = {k: v for k, v in target.items() if not k.startswith(_CLIENT_KINDS) and k != "bootstrap.servers"}
        for kind in _CLIENT_KINDS:
            for key, value in shared.items():
                out.setdefault(kind + key, value)
        out["bootstrap.servers"] = target["bootstrap.servers"]
        out.update({k: v for k, v in self._top_level().items() if k in _WORKER_KEYS and k in WORKER_CONFIG.keys})
        for kind in ("key.converter", "value.converter", "header.converter"):
            out[kind] = BYTE_ARRAY_CONVERTER
        default_file = offsets_dir / f"mm2-offsets.{flow.source}.{flow.target}.json"
        out["offset.storage.file.filename"] = self.props.get(f"{flow}.offset.storage.file.filename", str(default_file))
        return out


class MirrorMaker:
    """One worker + standalone herder per flow, each running the three connectors. `start`, then `stop`."""

    def __init__(self, config: MirrorMakerConfig, targets: Sequence[str] | None, offsets_dir: Path) -> None:
        self.config = config
        self.flows = config.flows(targets)
        self.offsets_dir = offsets_dir
        # Every flow's settings are assembled up front, so a configuration error stops start-up before any client
        # contacts a cluster.
        self.connector_configs = {
            flow: [(name, config.connector_config(flow, name, cls)) for name, cls in CONNECTORS] for flow in self.flows
        }
        self.worker_configs = {flow: config.worker_props(flow, offsets_dir) for flow in self.flows}
        self.metrics_port = config.metrics_port
        self.herders: list[StandaloneHerder] = []
        self.plugins = Plugins()
        self.lock = threading.Lock()

    def start(self) -> None:
        if not self.flows:
            log.warning("No enabled flows (A->B.enabled=true) for these clusters: nothing to mirror")
        for flow in self.flows:
            self.start_flow(flow)
        if serve_metrics(MirrorCollector(self.tasks), self.metrics_port, self.config.metrics_host) is not None:
            log.info("MirrorMaker metrics on %s:%d/metrics", self.config.metrics_host, self.metrics_port)
        log.info("Kafka MirrorMaker started")

    def tasks(self) -> list[object]:
        """The connector tasks (MirrorSourceTask, ...) running in every flow's worker now."""
        with self.lock:
            herders = list(self.herders)
        running = [worker_task for herder in herders for worker_task in list(herder.worker.tasks.values())]
        return [getattr(worker_task, "task", None) for worker_task in running]

    def start_flow(self, flow: SourceAndTarget) -> None:
        props = self.worker_configs[flow]
        worker_config = WorkerConfig.parse(props)
        offsets = FileOffsetBackingStore(props["offset.storage.file.filename"])
        statuses = StatusBackingStore(str(flow))
        transformer = ConfigTransformer.from_worker_config(props)
        worker = Worker(str(flow), worker_config, self.plugins, offsets, statuses, transformer)
        herder = StandaloneHerder(worker, self.plugins, statuses, worker_config)
        herder.start()
        with self.lock:
            self.herders.append(herder)
        for name, connector_config in self.connector_configs[flow]:
            herder.put_connector_config(name, connector_config, False)
            log.info("Started %s for %s", name, flow)

    def status(self) -> dict[str, dict[str, str]]:
        """Flow -> connector -> state (RUNNING, FAILED...)."""
        out: dict[str, dict[str, str]] = {}
        with self.lock:
            herders = list(self.herders)
        for flow, herder in zip(self.flows, herders, strict=False):
            out[str(flow)] = {
                name: str(herder.connector_status(name)["connector"]["state"]) for name in herder.connectors()
            }
        return out

    def stop(self) -> None:
        with self.lock:
            herders, self.herders = list(self.herders), []
        for herder in reversed(herders):
            herder.stop()
        log.info("Kafka MirrorMaker stopped")
