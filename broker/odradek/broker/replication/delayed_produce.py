"""An acks=all produce waiting for the high watermark (Kafka's DelayedProduce).

Each appended partition's status holds the offset the HW must reach (its last offset + 1). The operation
completes when, for every partition still waiting, the replica manager reports a decision:
- the HW reached the offset: NONE (or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
  min.insync.replicas meanwhile);
- this broker no longer leads it (NOT_LEADER_OR_FOLLOWER) or it was deleted (UNKNOWN_TOPIC_OR_PARTITION);
or at its timeout, when the partitions still waiting get REQUEST_TIMED_OUT. Partitions whose append failed
never wait and keep their error. It is watched under each waiting partition's key and checked when that
partition's HW moves, its leadership changes or it is removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import ProduceResult, TopicPartition
from odradek.broker.replication.purgatory import DelayedOperation


class ReplicaChecker(Protocol):
    def check_enough_replicas_reach_offset(self, key: TopicPartition, required_offset: int) -> ErrorCode | None:
        """None while the partition's HW is below `required_offset`, else the partition's answer."""


@dataclass(slots=True)
class ProducePartitionStatus:
    """Mutable only inside its DelayedProduce: `result` is replaced (never edited) when a decision arrives."""

    key: TopicPartition
    required_offset: int
    result: ProduceResult
    acks_pending: bool


def settle(statuses: Sequence[ProducePartitionStatus], replicas: ReplicaChecker) -> bool:
    """Apply the decision of each partition still waiting; True once none waits. The replica manager calls this
    before it creates a DelayedProduce, so an append already below the HW (one replica) costs no operation."""
    waiting = False
    for status in statuses:
        if not status.acks_pending:
            continue
        error = replicas.check_enough_replicas_reach_offset(status.key, status.required_offset)
        if error is None:
            waiting = True
            continue
        status.acks_pending = False
        if error is not ErrorCode.NONE:
            status.result = dataclasses.replace(status.result, error=error)
    return not waiting


class DelayedProduce(DelayedOperation[list[ProduceResult]]):
    def __init__(self, delay_ms: float, statuses: Sequence[ProducePartitionStatus], replicas: ReplicaChecker) -> None:
        super().__init__(delay_ms)
        self._statuses = statuses
        self._replicas = replicas

    @property
    def waiting_keys(self) -> list[TopicPartition]:
        return [status.key for status in self._statuses if status.acks_pending]

    def try_complete(self) -> bool:
        return self.force_complete() if settle(self._statuses, self._replicas) else False

    def on_complete(self) -> list[ProduceResult]:
        return [
            dataclasses.replace(status.result, error=ErrorCode.REQUEST_TIMED_OUT)
            if status.acks_pending
            else status.result
            for status in self._statuses
        ]
