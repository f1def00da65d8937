"""KafkaCluster reconciliation with a fake Kubernetes API: children applied in order, readiness from the
StatefulSet, refusals applying nothing, warnings for settings that can never be satisfied."""

from __future__ import annotations

import base64
import copy
import datetime
from pathlib import Path
from typing import Any

import yaml
from odradek.operator import cluster, telemetry
from odradek.operator.resources import certificates as certs
from odradek.operator.resources import cluster as model
from odradek.operator.roller import ClusterView, PartitionReplicas
from operator_fakes import FakeAdmin, FakeKube, secret_value

EXAMPLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "examples" / "kafka-cluster.yaml").read_text())


def body() -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    doc["metadata"].update({"namespace": "kafka", "uid": "uid-1", "generation": 3})
    return dict(doc)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_applies_children_then_ready_follows_the_statefulset() -> None:
    kube = FakeKube()
    status = cluster.reconcile_cluster(body(), kube)
    assert kube.applied == [
        "Service/my-cluster-etcd",
        "StatefulSet/my-cluster-etcd",
        "Secret/my-cluster-operator-credentials",
        "ConfigMap/my-cluster-kafka-config",
        "Service/my-cluster-kafka-brokers",
        "Service/my-cluster-kafka-bootstrap",
        "PodDisruptionBudget/my-cluster-kafka",
        "StatefulSet/my-cluster-kafka",
    ]
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "PodsNotReady", "0 of 3 brokers ready")
    assert status["observedGeneration"] == 3 and status["readyBrokers"] == 0
    assert status["listeners"][0]["bootstrapServers"] == "my-cluster-kafka-bootstrap.kafka.svc:9092"
    kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]["status"] = {"readyReplicas": 3}
    assert condition(cluster.reconcile_cluster(body(), kube), "Ready")["status"] == "True"


def test_operator_password_kept_across_reconciles() -> None:
    kube = FakeKube()
    cluster.reconcile_cluster(body(), kube)
    key = ("Secret", "kafka", "my-cluster-operator-credentials")
    first = secret_value(kube.objects[key], "password")
    cluster.reconcile_cluster(body(), kube)
    assert secret_value(kube.objects[key], "password") == first


def test_owned_config_refused_and_nothing_applied() -> None:
    kube = FakeKube()
    resource = body()
    resource["spec"]["kafka"]["config"].update({"listeners": "PLAINTEXT://:1", "log.dirs": "/x"})
    ready = condition(cluster.reconcile_cluster(resource, kube), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidConfig")
    assert "listeners (set from spec.kafka.listeners)" in ready["message"] and "log.dirs" in ready["message"]
    assert kube.applied == []


def test_impossible_settings_warn() -> None:
    resource = body()
    resource["spec"]["kafka"]["config"].update({"default.replication.factor": 1, "min.insync.replicas": 2})
    warning = condition(cluster.reconcile_cluster(resource, FakeKube()), "Warning")
    assert warning["reason"] == "ImpossibleSetting"
    assert "min.insync.replicas=2 is more than default.replication.factor=1" in warning["message"]
    assert not any(c["type"] == "Warning" for c in cluster.reconcile_cluster(body(), FakeKube())["conditions"])


def test_paused() -> None:
    resource = body()
    resource["metadata"]["annotations"] = {"strimzi.io/pause-reconciliation": "true"}
    kube = FakeKube()
    assert condition(cluster.reconcile_cluster(resource, kube), "ReconciliationPaused")["status"] == "True"
    assert kube.applied == []


# -- rolling updates (the roller's own rules: test_operator_roller.py) ------------------------------------------


def rolling_kube(revisions: dict[int, str], update_revision: str = "rev-2") -> FakeKube:
    """A cluster applied once, its StatefulSet at `update_revision`, broker pods at `revisions`, all ready."""
    kube = FakeKube()
    cluster.reconcile_cluster(body(), kube)
    kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]["status"] = {
        "readyReplicas": len(revisions),
        "updateRevision": update_revision,
    }
    labels = model.selector_labels(model.from_resource(body()))
    for broker, revision in revisions.items():
        pod_labels = {**labels, "controller-revision-hash": revision}
        kube.put(
            {
                "kind": "Pod",
                "metadata": {"name": f"my-cluster-kafka-{broker}", "namespace": "kafka", "labels": pod_labels},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    kube.put({"kind": "Pod", "metadata": {"name": "my-cluster-etcd-0", "namespace": "kafka", "labels": {}}})
    return kube


def healthy_admin(isr: tuple[int, ...] = (0, 1, 2)) -> FakeAdmin:
    admin = FakeAdmin()
    admin.view = ClusterView((PartitionReplicas("orders", 0, (0, 1, 2), isr),), {"orders": 2}, controller_id=0)
    return admin


def test_the_statefulset_leaves_restarts_to_the_operator() -> None:
    kube = FakeKube()
    cluster.reconcile_cluster(body(), kube)
    sts = kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_stale_brokers_are_restarted_one_per_reconcile_the_controller_last() -> None:
    kube = rolling_kube({0: "rev-1", 1: "rev-1", 2: "rev-1"})
    status = cluster.reconcile_cluster(body(), kube, admin=healthy_admin())
    assert kube.deleted == ["Pod/my-cluster-kafka-1"]
    assert status["rollingUpdate"]["pendingBrokers"] == 3
    assert "restarted my-cluster-kafka-1" in status["rollingUpdate"]["lastAction"]
    cluster.reconcile_cluster(body(), kube, admin=healthy_admin())
    assert kube.deleted == ["Pod/my-cluster-kafka-1"], "nothing more while the restarted pod is being deleted"
    kube.objects[("Pod", "kafka", "my-cluster-kafka-1")]["metadata"].pop("deletionTimestamp")
    kube.objects[("Pod", "kafka", "my-cluster-kafka-1")]["metadata"]["labels"]["controller-revision-hash"] = "rev-2"
    cluster.reconcile_cluster(body(), kube, admin=healthy_admin())
    assert kube.deleted == ["Pod/my-cluster-kafka-1", "Pod/my-cluster-kafka-2"]


def test_a_rollout_that_would_go_under_min_isr_waits_with_a_warning() -> None:
    kube = rolling_kube({0: "rev-1", 1: "rev-1", 2: "rev-2"})
    status = cluster.reconcile_cluster(body(), kube, admin=healthy_admin(isr=(0, 1)))
    assert kube.deleted == []
    warning = condition(status, "Warning")
    assert warning["reason"] == "RollingUpdateBlocked"
    assert "orders-0 would go below min.insync.replicas=2" in warning["message"]
    assert condition(status, "Ready")["status"] == "True", "a held rollout leaves the running cluster ready"


def test_an_rf1_topic_is_reported_and_does_not_stall_the_rollout() -> None:
    kube = rolling_kube({0: "rev-1", 1: "rev-2", 2: "rev-2"})
    admin = FakeAdmin()
    admin.view = ClusterView((PartitionReplicas("single", 0, (0,), (0,)),), {}, default_min_isr=1)
    status = cluster.reconcile_cluster(body(), kube, admin=admin)
    assert kube.deleted == ["Pod/my-cluster-kafka-0"]
    warning = condition(status, "Warning")
    assert warning["reason"] == "MinIsrUnsatisfiable" and "single-0 (replicas 1" in warning["message"]


def test_no_cluster_view_is_asked_for_while_every_pod_is_current() -> None:
    kube = rolling_kube({0: "rev-2", 1: "rev-2", 2: "rev-2"})
    admin = healthy_admin()
    status = cluster.reconcile_cluster(body(), kube, admin=admin)
    assert admin.calls == [] and kube.deleted == [] and "rollingUpdate" not in status


# -- TLS: the CAs and broker certificates (resources/certificates.py: the X.509 itself) --------------------------

TLS_LISTENER = {
    "name": "tls",
    "port": 9093,
    "type": "internal",
    "tls": True,
    "authentication": {"type": "tls"},
    "configuration": {"bootstrap": {"alternativeNames": ["kafka.example.com"]}},
}
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def tls_body(replicas: int = 3) -> dict[str, Any]:
    resource = body()
    resource["spec"]["kafka"]["listeners"].append(copy.deepcopy(TLS_LISTENER))
    resource["spec"]["kafka"]["replicas"] = replicas
    return resource


def secret_bytes(kube: FakeKube, name: str, key: str) -> bytes:
    return base64.b64decode(kube.objects[("Secret", "kafka", name)]["data"][key])


def certificates_hash(kube: FakeKube) -> str:
    sts = kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]
    return str(sts["spec"]["template"]["metadata"]["annotations"]["odradek.io/certificates-hash"])


def test_a_tls_cluster_gets_both_cas_and_a_certificate_per_broker_for_its_names() -> None:
    kube = FakeKube()
    status = cluster.reconcile_cluster(tls_body(), kube, now=NOW)
    applied = kube.applied
    for name in ("cluster-ca-cert", "cluster-ca", "clients-ca-cert", "clients-ca", "kafka-brokers"):
        assert f"Secret/my-cluster-{name}" in applied
    assert applied.index("Secret/my-cluster-kafka-brokers") < applied.index("StatefulSet/my-cluster-kafka")
    ca = certs.CertificateAuthority(
        secret_bytes(kube, "my-cluster-cluster-ca-cert", "ca.crt"),
        secret_bytes(kube, "my-cluster-cluster-ca", "ca.key"),
    )
    for ordinal in range(3):
        pem = secret_bytes(kube, "my-cluster-kafka-brokers", f"my-cluster-kafka-{ordinal}.crt")
        assert not certs.needs_renewal(pem, NOW, signed_by=ca)
        names = certs.subject_alt_names(pem)
        assert f"my-cluster-kafka-{ordinal}.my-cluster-kafka-brokers.kafka.svc" in names
        assert "my-cluster-kafka-bootstrap.kafka.svc" in names and "kafka.example.com" in names
        keystore = secret_bytes(kube, "my-cluster-kafka-brokers", f"my-cluster-kafka-{ordinal}.keystore.pem")
        assert pem in keystore and keystore.endswith(ca.cert_pem)
    tls_status = next(item for item in status["listeners"] if item["name"] == "tls")
    assert tls_status["certificates"] == [ca.cert_pem.decode()]
    pod = kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"my-cluster-kafka-brokers", "my-cluster-clients-ca-cert"}


def test_certificates_are_kept_across_reconciles_and_renewed_inside_the_window() -> None:
    kube = FakeKube()
    cluster.reconcile_cluster(tls_body(), kube, now=NOW)
    first_ca = secret_bytes(kube, "my-cluster-cluster-ca-cert", "ca.crt")
    first_broker = secret_bytes(kube, "my-cluster-kafka-brokers", "my-cluster-kafka-0.crt")
    first_hash = certificates_hash(kube)
    cluster.reconcile_cluster(tls_body(), kube, now=NOW + datetime.timedelta(days=300))
    assert secret_bytes(kube, "my-cluster-cluster-ca-cert", "ca.crt") == first_ca
    assert secret_bytes(kube, "my-cluster-kafka-brokers", "my-cluster-kafka-0.crt") == first_broker
    assert certificates_hash(kube) == first_hash, "nothing changed: no rolling restart"
    cluster.reconcile_cluster(tls_body(), kube, now=NOW + datetime.timedelta(days=340))
    assert secret_bytes(kube, "my-cluster-cluster-ca-cert", "ca.crt") != first_ca
    assert secret_bytes(kube, "my-cluster-kafka-brokers", "my-cluster-kafka-0.crt") != first_broker
    assert certificates_hash(kube) != first_hash, "renewed certificates roll the brokers"


def test_scaling_up_issues_only_the_new_brokers_certificate() -> None:
    kube = FakeKube()
    cluster.reconcile_cluster(tls_body(3), kube, now=NOW)
    before = {i: secret_bytes(kube, "my-cluster-kafka-brokers", f"my-cluster-kafka-{i}.crt") for i in range(3)}
    cluster.reconcile_cluster(tls_body(4), kube, now=NOW)
    after = {i: secret_bytes(kube, "my-cluster-kafka-brokers", f"my-cluster-kafka-{i}.crt") for i in range(4)}
    assert {i: after[i] for i in range(3)} == before
    assert "my-cluster-kafka-3.my-cluster-kafka-brokers" in certs.subject_alt_names(after[3])


# -- scale-down (the decisions: test_operator_reassignment.py) --------------------------------------------------


def shrunk(replicas: int = 2, **annotations: str) -> dict[str, Any]:
    doc = body()
    doc["spec"]["kafka"]["replicas"] = replicas
    doc["metadata"].setdefault("annotations", {}).update(annotations)
    return doc


def broker_replicas(kube: FakeKube) -> int:
    return int(kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]["spec"]["replicas"])


def holding_admin() -> FakeAdmin:
    admin = FakeAdmin()
    admin.view = ClusterView(
        (PartitionReplicas("orders", 0, (0, 2), (0, 2)), PartitionReplicas("orders", 1, (1, 0), (1, 0))), {}
    )
    return admin


def test_a_scale_down_of_brokers_holding_replicas_is_refused_naming_them() -> None:
    kube, admin = FakeKube(), holding_admin()
    cluster.reconcile_cluster(body(), kube, admin=admin)
    status = cluster.reconcile_cluster(shrunk(2), kube, admin=admin)
    assert broker_replicas(kube) == 3
    ready, warning = condition(status, "Ready"), condition(status, "Warning")
    assert (ready["status"], ready["reason"]) == ("False", "ScaleDownBlocked")
    assert warning["reason"] == "ScaleDownBlocked"
    assert "brokers 2 hold replicas of 1 partition(s) of topics orders" in warning["message"]
    assert "alter_reassignments" not in admin.mutations()


def test_a_scale_down_without_replicas_on_the_removed_brokers_proceeds() -> None:
    kube, admin = FakeKube(), holding_admin()
    cluster.reconcile_cluster(body(), kube, admin=admin)
    status = cluster.reconcile_cluster(shrunk(2), kube, admin=admin)
    assert broker_replicas(kube) == 3
    admin.view = ClusterView((PartitionReplicas("orders", 0, (0, 1), (0, 1)),), {})
    status = cluster.reconcile_cluster(shrunk(2), kube, admin=admin)
    assert broker_replicas(kube) == 2
    assert "ScaleDown" not in str(status["conditions"])  # the Warning left is ImpossibleSetting (RF 3 on 2)


def test_the_skip_annotations_scale_down_without_asking() -> None:
    for annotation in ("strimzi.io/skip-broker-scaledown-check", "odradek.io/skip-broker-scaledown-check"):
        kube, admin = FakeKube(), holding_admin()
        cluster.reconcile_cluster(body(), kube, admin=admin)
        cluster.reconcile_cluster(shrunk(2, **{annotation: "true"}), kube, admin=admin)
        assert broker_replicas(kube) == 2
        assert "cluster_view" not in [m for m, _ in admin.calls]


def test_a_drain_reassigns_then_scales_down_once_no_reassignment_is_left() -> None:
    kube, admin = FakeKube(), holding_admin()
    cluster.reconcile_cluster(body(), kube, admin=admin)
    drain = shrunk(2, **{"odradek.io/drain-on-scale-down": "true"})
    status = cluster.reconcile_cluster(drain, kube, admin=admin)
    assert broker_replicas(kube) == 3
    assert condition(status, "Ready")["reason"] == "ScaleDownInProgress"
    assert admin.reassigning == {("orders", 0): (0, 1)}
    status = cluster.reconcile_cluster(drain, kube, admin=admin)  # still in progress: waits, submits nothing new
    assert broker_replicas(kube) == 3 and "waits for 1 partition reassignment" in condition(status, "Ready")["message"]
    assert [m for m in admin.mutations() if m == "alter_reassignments"] == ["alter_reassignments"]
    admin.finish_reassignments()
    cluster.reconcile_cluster(drain, kube, admin=admin)
    assert broker_replicas(kube) == 2


# -- dynamic broker configs (config_diff.py: the diff itself) ----------------------------------------------------


def configured(**config: Any) -> dict[str, Any]:
    doc = body()
    doc["spec"]["kafka"]["config"].update({k.replace("_", "."): v for k, v in config.items()})
    return doc


def template_hash(kube: FakeKube) -> str:
    sts = kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]
    return str(sts["spec"]["template"]["metadata"]["annotations"][model.CONFIG_HASH_ANNOTATION])


def server_properties(kube: FakeKube) -> list[str]:
    return str(kube.objects[("ConfigMap", "kafka", "my-cluster-kafka-config")]["data"]["server.properties"]).split("\n")


MIN_ISR = {"min.insync.replicas": "2"}  # the example's


def dynamic_admin() -> FakeAdmin:
    admin = healthy_admin()
    admin.brokers = (0, 1, 2)
    return admin


def test_a_dynamic_key_is_applied_to_the_running_brokers_without_a_roll() -> None:
    kube, admin = rolling_kube({0: "rev-2", 1: "rev-2", 2: "rev-2"}), dynamic_admin()
    before = template_hash(kube)
    status = cluster.reconcile_cluster(configured(log_retention_ms=1000, compression_type="lz4"), kube, admin=admin)
    # every dynamic key of the spec goes to the cluster-wide default (the example's min.insync.replicas too)
    changes = {"compression.type": "lz4", "log.retention.ms": "1000", "min.insync.replicas": "2"}
    assert ("alter_broker_configs", ("", changes, [])) in admin.calls
    assert admin.broker_configs[""] == changes
    assert template_hash(kube) == before and kube.deleted == []  # no roll
    assert {"log.retention.ms=1000", "compression.type=lz4"} <= set(server_properties(kube))  # a restart keeps them
    assert (
        "cluster-wide default: compression.type=lz4, log.retention.ms=1000" in status["dynamicConfigUpdate"]["applied"]
    )
    assert condition(status, "Ready")["status"] == "True"
    # applied once: the next reconcile asks the brokers nothing
    admin.calls.clear()
    status = cluster.reconcile_cluster(configured(log_retention_ms=1000, compression_type="lz4"), kube, admin=admin)
    assert admin.calls == [] and "dynamicConfigUpdate" not in status


def test_a_removed_dynamic_key_is_deleted_and_a_stale_static_value_set_back_to_its_default() -> None:
    kube, admin = rolling_kube({0: "rev-2", 1: "rev-2", 2: "rev-2"}), dynamic_admin()
    cluster.reconcile_cluster(configured(log_retention_ms=1000, message_max_bytes=2000000), kube, admin=admin)
    # broker 2 restarted meanwhile: its server.properties had both keys
    admin.static[2] = {"log.retention.ms": "1000", "message.max.bytes": "2000000"}
    status = cluster.reconcile_cluster(configured(log_retention_ms=1000), kube, admin=admin)
    assert ("alter_broker_configs", ("", {}, ["message.max.bytes"])) in admin.calls
    assert ("alter_broker_configs", ("", {"message.max.bytes": "1048588"}, [])) in admin.calls  # Kafka's default
    assert admin.broker_configs[""] == {"log.retention.ms": "1000", "message.max.bytes": "1048588", **MIN_ISR}
    assert "message.max.bytes=" not in "\n".join(server_properties(kube)) and kube.deleted == []
    assert "-message.max.bytes" in status["dynamicConfigUpdate"]["applied"]


def test_a_read_only_key_rolls_and_a_failed_dynamic_update_warns_and_is_retried() -> None:
    kube, admin = rolling_kube({0: "rev-2", 1: "rev-2", 2: "rev-2"}), dynamic_admin()
    before = template_hash(kube)
    cluster.reconcile_cluster(configured(num_partitions=6), kube, admin=admin)
    assert template_hash(kube) != before, "num.partitions is read-only: the pods roll"
    assert "alter_broker_configs" not in admin.mutations()
    admin.fail["alter_broker_configs"] = cluster.AdminError("POLICY_VIOLATION", "no")
    status = cluster.reconcile_cluster(configured(num_partitions=6, log_retention_ms=5), kube, admin=admin)
    warning = condition(status, "Warning")
    assert warning["reason"] == cluster.DYNAMIC_UPDATE_FAILED and "POLICY_VIOLATION" in warning["message"]
    del admin.fail["alter_broker_configs"]
    cluster.reconcile_cluster(configured(num_partitions=6, log_retention_ms=5), kube, admin=admin)
    assert admin.broker_configs[""] == {"log.retention.ms": "5", **MIN_ISR}


def test_a_tls_clusters_ca_expiry_is_a_metric_until_the_cluster_is_deleted() -> None:
    def expiry(ca_type: str) -> float | None:
        labels = {"cluster": "my-cluster", "resource_namespace": "kafka", "type": ca_type}
        return telemetry.REGISTRY.get_sample_value("strimzi_certificate_expiration_timestamp_ms", labels)

    kube = FakeKube()
    cluster.reconcile_cluster(tls_body(), kube, now=NOW)
    for ca_type, secret in (("cluster-ca", "my-cluster-cluster-ca-cert"), ("clients-ca", "my-cluster-clients-ca-cert")):
        ca = certs.CertificateAuthority(secret_bytes(kube, secret, "ca.crt"), b"")
        assert expiry(ca_type) == ca.certificate.not_valid_after_utc.timestamp() * 1000
    telemetry.forget("KafkaCluster", "kafka", "my-cluster")
    assert expiry("cluster-ca") is None and expiry("clients-ca") is None
