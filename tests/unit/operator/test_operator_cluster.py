"""KafkaCluster reconciliation with a fake Kubernetes API: children applied in order, readiness from the
StatefulSet, refusals applying nothing, warnings for settings that can never be satisfied."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from odradek.operator import cluster
from operator_fakes import FakeKube, secret_value

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
