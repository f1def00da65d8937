"""Manifests of a KafkaCluster's children, from its spec: the broker StatefulSet, the headless and bootstrap
Services (and one bootstrap Service per nodeport/loadbalancer listener), the ConfigMap with server.properties, the
operator's credentials Secret, the PodDisruptionBudget and, for an operator-managed metadata store, etcd.

Names (Strimzi's where it has one; `<c>` is the KafkaCluster's name):

| object | name |
|---|---|
| StatefulSet, pods `<c>-kafka-<ordinal>` | `<c>-kafka` |
| headless Service (per-pod DNS `<c>-kafka-<i>.<c>-kafka-brokers.<ns>.svc`) | `<c>-kafka-brokers` |
| bootstrap Service (ClusterIP, every listener and the replication port) | `<c>-kafka-bootstrap` |
| external bootstrap Service of listener `<l>` | `<c>-kafka-<l>-bootstrap` |
| ConfigMap (server.properties) | `<c>-kafka-config` |
| Secret with the operator's SCRAM password | `<c>-operator-credentials` |
| PodDisruptionBudget (maxUnavailable 1) | `<c>-kafka` |
| etcd StatefulSet and headless Service | `<c>-etcd` |

Why a StatefulSet and not pods managed one by one (as Strimzi does since 0.35): stable names and PVCs per ordinal
come for free. The StatefulSet's `updateStrategy` is `OnDelete`: Kubernetes never restarts a broker itself; the
operator's roller (odradek/operator/roller.py) deletes one stale pod at a time, readiness-gated, the active
controller last and never taking a partition below min.insync.replicas, which a StatefulSet's own RollingUpdate
cannot know. Strimzi manages pods one by one for that order and for per-broker configs; OnDelete gives the order
while keeping the StatefulSet's stable names and PVCs.

Every listener binds 0.0.0.0 in the pod and advertises the pod's DNS name in the headless Service. The operator
adds a listener REPLICATION on port 9091 for brokers and for itself: PLAINTEXT when the cluster has no
authentication or authorization, else SASL_PLAINTEXT with SCRAM-SHA-512 as the super user `odradek-operator`,
whose password is in the credentials Secret and reaches the broker through the environment (never the ConfigMap).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from odradek.operator.resources import broker_config
from odradek.operator.resources.certificates import ClusterTls
from odradek.operator.resources.update_modes import DYNAMIC_KEYS

KAFKA_GROUP = "kafka.odradek.io"
API_VERSION = f"{KAFKA_GROUP}/v1"
DEFAULT_IMAGE = "ghcr.io/odradek/odradek:0.1.0"
DEFAULT_ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.17"
REPLICATION_PORT = 9091
METRICS_PORT = 9404
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
# etcd's limits for the members the operator runs: a CreateTopics of many partitions is one etcd transaction of
# 1 + partitions writes (etcd's defaults: 128 ops, 1.5 MiB). The same numbers as `odradek cluster up`'s
# (odradek.faults.cluster ETCD_MAX_TXN_OPS / ETCD_MAX_REQUEST_BYTES), copied because the operator may import neither
# the broker nor the fault suite (import contracts); tests/unit/operator/test_operator_resources.py keeps them equal.
ETCD_MAX_TXN_OPS = 10_240
ETCD_MAX_REQUEST_BYTES = 10 * 1024 * 1024
OPERATOR_USER = "odradek-operator"
CONFIG_DIR = "/etc/odradek"
DATA_ROOT = "/var/lib/odradek"
CONFIG_HASH_ANNOTATION = "odradek.io/config-hash"
CERTIFICATES_HASH_ANNOTATION = "odradek.io/certificates-hash"
# on the ConfigMap: dynamic_config_hash of the settings last applied to the running brokers (cluster.py)
DYNAMIC_CONFIG_ANNOTATION = "odradek.io/dynamic-config-hash"
BROKER_CERTS_DIR = "/etc/odradek/broker-certs"
CLIENTS_CA_DIR = "/etc/odradek/clients-ca"
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


class InvalidCluster(ValueError):
    """A KafkaCluster spec the operator cannot build; `reason` is the status condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    port: int
    type: str
    tls: bool
    authentication: str | None
    alternative_names: tuple[str, ...] = ()  # configuration.bootstrap.alternativeNames: extra broker cert SANs

    @property
    def kafka_name(self) -> str:
        return self.name.upper()

    @property
    def protocol(self) -> str:
        sasl = self.authentication == "scram-sha-512"
        if self.tls:
            return "SASL_SSL" if sasl else "SSL"
        return "SASL_PLAINTEXT" if sasl else "PLAINTEXT"


@dataclass(frozen=True, slots=True)
class Volume:
    """One data volume: `data-<id>`, mounted at /var/lib/odradek/data-<id>; log.dirs has one entry per volume."""

    id: int
    type: str  # ephemeral | persistent-claim
    size: str | None
    storage_class: str | None
    delete_claim: bool
    size_limit: str | None

    @property
    def name(self) -> str:
        return f"data-{self.id}"

    @property
    def log_dir(self) -> str:
        return f"{DATA_ROOT}/{self.name}/log"


@dataclass(frozen=True, slots=True)
class ClusterModel:
    """A KafkaCluster's spec as the builders use it (`from_resource` checks what the schema cannot)."""

    name: str
    namespace: str
    uid: str
    replicas: int
    image: str
    listeners: tuple[Listener, ...]
    authorization: bool
    super_users: tuple[str, ...]
    config: Mapping[str, str]
    volumes: tuple[Volume, ...]
    resources: Mapping[str, Any]
    rack_topology_key: str | None
    metrics: bool
    pod_template: Mapping[str, Any]
    store_type: str  # embedded | etcd | external
    store_replicas: int
    store_endpoints: tuple[str, ...]
    etcd_image: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ca_validity_days: int = 365  # spec.clusterCa (Strimzi's defaults)
    ca_renewal_days: int = 30
    clients_ca_validity_days: int = 365  # spec.clientsCa
    clients_ca_renewal_days: int = 30

    @property
    def needs_tls(self) -> bool:
        """Whether any listener uses TLS: then the operator makes the CAs and broker certificates."""
        return any(listener.tls for listener in self.listeners)

    @property
    def secured(self) -> bool:
        """Whether the replication listener needs SASL (any authentication or authorization in the cluster)."""
        return self.authorization or any(listener.authentication for listener in self.listeners)

    @property
    def metadata_store_url(self) -> str | None:
        """The brokers' metadata.store.url: None (the embedded store) for type embedded, else etcd endpoints."""
        if self.store_type == "embedded":
            return None
        if self.store_type == "external":
            return "etcd://" + ",".join(self.store_endpoints)
        hosts = [
            f"{self.name}-etcd-{i}.{self.name}-etcd.{self.namespace}.svc:{ETCD_CLIENT_PORT}"
            for i in range(self.store_replicas)
        ]
        return "etcd://" + ",".join(hosts)


def from_resource(body: Mapping[str, Any], default_image: str = DEFAULT_IMAGE) -> ClusterModel:
    """The model of a KafkaCluster resource; InvalidCluster for what the schema lets through but cannot be built."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    kafka = spec.get("kafka") or {}
    listeners = tuple(
        Listener(
            name=str(item["name"]),
            port=int(item["port"]),
            type=str(item.get("type", "internal")),
            tls=bool(item.get("tls", False)),
            authentication=(item.get("authentication") or {}).get("type"),
            alternative_names=tuple(
                str(n) for n in ((item.get("configuration") or {}).get("bootstrap") or {}).get("alternativeNames") or []
            ),
        )
        for item in kafka.get("listeners") or []
    )
    if not listeners:
        raise InvalidCluster("InvalidResource", "spec.kafka.listeners needs at least one listener")
    for listener in listeners:
        if listener.name == "replication":
            raise InvalidCluster("InvalidResource", "listener name 'replication' is the operator's")
        if listener.authentication == "tls" and not listener.tls:
            raise InvalidCluster(
                "InvalidResource", f"listener {listener.name}: authentication tls needs tls: true (as in Strimzi)"
            )
    config = dict(kafka.get("config") or {})
    refused = broker_config.refused_keys(config)
    if refused:
        raise InvalidCluster("InvalidConfig", "spec.kafka.config keys the operator owns: " + ", ".join(refused))
    replicas = int(kafka.get("replicas", 1))
    store = spec.get("metadataStore") or {}
    store_type = str(store.get("type") or ("embedded" if replicas == 1 else "etcd"))
    if store_type == "embedded" and replicas > 1:
        raise InvalidCluster("InvalidResource", "more than one broker needs spec.metadataStore type etcd or external")
    authorization = kafka.get("authorization") or {}
    template = (kafka.get("template") or {}).get("pod") or {}
    return ClusterModel(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or "default"),
        uid=str(meta.get("uid") or ""),
        replicas=replicas,
        image=str(kafka.get("image") or default_image),
        listeners=listeners,
        authorization=authorization.get("type") == "simple",
        super_users=tuple(str(u) for u in authorization.get("superUsers") or []),
        config={key: broker_config.config_value(value) for key, value in config.items()},
        volumes=_volumes(kafka.get("storage") or {"type": "ephemeral"}),
        resources=dict(kafka.get("resources") or {}),
        rack_topology_key=(kafka.get("rack") or {}).get("topologyKey"),
        metrics=kafka.get("metricsConfig") is not None,
        pod_template=dict(template),
        store_type=store_type,
        store_replicas=int(store.get("replicas", 3)) if store_type == "etcd" else 0,
        store_endpoints=tuple(str(e) for e in store.get("endpoints") or []),
        etcd_image=str(store.get("image") or DEFAULT_ETCD_IMAGE),
        labels=dict(meta.get("labels") or {}),
        ca_validity_days=int((spec.get("clusterCa") or {}).get("validityDays", 365)),
        ca_renewal_days=int((spec.get("clusterCa") or {}).get("renewalDays", 30)),
        clients_ca_validity_days=int((spec.get("clientsCa") or {}).get("validityDays", 365)),
        clients_ca_renewal_days=int((spec.get("clientsCa") or {}).get("renewalDays", 30)),
    )


def _volumes(storage: Mapping[str, Any]) -> tuple[Volume, ...]:
    items = (storage.get("volumes") or []) if storage.get("type") == "jbod" else [{**storage, "id": 0}]
    return tuple(
        Volume(
            id=int(item.get("id", 0)),
            type=str(item["type"]),
            size=item.get("size"),
            storage_class=item.get("class"),
            delete_claim=bool(item.get("deleteClaim", False)),
            size_limit=item.get("sizeLimit"),
        )
        for item in items
    )


# -- names and labels ------------------------------------------------------------------------------------------


def statefulset_name(cluster: ClusterModel) -> str:
    return f"{cluster.name}-kafka"


def headless_name(cluster: ClusterModel) -> str:
    return f"{cluster.name}-kafka-brokers"


def bootstrap_name(cluster: ClusterModel) -> str:
    return f"{cluster.name}-kafka-bootstrap"


def config_map_name(cluster: ClusterModel) -> str:
    return f"{cluster.name}-kafka-config"


def ca_cert_secret_name(cluster_name: str, kind: str) -> str:
    """``kind``: "cluster" or "clients" (Strimzi's `<c>-cluster-ca-cert`, `<c>-clients-ca-cert`)."""
    return f"{cluster_name}-{kind}-ca-cert"


def ca_key_secret_name(cluster_name: str, kind: str) -> str:
    return f"{cluster_name}-{kind}-ca"


def broker_certs_secret_name(cluster: ClusterModel) -> str:
    return f"{cluster.name}-kafka-brokers"


def broker_pod_name(cluster: ClusterModel, ordinal: int) -> str:
    return f"{statefulset_name(cluster)}-{ordinal}"


def broker_dns_names(cluster: ClusterModel, ordinal: int) -> list[str]:
    """The names a broker's certificate is valid for: its pod's names in the headless Service, the bootstrap
    Service's, and each TLS listener's `configuration.bootstrap.alternativeNames` (for addresses outside the
    cluster)."""
    pod, ns = broker_pod_name(cluster, ordinal), cluster.namespace
    names = []
    for service, host in ((headless_name(cluster), pod), (bootstrap_name(cluster), None)):
        base = f"{host}.{service}" if host else service
        names += [base, f"{base}.{ns}", f"{base}.{ns}.svc", f"{base}.{ns}.svc.cluster.local"]
    for listener in cluster.listeners:
        if listener.tls:
            names += [n for n in listener.alternative_names if n not in names]
    return names


def credentials_secret_name(cluster_name: str) -> str:
    return f"{cluster_name}-operator-credentials"


def bootstrap_address(cluster_name: str, namespace: str, port: int = REPLICATION_PORT) -> str:
    """host:port of a cluster's bootstrap Service, as seen from inside the Kubernetes cluster."""
    return f"{cluster_name}-kafka-bootstrap.{namespace}.svc:{port}"


def selector_labels(cluster: ClusterModel, component: str = "broker") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "kafka" if component == "broker" else component,
        "app.kubernetes.io/instance": cluster.name,
        "odradek.io/cluster": cluster.name,
        "odradek.io/component": component,
    }


def _labels(cluster: ClusterModel, component: str = "broker") -> dict[str, str]:
    return {
        **selector_labels(cluster, component),
        "app.kubernetes.io/managed-by": "odradek-operator",
        "app.kubernetes.io/part-of": f"odradek-{cluster.name}",
        "odradek.io/kind": "KafkaCluster",
    }


def _metadata(cluster: ClusterModel, name: str, component: str = "broker") -> dict[str, Any]:
    return {
        "name": name,
        "namespace": cluster.namespace,
        "labels": _labels(cluster, component),
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": "KafkaCluster",
                "name": cluster.name,
                "uid": cluster.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


# -- server.properties -----------------------------------------------------------------------------------------


def broker_properties(cluster: ClusterModel) -> dict[str, str]:
    """The settings common to every broker (the pod adds node.id, advertised.listeners and, on a secured cluster,
    the operator's SCRAM credentials at start: see `broker_command`). User config first, then the operator's keys
    (which the user cannot set: `from_resource` refuses them)."""
    props = dict(cluster.config)
    listeners = [f"{item.kafka_name}://0.0.0.0:{item.port}" for item in cluster.listeners]
    listeners.append(f"REPLICATION://0.0.0.0:{REPLICATION_PORT}")
    protocols = [f"{item.kafka_name}:{item.protocol}" for item in cluster.listeners]
    protocols.append(f"REPLICATION:{'SASL_PLAINTEXT' if cluster.secured else 'PLAINTEXT'}")
    props.update(
        {
            "listeners": ",".join(listeners),
            "listener.security.protocol.map": ",".join(protocols),
            "inter.broker.listener.name": "REPLICATION",
            "log.dirs": ",".join(volume.log_dir for volume in cluster.volumes),
            "metrics.port": str(METRICS_PORT if cluster.metrics else 0),
            "metrics.host": "0.0.0.0",
        }
    )
    for item in cluster.listeners:
        if item.authentication == "scram-sha-512":
            props[f"listener.name.{item.name}.sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
        if item.tls:
            # ssl.keystore.location is per pod: broker_command sets it from $HOSTNAME
            props[f"listener.name.{item.name}.ssl.keystore.type"] = "PEM"
        if item.authentication == "tls":
            props[f"listener.name.{item.name}.ssl.client.auth"] = "required"
            props[f"listener.name.{item.name}.ssl.truststore.type"] = "PEM"
            props[f"listener.name.{item.name}.ssl.truststore.location"] = f"{CLIENTS_CA_DIR}/ca.crt"
    if cluster.secured:
        props["listener.name.replication.sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
        # The brokers' replica fetchers and marker senders log in to REPLICATION as the operator's SCRAM user (its
        # JAAS config is added per pod by broker_command); without this key the broker refuses a SASL inter-broker
        # listener (Kafka's default, GSSAPI, is not implemented).
        props["sasl.mechanism.inter.broker.protocol"] = "SCRAM-SHA-512"
    if cluster.authorization:
        props["authorizer.class.name"] = STANDARD_AUTHORIZER
        users = [f"User:{user}" for user in cluster.super_users]
        props["super.users"] = ";".join([*users, f"User:{OPERATOR_USER}"])
    url = cluster.metadata_store_url
    if url:
        props["metadata.store.url"] = url
    return props


def server_properties(cluster: ClusterModel) -> str:
    return broker_config.render_properties(
        broker_properties(cluster),
        f"Written by the Odradek operator for KafkaCluster {cluster.namespace}/{cluster.name}; edits are overwritten.",
    )


def config_hash(cluster: ClusterModel) -> str:
    """sha256 of server.properties without its dynamic keys (update_modes.py), and the image: a change rolls the
    pods (the pod template's annotation). A dynamic key's change is applied to the running brokers instead
    (cluster.py, IncrementalAlterConfigs), so it leaves this hash, and the pods, as they are."""
    static = {k: v for k, v in broker_properties(cluster).items() if k not in DYNAMIC_KEYS}
    return hashlib.sha256((broker_config.render_properties(static, "") + cluster.image).encode()).hexdigest()[:16]


def dynamic_config_hash(cluster: ClusterModel) -> str:
    """sha256 of server.properties' dynamic keys: what the ConfigMap's DYNAMIC_CONFIG_ANNOTATION compares (with
    `config_hash`, which covers the others, every key of the file is in one of the two)."""
    dynamic = {k: v for k, v in broker_properties(cluster).items() if k in DYNAMIC_KEYS}
    return hashlib.sha256(broker_config.render_properties(dynamic, "").encode()).hexdigest()[:16]


def config_map(cluster: ClusterModel, applied_dynamic: str | None = None) -> dict[str, Any]:
    """`applied_dynamic`: the dynamic_config_hash the running brokers have (None: this cluster's, as for brokers
    that start from this server.properties; "": unknown)."""
    metadata = _metadata(cluster, config_map_name(cluster))
    applied = dynamic_config_hash(cluster) if applied_dynamic is None else applied_dynamic
    annotations = {DYNAMIC_CONFIG_ANNOTATION: applied}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {"server.properties": server_properties(cluster)},
    }


def credentials_secret(cluster: ClusterModel, password: str) -> dict[str, Any]:
    """The operator's own SCRAM-SHA-512 credentials for the replication listener (`password` is generated by the
    caller once and kept: this builder is pure)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(cluster, credentials_secret_name(cluster.name)),
        "stringData": {"username": OPERATOR_USER, "password": password},
    }


# -- Services --------------------------------------------------------------------------------------------------


def _ports(cluster: ClusterModel) -> list[dict[str, Any]]:
    ports = [
        {"name": f"tcp-{item.name}", "port": item.port, "targetPort": item.port, "protocol": "TCP"}
        for item in cluster.listeners
    ]
    ports.append(
        {"name": "tcp-replication", "port": REPLICATION_PORT, "targetPort": REPLICATION_PORT, "protocol": "TCP"}
    )
    return ports


def headless_service(cluster: ClusterModel) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(cluster, headless_name(cluster)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,  # brokers find each other before they are ready
            "selector": selector_labels(cluster),
            "ports": _ports(cluster),
        },
    }


def bootstrap_service(cluster: ClusterModel) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(cluster, bootstrap_name(cluster)),
        "spec": {"type": "ClusterIP", "selector": selector_labels(cluster), "ports": _ports(cluster)},
    }


def external_bootstrap_services(cluster: ClusterModel) -> list[dict[str, Any]]:
    """One Service `<c>-kafka-<listener>-bootstrap` of type NodePort or LoadBalancer per such listener."""
    out: list[dict[str, Any]] = []
    for item in cluster.listeners:
        if item.type not in ("nodeport", "loadbalancer"):
            continue
        port: dict[str, Any] = {"name": f"tcp-{item.name}", "port": item.port, "targetPort": item.port}
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _metadata(cluster, f"{cluster.name}-kafka-{item.name}-bootstrap"),
                "spec": {
                    "type": "NodePort" if item.type == "nodeport" else "LoadBalancer",
                    "selector": selector_labels(cluster),
                    "ports": [{**port, "protocol": "TCP"}],
                },
            }
        )
    return out


def listener_status(cluster: ClusterModel, cluster_ca_pem: bytes | None = None) -> list[dict[str, Any]]:
    """status.listeners: each listener's in-cluster bootstrap address (Strimzi's shape); TLS listeners list the
    cluster CA certificate clients must trust (`certificates`, as Strimzi's status)."""
    host = f"{bootstrap_name(cluster)}.{cluster.namespace}.svc"
    out = []
    for item in cluster.listeners:
        entry: dict[str, Any] = {
            "name": item.name,
            "addresses": [{"host": host, "port": item.port}],
            "bootstrapServers": f"{host}:{item.port}",
        }
        if item.tls and cluster_ca_pem:
            entry["certificates"] = [cluster_ca_pem.decode()]
        out.append(entry)
    return out


# -- the brokers -----------------------------------------------------------------------------------------------


def broker_command(cluster: ClusterModel) -> list[str]:
    """The broker container's command: node.id from the pod's ordinal ($HOSTNAME is `<c>-kafka-<i>`), each
    listener advertised at the pod's DNS name, and on a secured cluster the operator's credentials from the
    environment (the Secret), so that no password is in the ConfigMap. That variable's name must not start with
    the broker's ODRADEK_ prefix: the broker reads every ODRADEK_* variable as a config key and refuses unknown
    ones (ODRADEK_OPERATOR_PASSWORD became the unknown key operator.password and the broker never started)."""
    host = f"${{HOSTNAME}}.{headless_name(cluster)}.{cluster.namespace}.svc"
    advertised = [f"{item.kafka_name}://{host}:{item.port}" for item in cluster.listeners]
    advertised.append(f"REPLICATION://{host}:{REPLICATION_PORT}")
    script = [
        f"exec python -m odradek.broker {CONFIG_DIR}/server.properties",
        '--override node.id="${HOSTNAME##*-}"',
        f'--override advertised.listeners="{",".join(advertised)}"',
    ]
    for item in cluster.listeners:
        if item.tls:
            keystore = f"{BROKER_CERTS_DIR}/${{HOSTNAME}}.keystore.pem"
            script.append(f'--override listener.name.{item.name}.ssl.keystore.location="{keystore}"')
    if cluster.secured:
        credentials = f"SCRAM-SHA-512=[name={OPERATOR_USER},password=${{OPERATOR_SCRAM_PASSWORD}}]"
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username=\\"{OPERATOR_USER}\\" password=\\"${{OPERATOR_SCRAM_PASSWORD}}\\";'
        )
        script += [
            f'--override sasl.scram.bootstrap.credentials="{credentials}"',
            f'--override listener.name.replication.scram-sha-512.sasl.jaas.config="{jaas}"',
        ]
    return ["sh", "-c", " ".join(script)]


def _container(cluster: ClusterModel) -> dict[str, Any]:
    ports = [{"name": f"tcp-{item.name}", "containerPort": item.port} for item in cluster.listeners]
    ports.append({"name": "tcp-replication", "containerPort": REPLICATION_PORT})
    if cluster.metrics:
        ports.append({"name": "metrics", "containerPort": METRICS_PORT})
    env: list[dict[str, Any]] = []
    if cluster.secured:
        ref = {"name": credentials_secret_name(cluster.name), "key": "password"}
        env.append({"name": "OPERATOR_SCRAM_PASSWORD", "valueFrom": {"secretKeyRef": ref}})
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    if cluster.needs_tls:
        mounts.append({"name": "broker-certs", "mountPath": BROKER_CERTS_DIR, "readOnly": True})
        mounts.append({"name": "clients-ca", "mountPath": CLIENTS_CA_DIR, "readOnly": True})
    mounts += [{"name": volume.name, "mountPath": f"{DATA_ROOT}/{volume.name}"} for volume in cluster.volumes]
    probe = {"tcpSocket": {"port": REPLICATION_PORT}, "periodSeconds": 5, "failureThreshold": 3}
    container: dict[str, Any] = {
        "name": "kafka",
        "image": cluster.image,
        "command": broker_command(cluster),
        "ports": ports,
        "env": env,
        "volumeMounts": mounts,
        "readinessProbe": {**probe, "initialDelaySeconds": 2},
        "livenessProbe": {**probe, "initialDelaySeconds": 15},
    }
    if cluster.resources:
        container["resources"] = dict(cluster.resources)
    return container


def _pod_spec(cluster: ClusterModel) -> dict[str, Any]:
    template = cluster.pod_template
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": config_map_name(cluster)}}]
    if cluster.needs_tls:
        volumes.append({"name": "broker-certs", "secret": {"secretName": broker_certs_secret_name(cluster)}})
        volumes.append({"name": "clients-ca", "secret": {"secretName": ca_cert_secret_name(cluster.name, "clients")}})
    for volume in cluster.volumes:
        if volume.type == "ephemeral":
            empty: dict[str, Any] = {"sizeLimit": volume.size_limit} if volume.size_limit else {}
            volumes.append({"name": volume.name, "emptyDir": empty})
    spec: dict[str, Any] = {
        "containers": [_container(cluster)],
        "volumes": volumes,
        "terminationGracePeriodSeconds": int(template.get("terminationGracePeriodSeconds", 60)),
    }
    for key in ("affinity", "tolerations", "priorityClassName", "securityContext"):
        if key in template:
            spec[key] = template[key]
    spread = list(template.get("topologySpreadConstraints") or [])
    if cluster.rack_topology_key:
        # rack awareness: brokers spread over the topology key's domains (broker.rack itself: not built yet)
        spread.append(
            {
                "maxSkew": 1,
                "topologyKey": cluster.rack_topology_key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(cluster)},
            }
        )
    if spread:
        spec["topologySpreadConstraints"] = spread
    return spec


def stateful_set(cluster: ClusterModel, certificates_hash: str | None = None) -> dict[str, Any]:
    """`certificates_hash`: `ClusterTls.digest` on a cluster with TLS listeners (a changed certificate rolls)."""
    template_meta = cluster.pod_template.get("metadata") or {}
    annotations = {**(template_meta.get("annotations") or {}), CONFIG_HASH_ANNOTATION: config_hash(cluster)}
    if certificates_hash:
        annotations[CERTIFICATES_HASH_ANNOTATION] = certificates_hash
    if cluster.metrics:
        annotations.update({"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)})
    claims = [
        {
            "metadata": {"name": volume.name, "labels": _labels(cluster)},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": volume.size}},
                **({"storageClassName": volume.storage_class} if volume.storage_class else {}),
            },
        }
        for volume in cluster.volumes
        if volume.type == "persistent-claim"
    ]
    spec: dict[str, Any] = {
        "serviceName": headless_name(cluster),
        "replicas": cluster.replicas,
        "podManagementPolicy": "Parallel",  # brokers of a new cluster start together; the store orders them
        "updateStrategy": {"type": "OnDelete"},  # the operator's roller restarts brokers (module docstring)
        "selector": {"matchLabels": selector_labels(cluster)},
        "template": {
            "metadata": {
                "labels": {**(template_meta.get("labels") or {}), **_labels(cluster)},
                "annotations": annotations,
            },
            "spec": _pod_spec(cluster),
        },
    }
    if claims:
        spec["volumeClaimTemplates"] = claims
        delete = all(volume.delete_claim for volume in cluster.volumes if volume.type == "persistent-claim")
        policy = "Delete" if delete else "Retain"
        spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": policy, "whenScaled": "Retain"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(cluster, statefulset_name(cluster)),
        "spec": spec,
    }


def pod_disruption_budget(cluster: ClusterModel) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(cluster, statefulset_name(cluster)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(cluster)}},
    }


# -- etcd ------------------------------------------------------------------------------------------------------


def etcd_manifests(cluster: ClusterModel) -> list[dict[str, Any]]:
    """A headless Service and a StatefulSet of `store_replicas` etcd members (an operator-managed store); nothing
    for embedded or external stores."""
    if cluster.store_type != "etcd":
        return []
    name = f"{cluster.name}-etcd"
    labels = selector_labels(cluster, "etcd")
    peers = ",".join(
        f"{name}-{i}=http://{name}-{i}.{name}.{cluster.namespace}.svc:{ETCD_PEER_PORT}"
        for i in range(cluster.store_replicas)
    )
    host = f"${{HOSTNAME}}.{name}.{cluster.namespace}.svc"
    script = " ".join(
        [
            "exec etcd --name=${HOSTNAME} --data-dir=/var/lib/etcd",
            f"--listen-client-urls=http://0.0.0.0:{ETCD_CLIENT_PORT}",
            f"--advertise-client-urls=http://{host}:{ETCD_CLIENT_PORT}",
            f"--listen-peer-urls=http://0.0.0.0:{ETCD_PEER_PORT}",
            f"--initial-advertise-peer-urls=http://{host}:{ETCD_PEER_PORT}",
            f"--initial-cluster={peers}",
            f"--initial-cluster-token={name}",
            "--initial-cluster-state=new",
            f"--max-txn-ops={ETCD_MAX_TXN_OPS}",
            f"--max-request-bytes={ETCD_MAX_REQUEST_BYTES}",
        ]
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(cluster, name, "etcd"),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": labels,
            "ports": [
                {"name": "client", "port": ETCD_CLIENT_PORT, "protocol": "TCP"},
                {"name": "peer", "port": ETCD_PEER_PORT, "protocol": "TCP"},
            ],
        },
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(cluster, name, "etcd"),
        "spec": {
            "serviceName": name,
            "replicas": cluster.store_replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": _labels(cluster, "etcd")},
                "spec": {
                    "containers": [
                        {
                            "name": "etcd",
                            "image": cluster.etcd_image,
                            "command": ["sh", "-c", script],
                            "ports": [
                                {"name": "client", "containerPort": ETCD_CLIENT_PORT},
                                {"name": "peer", "containerPort": ETCD_PEER_PORT},
                            ],
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
                            "readinessProbe": {"tcpSocket": {"port": ETCD_CLIENT_PORT}, "periodSeconds": 5},
                        }
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    return [service, statefulset]


def tls_secrets(cluster: ClusterModel, tls: ClusterTls) -> list[dict[str, Any]]:
    """The CA and broker certificate Secrets (cluster_ca.py: names, keys and when they change)."""

    def secret(name: str, data: Mapping[str, bytes]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": _metadata(cluster, name),
            "stringData": {key: value.decode() for key, value in sorted(data.items())},
        }

    brokers: dict[str, bytes] = {}
    for pod, issued in tls.brokers.items():
        brokers.update({f"{pod}.crt": issued.cert_pem, f"{pod}.key": issued.key_pem})
        brokers[f"{pod}.keystore.pem"] = issued.keystore_pem
    return [
        secret(ca_cert_secret_name(cluster.name, "cluster"), {"ca.crt": tls.cluster_ca.cert_pem}),
        secret(ca_key_secret_name(cluster.name, "cluster"), {"ca.key": tls.cluster_ca.key_pem}),
        secret(ca_cert_secret_name(cluster.name, "clients"), {"ca.crt": tls.clients_ca.cert_pem}),
        secret(ca_key_secret_name(cluster.name, "clients"), {"ca.key": tls.clients_ca.key_pem}),
        secret(broker_certs_secret_name(cluster), brokers),
    ]


def manifests(
    cluster: ClusterModel, operator_password: str, tls: ClusterTls | None = None, applied_dynamic: str | None = None
) -> list[dict[str, Any]]:
    """Every child of the cluster, in the order to apply them (what pods mount exists before the pods). `tls` is
    required when the cluster has TLS listeners (`cluster_ca.ensure_tls`); `applied_dynamic` as `config_map`'s."""
    if cluster.needs_tls and tls is None:
        raise ValueError("a cluster with TLS listeners needs its certificates")
    out: list[dict[str, Any]] = [*etcd_manifests(cluster)]
    if cluster.secured:
        out.append(credentials_secret(cluster, operator_password))
    if tls is not None and cluster.needs_tls:
        out += tls_secrets(cluster, tls)
    out += [config_map(cluster, applied_dynamic), headless_service(cluster), bootstrap_service(cluster)]
    out += external_bootstrap_services(cluster)
    digest = tls.digest if tls is not None and cluster.needs_tls else None
    out += [pod_disruption_budget(cluster), stateful_set(cluster, digest)]
    return out
