"""Partition reassignment as values (Kafka's ``PartitionReassignmentReplicas`` and ``PartitionReassignmentRevert``).

A reassignment moves a partition from its *original* replicas to a *target* list in three steps (Kafka's KRaft
controller; ``replication_control.plan_reassignment`` starts it, ``partition_change.build`` completes it, in the
leader's AlterPartition (``Controller.alter_partition``) when the leader stays, else in the controller's pass):

1. **grow**: the partition record gets ``replicas`` = target followed by the original replicas not in the target
   (the *merged* list), ``adding_replicas`` = target minus original and ``removing_replicas`` = original minus
   target (both sorted). The ISR is unchanged. Brokers in ``adding_replicas`` create the replica and fetch.
2. **catch up**: the leader adds each adding replica to the ISR once it has caught up (AlterPartition).
3. **complete**: as soon as the ISR without the removing replicas is non-empty and holds every replica of the
   target, the record becomes ``replicas`` = target, ISR = ISR minus removing, adding/removing cleared; a leader
   that was being removed is replaced by an election (and the leader epoch grows because replicas were removed).
   Brokers no longer named stop their replica and delete its log.

A reassignment that only reorders replicas, or only removes replicas that leave an ISR member, completes at once.
Changing a reassignment in flight starts from the merged list (so replicas that were being added and are no longer
wanted become *removing*). Cancelling (``PartitionReassignmentRevert``) goes back to the original replicas: the
merged list minus ``adding_replicas``, the ISR minus ``adding_replicas``; if that ISR would be empty, the first
original replica alone is the ISR, which is an unclean election (refused unless unclean election is enabled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CompletedReassignment", "PartitionReassignmentReplicas", "PartitionReassignmentRevert"]


@dataclass(frozen=True, slots=True)
class CompletedReassignment:
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PartitionReassignmentReplicas:
    """The replica lists of a reassignment: ``replicas`` (merged), ``adding`` and ``removing`` (sorted)."""

    removing: tuple[int, ...]
    adding: tuple[int, ...]
    replicas: tuple[int, ...]

    @classmethod
    def of(cls, current: Sequence[int], target: Sequence[int]) -> PartitionReassignmentReplicas:
        """The reassignment from ``current`` (the partition's replicas as stored) to ``target``."""
        removing = tuple(sorted(set(current) - set(target)))
        adding = tuple(sorted(set(target) - set(current)))
        merged = tuple(target) + tuple(r for r in current if r in removing)
        return cls(removing, adding, merged)

    @property
    def in_progress(self) -> bool:
        return bool(self.removing or self.adding)

    def maybe_complete(self, target_isr: Sequence[int]) -> CompletedReassignment | None:
        """Step 3 of the module docstring: the final replicas and ISR, or ``None`` while not complete."""
        if not self.in_progress:
            return None
        isr = tuple(r for r in target_isr if r not in self.removing)
        replicas = tuple(r for r in self.replicas if r not in self.removing)
        if not isr or not replicas or not set(replicas) <= set(isr):
            return None
        return CompletedReassignment(replicas, isr)

    def original_replicas(self) -> tuple[int, ...]:
        return tuple(r for r in self.replicas if r not in self.adding)


@dataclass(frozen=True, slots=True)
class PartitionReassignmentRevert:
    """What cancelling a reassignment leaves: the original replicas and ISR; ``unclean`` when no ISR member was
    an original replica (the first original replica is then made the ISR)."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    unclean: bool

    @classmethod
    def of(
        cls, replicas: Sequence[int], isr: Sequence[int], adding: Sequence[int], removing: Sequence[int]
    ) -> PartitionReassignmentRevert:
        ongoing = PartitionReassignmentReplicas(tuple(removing), tuple(adding), tuple(replicas))
        original = ongoing.original_replicas()
        kept = tuple(r for r in isr if r not in adding)
        if kept:
            return cls(original, kept, False)
        if not original:
            raise ValueError("adding_replicas holds every replica: there is nothing to revert to")
        return cls(original, (original[0],), True)
