"""TransactionCoordinator: the transactional ids this broker coordinates (Kafka's TransactionCoordinator front).

A transactional id lives in the `__transaction_state` partition `partition_for(transactional_id)`; the broker
leading that partition is its coordinator (FindCoordinator key type 1). This class finds the partition's shard in
the CoordinatorRuntime (NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS otherwise) and hands the request to its
`TransactionStateManager`. The runtime owns loading (a replay of the partition in a worker thread when this
broker is elected), appends, timers on the injected `Time` and background writes (marker completion).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from odradek.broker.coordinator.runtime import CoordinatorError, CoordinatorLog, CoordinatorRuntime, ShardContext
from odradek.broker.metrics.transactions import LOAD_TIME_WINDOW_MS, TransactionCoordinatorStats
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.txn.api import (
    ProducerIdGenerator,
    TopicPartition,
    TransactionConfig,
    TransactionDescription,
    TxnMarkerWriter,
)
from odradek.broker.txn.state import TransactionState
from odradek.broker.txn.transaction_state_manager import (
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    TransactionStateManager,
)
from odradek.broker.utils.time import Time


class TransactionCoordinator:
    def __init__(
        self,
        config: TransactionConfig,
        storage: CoordinatorLog,
        num_partitions: Callable[[], int],
        partition_for: Callable[[str, int], int],
        time: Time,
        producer_ids: ProducerIdGenerator,
        markers: TxnMarkerWriter,
    ) -> None:
        self.config = config
        self.num_partitions = num_partitions
        self._partition_for = partition_for
        self.producer_ids = producer_ids
        self.markers = markers
        self.runtime: CoordinatorRuntime[TransactionStateManager] = CoordinatorRuntime(
            "transaction coordinator", storage, time, self._new_shard
        )

    def _new_shard(self, context: ShardContext) -> TransactionStateManager:
        return TransactionStateManager(context, self.config, self.producer_ids, self.markers)

    # ==== partitions ===========================================================================================

    def partition_for(self, transactional_id: str) -> int:
        return self._partition_for(transactional_id, self.num_partitions())

    def _shard(self, transactional_id: str) -> TransactionStateManager:
        if not transactional_id:
            raise CoordinatorError(ErrorCode.INVALID_REQUEST)
        n = self.num_partitions()
        if n <= 0:
            raise CoordinatorError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        return self.runtime.shard(self._partition_for(transactional_id, n))

    def on_elected(self, partition: int, leader_epoch: int) -> None:
        self.runtime.on_elected(partition, leader_epoch)

    def on_resigned(self, partition: int, leader_epoch: int | None) -> None:
        self.runtime.on_resigned(partition, leader_epoch)

    async def wait_loaded(self) -> None:
        await self.runtime.wait_loaded()

    async def wait_idle(self) -> None:
        await self.runtime.wait_idle()

    def close(self) -> None:
        self.runtime.close()

    # ==== the client APIs ======================================================================================

    async def init_producer_id(
        self, transactional_id: str, transaction_timeout_ms: int, producer_id: int, producer_epoch: int
    ) -> tuple[ErrorCode, int, int]:
        """InitProducerId for a transactional id: (error, producer id, epoch)."""
        try:
            shard = self._shard(transactional_id)
        except CoordinatorError as exc:
            return exc.error, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        return await shard.init_producer_id(transactional_id, transaction_timeout_ms, producer_id, producer_epoch)

    async def add_partitions(
        self, transactional_id: str, producer_id: int, producer_epoch: int, partitions: Iterable[TopicPartition]
    ) -> ErrorCode:
        try:
            shard = self._shard(transactional_id)
        except CoordinatorError as exc:
            return exc.error
        return await shard.add_partitions(transactional_id, producer_id, producer_epoch, partitions)

    async def end_transaction(
        self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool
    ) -> ErrorCode:
        try:
            shard = self._shard(transactional_id)
        except CoordinatorError as exc:
            return exc.error
        return await shard.end_transaction(transactional_id, producer_id, producer_epoch, commit)

    def verify_partition(
        self, transactional_id: str, producer_id: int, producer_epoch: int, partition: TopicPartition
    ) -> bool | None:
        """KIP-890 part 1: whether the partition was added to the producer's ongoing transaction; None when this
        broker does not coordinate the id (a later issue asks its coordinator). Without __transaction_state no
        transaction can be ongoing: False."""
        if self.num_partitions() <= 0:
            return False
        try:
            shard = self._shard(transactional_id)
        except CoordinatorError:
            return None
        return shard.verify_partition(transactional_id, producer_id, producer_epoch, partition)

    def verify_partitions(
        self, transactional_id: str, producer_id: int, producer_epoch: int, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        """KIP-890 part 1 asked by another broker (AddPartitionsToTxn v4+ verify_only): each partition's error."""
        wanted = list(partitions)
        try:
            shard = self._shard(transactional_id)
        except CoordinatorError as exc:
            return dict.fromkeys(wanted, exc.error)
        return shard.verify_partitions(transactional_id, producer_id, producer_epoch, wanted)

    # ==== admin ================================================================================================

    def describe(self, transactional_id: str) -> TransactionDescription:
        try:
            shard = self._shard(transactional_id)
        except CoordinatorError as exc:
            return TransactionDescription(transactional_id, exc.error)
        return shard.describe(transactional_id)

    def list_transactions(
        self, states: set[TransactionState], producer_ids: set[int], min_duration_ms: int
    ) -> list[TransactionDescription]:
        found = [
            txn
            for shard in self.runtime.shards()
            for txn in shard.list_transactions(states, producer_ids, min_duration_ms)
        ]
        return sorted(found, key=lambda txn: txn.transactional_id)

    def stats(self) -> TransactionCoordinatorStats:
        """A snapshot for the metrics thread (copies of the shards' dicts, single C-level operations)."""
        states: dict[str, int] = {}
        unknown = retries = 0
        for shard in self.runtime.shards():
            for txn in list(shard.transactions.values()):
                states[txn.state.state_name] = states.get(txn.state.state_name, 0) + 1
            unknown += sum(list(shard.unknown_destination.values()))
            retries += len(shard.log_append_retry)
        return TransactionCoordinatorStats(
            self.runtime.recent_load_times(LOAD_TIME_WINDOW_MS), unknown, retries, states
        )

    async def expire_transactional_ids(self) -> int:
        removed = 0
        for shard in self.runtime.shards():
            removed += await shard.expire_transactional_ids()
        return removed
