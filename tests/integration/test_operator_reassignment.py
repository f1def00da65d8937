"""The operator's reassignments against three real brokers over one etcd (issue 12): a KafkaTopic's replication
factor raised 1 -> 3 and lowered 3 -> 2 through `topic.reconcile_topic` and `KafkaAdmin` (AlterPartitionReassignments
/ ListPartitionReassignments through kafka-python), and a KafkaCluster scale-down from 3 to 2 brokers
(`cluster.reconcile_cluster`, its children in tests/kube_fakes.py) refused while broker 2 holds replicas, then
drained with `odradek.io/drain-on-scale-down` until the StatefulSet has 2 replicas and broker 2 holds none."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from cluster_support import logs_on_failure, start_brokers
from etcd_support import EtcdCluster, etcd_missing
from it_support import REPO, BrokerProcess, unique_topic, wait_for
from kube_fakes import FakeKube
from odradek.operator import cluster, topic
from odradek.operator.kafka_admin import KafkaAdmin, admin_config

pytestmark = [pytest.mark.integration, pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))]

Factory = Callable[..., BrokerProcess]
CLIENT_TIMEOUT_S = 15
MOVE_TIMEOUT_S = 120.0  # generous: the machine is shared
EXAMPLE = yaml.safe_load((REPO / "examples" / "kafka-cluster.yaml").read_text())


def three_brokers(factory: Factory, url: str) -> dict[int, BrokerProcess]:
    """Brokers 0, 1, 2: the ids a StatefulSet's ordinals give, which the scale-down check relies on."""
    common = {
        "replica.fetch.wait.max.ms": "200",
        "replica.lag.time.max.ms": "5000",
        "log.segment.delete.delay.ms": "500",
        "offsets.topic.num.partitions": "1",
        "broker.heartbeat.interval.ms": "1000",
    }
    return start_brokers(factory, url, (0, 1, 2), common)


def resource(name: str, spec: dict[str, Any], generation: int) -> dict[str, Any]:
    meta = {"name": name, "namespace": "kafka", "uid": f"uid-{name}", "generation": generation}
    meta["labels"] = {"odradek.io/cluster": "my-cluster"}
    return {"apiVersion": "kafka.odradek.io/v1", "kind": "KafkaTopic", "metadata": meta, "spec": spec}


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def reconcile_until_ready(body: dict[str, Any], admin: KafkaAdmin) -> list[str]:
    """Reconcile as the handler does (status written back each time) until Ready; the reasons seen, in order."""
    reasons: list[str] = []

    def done() -> bool:
        body["status"] = topic.reconcile_topic(body, admin)
        condition = ready(body["status"])
        reasons.append(str(condition.get("reason", "Ready")))
        return bool(condition["status"] == "True")

    wait_for(done, timeout=MOVE_TIMEOUT_S, interval=1.0, what="the KafkaTopic Ready")
    return reasons


def test_replication_factor_changes_and_a_drained_scale_down(broker_factory: Factory, etcd: EtcdCluster) -> None:
    brokers = three_brokers(broker_factory, etcd.url("/it/operator-reassign"))
    with logs_on_failure(brokers):
        _scenario(brokers)


def _scenario(brokers: dict[int, BrokerProcess]) -> None:
    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    admin = KafkaAdmin(admin_config(bootstrap, None))
    assert admin.broker_ids() == (0, 1, 2)
    name = unique_topic("op-rf")
    body = resource(name, {"partitions": 3, "replicas": 1}, 1)
    assert reconcile_until_ready(body, admin) == ["Ready"]

    body = {**resource(name, {"partitions": 3, "replicas": 3}, 2), "status": body["status"]}
    reasons = reconcile_until_ready(body, admin)
    assert reasons[0] == "ReplicationFactorChangeInProgress" and reasons[-1] == "Ready"
    state = admin.describe_topic(name)
    assert state is not None and [sorted(r) for r in state.assignment] == [[0, 1, 2]] * 3
    assert admin.list_reassignments(name) == {}

    body = {**resource(name, {"partitions": 3, "replicas": 2}, 3), "status": body["status"]}
    reconcile_until_ready(body, admin)
    state = admin.describe_topic(name)
    assert state is not None and [len(r) for r in state.assignment] == [2, 2, 2]

    too_many = {**resource(name, {"partitions": 3, "replicas": 4}, 4), "status": body["status"]}
    refused = ready(topic.reconcile_topic(too_many, admin))
    assert (refused["status"], refused["reason"]) == ("False", "InvalidReplicationFactor")

    # scale-down 3 -> 2 of a KafkaCluster (its children in a fake API server): broker 2 holds replicas of the
    # topic, so the StatefulSet keeps 3; asked to drain, the operator moves them and then shrinks it
    kube = FakeKube()
    cluster.reconcile_cluster(kafka_cluster(3), kube, admin=admin)
    assert statefulset_replicas(kube) == 3
    refused_status = cluster.reconcile_cluster(kafka_cluster(2), kube, admin=admin)
    warning = next(c for c in refused_status["conditions"] if c["type"] == "Warning")
    assert warning["reason"] == "ScaleDownBlocked" and name in warning["message"]
    assert statefulset_replicas(kube) == 3 and admin.list_reassignments() == {}
    drain = kafka_cluster(2, **{"odradek.io/drain-on-scale-down": "true"})
    reasons = []

    def shrunk() -> bool:
        status = cluster.reconcile_cluster(drain, kube, admin=admin)
        reasons.append(str(ready(status).get("reason")))
        return statefulset_replicas(kube) == 2

    wait_for(shrunk, timeout=MOVE_TIMEOUT_S, interval=1.0, what="broker 2 drained and the StatefulSet shrunk")
    assert reasons[0] == "ScaleDownInProgress"
    assert all(2 not in p.replicas for p in admin.cluster_view().partitions)
    state = admin.describe_topic(name)
    assert state is not None and [len(r) for r in state.assignment] == [2, 2, 2]


def kafka_cluster(replicas: int, **annotations: str) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    doc["metadata"].update({"namespace": "kafka", "uid": "uid-1", "generation": replicas, "annotations": annotations})
    doc["spec"]["kafka"]["replicas"] = replicas
    return dict(doc)


def statefulset_replicas(kube: FakeKube) -> int:
    return int(kube.objects[("StatefulSet", "kafka", "my-cluster-kafka")]["spec"]["replicas"])
