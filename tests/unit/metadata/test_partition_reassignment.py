"""Partition reassignment rules (metadata/partition_reassignment.py, partition_change.build, and
replication_control.plan_reassignment / list_reassignments), table-driven: add, remove, move, the leader in the
removing set, cancel, change in flight, concurrent ISR changes. Cases follow Kafka's
PartitionReassignmentReplicasTest, PartitionReassignmentRevertTest and ReplicationControlManagerTest."""

from __future__ import annotations

import pytest
from odradek.broker.metadata.cluster_control import BrokerStates
from odradek.broker.metadata.image import BrokerImage, MetadataImage, PartitionImage, TopicImage
from odradek.broker.metadata.partition_change import NO_LEADER, build
from odradek.broker.metadata.partition_reassignment import (
    CompletedReassignment,
    PartitionReassignmentReplicas,
    PartitionReassignmentRevert,
)
from odradek.broker.metadata.replication_control import list_reassignments, plan_reassignment
from odradek.broker.protocol.errors import ErrorCode

Ints = tuple[int, ...]

# (current replicas, target) -> (removing, adding, merged replicas)
REASSIGNMENTS = [
    ((1, 2), (2, 3), ((1,), (3,), (2, 3, 1))),  # move
    ((1,), (1, 2, 3), ((), (2, 3), (1, 2, 3))),  # replication factor 1 -> 3
    ((1, 2, 3), (1, 2), ((3,), (), (1, 2, 3))),  # replication factor 3 -> 2
    ((1, 2, 3), (3, 2, 1), ((), (), (3, 2, 1))),  # reorder only
    ((0, 1, 2), (3, 4, 5), ((0, 1, 2), (3, 4, 5), (3, 4, 5, 0, 1, 2))),  # replace all (Kafka's test)
    ((4, 2, 3), (3, 1), ((2, 4), (1,), (3, 1, 4, 2))),  # removing and adding are sorted; merged keeps order
]


@pytest.mark.parametrize(("current", "target", "expected"), REASSIGNMENTS)
def test_reassignment_replicas(current: Ints, target: Ints, expected: tuple[Ints, Ints, Ints]) -> None:
    r = PartitionReassignmentReplicas.of(current, target)
    assert (r.removing, r.adding, r.replicas) == expected
    assert r.original_replicas() == tuple(x for x in r.replicas if x not in r.adding)
    assert sorted(r.original_replicas()) == sorted(current)


# (removing, adding, merged replicas, target ISR) -> completed (replicas, isr) or None
COMPLETIONS = [
    ((1,), (3,), (2, 3, 1), (1, 2), None),  # 3 not caught up yet
    ((1,), (3,), (2, 3, 1), (1, 2, 3), ((2, 3), (2, 3))),  # all targets in sync: done, 1 leaves the ISR
    ((1,), (3,), (2, 3, 1), (3, 1, 2), ((2, 3), (3, 2))),  # the ISR keeps its order
    ((), (2, 3), (1, 2, 3), (1, 2), None),
    ((), (2, 3), (1, 2, 3), (1, 3, 2), ((1, 2, 3), (1, 3, 2))),
    ((3,), (), (1, 2, 3), (1, 2, 3), ((1, 2), (1, 2))),  # only removing: done at once
    ((3,), (), (1, 2, 3), (3,), None),  # no ISR member would be left
    ((3,), (), (1, 2, 3), (1, 3), None),  # 2 not in sync
    ((), (), (1, 2), (1, 2), None),  # nothing in progress
]


@pytest.mark.parametrize(("removing", "adding", "replicas", "isr", "expected"), COMPLETIONS)
def test_maybe_complete(
    removing: Ints, adding: Ints, replicas: Ints, isr: Ints, expected: tuple[Ints, Ints] | None
) -> None:
    done = PartitionReassignmentReplicas(removing, adding, replicas).maybe_complete(isr)
    assert done == (None if expected is None else CompletedReassignment(*expected))


# (replicas, isr, adding, removing) -> (replicas, isr, unclean) after cancelling
REVERTS = [
    ((2, 3, 1), (1, 2), (3,), (1,), ((2, 1), (1, 2), False)),
    ((2, 3, 1), (1, 2, 3), (3,), (1,), ((2, 1), (1, 2), False)),
    ((1, 2, 3), (1,), (2, 3), (), ((1,), (1,), False)),
    ((3, 4, 0, 1, 2), (3, 4), (3, 4), (0, 1, 2), ((0, 1, 2), (0,), True)),  # only adding replicas in sync
]


@pytest.mark.parametrize(("replicas", "isr", "adding", "removing", "expected"), REVERTS)
def test_revert(replicas: Ints, isr: Ints, adding: Ints, removing: Ints, expected: tuple[Ints, Ints, bool]) -> None:
    r = PartitionReassignmentRevert.of(replicas, isr, adding, removing)
    assert (r.replicas, r.isr, r.unclean) == expected


def part(
    replicas: Ints, leader: int, isr: Ints, adding: Ints = (), removing: Ints = (), topic: str = "t", index: int = 0
) -> PartitionImage:
    return PartitionImage(topic, index, replicas, leader, 4, isr, 7, 42, adding, removing)


def image(*parts: PartitionImage, brokers: Ints = (1, 2, 3, 4)) -> MetadataImage:
    topics: dict[str, dict[int, PartitionImage]] = {}
    for p in parts:
        topics.setdefault(p.topic, {})[p.partition] = p
    return MetadataImage(
        revision=50,
        brokers={b: BrokerImage(b, "h", 9000 + b) for b in brokers},
        topics={name: TopicImage(name, f"id-{name}", len(ps), {}, ps, 1) for name, ps in topics.items()},
    )


def after(p: PartitionImage | None) -> tuple[Ints, int, int, Ints, Ints, Ints, int] | None:
    """(replicas, leader, leader epoch, isr, adding, removing, partition epoch)."""
    if p is None:
        return None
    return (p.replicas, p.leader, p.leader_epoch, p.isr, p.adding_replicas, p.removing_replicas, p.partition_epoch)


# (partition as stored, live brokers, target replicas) -> the record written (None: nothing to write)
STARTS = [
    # move [1, 2] -> [2, 3]: grow to the merged list, ISR and leader unchanged, no leader epoch bump
    (part((1, 2), 1, (1, 2)), {1, 2, 3}, (2, 3), ((2, 3, 1), 1, 4, (1, 2), (3,), (1,), 8)),
    # RF 1 -> 3
    (part((1,), 1, (1,)), {1, 2, 3}, (1, 2, 3), ((1, 2, 3), 1, 4, (1,), (2, 3), (), 8)),
    # RF 3 -> 2: completes at once; the removed follower is fenced by a leader epoch bump
    (part((1, 2, 3), 1, (1, 2, 3)), {1, 2, 3}, (1, 2), ((1, 2), 1, 5, (1, 2), (), (), 8)),
    # removing the leader, the rest in sync: completes at once with a new leader
    (part((1, 2, 3), 1, (1, 2, 3)), {1, 2, 3}, (2, 3), ((2, 3), 2, 5, (2, 3), (), (), 8)),
    # reorder only: the replicas change, the leader stays (no preferred election)
    (part((1, 2, 3), 1, (1, 2, 3)), {1, 2, 3}, (3, 2, 1), ((3, 2, 1), 1, 4, (1, 2, 3), (), (), 8)),
    # the same replicas: nothing to write
    (part((1, 2), 1, (1, 2)), {1, 2}, (1, 2), None),
    # change in flight: [1,2] -> [2,3] becomes -> [2,4]: 3 (being added) is now being removed as well
    (
        part((2, 3, 1), 1, (1, 2), adding=(3,), removing=(1,)),
        {1, 2, 3, 4},
        (2, 4),
        ((2, 4, 3, 1), 1, 4, (1, 2), (4,), (1, 3), 8),
    ),
    # change in flight back to the original list: adding/removing cleared, 3 dropped (fenced)
    (part((2, 3, 1), 1, (1, 2), adding=(3,), removing=(1,)), {1, 2, 3}, (1, 2), ((1, 2), 1, 5, (1, 2), (), (), 8)),
]


@pytest.mark.parametrize(("stored", "live", "target", "expected"), STARTS)
def test_plan_reassignment(stored: PartitionImage, live: set[int], target: Ints, expected: object) -> None:
    img = image(stored)
    states = BrokerStates({b: img.brokers[b] for b in live})
    change, outcome = plan_reassignment(img, states, ("t", 0, target))
    assert outcome == (ErrorCode.NONE, None)
    assert after(change) == expected
    if change is not None:
        assert change.mod_revision == stored.mod_revision  # the CAS compares the state it was planned from


# The controller's pass (and AlterPartition's next image) on a partition being reassigned:
# (stored, live, target ISR) -> the record written, or None
PROGRESS = [
    # the leader added 3 to the ISR: complete, 1 (a follower) removed, leader epoch bumped
    (part((2, 3, 1), 2, (2, 1), (3,), (1,)), {1, 2, 3}, (2, 1, 3), ((2, 3), 2, 5, (2, 3), (), (), 8)),
    # the leader (1) is being removed: once 3 is in sync, 2 (first target replica in sync) leads
    (part((2, 3, 1), 1, (1, 2), (3,), (1,)), {1, 2, 3}, (1, 2, 3), ((2, 3), 2, 5, (2, 3), (), (), 8)),
    # 3 not yet in sync: an ISR change alone, reassignment still in progress
    (part((2, 3, 1), 1, (1, 2), (3,), (1,)), {1, 2, 3}, (1,), ((2, 3, 1), 1, 4, (1,), (3,), (1,), 8)),
    # concurrent ISR shrink: 2 fell out while 3 caught up; 3 alone of the targets in sync: not complete
    (part((2, 3, 1), 1, (1, 2), (3,), (1,)), {1, 2, 3}, (1, 3), ((2, 3, 1), 1, 4, (1, 3), (3,), (1,), 8)),
    # the removing leader died, the other targets are in sync: complete, and 2 leads
    (part((2, 3, 1), 1, (1, 2, 3), (3,), (1,)), {2, 3}, (2, 3), ((2, 3), 2, 5, (2, 3), (), (), 8)),
    # RF 1 -> 3: the last adding replica joins
    (part((1, 2, 3), 1, (1, 2), (2, 3), ()), {1, 2, 3}, (1, 2, 3), ((1, 2, 3), 1, 4, (1, 2, 3), (), (), 8)),
    # every target replica is offline and out of sync: nothing completes, the leader stays
    (part((2, 3, 1), 1, (1,), (2, 3), (1,)), {1}, None, None),
]


@pytest.mark.parametrize(("stored", "live", "isr", "expected"), PROGRESS)
def test_reassignment_progress(stored: PartitionImage, live: set[int], isr: Ints | None, expected: object) -> None:
    assert after(build(stored, live.__contains__, target_isr=isr)) == expected


# (stored, live, unclean enabled) -> (outcome code, the record written)
CANCELS = [
    (part((2, 3, 1), 1, (1, 2), (3,), (1,)), {1, 2, 3}, False, (ErrorCode.NONE, ((2, 1), 1, 5, (1, 2), (), (), 8))),
    # the leader was an adding replica: it leaves, 2 (original, in sync) leads
    (part((2, 3, 1), 3, (3, 2), (3,), (1,)), {1, 2, 3}, False, (ErrorCode.NONE, ((2, 1), 2, 5, (2,), (), (), 8))),
    # RF 1 -> 3 cancelled
    (part((1, 2, 3), 1, (1, 2), (2, 3), ()), {1, 2, 3}, False, (ErrorCode.NONE, ((1,), 1, 5, (1,), (), (), 8))),
    # only adding replicas in sync: needs an unclean election
    (part((3, 1), 3, (3,), (3,), (1,)), {1, 3}, False, (ErrorCode.INVALID_REPLICA_ASSIGNMENT, None)),
    (part((3, 1), 3, (3,), (3,), (1,)), {1, 3}, True, (ErrorCode.NONE, ((1,), 1, 5, (1,), (), (), 8))),
    # nothing to cancel
    (part((1, 2), 1, (1, 2)), {1, 2}, False, (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None)),
]


@pytest.mark.parametrize(("stored", "live", "unclean", "expected"), CANCELS)
def test_cancel(stored: PartitionImage, live: set[int], unclean: bool, expected: object) -> None:
    img = image(stored)
    states = BrokerStates({b: img.brokers[b] for b in live})
    change, (code, _) = plan_reassignment(img, states, ("t", 0, None), unclean=unclean)
    assert (code, after(change)) == expected


ERRORS = [
    (("nope", 0, (1, 2)), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    (("t", 9, (1, 2)), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    (("nope", 0, None), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    (("t", 0, ()), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    (("t", 0, (1, 1)), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    (("t", 0, (1, 7)), ErrorCode.INVALID_REPLICA_ASSIGNMENT),  # 7 is not registered
]


@pytest.mark.parametrize(("target", "code"), ERRORS)
def test_errors(target: tuple[str, int, Ints | None], code: ErrorCode) -> None:
    img = image(part((1, 2), 1, (1, 2)))
    change, outcome = plan_reassignment(img, BrokerStates(img.brokers), target)
    assert change is None
    assert outcome[0] == code


def test_replication_factor_change_refused_when_not_allowed() -> None:
    img = image(part((2, 3, 1), 1, (1, 2), (3,), (1,)))
    states = BrokerStates(img.brokers)
    _, outcome = plan_reassignment(img, states, ("t", 0, (1, 2, 3)), allow_replication_factor_change=False)
    assert outcome[0] == ErrorCode.INVALID_REPLICATION_FACTOR  # the original replicas are [2, 1]
    change, outcome = plan_reassignment(img, states, ("t", 0, (3, 4)), allow_replication_factor_change=False)
    assert outcome == (ErrorCode.NONE, None) and change is not None


def test_list_reassignments() -> None:
    moving = part((2, 3, 1), 1, (1, 2), (3,), (1,), index=1)
    img = image(part((1, 2), 1, (1, 2)), moving, part((1,), 1, (1,), topic="u"))
    assert list_reassignments(img, None) == {"t": [moving]}
    assert list_reassignments(img, [("t", [0, 1, 5]), ("nope", [0]), ("u", [0])]) == {"t": [moving]}
    assert list_reassignments(img, [("t", [0])]) == {}


def test_json_round_trip_keeps_the_reassignment_and_old_records_read_as_none() -> None:
    moving = part((2, 3, 1), 1, (1, 2), (3,), (1,))
    assert PartitionImage.from_json("t", 0, moving.to_json(), 42) == moving
    plain = part((1, 2), 1, (1, 2))
    assert b"adding" not in plain.to_json()
    assert PartitionImage.from_json("t", 0, plain.to_json(), 42) == plain
    assert NO_LEADER == -1
