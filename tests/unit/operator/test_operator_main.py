"""The kopf handlers in main.py with the memo holding a fake kube and a fake admin: they find the cluster's admin
from the resource's label (bootstrap Service address, the operator's credentials from its Secret), write the
reconcilers' status into the patch, and keep the finalizer (TemporaryError) when Kafka refuses a deletion."""

from __future__ import annotations

import asyncio
import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
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
        body=topic_body(**{"odradek.io/cluster": "c1"}),
        patch=patch,
        memo=memo(kube_with_cluster(), admin),
        topic_claims={},
    )
    assert patch["status"]["conditions"][0]["status"] == "True"
    assert admin.topics["orders"].partitions == 2


def test_credentials_come_from_the_operator_secret() -> None:
    admin, patch = FakeAdmin(), kopf.Patch()
    state = memo(kube_with_cluster("pw"), admin, ("odradek-operator", "pw"))
    main.topic_reconcile(body=topic_body(**{"strimzi.io/cluster": "c1"}), patch=patch, memo=state, topic_claims={})
    assert "orders" in admin.topics


def test_rivals_come_from_the_index_not_from_listing_every_kafkatopic() -> None:
    # an older KafkaTopic of c1 for the same Kafka topic, known only through the index: listing KafkaTopics in a
    # reconcile (N lists of N objects for N topics, bench/operator.py) must not come back
    kube = kube_with_cluster()

    def no_list(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise AssertionError(f"a reconcile listed {args}")

    kube.list = no_list  # type: ignore[method-assign]
    older = dict(topic_body(**{"odradek.io/cluster": "c1"}))
    older["metadata"] = {**older["metadata"], "name": "orders-first", "uid": "u0", "creationTimestamp": "2026-01-01"}
    older["spec"] = {"topicName": "orders"}
    newer = dict(topic_body(**{"odradek.io/cluster": "c1"}))
    newer["metadata"] = {**newer["metadata"], "creationTimestamp": "2026-02-01"}
    first, second = main.topic_claims(body=kopf.Body(older)), main.topic_claims(body=kopf.Body(newer))
    assert first.keys() == second.keys() == {("kafka", "orders")}  # one key per Kafka topic name
    index = {("kafka", "orders"): [*first.values(), *second.values()]}  # kopf collects a key's values
    admin, patch = FakeAdmin(), kopf.Patch()
    main.topic_reconcile(body=kopf.Body(newer), patch=patch, memo=memo(kube, admin), topic_claims=index)
    ready = patch["status"]["conditions"][0]
    assert (ready["reason"], ready["message"]) == ("ResourceConflict", "Managed by kafka/orders-first")
    assert admin.topics == {}
    # the winner, with the same index, manages the topic
    patch = kopf.Patch()
    main.topic_reconcile(body=kopf.Body(older), patch=patch, memo=memo(kube, admin), topic_claims=index)
    assert patch["status"]["conditions"][0]["status"] == "True" and "orders" in admin.topics


def cluster_body() -> kopf.Body:
    return kopf.Body(
        {"apiVersion": "kafka.odradek.io/v1", "kind": "KafkaCluster", "metadata": {"name": "c1", "namespace": "kafka"}}
    )


def indexed(bodies: list[dict[str, Any]]) -> tuple[dict[Any, list[Any]], dict[Any, list[Any]]]:
    """kopf's two KafkaTopic indexes over `bodies` (kopf collects each key's values)."""
    topics: dict[Any, list[Any]] = {}
    claims: dict[Any, list[Any]] = {}
    for raw in bodies:
        for key, value in main.cluster_topics(body=kopf.Body(raw)).items():
            topics.setdefault(key, []).append(value)
        for key, value in main.topic_claims(body=kopf.Body(raw)).items():
            claims.setdefault(key, []).append(value)
    return topics, claims


def test_a_clusters_resync_is_one_describe_in_the_resync_pool_and_writes_changed_statuses_only() -> None:
    # a thousand topics' timers fired together: in kopf's executor a create waited behind all of them, and each
    # cost its own DescribeTopics and DescribeConfigs; now one timer per cluster, one describe for all its topics
    admin, kube = FakeAdmin(), kube_with_cluster()
    state = memo(kube, admin)
    state.resync_pool = ThreadPoolExecutor(1, thread_name_prefix="odradek-resync")
    bodies = []
    for i in range(4):
        raw = dict(topic_body(**{"odradek.io/cluster": "c1"}))
        raw["metadata"] = {**raw["metadata"], "name": f"t{i}", "uid": f"u{i}"}
        raw["spec"] = {"partitions": 2, "config": {"retention.ms": 7}}
        raw["status"] = {"observedGeneration": 1}  # as if created while the brokers were down: NotReady KafkaError
        kube.put(raw)
        bodies.append(raw)
    other = dict(topic_body(**{"odradek.io/cluster": "c2"}))  # another cluster's: not this resync's
    topics, claims = indexed([*bodies, other])
    threads: list[str] = []
    describe = admin.describe_topic_states

    def recording(names: Any) -> Any:
        threads.append(threading.current_thread().name)
        return describe(names)

    admin.describe_topic_states = recording  # type: ignore[method-assign]
    try:
        resync = main.topics_resync(body=cluster_body(), memo=state, cluster_topics=topics, topic_claims=claims)
        asyncio.run(resync)
        assert threads == ["odradek-resync_0"]
        assert [arg for m, arg in admin.calls if m.startswith("describe")] == [("t0", "t1", "t2", "t3")]
        assert sorted(admin.topics) == ["t0", "t1", "t2", "t3"]
        assert kube.status_patches == [f"KafkaTopic/t{i}" for i in range(4)]
        for i in range(4):
            assert kube.get("", "KafkaTopic", "kafka", f"t{i}")["status"]["conditions"][0]["status"] == "True"
        # the next period with nothing changed: one describe again, no status written; a drifted config is fixed
        admin.topics["t2"] = replace(admin.topics["t2"], config={"retention.ms": "1"})
        topics, claims = indexed([kube.get("", "KafkaTopic", "kafka", f"t{i}") or {} for i in range(4)])
        admin.calls.clear()
        resync = main.topics_resync(body=cluster_body(), memo=state, cluster_topics=topics, topic_claims=claims)
        asyncio.run(resync)
    finally:
        state.resync_pool.shutdown()
    assert [m for m, _ in admin.calls] == ["describe_topic_states", "alter_topic_config"]
    assert admin.topics["t2"].config == {"retention.ms": "7"}
    assert kube.status_patches == [f"KafkaTopic/t{i}" for i in range(4)]


def test_unknown_cluster_gives_no_admin() -> None:
    patch = kopf.Patch()
    main.topic_reconcile(
        body=topic_body(**{"odradek.io/cluster": "nope"}),
        patch=patch,
        memo=memo(FakeKube(), FakeAdmin()),
        topic_claims={},
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
        main.topic_reconcile(body=kopf.Body(raw), patch=patch, memo=memo(kube_with_cluster(), admin), topic_claims={})
    assert raised.value.delay == main.REASSIGNMENT_CHECK_S
    assert patch["status"]["conditions"][0]["reason"] == "ReplicationFactorChangeInProgress"
