"""``PartitionChangeBuilder``: the next state of one partition, as Kafka's controller computes it (pure, no I/O).

Inputs are the partition as stored (``PartitionImage``), a predicate ``acceptable(broker_id)`` (the broker may lead:
registered, unfenced, not shutting down; ``cluster_control.BrokerStates.acceptable``), an optional target ISR and
the ``Election`` type. ``build`` returns the new ``PartitionImage`` or ``None`` when nothing changes. Rules (Kafka's
``PartitionChangeBuilder``, without reassignment and without KIP-966's ELR fields):

- A *valid* leader is acceptable and in the target ISR.
- ``ONLINE``: keep the current leader if it is valid; else the first valid replica in assignment order; else -1.
- ``UNCLEAN``: as ONLINE; if that finds none, the first acceptable replica (in or out of the ISR), and the ISR is
  reset to that one broker (records it lacks are lost: logged as an unclean election by the caller).
- ``PREFERRED``: the first replica if it is valid; else the current leader if valid; else the first valid replica
  of the others; else -1 (never unclean).
- An empty target ISR is never stored: the partition keeps its last ISR (Kafka keeps the last member so that it can
  lead again when it comes back; every member of a stored ISR holds every committed record).
- A new leader bumps ``leader_epoch``; any change bumps ``partition_epoch``; ``mod_revision`` stays the one the
  change was computed from (the compare of the CAS that writes it).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from odradek.broker.metadata.image import PartitionImage

__all__ = ["NO_LEADER", "Election", "ElectionResult", "build", "elect_leader", "is_unclean", "without"]

NO_LEADER = -1

Acceptable = Callable[[int], bool]


class Election(enum.Enum):
    """Kafka's PartitionChangeBuilder.Election."""

    PREFERRED = "preferred"  # elect the first replica if it is valid
    ONLINE = "online"  # keep the partition online from the ISR
    UNCLEAN = "unclean"  # as ONLINE, else any acceptable replica (possible data loss)


@dataclass(frozen=True, slots=True)
class ElectionResult:
    node: int
    unclean: bool = False


def without(isr: Iterable[int], *brokers: int) -> tuple[int, ...]:
    """``isr`` in its order, minus ``brokers``."""
    removed = set(brokers)
    return tuple(b for b in isr if b not in removed)


def elect_leader(
    replicas: Sequence[int], target_isr: Sequence[int], current: int, acceptable: Acceptable, election: Election
) -> ElectionResult:
    """The leader the partition gets (``NO_LEADER``: none is possible)."""

    def valid(broker: int) -> bool:
        return broker in target_isr and acceptable(broker)

    if election is Election.PREFERRED:
        if replicas and valid(replicas[0]):
            return ElectionResult(replicas[0])
        if valid(current):
            return ElectionResult(current)
        return ElectionResult(next((r for r in replicas[1:] if valid(r)), NO_LEADER))
    if valid(current):
        return ElectionResult(current)
    online = next((r for r in replicas if valid(r)), NO_LEADER)
    if online != NO_LEADER or election is not Election.UNCLEAN:
        return ElectionResult(online)
    unclean = next((r for r in replicas if acceptable(r)), NO_LEADER)
    return ElectionResult(unclean, unclean != NO_LEADER)


def build(
    partition: PartitionImage,
    acceptable: Acceptable,
    *,
    target_isr: Sequence[int] | None = None,
    election: Election = Election.ONLINE,
) -> PartitionImage | None:
    """The partition's next state, or ``None`` if it would not change (see the module docstring)."""
    wanted = tuple(partition.isr if target_isr is None else target_isr)
    result = elect_leader(partition.replicas, wanted, partition.leader, acceptable, election)
    isr = wanted if wanted else partition.isr
    if result.unclean:
        isr = (result.node,)
    if result.node == partition.leader and isr == partition.isr:
        return None
    return dataclasses.replace(
        partition,
        leader=result.node,
        leader_epoch=partition.leader_epoch + (1 if result.node != partition.leader else 0),
        isr=isr,
        partition_epoch=partition.partition_epoch + 1,
    )


def is_unclean(before: PartitionImage, after: PartitionImage) -> bool:
    """True when ``after`` has a leader that was not in ``before``'s ISR (an unclean election)."""
    return after.leader != NO_LEADER and after.leader != before.leader and after.leader not in before.isr
