"""The operator's reassignment decisions (operator/odradek/operator/reassignment.py): replication factor changes,
draining brokers, and the scale-down check, as tables over AdminClient answers."""

from __future__ import annotations

import pytest
from odradek.operator.reassignment import ScaleDownAction, change_replication_factor, drain, plan_scale_down
from odradek.operator.roller import PartitionReplicas


@pytest.mark.parametrize(
    ("assignment", "factor", "brokers", "expected"),
    [
        # up: existing replicas kept first, the new ones on the least loaded broker (ties: lower id)
        ([(0,), (1,), (2,)], 2, (0, 1, 2), {0: (0, 1), 1: (1, 2), 2: (2, 0)}),
        ([(0,)], 3, (0, 1, 2), {0: (0, 1, 2)}),
        ([(2,), (2,)], 2, (0, 1, 2), {0: (2, 0), 1: (2, 1)}),
        # unchanged partitions are not listed
        ([(0, 1), (1,)], 2, (0, 1, 2), {1: (1, 2)}),
        ([(0, 1)], 2, (0, 1), {}),
        # down: the preferred leader stays, replicas on brokers that are not live go first
        ([(0, 1, 2)], 1, (0, 1, 2), {0: (0,)}),
        ([(0, 1, 2)], 2, (0, 1, 2), {0: (0, 1)}),
        ([(0, 5, 1)], 2, (0, 1, 2), {0: (0, 1)}),
    ],
)
def test_change_replication_factor(
    assignment: list[tuple[int, ...]], factor: int, brokers: tuple[int, ...], expected: dict[int, tuple[int, ...]]
) -> None:
    assert change_replication_factor(assignment, factor, brokers) == expected


@pytest.mark.parametrize("factor", [0, 4])
def test_change_replication_factor_refuses_impossible_factors(factor: int) -> None:
    with pytest.raises(ValueError, match="live brokers"):
        change_replication_factor([(0,)], factor, (0, 1, 2))


def part(topic: str, partition: int, *replicas: int) -> PartitionReplicas:
    return PartitionReplicas(topic, partition, replicas, replicas)


def test_drain_replaces_in_place_on_the_least_loaded_remaining_broker() -> None:
    partitions = [part("a", 0, 3, 0), part("a", 1, 1, 3), part("b", 0, 0, 1), part("c", 0, 2, 4)]
    # loads before: 0 -> 2, 1 -> 2, 2 -> 1
    assert drain(partitions, {3, 4}, range(3)) == {("a", 0): (2, 0), ("a", 1): (1, 0), ("c", 0): (2, 1)}


def test_drain_refuses_a_partition_with_more_replicas_than_remaining_brokers() -> None:
    with pytest.raises(ValueError, match="a-0 has 3 replicas, more than the 2 brokers"):
        drain([part("a", 0, 0, 1, 2)], {2}, range(2))


HOLDING = (part("orders", 0, 0, 2), part("orders", 1, 1, 0), part("logs", 0, 2))
EMPTY_2 = (part("orders", 0, 0, 1), part("orders", 1, 1, 0))


@pytest.mark.parametrize(
    ("current", "desired", "partitions", "ongoing", "drain_asked", "skip", "action", "replicas", "says"),
    [
        (3, 3, HOLDING, (), False, False, ScaleDownAction.NONE, 3, ""),
        (3, 4, HOLDING, (), False, False, ScaleDownAction.NONE, 4, ""),
        (3, 2, EMPTY_2, (), False, False, ScaleDownAction.PROCEED, 2, ""),
        (3, 2, HOLDING, (), False, False, ScaleDownAction.REFUSE, 3, "brokers 2 hold replicas of 2 partition(s)"),
        (3, 2, HOLDING, (), False, False, ScaleDownAction.REFUSE, 3, "topics logs, orders"),
        (3, 2, None, (), False, False, ScaleDownAction.REFUSE, 3, "could not be asked"),
        (3, 2, None, (), True, True, ScaleDownAction.PROCEED, 2, ""),
        (3, 2, HOLDING, (), False, True, ScaleDownAction.PROCEED, 2, ""),
        (3, 2, HOLDING, (), True, False, ScaleDownAction.DRAIN, 3, "draining brokers 2"),
        (3, 2, HOLDING, (("orders", 0),), True, False, ScaleDownAction.WAIT, 3, "1 partition reassignment(s)"),
        # a drain that has moved everything still waits for the reassignments Kafka lists
        (3, 2, EMPTY_2, (("orders", 0),), True, False, ScaleDownAction.WAIT, 3, "in progress"),
        (3, 2, EMPTY_2, (), True, False, ScaleDownAction.PROCEED, 2, ""),
        (3, 1, HOLDING, (), True, False, ScaleDownAction.REFUSE, 3, "cannot drain brokers 1, 2"),
    ],
)
def test_plan_scale_down(
    current: int,
    desired: int,
    partitions: tuple[PartitionReplicas, ...] | None,
    ongoing: tuple[tuple[str, int], ...],
    drain_asked: bool,
    skip: bool,
    action: ScaleDownAction,
    replicas: int,
    says: str,
) -> None:
    decision = plan_scale_down(current, desired, partitions, ongoing, drain_asked, skip)
    assert (decision.action, decision.replicas) == (action, replicas)
    assert says in decision.reason
    if action is ScaleDownAction.DRAIN:
        assert decision.reassignments == {("orders", 0): (0, 1), ("logs", 0): (1,)}
