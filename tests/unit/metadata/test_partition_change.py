"""PartitionChangeBuilder (metadata/partition_change.py): leader election and ISR changes, table-driven."""

from __future__ import annotations

import pytest
from odradek.broker.metadata.image import PartitionImage
from odradek.broker.metadata.partition_change import NO_LEADER, Election, build, elect_leader, is_unclean, without

P, ON, U = Election.PREFERRED, Election.ONLINE, Election.UNCLEAN

# (replicas, target ISR, current leader, live brokers, election) -> (new leader, unclean)
ELECTIONS = [
    # ONLINE: keep a valid current leader, else the first valid replica in assignment order.
    ((1, 2, 3), (1, 2, 3), 1, {1, 2, 3}, ON, (1, False)),
    ((1, 2, 3), (1, 2, 3), 2, {1, 2, 3}, ON, (2, False)),  # no move back to the preferred one
    ((1, 2, 3), (2, 3), 1, {2, 3}, ON, (2, False)),
    ((1, 2, 3), (3, 2), 1, {2, 3}, ON, (2, False)),  # assignment order, not ISR order
    ((1, 2, 3), (3,), 1, {2, 3}, ON, (3, False)),
    ((1, 2, 3), (1, 2), 1, {3}, ON, (NO_LEADER, False)),  # live 3 is out of sync
    ((1, 2, 3), (), 1, {1, 2, 3}, ON, (NO_LEADER, False)),
    ((1, 2, 3), (2,), NO_LEADER, {2}, ON, (2, False)),  # offline partition gets its leader back
    # UNCLEAN: as ONLINE, else the first live replica.
    ((1, 2, 3), (2, 3), 1, {2, 3}, U, (2, False)),
    ((1, 2, 3), (1,), 1, {2, 3}, U, (2, True)),
    ((1, 2, 3), (1,), 1, {3}, U, (3, True)),
    ((1, 2, 3), (1,), 1, set(), U, (NO_LEADER, False)),
    # PREFERRED: the first replica if valid, else the current leader if valid, else another valid one.
    ((1, 2, 3), (1, 2, 3), 2, {1, 2, 3}, P, (1, False)),
    ((1, 2, 3), (2, 3), 2, {1, 2, 3}, P, (2, False)),  # preferred out of sync: keep the leader
    ((1, 2, 3), (1, 2, 3), 2, {2, 3}, P, (2, False)),  # preferred dead: keep the leader
    ((1, 2, 3), (1, 3), 2, {2, 3}, P, (3, False)),
    ((1, 2, 3), (1,), 2, {2, 3}, P, (NO_LEADER, False)),  # never unclean
]


@pytest.mark.parametrize(("replicas", "isr", "current", "live", "election", "expected"), ELECTIONS)
def test_elect_leader(
    replicas: tuple[int, ...],
    isr: tuple[int, ...],
    current: int,
    live: set[int],
    election: Election,
    expected: tuple[int, bool],
) -> None:
    result = elect_leader(replicas, isr, current, live.__contains__, election)
    assert (result.node, result.unclean) == expected


def part(leader: int, isr: tuple[int, ...], leader_epoch: int = 4, partition_epoch: int = 7) -> PartitionImage:
    return PartitionImage("t", 0, (1, 2, 3), leader, leader_epoch, isr, partition_epoch, mod_revision=42)


# (partition, live, target ISR, election) -> (leader, leader_epoch, isr, partition_epoch) or None (no change)
CHANGES = [
    (part(1, (1, 2, 3)), {1, 2, 3}, None, ON, None),
    (part(1, (1, 2, 3)), {2, 3}, (2, 3), ON, (2, 5, (2, 3), 8)),  # leader lost: new leader, both epochs
    (part(1, (1, 2, 3)), {1, 3}, (1, 3), ON, (1, 4, (1, 3), 8)),  # follower lost: ISR only, same leader epoch
    (part(1, (1,)), set(), (), ON, (NO_LEADER, 5, (1,), 8)),  # last member lost: offline, the ISR is kept
    (part(NO_LEADER, (1,), 5, 8), set(), (), ON, None),  # stays offline: no change, no epoch bump
    (part(NO_LEADER, (1,), 5, 8), {1}, None, ON, (1, 6, (1,), 9)),  # the last member is back
    (part(NO_LEADER, (1,), 5, 8), {2, 3}, None, ON, None),  # others are back, unclean off: offline
    (part(NO_LEADER, (1,), 5, 8), {2, 3}, None, U, (2, 6, (2,), 9)),  # unclean on: ISR reset to the new leader
    (part(2, (1, 2, 3)), {1, 2, 3}, None, P, (1, 5, (1, 2, 3), 8)),
    (part(1, (1, 2)), {1, 2}, (2,), ON, (2, 5, (2,), 8)),  # a target ISR without the leader moves leadership
]


@pytest.mark.parametrize(("partition", "live", "target", "election", "expected"), CHANGES)
def test_build(
    partition: PartitionImage,
    live: set[int],
    target: tuple[int, ...] | None,
    election: Election,
    expected: tuple[int, int, tuple[int, ...], int] | None,
) -> None:
    after = build(partition, live.__contains__, target_isr=target, election=election)
    if expected is None:
        assert after is None
        return
    assert after is not None
    assert (after.leader, after.leader_epoch, after.isr, after.partition_epoch) == expected
    assert after.replicas == partition.replicas and after.mod_revision == partition.mod_revision
    assert build(after, live.__contains__, target_isr=target, election=election) is None, "a fixpoint"


def test_without_keeps_order_and_is_unclean_spots_leaders_from_outside_the_isr() -> None:
    assert without((3, 1, 2), 1) == (3, 2)
    assert without((3, 1, 2), 4, 3) == (1, 2)
    before = part(NO_LEADER, (1,))
    assert is_unclean(before, part(2, (2,)))
    assert not is_unclean(before, part(1, (1,)))
    assert not is_unclean(before, before)
