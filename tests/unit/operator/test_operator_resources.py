"""The manifest builders in resources/: each manifest valid for the oldest and newest Kubernetes that
kubernetes-validate bundles (strict: no unknown fields), server.properties as the spec asks, the keys the operator
owns refused, storage, rack, metrics and pod template carried into the pods, the user Secret."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from odradek.faults import cluster as faults_cluster
from odradek.operator.resources import broker_config, user
from odradek.operator.resources import cluster as model

EXAMPLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "examples" / "kafka-cluster.yaml").read_text())


def resource(**kafka: Any) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    doc["metadata"].update({"namespace": "kafka", "uid": "uid-1"})
    doc["spec"]["kafka"].update(kafka)
    return dict(doc)


def single(**kafka: Any) -> model.ClusterModel:
    doc = resource(replicas=1, **kafka)
    del doc["spec"]["metadataStore"]
    doc["spec"]["kafka"]["config"] = {}
    return model.from_resource(doc)


def props(cluster: model.ClusterModel) -> dict[str, str]:
    return model.broker_properties(cluster)


@pytest.mark.parametrize("version", ["1.25.0", "1.37.0"])
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    for cluster in (model.from_resource(resource()), single(storage={"type": "ephemeral", "sizeLimit": "1Gi"})):
        for manifest in model.manifests(cluster, "pw"):
            kubernetes_validate.validate(manifest, version, strict=True)


def test_children_are_owned_and_labelled() -> None:
    for manifest in model.manifests(model.from_resource(resource()), "pw"):
        [owner] = manifest["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "KafkaCluster",
            "my-cluster",
            "uid-1",
            True,
        )
        assert manifest["metadata"]["labels"]["odradek.io/cluster"] == "my-cluster"


def test_server_properties_of_the_example() -> None:
    p = props(model.from_resource(resource()))
    assert p["listeners"] == "PLAIN://0.0.0.0:9092,SCRAM://0.0.0.0:9094,REPLICATION://0.0.0.0:9091"
    assert p["listener.security.protocol.map"] == "PLAIN:PLAINTEXT,SCRAM:SASL_PLAINTEXT,REPLICATION:SASL_PLAINTEXT"
    assert p["inter.broker.listener.name"] == "REPLICATION"
    assert p["listener.name.scram.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert p["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"  # REPLICATION is SASL_PLAINTEXT
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["super.users"] == "User:admin;User:odradek-operator"
    assert p["min.insync.replicas"] == "2" and p["metrics.port"] == "9404"
    assert p["log.dirs"] == "/var/lib/odradek/data-0/log"
    assert p["metadata.store.url"] == (
        "etcd://my-cluster-etcd-0.my-cluster-etcd.kafka.svc:2379,my-cluster-etcd-1.my-cluster-etcd.kafka.svc:2379,"
        "my-cluster-etcd-2.my-cluster-etcd.kafka.svc:2379"
    )
    text = model.server_properties(model.from_resource(resource()))
    assert text.startswith("# Written by the Odradek operator") and "min.insync.replicas=2\n" in text


def test_single_broker_plaintext_embedded_store_no_metrics() -> None:
    doc = resource(replicas=1, listeners=[{"name": "plain", "port": 9092, "type": "internal"}])
    for key in ("metricsConfig", "authorization"):
        del doc["spec"]["kafka"][key]
    del doc["spec"]["metadataStore"]
    doc["spec"]["kafka"]["config"] = {}
    cluster = model.from_resource(doc)
    p = props(cluster)
    assert "metadata.store.url" not in p and "authorizer.class.name" not in p
    assert p["listener.security.protocol.map"] == "PLAIN:PLAINTEXT,REPLICATION:PLAINTEXT"
    assert p["metrics.port"] == "0"
    assert not cluster.secured
    assert [m["kind"] for m in model.manifests(cluster, "pw")] == [
        "ConfigMap",
        "Service",
        "Service",
        "PodDisruptionBudget",
        "StatefulSet",
    ]
    container = model.stateful_set(cluster)["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [] and "OPERATOR_SCRAM_PASSWORD" not in " ".join(container["command"])


def test_external_store_endpoints() -> None:
    doc = resource()
    doc["spec"]["metadataStore"] = {"type": "external", "endpoints": ["etcd-a:2379", "etcd-b:2379"]}
    cluster = model.from_resource(doc)
    assert cluster.metadata_store_url == "etcd://etcd-a:2379,etcd-b:2379"
    assert model.etcd_manifests(cluster) == []


def test_embedded_store_refused_for_several_brokers() -> None:
    doc = resource()
    doc["spec"]["metadataStore"] = {"type": "embedded"}
    with pytest.raises(model.InvalidCluster) as info:
        model.from_resource(doc)
    assert info.value.reason == "InvalidResource"


@pytest.mark.parametrize(
    "key", ["listeners", "advertised.listeners", "listener.name.x.sasl.jaas.config", "node.id", "log.dirs",
            "metadata.store.url", "super.users", "authorizer.class.name", "sasl.enabled.mechanisms", "broker.rack"]
)  # fmt: skip
def test_owned_keys_refused(key: str) -> None:
    assert broker_config.owned_reason(key) is not None
    doc = resource()
    doc["spec"]["kafka"]["config"][key] = "x"
    with pytest.raises(model.InvalidCluster) as info:
        model.from_resource(doc)
    assert info.value.reason == "InvalidConfig" and key in str(info.value)


@pytest.mark.parametrize("key", ["min.insync.replicas", "num.partitions", "ssl.cipher.suites", "log.retention.ms"])
def test_user_keys_allowed(key: str) -> None:
    assert broker_config.owned_reason(key) is None


def test_tls_authentication_needs_a_tls_listener() -> None:
    with pytest.raises(model.InvalidCluster) as info:
        single(listeners=[{"name": "tls", "port": 9093, "type": "internal", "authentication": {"type": "tls"}}])
    assert info.value.reason == "InvalidResource" and "tls: true" in str(info.value)


def test_a_tls_listener_reads_its_per_pod_keystore_and_mtls_trusts_the_clients_ca() -> None:
    listener = {"name": "tls", "port": 9093, "type": "internal", "tls": True, "authentication": {"type": "tls"}}
    cluster = single(listeners=[listener])
    props = model.broker_properties(cluster)
    assert props["listener.name.tls.ssl.keystore.type"] == "PEM"
    assert props["listener.name.tls.ssl.client.auth"] == "required"
    assert props["listener.name.tls.ssl.truststore.location"] == "/etc/odradek/clients-ca/ca.crt"
    assert "TLS:SSL" in props["listener.security.protocol.map"]
    script = model.broker_command(cluster)[-1]
    assert (
        '--override listener.name.tls.ssl.keystore.location="/etc/odradek/broker-certs/${HOSTNAME}.keystore.pem"'
        in script
    )
    with pytest.raises(ValueError):
        model.manifests(cluster, "pw")  # the certificates are required


def test_broker_command_and_secret_env() -> None:
    cluster = model.from_resource(resource())
    container = model.stateful_set(cluster)["spec"]["template"]["spec"]["containers"][0]
    script = container["command"][2]
    assert script.startswith("exec python -m odradek.broker /etc/odradek/server.properties")
    assert '--override node.id="${HOSTNAME##*-}"' in script
    assert "PLAIN://${HOSTNAME}.my-cluster-kafka-brokers.kafka.svc:9092" in script
    assert "password=${OPERATOR_SCRAM_PASSWORD}" in script
    [env] = container["env"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "my-cluster-operator-credentials", "key": "password"}
    assert "pw" not in model.server_properties(cluster)
    assert container["readinessProbe"]["tcpSocket"]["port"] == 9091


def test_persistent_storage_and_delete_claim() -> None:
    sts = model.stateful_set(model.from_resource(resource()))["spec"]
    [claim] = sts["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data-0"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert sts["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    deleting = model.from_resource(resource(storage={"type": "persistent-claim", "size": "1Gi", "deleteClaim": True,
                                                     "class": "fast"}))  # fmt: skip
    spec = model.stateful_set(deleting)["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"


def test_jbod_volumes_and_log_dirs() -> None:
    volumes = [{"id": 0, "type": "persistent-claim", "size": "1Gi"}, {"id": 1, "type": "ephemeral"}]
    cluster = model.from_resource(resource(storage={"type": "jbod", "volumes": volumes}))
    assert props(cluster)["log.dirs"] == "/var/lib/odradek/data-0/log,/var/lib/odradek/data-1/log"
    sts = model.stateful_set(cluster)["spec"]
    assert [c["metadata"]["name"] for c in sts["volumeClaimTemplates"]] == ["data-0"]
    pod = sts["template"]["spec"]
    assert {"name": "data-1", "emptyDir": {}} in pod["volumes"]
    mounts = [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]]
    assert mounts == ["/etc/odradek", "/var/lib/odradek/data-0", "/var/lib/odradek/data-1"]


def test_pod_template_rack_resources_metrics() -> None:
    template = {
        "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "priorityClassName": "high",
        "securityContext": {"runAsNonRoot": True},
    }
    resources = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    cluster = model.from_resource(resource(template={"pod": template}, resources=resources))
    pod = model.stateful_set(cluster)["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "a" and pod["metadata"]["annotations"]["note"] == "x"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9404"
    assert pod["spec"]["tolerations"] == template["tolerations"] and pod["spec"]["priorityClassName"] == "high"
    assert pod["spec"]["securityContext"] == {"runAsNonRoot": True}
    [spread] = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert pod["spec"]["containers"][0]["resources"] == resources
    assert {"name": "metrics", "containerPort": 9404} in pod["spec"]["containers"][0]["ports"]


def _template_hash(doc: dict[str, Any]) -> str:
    annotations = model.stateful_set(model.from_resource(doc))["spec"]["template"]["metadata"]["annotations"]
    return str(annotations[model.CONFIG_HASH_ANNOTATION])


def test_a_read_only_config_change_changes_the_pod_template_hash() -> None:
    one = model.stateful_set(model.from_resource(resource()))
    doc = resource()
    doc["spec"]["kafka"]["config"]["num.partitions"] = 6  # read-only: needs a restart
    assert _template_hash(doc) != _template_hash(resource())
    assert model.stateful_set(model.from_resource(resource())) == one  # pure: same spec, same manifest


def test_a_dynamic_config_change_keeps_the_pod_template_hash_and_reaches_server_properties() -> None:
    doc = resource()
    for key, value in {"log.retention.ms": 1000, "compression.type": "lz4", "message.max.bytes": 2000000}.items():
        doc["spec"]["kafka"]["config"][key] = value
    assert _template_hash(doc) == _template_hash(resource())  # cluster-wide keys: applied live, no roll
    properties = model.config_map(model.from_resource(doc))["data"]["server.properties"]
    assert "log.retention.ms=1000" in properties.splitlines()  # a later restart keeps it
    assert "compression.type=lz4" in properties.splitlines()
    annotation = model.DYNAMIC_CONFIG_ANNOTATION
    dynamic_one = model.config_map(model.from_resource(resource()))["metadata"]["annotations"][annotation]
    dynamic_two = model.config_map(model.from_resource(doc))["metadata"]["annotations"][annotation]
    assert dynamic_one != dynamic_two


def test_services_pdb_and_external_listeners() -> None:
    listeners = [
        {"name": "plain", "port": 9092, "type": "internal"},
        {"name": "ext", "port": 9095, "type": "nodeport"},
        {"name": "lb", "port": 9096, "type": "loadbalancer"},
    ]
    cluster = model.from_resource(resource(listeners=listeners))
    headless = model.headless_service(cluster)
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"]
    ports = [p["port"] for p in model.bootstrap_service(cluster)["spec"]["ports"]]
    assert ports == [9092, 9095, 9096, 9091]
    external = {s["metadata"]["name"]: s["spec"]["type"] for s in model.external_bootstrap_services(cluster)}
    assert external == {"my-cluster-kafka-ext-bootstrap": "NodePort", "my-cluster-kafka-lb-bootstrap": "LoadBalancer"}
    assert model.pod_disruption_budget(cluster)["spec"]["maxUnavailable"] == 1


def test_etcd_members() -> None:
    service, statefulset = model.etcd_manifests(model.from_resource(resource()))
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["replicas"] == 3
    script = statefulset["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "my-cluster-etcd-2=http://my-cluster-etcd-2.my-cluster-etcd.kafka.svc:2380" in script
    # the limits `odradek cluster up` gives its etcd (a copy: the operator may not import the fault suite)
    assert f"--max-txn-ops={faults_cluster.ETCD_MAX_TXN_OPS}" in script.split()
    assert f"--max-request-bytes={faults_cluster.ETCD_MAX_REQUEST_BYTES}" in script.split()


def test_user_secret_shape() -> None:
    body = {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": "app", "namespace": "kafka", "uid": "u", "labels": {"strimzi.io/cluster": "c"}},
        "spec": {"template": {"secret": {"metadata": {"labels": {"x": "y"}, "annotations": {"a": "b"}}}}},
    }
    secret = user.user_secret(body, "pw")
    kubernetes_validate.validate(secret, "1.37.0", strict=True)
    assert secret["stringData"]["password"] == "pw"
    assert secret["metadata"]["labels"] == {
        "x": "y",
        "odradek.io/kind": "KafkaUser",
        "app.kubernetes.io/managed-by": "odradek-operator",
        "odradek.io/cluster": "c",
    }
    assert secret["metadata"]["annotations"] == {"a": "b"}
    assert user.generate_password() != user.generate_password()
