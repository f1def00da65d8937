"""How a partition leader changes its ISR: AlterPartition semantics, through the metadata store.

Kafka's leader sends AlterPartition to the controller (`AlterPartitionManager`); here the leader writes the
partition record itself as a compare-and-swap (`Controller.alter_partition` in metadata/, wired by app.py behind
this Protocol: replication and metadata do not import each other). The write succeeds only if the stored leader
and leader epoch are the sender's (else FENCED_LEADER_EPOCH) and the stored partition epoch is `partition_epoch`
(else INVALID_UPDATE_VERSION); the new ISR must contain the leader and be a subset of the replicas
(INVALID_REQUEST), and brokers it adds must be registered (INELIGIBLE_REPLICA). On success the answer carries the
new partition epoch and ISR, which the leader applies at once (the next metadata image says the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class AlterPartitionItem:
    """One partition's requested ISR (Kafka's AlterPartitionRequest PartitionData)."""

    topic: str
    partition: int
    leader_id: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AlterPartitionResult:
    """The answer: on NONE, the partition's state as stored; otherwise only the error."""

    error: ErrorCode
    leader_epoch: int = -1
    partition_epoch: int = -1
    isr: tuple[int, ...] = ()
    message: str = ""


class AlterPartitionManager(Protocol):
    async def submit(self, item: AlterPartitionItem) -> AlterPartitionResult:
        """Apply `item` with AlterPartition semantics; never raises for a refused change (the error says it)."""
        ...
