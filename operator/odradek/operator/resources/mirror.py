"""The children of a KafkaMirrorMaker2 (pure builders): Strimzi's KafkaMirrorMaker2 run as `odradek mirror-maker`
(dedicated mode, docs/mirror.md) with the mm2.properties its spec describes.

| child | name |
|---|---|
| ConfigMap (mm2.properties) | `<m>-mirrormaker2-config` |
| StatefulSet of one pod, with a volume for the source offsets | `<m>-mirrormaker2` |

mm2.properties from the spec (Strimzi's fields):

- `clusters` = every `spec.clusters[].alias`; `<alias>.bootstrap.servers` and `<alias>.<key>` for each key of that
  cluster's `config` (client settings, as MirrorMakerConfig layers them). Worker keys Strimzi users put in the
  connect cluster's config go to the top level (`offset.flush.interval.ms`, `offset.flush.timeout.ms`,
  `task.shutdown.graceful.timeout.ms`) or are dropped (`config.storage.*`, `offset.storage.*`, `status.storage.*`,
  `group.id`, the converters: the dedicated mode has no storage topics and copies bytes);
- per mirror: `<source>-><target>.enabled = true`, `.topics` = `topicsPattern`, `.topics.exclude` =
  `topicsExcludePattern`, `.groups` = `groupsPattern`, `.groups.exclude` = `groupsExcludePattern`, `.tasks.max` =
  the source connector's `tasksMax`, `.emit.checkpoints.enabled` / `.emit.heartbeats.enabled` = whether the
  mirror has a `checkpointConnector` / `heartbeatConnector`, and `<source>-><target>.<key>` for each key of the
  three connectors' `config` (a flow's keys apply to its three connectors);
- the process runs the flows whose target is `spec.connectCluster` (`--clusters`), as Strimzi requires every
  mirror's targetCluster to be the connectCluster.

Why one pod and a volume: Mirror's dedicated mode keeps how far each partition was copied in a file
(docs/mirror.md), so a second replica would copy everything twice and a pod without its file would copy from the
start again. `replicas` above 1 is refused (NotSupported) until the offsets live in a topic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from odradek.operator.resources import broker_config

API_VERSION = "kafka.odradek.io/v1"
CONFIG_DIR = "/etc/odradek-mirror"
OFFSETS_DIR = "/var/lib/odradek-mirror"
CONFIG_HASH_ANNOTATION = "odradek.io/config-hash"
DEFAULT_IMAGE = "ghcr.io/odradek/odradek:0.1.0"
DEFAULT_OFFSETS_SIZE = "1Gi"
# A cluster's `config` keys that are the worker's, not its clients' (see from_resource).
WORKER_KEYS = frozenset({"offset.flush.interval.ms", "offset.flush.timeout.ms", "task.shutdown.graceful.timeout.ms"})
IGNORED_WORKER_PREFIXES = (
    "config.storage.",
    "offset.storage.",
    "status.storage.",
    "group.id",
    "key.converter",
    "value.converter",
    "header.converter",
)


class InvalidMirror(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MirrorModel:
    name: str
    namespace: str
    uid: str
    image: str
    connect_cluster: str
    properties: Mapping[str, str]
    resources: Mapping[str, Any] = field(default_factory=dict)
    offsets_size: str = DEFAULT_OFFSETS_SIZE
    offsets_class: str | None = None


def _put_config(props: dict[str, str], prefix: str, config: Mapping[str, Any] | None) -> None:
    for key, value in (config or {}).items():
        props[f"{prefix}{key}"] = broker_config.config_value(value)


def from_resource(body: Mapping[str, Any], default_image: str = DEFAULT_IMAGE) -> MirrorModel:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    if int(spec.get("replicas", 1)) > 1:
        raise InvalidMirror(
            "NotSupported", "replicas above 1 are not supported yet: Mirror keeps its source offsets in a file"
        )
    clusters = spec.get("clusters") or []
    aliases = [str(c.get("alias")) for c in clusters]
    if len(set(aliases)) != len(aliases):
        raise InvalidMirror("InvalidResource", "spec.clusters aliases must be unique")
    connect_cluster = str(spec.get("connectCluster") or "")
    if connect_cluster not in aliases:
        raise InvalidMirror("InvalidResource", f"spec.connectCluster {connect_cluster!r} is not in spec.clusters")
    props: dict[str, str] = {"clusters": ", ".join(aliases)}
    for cluster in clusters:
        alias = str(cluster["alias"])
        props[f"{alias}.bootstrap.servers"] = str(cluster["bootstrapServers"])
        config = dict(cluster.get("config") or {})
        # Strimzi puts the Connect worker's settings in the connect cluster's config; the dedicated mode's worker
        # takes its timing keys at the top level, and has no storage topics or converters to set.
        worker = {k: config.pop(k) for k in list(config) if k in WORKER_KEYS or k.startswith(IGNORED_WORKER_PREFIXES)}
        if alias == connect_cluster:
            _put_config(props, "", {k: v for k, v in worker.items() if k in WORKER_KEYS})
        _put_config(props, f"{alias}.", config)
    mirrors = spec.get("mirrors") or []
    if not mirrors:
        raise InvalidMirror("InvalidResource", "spec.mirrors needs at least one mirror")
    for mirror in mirrors:
        source, target = str(mirror.get("sourceCluster")), str(mirror.get("targetCluster"))
        if source not in aliases or target not in aliases or source == target:
            raise InvalidMirror("InvalidResource", f"mirror {source} -> {target}: both must be distinct spec.clusters")
        if target != connect_cluster:
            raise InvalidMirror(
                "InvalidResource",
                f"mirror {source} -> {target}: targetCluster must be the connectCluster (Strimzi's rule)",
            )
        flow = f"{source}->{target}."
        props[flow + "enabled"] = "true"
        for field_name, key in (
            ("topicsPattern", "topics"),
            ("topicsExcludePattern", "topics.exclude"),
            ("groupsPattern", "groups"),
            ("groupsExcludePattern", "groups.exclude"),
        ):
            if mirror.get(field_name):
                props[flow + key] = str(mirror[field_name])
        source_connector = mirror.get("sourceConnector") or {}
        if source_connector.get("tasksMax") is not None:
            props[flow + "tasks.max"] = str(source_connector["tasksMax"])
        props[flow + "emit.checkpoints.enabled"] = "true" if mirror.get("checkpointConnector") else "false"
        props[flow + "emit.heartbeats.enabled"] = "true" if mirror.get("heartbeatConnector") else "false"
        for part in ("sourceConnector", "checkpointConnector", "heartbeatConnector"):
            _put_config(props, flow, (mirror.get(part) or {}).get("config"))
    storage = (spec.get("template") or {}).get("offsetsStorage") or {}
    return MirrorModel(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or "default"),
        uid=str(meta.get("uid") or ""),
        image=str(spec.get("image") or default_image),
        connect_cluster=connect_cluster,
        properties=props,
        resources=dict(spec.get("resources") or {}),
        offsets_size=str(storage.get("size") or DEFAULT_OFFSETS_SIZE),
        offsets_class=storage.get("class"),
    )


def statefulset_name(mirror: MirrorModel) -> str:
    return f"{mirror.name}-mirrormaker2"


def config_map_name(mirror: MirrorModel) -> str:
    return f"{mirror.name}-mirrormaker2-config"


def selector_labels(mirror: MirrorModel) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "kafka-mirror-maker-2",
        "app.kubernetes.io/instance": mirror.name,
        "odradek.io/cluster": mirror.name,
        "odradek.io/kind": "KafkaMirrorMaker2",
    }


def _metadata(mirror: MirrorModel, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": mirror.namespace,
        "labels": {**selector_labels(mirror), "app.kubernetes.io/managed-by": "odradek-operator"},
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": "KafkaMirrorMaker2",
                "name": mirror.name,
                "uid": mirror.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def mm2_properties(mirror: MirrorModel) -> str:
    return broker_config.render_properties(
        dict(mirror.properties),
        f"Written by the Odradek operator for KafkaMirrorMaker2 {mirror.namespace}/{mirror.name}; "
        "edits are overwritten.",
    )


def config_map(mirror: MirrorModel) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(mirror, config_map_name(mirror)),
        "data": {"mm2.properties": mm2_properties(mirror)},
    }


def stateful_set(mirror: MirrorModel) -> dict[str, Any]:
    digest = hashlib.sha256((mm2_properties(mirror) + mirror.image).encode()).hexdigest()[:16]
    container: dict[str, Any] = {
        "name": "mirror-maker",
        "image": mirror.image,
        "command": [
            "odradek",
            "mirror-maker",
            f"{CONFIG_DIR}/mm2.properties",
            "--clusters",
            mirror.connect_cluster,
            "--offsets-dir",
            OFFSETS_DIR,
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "offsets", "mountPath": OFFSETS_DIR},
        ],
    }
    if mirror.resources:
        container["resources"] = dict(mirror.resources)
    claim: dict[str, Any] = {
        "metadata": {"name": "offsets", "labels": selector_labels(mirror)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": mirror.offsets_size}}},
    }
    if mirror.offsets_class:
        claim["spec"]["storageClassName"] = mirror.offsets_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(mirror, statefulset_name(mirror)),
        "spec": {
            "serviceName": statefulset_name(mirror),
            "replicas": 1,
            "selector": {"matchLabels": selector_labels(mirror)},
            "template": {
                "metadata": {"labels": selector_labels(mirror), "annotations": {CONFIG_HASH_ANNOTATION: digest}},
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": config_map_name(mirror)}}],
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }


def manifests(mirror: MirrorModel) -> list[dict[str, Any]]:
    return [config_map(mirror), stateful_set(mirror)]
