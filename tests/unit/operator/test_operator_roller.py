"""The roller's decisions (Strimzi's KafkaRoller and KafkaAvailability rules, and where this roller differs: it
never waits for partitions whose replication factor is at or below min.insync.replicas)."""

from __future__ import annotations

import pytest
from odradek.operator.roller import (
    BrokerPod,
    ClusterView,
    PartitionReplicas,
    RollAction,
    availability_blockers,
    next_restart,
    unsatisfiable,
)

NEW = "rev-2"
OLD = "rev-1"


def part(topic: str, partition: int, replicas: tuple[int, ...], isr: tuple[int, ...]) -> PartitionReplicas:
    return PartitionReplicas(topic, partition, replicas, isr)


def view(*partitions: PartitionReplicas, min_isr: int = 2, controller: int = -1, **per_topic: int) -> ClusterView:
    return ClusterView(tuple(partitions), per_topic, default_min_isr=min_isr, controller_id=controller)


def pods(*specs: tuple[int, bool, str]) -> list[BrokerPod]:
    return [BrokerPod(f"c-kafka-{i}", i, ready, revision) for i, ready, revision in specs]


@pytest.mark.parametrize(
    ("partition", "broker", "blocked"),
    [
        # RF 3, min ISR 2
        (part("t", 0, (0, 1, 2), (0, 1, 2)), 0, False),  # ISR 3 > 2: one may go
        (part("t", 0, (0, 1, 2), (0, 1)), 0, True),  # ISR at min with broker 0 in it
        (part("t", 0, (0, 1, 2), (1, 2)), 0, False),  # at min, but broker 0 is not in the ISR
        (part("t", 0, (0, 1, 2), (1,)), 0, True),  # already under min ISR, broker 0 hosts a replica
        (part("t", 0, (1, 2, 3), (1,)), 0, False),  # under min ISR, but not on broker 0
        (part("t", 0, (0, 1, 2), ()), 2, True),  # offline and under min
    ],
)
def test_availability_follows_strimzis_rules(partition: PartitionReplicas, broker: int, blocked: bool) -> None:
    assert bool(availability_blockers(broker, view(partition))) is blocked


@pytest.mark.parametrize(("replicas", "min_isr"), [((0,), 1), ((0, 1), 2), ((0, 1), 3)])
def test_partitions_that_can_never_survive_a_restart_do_not_block_but_are_listed(
    replicas: tuple[int, ...], min_isr: int
) -> None:
    p = part("t", 0, replicas, replicas)
    v = view(p, min_isr=min_isr)
    assert availability_blockers(0, v) == []
    assert unsatisfiable(v) == [p]


def test_a_topic_min_isr_overrides_the_default() -> None:
    p = part("strict", 0, (0, 1, 2), (0, 1, 2))
    assert availability_blockers(0, view(p, min_isr=1)) == []
    assert availability_blockers(0, view(p, min_isr=1, strict=3)) == []  # RF 3 = min 3: never satisfiable
    assert availability_blockers(0, view(part("strict", 0, (0, 1, 2, 3), (0, 1, 2)), min_isr=1, strict=3))


def test_nothing_to_do_when_every_pod_runs_the_current_revision() -> None:
    decision = next_restart(pods((0, True, NEW), (1, True, NEW)), NEW, view())
    assert decision.action is RollAction.DONE


def test_one_restart_at_a_time_in_broker_order_with_the_controller_last() -> None:
    state = pods((0, True, OLD), (1, True, OLD), (2, True, OLD))
    healthy = view(part("t", 0, (0, 1, 2), (0, 1, 2)), controller=0)
    decision = next_restart(state, NEW, healthy)
    assert (decision.action, decision.pod, decision.pending) == (RollAction.RESTART, "c-kafka-1", 3)
    assert next_restart(pods((0, True, OLD), (1, True, NEW), (2, True, OLD)), NEW, healthy).pod == "c-kafka-2"
    last = next_restart(pods((0, True, OLD), (1, True, NEW), (2, True, NEW)), NEW, healthy)
    assert (last.pod, last.pending) == ("c-kafka-0", 1)
    assert "controller" in last.reason


def test_no_restart_while_a_pod_is_being_deleted_or_a_restarted_pod_is_not_ready() -> None:
    healthy = view(part("t", 0, (0, 1, 2), (0, 1, 2)))
    deleting = [BrokerPod("c-kafka-0", 0, True, OLD, deleting=True), *pods((1, True, OLD))]
    decision = next_restart(deleting, NEW, healthy)
    assert decision.action is RollAction.WAIT and "c-kafka-0" in decision.reason
    recovering = next_restart(pods((0, False, NEW), (1, True, OLD)), NEW, healthy)
    assert recovering.action is RollAction.WAIT and "c-kafka-0 to be ready" in recovering.reason


def test_unready_stale_pods_go_first_without_an_availability_check() -> None:
    blocked_everywhere = view(part("t", 0, (0, 1, 2), (1, 2)), part("u", 0, (0, 1, 2), (0, 1)))
    decision = next_restart(pods((0, True, OLD), (1, True, OLD), (2, False, OLD)), NEW, blocked_everywhere)
    assert (decision.action, decision.pod) == (RollAction.RESTART, "c-kafka-2")


def test_a_blocked_broker_is_passed_over_and_a_safe_one_restarted() -> None:
    v = view(part("t", 0, (0, 1, 3), (0, 1)), part("u", 0, (1, 2, 3), (1, 2, 3)))
    decision = next_restart(pods((0, True, OLD), (1, True, OLD), (2, True, OLD)), NEW, v)
    assert (decision.action, decision.pod) == (RollAction.RESTART, "c-kafka-2")


def test_every_candidate_blocked_waits_and_names_the_partitions() -> None:
    v = view(part("t", 0, (0, 1, 2), (0, 1)))
    decision = next_restart(pods((0, True, OLD), (1, True, OLD), (2, True, NEW)), NEW, v)
    assert decision.action is RollAction.WAIT
    assert "c-kafka-0: t-0 would go below min.insync.replicas=2" in decision.reason
    assert "c-kafka-1: t-0" in decision.reason


def test_an_unreachable_cluster_is_rolled_as_strimzi_does() -> None:
    decision = next_restart(pods((0, True, OLD), (1, True, OLD)), NEW, None)
    assert (decision.action, decision.pod) == (RollAction.RESTART, "c-kafka-0")
