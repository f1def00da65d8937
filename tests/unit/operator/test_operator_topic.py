"""KafkaTopic reconciliation with a fake admin: the plan (create, grow, revert configs, refuse), conflicts, the
annotations, deletion, and the status conditions."""

from __future__ import annotations

from typing import Any

import pytest
from odradek.operator import conditions, topic
from odradek.operator.kafka_admin import AdminError, TopicState
from operator_fakes import FakeAdmin


def body(name: str = "orders", generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            "name": name,
            "namespace": "kafka",
            "uid": f"uid-{name}",
            "generation": generation,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"odradek.io/cluster": "my-cluster"},
        },
        "spec": spec,
    }


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def state(partitions: int = 3, replicas: int = 1, **config: str) -> TopicState:
    return TopicState("orders", "id-orders", config, tuple(tuple(range(replicas)) for _ in range(partitions)))


def test_plan_create_when_absent() -> None:
    assert topic.plan_topic(topic.topic_spec(body(partitions=3)), None).create


def test_plan_nothing_when_equal() -> None:
    spec = topic.topic_spec(body(partitions=3, replicas=1, config={"retention.ms": 1000}))
    assert topic.plan_topic(spec, state(**{"retention.ms": "1000"})).empty


def test_plan_grows_sets_and_reverts() -> None:
    spec = topic.topic_spec(body(partitions=5, config={"retention.ms": 2000, "compression.type": "zstd"}))
    plan = topic.plan_topic(spec, state(**{"retention.ms": "1000", "compression.type": "zstd", "segment.ms": "5"}))
    assert plan.partitions == 5
    assert plan.set_config == {"retention.ms": "2000"}
    assert plan.delete_config == ("segment.ms",)


def test_plan_refuses_decrease_and_a_replication_factor_above_the_brokers() -> None:
    decrease = topic.plan_topic(topic.topic_spec(body(partitions=2, config={"a": 1})), state())
    assert decrease.refusal is not None and decrease.refusal.reason == "NotSupported"
    assert "Decreasing partitions not supported" in decrease.refusal.message
    assert decrease.empty  # nothing else planned: a refused plan is not half-applied
    rf = topic.plan_topic(topic.topic_spec(body(replicas=3)), state(), brokers=(0, 1))
    assert rf.refusal is not None and rf.refusal.reason == "InvalidReplicationFactor"
    assert "more than the 2 live brokers" in rf.refusal.message
    assert rf.empty


def assigned(*replicas: tuple[int, ...], **config: str) -> TopicState:
    return TopicState("orders", "id-orders", config, tuple(replicas))


def test_plan_replication_factor_change_reassigns_and_is_in_progress() -> None:
    plan = topic.plan_topic(topic.topic_spec(body(replicas=2)), assigned((0,), (1,), (2,)), brokers=(0, 1, 2))
    assert plan.refusal is None
    assert plan.reassign == {0: (0, 1), 1: (1, 2), 2: (2, 0)}  # two replicas on each broker
    assert plan.in_progress is not None and plan.in_progress.reason == "ReplicationFactorChangeInProgress"
    # while Kafka lists the topic's partitions as being reassigned nothing more is submitted
    waiting = topic.plan_topic(
        topic.topic_spec(body(replicas=2)), assigned((0, 1), (1, 2, 0), (2, 0)), brokers=(0, 1, 2), ongoing=[1]
    )
    assert waiting.reassign == {} and waiting.in_progress is not None
    done = topic.plan_topic(topic.topic_spec(body(replicas=2)), assigned((0, 1), (1, 2), (2, 0)), brokers=(0, 1, 2))
    assert done.empty and done.in_progress is None


def test_reconcile_replication_factor_change_until_ready() -> None:
    admin = FakeAdmin()
    admin.brokers = (0, 1, 2)
    admin.topics["orders"] = assigned((0,), (1,))
    resource = body(partitions=2, replicas=3)
    status = topic.reconcile_topic(resource, admin)
    assert (ready(status)["status"], ready(status)["reason"]) == ("False", "ReplicationFactorChangeInProgress")
    assert topic.in_progress(status)
    assert admin.reassigning == {("orders", 0): (0, 2, 1), ("orders", 1): (1, 2, 0)}
    resource["status"] = status
    again = topic.reconcile_topic(resource, admin)  # still listed: not submitted twice
    assert [m for m in admin.mutations() if m == "alter_reassignments"] == ["alter_reassignments"]
    assert ready(again)["reason"] == "ReplicationFactorChangeInProgress"
    admin.finish_reassignments()
    resource["status"] = again
    final = topic.reconcile_topic(resource, admin)
    assert ready(final)["status"] == "True" and not topic.in_progress(final)


def test_reconcile_topic_at_its_replication_factor_asks_no_reassignment_question() -> None:
    admin = FakeAdmin()
    admin.topics["orders"] = assigned((0,), (0,))
    topic.reconcile_topic(body(partitions=2, replicas=1), admin)
    assert [m for m, _ in admin.calls] == ["describe_topic"]


def test_topic_name_from_spec_or_metadata_and_values_as_strings() -> None:
    spec = topic.topic_spec(body(topicName="Orders_v1", config={"cleanup.policy": ["compact", "delete"], "x": True}))
    assert spec.name == "Orders_v1"
    assert spec.config == {"cleanup.policy": "compact,delete", "x": "true"}
    assert topic.topic_spec(body()).name == "orders"


def test_reconcile_creates_then_is_idempotent() -> None:
    admin = FakeAdmin()
    resource = body(partitions=3, replicas=1, config={"retention.ms": 1000})
    status = topic.reconcile_topic(resource, admin)
    assert ready(status)["status"] == "True"
    assert status["observedGeneration"] == 1 and status["topicId"] == "id-orders" and status["topicName"] == "orders"
    assert admin.mutations() == ["create_topic"]
    # after the create only the id is read back (DescribeTopics), not the configs the create has just set
    assert [m for m, _ in admin.calls] == ["describe_topic", "create_topic", "topic_id"]
    resource["status"] = status
    admin.calls.clear()
    again = topic.reconcile_topic(resource, admin)
    assert admin.mutations() == []
    assert again["conditions"] == status["conditions"]  # lastTransitionTime kept


def test_reconcile_refusal_applies_nothing() -> None:
    admin = FakeAdmin()
    admin.topics["orders"] = state(partitions=3)
    status = topic.reconcile_topic(body(partitions=1, config={"retention.ms": 5}), admin)
    assert (ready(status)["status"], ready(status)["reason"]) == ("False", "NotSupported")
    assert admin.mutations() == []


def test_reconcile_reverts_outside_changes() -> None:
    admin = FakeAdmin()
    admin.topics["orders"] = state(**{"retention.ms": "1", "segment.bytes": "100"})
    topic.reconcile_topic(body(partitions=3, config={"retention.ms": 7}), admin)
    assert admin.topics["orders"].config == {"retention.ms": "7"}


def test_kafka_errors_become_reasons() -> None:
    admin = FakeAdmin()
    admin.fail["create_topic"] = AdminError("INVALID_CONFIG", "Unknown topic config name: retention.msx")
    status = topic.reconcile_topic(body(config={"retention.msx": 1}), admin)
    assert ready(status)["reason"] == "InvalidConfig" and "retention.msx" in ready(status)["message"]
    admin.fail = {"describe_topic": AdminError("BROKER_NOT_AVAILABLE", "down")}
    assert ready(topic.reconcile_topic(body(), admin))["reason"] == "KafkaError"


def test_conflict_oldest_wins() -> None:
    older = body("orders-a", topicName="orders")
    newer = body("orders-b", topicName="orders")
    newer["metadata"]["creationTimestamp"] = "2026-02-01T00:00:00Z"
    admin = FakeAdmin()
    assert ready(topic.reconcile_topic(older, admin, [older, newer]))["status"] == "True"
    lost = ready(topic.reconcile_topic(newer, admin, [older, newer]))
    assert (lost["status"], lost["reason"], lost["message"]) == (
        "False",
        "ResourceConflict",
        "Managed by kafka/orders-a",
    )
    other_cluster = body("orders-c", topicName="orders")
    other_cluster["metadata"]["labels"] = {"strimzi.io/cluster": "elsewhere"}
    assert topic.conflict(other_cluster, [older, newer, other_cluster]) is None


def test_claims_decide_conflicts_as_the_bodies_do() -> None:
    # the operator keeps only claims of the other KafkaTopics (main.topic_claims): the same answers as whole bodies
    older = body("orders-a", topicName="orders", partitions=3, config={"retention.ms": 1})
    newer = body("orders-b", topicName="orders")
    newer["metadata"]["creationTimestamp"] = "2026-02-01T00:00:00Z"
    gone = body("orders-0", topicName="orders")
    gone["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
    gone["metadata"]["deletionTimestamp"] = "2026-03-01T00:00:00Z"
    strimzi = body("orders-s", topicName="orders")
    strimzi["metadata"]["labels"] = {"strimzi.io/cluster": "my-cluster"}
    strimzi["metadata"]["creationTimestamp"] = "2025-06-01T00:00:00Z"
    by_name = body("orders")  # metadata.name is the topic name
    everyone = [older, newer, gone, strimzi, by_name]
    claims = [topic.claim(b) for b in everyone]
    assert all("partitions" not in c["spec"] and "generation" not in c["metadata"] for c in claims)
    for me in everyone:
        assert topic.conflict(me, claims) == topic.conflict(me, everyone)
    assert topic.conflict(newer, claims) == "kafka/orders-s"  # strimzi.io/cluster names the same cluster
    assert topic.conflict(by_name, claims) == "kafka/orders-s"


@pytest.mark.parametrize(
    ("annotations", "labels", "condition", "reason"),
    [
        ({"odradek.io/pause-reconciliation": "true"}, None, "ReconciliationPaused", None),
        ({"strimzi.io/pause-reconciliation": "true"}, None, "ReconciliationPaused", None),
        ({"odradek.io/managed": "false"}, None, "Unmanaged", None),
        ({}, {}, "Ready", "NoCluster"),
    ],
)
def test_annotations_and_missing_label(
    annotations: dict[str, str], labels: dict[str, str] | None, condition: str, reason: str | None
) -> None:
    resource = body()
    resource["metadata"]["annotations"] = annotations
    if labels is not None:
        resource["metadata"]["labels"] = labels
    admin = FakeAdmin()
    status = topic.reconcile_topic(resource, admin)
    found = next(c for c in status["conditions"] if c["type"] == condition)
    assert found.get("reason") == reason
    assert admin.calls == []


def test_strimzi_cluster_label_accepted() -> None:
    resource = body()
    resource["metadata"]["labels"] = {"strimzi.io/cluster": "my-cluster"}
    assert ready(topic.reconcile_topic(resource, FakeAdmin()))["status"] == "True"


def test_delete_removes_topic_and_tolerates_absence() -> None:
    admin = FakeAdmin()
    admin.topics["orders"] = state()
    topic.delete_topic(body(), admin)
    assert "orders" not in admin.topics
    topic.delete_topic(body(), admin)  # already gone


def test_delete_refused_when_deletion_disabled() -> None:
    admin = FakeAdmin()
    admin.fail["delete_topic"] = AdminError("TOPIC_DELETION_DISABLED", "Topic deletion is disabled.")
    with pytest.raises(topic.DeletionRefused) as info:
        topic.delete_topic(body(), admin)
    assert ready(info.value.status)["reason"] == "TopicDeletionDisabled"


def test_delete_leaves_unmanaged_and_conflicting_topics() -> None:
    admin = FakeAdmin()
    admin.topics["orders"] = state()
    unmanaged = body()
    unmanaged["metadata"]["annotations"] = {"odradek.io/managed": "false"}
    topic.delete_topic(unmanaged, admin)
    loser = body()
    loser["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "ResourceConflict"}]}
    topic.delete_topic(loser, admin)
    assert "orders" in admin.topics


def test_condition_transition_time_changes_only_with_status() -> None:
    first = conditions.render([conditions.ready()], [], "t1")
    same = conditions.render([conditions.ready()], first, "t2")
    flipped = conditions.render([conditions.not_ready("KafkaError", "x")], same, "t3")
    assert [c["lastTransitionTime"] for c in (first[0], same[0], flipped[0])] == ["t1", "t1", "t3"]


def reconciled(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as its create handler left it: a status for its generation."""
    resource["status"] = {"observedGeneration": resource["metadata"]["generation"], "conditions": []}
    return resource


def topic_state(name: str, partitions: int = 1, **config: str) -> TopicState:
    return TopicState(name, f"id-{name}", config, tuple((0,) for _ in range(partitions)))


def test_resync_describes_every_topic_of_a_cluster_at_once_and_fixes_each_drift() -> None:
    admin = FakeAdmin()
    bodies = [reconciled(body(f"t{i}", partitions=1, config={"retention.ms": 7})) for i in range(5)]
    for i in range(5):  # t0 and t3 changed behind the operator's back, t4 deleted from Kafka
        admin.topics[f"t{i}"] = topic_state(f"t{i}", **{"retention.ms": "1" if i in (0, 3) else "7"})
    del admin.topics["t4"]
    results = topic.resync_topics(bodies, admin, {})
    assert [m for m, _ in admin.calls if m.startswith("describe")] == ["describe_topic_states"]
    assert admin.calls[0] == ("describe_topic_states", ("t0", "t1", "t2", "t3", "t4"))
    assert [ready(status)["status"] for _, status in results] == ["True"] * 5
    assert [b["metadata"]["name"] for b, _ in results] == [f"t{i}" for i in range(5)]
    assert {name: s.config for name, s in admin.topics.items()} == {f"t{i}": {"retention.ms": "7"} for i in range(5)}
    fixed = sorted(arg[0] for m, arg in admin.calls if m == "alter_topic_config")
    assert fixed == ["t0", "t3"] and [arg[0] for m, arg in admin.calls if m == "create_topic"] == ["t4"]
    assert [s["topicId"] for _, s in results] == [f"id-t{i}" for i in range(5)]


def test_resync_errors_stay_with_their_topic() -> None:
    admin = FakeAdmin()
    bodies = [reconciled(body(name, partitions=1)) for name in ("a", "b", "c")]
    for name in ("a", "b", "c"):
        admin.topics[name] = topic_state(name)
    admin.fail["describe_topic:b"] = AdminError("TOPIC_AUTHORIZATION_FAILED", "denied")
    outcome = {b["metadata"]["name"]: ready(s) for b, s in topic.resync_topics(bodies, admin, {})}
    assert {name: r["status"] for name, r in outcome.items()} == {"a": "True", "b": "False", "c": "True"}
    assert outcome["b"]["reason"] == "KafkaError" and "denied" in outcome["b"]["message"]
    admin.fail = {"describe_topic_states": AdminError("BROKER_NOT_AVAILABLE", "down")}  # the whole request failed
    assert {ready(s)["reason"] for _, s in topic.resync_topics(bodies, admin, {})} == {"KafkaError"}


def test_resync_asks_nothing_of_paused_unmanaged_deleted_and_conflicting_topics() -> None:
    admin = FakeAdmin()
    paused, unmanaged, deleted = reconciled(body("p")), reconciled(body("u")), reconciled(body("d"))
    paused["metadata"]["annotations"] = {"odradek.io/pause-reconciliation": "true"}
    unmanaged["metadata"]["annotations"] = {"odradek.io/managed": "false"}
    deleted["metadata"]["deletionTimestamp"] = "2026-03-01T00:00:00Z"
    older, loser = body("orders-a", topicName="orders"), reconciled(body("orders-b", topicName="orders"))
    loser["metadata"]["creationTimestamp"] = "2026-02-01T00:00:00Z"
    rivals = {"orders": [topic.claim(older), topic.claim(loser)]}
    results = {
        b["metadata"]["name"]: s for b, s in topic.resync_topics([paused, unmanaged, deleted, loser], admin, rivals)
    }
    assert sorted(results) == ["orders-b", "p", "u"]  # the resource being deleted is its finalizer's
    assert ready(results["orders-b"])["reason"] == "ResourceConflict"
    assert results["p"]["conditions"][0]["type"] == "ReconciliationPaused"
    assert admin.calls == []


def test_snapshot_keeps_what_a_reconcile_reads_and_drops_kopfs_copy() -> None:
    resource = body("orders", partitions=2)
    resource["metadata"]["annotations"] = {
        "kafka.odradek.io/last-handled-configuration": "{...}",
        "odradek.io/managed": "false",
    }
    resource["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    resource["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    kept = topic.snapshot(resource)
    assert kept["metadata"]["annotations"] == {"odradek.io/managed": "false"}
    assert "managedFields" not in kept["metadata"] and kept["spec"] == {"partitions": 2}
    assert kept["status"] == resource["status"] and kept["status"] is not resource["status"]


def test_resync_leaves_a_topic_whose_spec_its_handler_has_not_finished_applying() -> None:
    # generation 2 is being applied by the update handler: converging the resync's copy could apply an older spec
    admin = FakeAdmin()
    admin.topics["new"] = topic_state("new")
    changed = reconciled(body("changed", partitions=1))
    changed["metadata"]["generation"] = 2
    created = body("new", partitions=1)  # no status yet: its create handler runs
    assert topic.resync_topics([changed, created], admin, {}) == [] and admin.calls == []
    assert topic.settled(reconciled(body("x"))) and not topic.settled(changed) and not topic.settled(created)
