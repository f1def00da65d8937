"""The children of a KafkaConnect (pure builders): Strimzi's KafkaConnect run as `odradek connect-distributed`.

| child | name |
|---|---|
| ConfigMap (worker.properties) | `<c>-connect-config` |
| Deployment (the workers) | `<c>-connect` |
| Service (the REST API, port 8083) | `<c>-connect-api` |

worker.properties: Strimzi's defaults (`group.id` connect-cluster, `offset.storage.topic` connect-cluster-offsets,
`config.storage.topic` connect-cluster-configs, `status.storage.topic` connect-cluster-status, the JSON converters)
under `spec.config`, then the keys the operator owns: `bootstrap.servers` (spec.bootstrapServers), `listeners`
(http://0.0.0.0:8083), `rest.advertised.host.name` (the pod's IP, through the `env` config provider and the
downward API, so that workers forward REST requests to each other), `metrics.port` / `metrics.host` (from
spec.metricsConfig). Keys a user may not set are refused with a reason, as Strimzi's KafkaConnectSpec does
(`ssl.`, `sasl.`, `security.`, `listeners`, `plugin.path`, `rest.`, `bootstrap.servers`, ...).

Not built yet (refused with NotSupported): `spec.authentication` and `spec.tls` (the workers' own clients do not
take SASL/TLS settings from the operator yet), `spec.build` (Strimzi's image builds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from odradek.operator.resources import broker_config

API_VERSION = "kafka.odradek.io/v1"
REST_PORT = 8083
METRICS_PORT = 9404
CONFIG_DIR = "/etc/odradek-connect"
CONFIG_HASH_ANNOTATION = "odradek.io/config-hash"
DEFAULT_IMAGE = "ghcr.io/odradek/odradek:0.1.0"
DEFAULTS = {
    "group.id": "connect-cluster",
    "offset.storage.topic": "connect-cluster-offsets",
    "config.storage.topic": "connect-cluster-configs",
    "status.storage.topic": "connect-cluster-status",
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
}
OWNED_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ssl.", "TLS is not configurable yet"),
    ("sasl.", "authentication is not configurable yet"),
    ("security.", "authentication is not configurable yet"),
    ("listeners", "the REST API listens on 8083"),
    ("plugin.path", "plugins are entry points in the image"),
    ("rest.", "the REST API is the operator's"),
    ("bootstrap.servers", "set from spec.bootstrapServers"),
    ("consumer.interceptor.classes", "as in Strimzi"),
    ("producer.interceptor.classes", "as in Strimzi"),
    ("metrics.port", "set from spec.metricsConfig"),
    ("metrics.host", "set from spec.metricsConfig"),
    ("config.providers", "the operator's env provider"),
)


class InvalidConnect(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConnectModel:
    name: str
    namespace: str
    uid: str
    replicas: int
    image: str
    bootstrap_servers: str
    config: Mapping[str, str]
    metrics: bool
    resources: Mapping[str, Any] = field(default_factory=dict)
    pod_template: Mapping[str, Any] = field(default_factory=dict)


def owned_reason(key: str) -> str | None:
    for prefix, why in OWNED_PREFIXES:
        if key == prefix or key.startswith(prefix):
            return why
    return None


def from_resource(body: Mapping[str, Any], default_image: str = DEFAULT_IMAGE) -> ConnectModel:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    for unsupported in ("authentication", "tls", "build"):
        if spec.get(unsupported):
            raise InvalidConnect("NotSupported", f"spec.{unsupported} is not supported yet (docs/not-implemented.md)")
    if not spec.get("bootstrapServers"):
        raise InvalidConnect("InvalidResource", "spec.bootstrapServers is required")
    config = {str(k): broker_config.config_value(v) for k, v in (spec.get("config") or {}).items()}
    refused = [f"{key} ({why})" for key in sorted(config) if (why := owned_reason(key))]
    if refused:
        raise InvalidConnect("InvalidConfig", "spec.config keys the operator owns: " + ", ".join(refused))
    template = (spec.get("template") or {}).get("pod") or {}
    return ConnectModel(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or "default"),
        uid=str(meta.get("uid") or ""),
        replicas=int(spec.get("replicas", 3)),
        image=str(spec.get("image") or default_image),
        bootstrap_servers=str(spec["bootstrapServers"]),
        config={**DEFAULTS, **config},
        metrics=spec.get("metricsConfig") is not None,
        resources=dict(spec.get("resources") or {}),
        pod_template=dict(template),
    )


def deployment_name(connect: ConnectModel) -> str:
    return f"{connect.name}-connect"


def config_map_name(connect: ConnectModel) -> str:
    return f"{connect.name}-connect-config"


def service_name(name: str) -> str:
    return f"{name}-connect-api"


def rest_url(name: str, namespace: str) -> str:
    """The REST API inside the cluster (Strimzi's status.url)."""
    return f"http://{service_name(name)}.{namespace}.svc:{REST_PORT}"


def selector_labels(connect: ConnectModel) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "kafka-connect",
        "app.kubernetes.io/instance": connect.name,
        "odradek.io/cluster": connect.name,
        "odradek.io/kind": "KafkaConnect",
    }


def _metadata(connect: ConnectModel, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": connect.namespace,
        "labels": {**selector_labels(connect), "app.kubernetes.io/managed-by": "odradek-operator"},
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": "KafkaConnect",
                "name": connect.name,
                "uid": connect.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def worker_properties(connect: ConnectModel) -> dict[str, str]:
    props = dict(connect.config)
    props.update(
        {
            "bootstrap.servers": connect.bootstrap_servers,
            "listeners": f"http://0.0.0.0:{REST_PORT}",
            "config.providers": "env",
            "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            "rest.advertised.host.name": "${env:POD_IP}",
            "rest.advertised.port": str(REST_PORT),
            "metrics.port": str(METRICS_PORT if connect.metrics else 0),
            "metrics.host": "0.0.0.0",
        }
    )
    return props


def _properties_text(connect: ConnectModel) -> str:
    return broker_config.render_properties(
        worker_properties(connect),
        f"Written by the Odradek operator for KafkaConnect {connect.namespace}/{connect.name}; edits are overwritten.",
    )


def config_map(connect: ConnectModel) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(connect, config_map_name(connect)),
        "data": {"worker.properties": _properties_text(connect)},
    }


def service(connect: ConnectModel) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(connect, service_name(connect.name)),
        "spec": {
            "selector": selector_labels(connect),
            "ports": [{"name": "rest-api", "port": REST_PORT, "targetPort": REST_PORT, "protocol": "TCP"}],
        },
    }


def deployment(connect: ConnectModel) -> dict[str, Any]:
    template_meta = connect.pod_template.get("metadata") or {}
    digest = hashlib.sha256((_properties_text(connect) + connect.image).encode()).hexdigest()[:16]
    annotations = {**(template_meta.get("annotations") or {}), CONFIG_HASH_ANNOTATION: digest}
    if connect.metrics:
        annotations.update({"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)})
    ports = [{"name": "rest-api", "containerPort": REST_PORT}]
    if connect.metrics:
        ports.append({"name": "metrics", "containerPort": METRICS_PORT})
    container: dict[str, Any] = {
        "name": "connect",
        "image": connect.image,
        "command": ["odradek", "connect-distributed", f"{CONFIG_DIR}/worker.properties"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": ports,
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": REST_PORT}, "periodSeconds": 5},
        "livenessProbe": {
            "httpGet": {"path": "/", "port": REST_PORT},
            "initialDelaySeconds": 60,
            "periodSeconds": 10,
        },
    }
    if connect.resources:
        container["resources"] = dict(connect.resources)
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": config_map_name(connect)}}],
    }
    for key in ("affinity", "tolerations", "priorityClassName", "securityContext", "terminationGracePeriodSeconds"):
        if key in connect.pod_template:
            spec[key] = connect.pod_template[key]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(connect, deployment_name(connect)),
        "spec": {
            "replicas": connect.replicas,
            "selector": {"matchLabels": selector_labels(connect)},
            "template": {
                "metadata": {
                    "labels": {**(template_meta.get("labels") or {}), **selector_labels(connect)},
                    "annotations": annotations,
                },
                "spec": spec,
            },
        },
    }


def manifests(connect: ConnectModel) -> list[dict[str, Any]]:
    return [config_map(connect), service(connect), deployment(connect)]
