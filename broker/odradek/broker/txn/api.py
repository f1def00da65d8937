"""What the transaction coordinator needs from the rest of the broker, as Protocols (wired by app.py), and the
values it answers with.

- `ProducerIdGenerator`: new producer ids (Kafka's ProducerIdManager, `txn/producer_id_manager.py`).
- `TxnMarkerWriter`: writes the COMMIT or ABORT markers of a transaction into its partitions and says, per
  partition, how it went (Kafka's TransactionMarkerChannelManager and the WriteTxnMarkers it sends). The same
  interface serves partitions led here (appended through the replica manager with origin COORDINATOR) and, with
  replication, partitions led elsewhere (a WriteTxnMarkers request to their leader).
- `TransactionConfig`: the broker configs the coordinator reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode

TopicPartition = tuple[str, int]


class ProducerIdGenerator(Protocol):
    async def generate_producer_id(self) -> int: ...


class TxnMarkerWriter(Protocol):
    async def write_markers(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        partitions: Sequence[TopicPartition],
    ) -> Mapping[TopicPartition, ErrorCode]:
        """Append one marker to each partition (acks=all); the error of each (NONE: written and replicated)."""
        ...


@dataclass(frozen=True, slots=True)
class TransactionConfig:
    max_timeout_ms: int = 900_000
    transactional_id_expiration_ms: int = 604_800_000
    remove_expired_interval_ms: int = 3_600_000
    # How long a marker or state write that failed waits before it is retried (Kafka retries markers forever).
    retry_backoff_ms: int = 100


@dataclass(frozen=True, slots=True)
class TransactionDescription:
    """One transactional id as DescribeTransactions and ListTransactions show it."""

    transactional_id: str
    error: ErrorCode
    state: str = ""
    transaction_timeout_ms: int = 0
    transaction_start_time_ms: int = -1
    producer_id: int = -1
    producer_epoch: int = -1
    partitions: tuple[TopicPartition, ...] = ()
