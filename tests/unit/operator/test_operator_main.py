"""The kopf handlers in main.py with the memo holding a fake kube and a fake admin: they find the cluster's admin
from the resource's label (bootstrap Service address, the operator's credentials from its Secret), write the
reconcilers' status into the patch, and keep the finalizer (TemporaryError) when Kafka refuses a deletion."""

from __future__ import annotations

import base64
from typing import Any

import kopf
import pytest
from odradek.operator import main
from odradek.operator.kafka_admin import AdminError
from operator_fakes import FakeAdmin, FakeKube

BOOTSTRAP = "c1-kafka-bootstrap.kafka.svc:9091"


def memo(kube: FakeKube, admin: FakeAdmin, credentials: tuple[str, str] | None = None) -> kopf.Memo:
    result = kopf.Memo()
    result.kube = kube
    result.admins = {(BOOTSTRAP, credentials): admin}
    return result


def kube_with_cluster(password: str | None = None) -> FakeKube:
    kube = FakeKube()
    kube.put(
        {"apiVersion": "kafka.odradek.io/v1", "kind": "KafkaCluster", "metadata": {"name": "c1", "namespace": "kafka"}}
    )
    if password:
        data = {"password": base64.b64encode(password.encode()).decode()}
        kube.put(
            {"kind": "Secret", "metadata": {"name": "c1-operator-credentials", "namespace": "kafka"}, "data": data}
        )
    return kube


def topic_body(**labels: str) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": "orders", "namespace": "kafka", "uid": "u1", "generation": 1, "labels": labels},
        "spec": {"partitions": 2},
    }
    return kopf.Body(raw)


def test_topic_handler_uses_the_labelled_clusters_admin() -> None:
    admin, patch = FakeAdmin(), kopf.Patch()
    main.topic_reconcile(
        body=topic_body(**{"odradek.io/cluster": "c1"}), patch=patch, memo=memo(kube_with_cluster(), admin)
    )
    assert patch["status"]["conditions"][0]["status"] == "True"
    assert admin.topics["orders"].partitions == 2


def test_credentials_come_from_the_operator_secret() -> None:
    admin, patch = FakeAdmin(), kopf.Patch()
    state = memo(kube_with_cluster("pw"), admin, ("odradek-operator", "pw"))
    main.topic_reconcile(body=topic_body(**{"strimzi.io/cluster": "c1"}), patch=patch, memo=state)
    assert "orders" in admin.topics


def test_unknown_cluster_gives_no_admin() -> None:
    patch = kopf.Patch()
    main.topic_reconcile(
        body=topic_body(**{"odradek.io/cluster": "nope"}), patch=patch, memo=memo(FakeKube(), FakeAdmin())
    )
    assert patch["status"]["conditions"][0]["reason"] == "NoCluster"


def test_refused_deletion_keeps_the_finalizer() -> None:
    admin = FakeAdmin()
    admin.fail["delete_topic"] = AdminError("TOPIC_DELETION_DISABLED", "Topic deletion is disabled.")
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError):
        main.topic_delete(
            body=topic_body(**{"odradek.io/cluster": "c1"}), patch=patch, memo=memo(kube_with_cluster(), admin)
        )
    assert patch["status"]["conditions"][0]["reason"] == "TopicDeletionDisabled"


def test_a_replication_factor_change_in_progress_is_looked_at_again_soon() -> None:
    from odradek.operator.kafka_admin import TopicState

    admin, patch = FakeAdmin(), kopf.Patch()
    admin.brokers = (0, 1)
    admin.topics["orders"] = TopicState("orders", "id-orders", {}, ((0,), (1,)))
    raw = dict(topic_body(**{"odradek.io/cluster": "c1"}))
    raw["spec"] = {"partitions": 2, "replicas": 2}
    with pytest.raises(kopf.TemporaryError) as raised:
        main.topic_reconcile(body=kopf.Body(raw), patch=patch, memo=memo(kube_with_cluster(), admin))
    assert raised.value.delay == main.REASSIGNMENT_CHECK_S
    assert patch["status"]["conditions"][0]["reason"] == "ReplicationFactorChangeInProgress"
