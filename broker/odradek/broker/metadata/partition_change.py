"""``PartitionChangeBuilder``: the next state of one partition, as Kafka's controller computes it (pure, no I/O).

Inputs are the partition as stored (``PartitionImage``), a predicate ``acceptable(broker_id)`` (the broker may lead:
registered, unfenced, not shutting down; ``cluster_control.BrokerStates.acceptable``), an optional target ISR,
optional target replicas / adding replicas / removing replicas (a reassignment: ``partition_reassignment``) and the
``Election`` type. ``build`` returns the new ``PartitionImage`` or ``None`` when nothing changes. Rules (Kafka's
``PartitionChangeBuilder``, without KIP-966's ELR fields):

- First a reassignment in progress is completed if the target ISR allows it (``PartitionReassignmentReplicas.
  maybe_complete``: the ISR without the removing replicas is non-empty and holds every remaining replica); the
  replicas and ISR are then the completed ones and adding/removing are cleared. Elections below use these replicas.

- A *valid* leader is acceptable and in the target ISR.
- ``ONLINE``: keep the current leader if it is valid; else the first valid replica in assignment order; else -1.
- ``UNCLEAN``: as ONLINE; if that finds none, the first acceptable replica (in or out of the ISR), and the ISR is
  reset to that one broker (records it lacks are lost: logged as an unclean election by the caller).
- ``PREFERRED``: the first replica if it is valid; else the current leader if valid; else the first valid replica
  of the others; else -1 (never unclean).
- An empty target ISR is never stored: the partition keeps its last ISR (Kafka keeps the last member so that it can
  lead again when it comes back; every member of a stored ISR holds every committed record).
- A new leader bumps ``leader_epoch``, and so does removing a replica (the removed follower is fenced); any change
  bumps ``partition_epoch``; ``mod_revision`` stays the one the
  change was computed from (the compare of the CAS that writes it).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from odradek.broker.metadata.image import PartitionImage
from odradek.broker.metadata.partition_reassignment import PartitionReassignmentReplicas

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
    target_replicas: Sequence[int] | None = None,
    target_adding: Sequence[int] | None = None,
    target_removing: Sequence[int] | None = None,
) -> PartitionImage | None:
    """The partition's next state, or ``None`` if it would not change (see the module docstring). A ``None``
    target keeps the stored value."""
    wanted = tuple(partition.isr if target_isr is None else target_isr)
    replicas = tuple(partition.replicas if target_replicas is None else target_replicas)
    adding = tuple(partition.adding_replicas if target_adding is None else target_adding)
    removing = tuple(partition.removing_replicas if target_removing is None else target_removing)
    completed = PartitionReassignmentReplicas(removing, adding, replicas).maybe_complete(wanted)
    if completed is not None:
        replicas, wanted, adding, removing = completed.replicas, completed.isr, (), ()
    result = elect_leader(replicas, wanted, partition.leader, acceptable, election)
    isr = wanted if wanted else partition.isr
    if result.unclean:
        isr = (result.node,)
    after = (result.node, isr, replicas, adding, removing)
    if after == (
        partition.leader,
        partition.isr,
        partition.replicas,
        partition.adding_replicas,
        partition.removing_replicas,
    ):
        return None
    fenced = result.node != partition.leader or not set(partition.replicas) <= set(replicas)
    return dataclasses.replace(
        partition,
        leader=result.node,
        leader_epoch=partition.leader_epoch + (1 if fenced else 0),
        isr=isr,
        partition_epoch=partition.partition_epoch + 1,
        replicas=replicas,
        adding_replicas=adding,
        removing_replicas=removing,
    )


def is_unclean(before: PartitionImage, after: PartitionImage) -> bool:
    """True when ``after`` has a leader that was not in ``before``'s ISR (an unclean election)."""
    return after.leader != NO_LEADER and after.leader != before.leader and after.leader not in before.isr
