"""TransactionStateManager: the transactions of one `__transaction_state` partition, a shard on the coordinator
runtime (Kafka's TransactionStateManager and the per-id logic of TransactionCoordinator).

Each transactional id has a `TransactionMetadata` (producer id and epoch, timeout, state, partitions, times),
rebuilt on load by replaying the partition (the latest record per id wins; a tombstone removes the id). Every
change is a new `TransactionLogValue` written to the partition first and applied only once the write succeeded;
while it is in flight the id's `pending` state is set and concurrent requests get CONCURRENT_TRANSACTIONS. Every
change is checked against the state table (`state.TRANSITIONS`).

Ending a transaction: EndTxn writes PrepareCommit/PrepareAbort, answers the client, then (in the background) has
the `TxnMarkerWriter` write a marker to every partition of the transaction (wherever its leader is:
`replication/txn_marker_channel_manager.py`), retrying failed ones every `retry_backoff_ms` while this broker still
coordinates the partition, and writes CompleteCommit/CompleteAbort once every marker is written. A marker answered
TRANSACTION_COORDINATOR_FENCED or INVALID_PRODUCER_EPOCH stops the completion (a newer coordinator owns it). A
load finding PrepareCommit/PrepareAbort does the same (the previous coordinator died before completing): the new
leader of the `__transaction_state` partition re-sends every marker, at its own (higher) coordinator epoch.

An AddPartitionsToTxn that arrives while the id's previous transaction is still being completed (its producer
starting the next transaction right after EndTxn was answered) waits up to `COMPLETION_WAIT_MS` for the
completion before it is checked: Kafka answers it CONCURRENT_TRANSACTIONS and the client retries after its backoff
(20 ms in librdkafka and the Java producer), while the completion itself takes well under a millisecond on one
broker. The answer is the one the client's retry would get; a completion still running after the wait gets
CONCURRENT_TRANSACTIONS as before.

Timers (on the runtime's injected Time, cancelled when the partition is resigned): an Ongoing transaction has a
timer at its start + `transaction.timeout.ms`; when it fires the producer is fenced (epoch + 1) and the
transaction aborted at the new epoch, as Kafka's abortTimedOutTransactions does. Every
`transaction.remove.expired.transaction.cleanup.interval.ms` the ids idle (Empty/Complete) for
`transactional.id.expiration.ms` are tombstoned (state Dead).

Error codes follow Kafka's TransactionCoordinator: INVALID_PRODUCER_ID_MAPPING (unknown id, other producer id),
PRODUCER_FENCED (other epoch; handlers turn it into INVALID_PRODUCER_EPOCH for old request versions),
CONCURRENT_TRANSACTIONS (a write or a completion in flight), INVALID_TXN_STATE (EndTxn in the wrong state),
INVALID_TRANSACTION_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from odradek.broker.coordinator.runtime import ShardContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.txn.api import (
    ProducerIdGenerator,
    TopicPartition,
    TransactionConfig,
    TransactionDescription,
    TxnMarkerWriter,
)
from odradek.broker.txn.state import EXPIRATION_ALLOWED, TransactionState, can_transition
from odradek.broker.txn.transaction_log import (
    TRANSACTION_STATE_TOPIC,
    TransactionLogFormatError,
    TransactionLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from odradek.broker.utils.time import wait_event

log = logging.getLogger("odradek.broker.txn")

# How long an AddPartitionsToTxn waits for the completion of the id's previous transaction (markers, then
# CompleteCommit/CompleteAbort) before it is answered CONCURRENT_TRANSACTIONS: no longer than the clients' own
# retry backoff for that error (librdkafka's and the Java producer's 20 ms), so waiting never answers later than a
# retry would have.
COMPLETION_WAIT_MS = 20

S = TransactionState
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 32767  # Short.MAX_VALUE


def is_epoch_exhausted(epoch: int) -> bool:
    """Kafka's TransactionMetadata.isEpochExhausted: one epoch is kept in reserve for fencing."""
    return epoch >= MAX_EPOCH - 1


@dataclass(slots=True, eq=False)
class TransactionMetadata:
    """The state of one transactional id (Kafka's TransactionMetadata), as last written to the log."""

    transactional_id: str
    producer_id: int
    previous_producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    state: TransactionState
    partitions: set[TopicPartition] = field(default_factory=set)
    start_ms: int = -1
    last_update_ms: int = -1
    pending: TransactionState | None = None  # the state of a write in flight

    def value(
        self,
        state: TransactionState,
        now: int,
        *,
        producer_id: int | None = None,
        epoch: int | None = None,
        timeout_ms: int | None = None,
        partitions: Iterable[TopicPartition] | None = None,
        start_ms: int | None = None,
        previous_producer_id: int | None = None,
    ) -> TransactionLogValue:
        """The record of this id moved to `state` (fields not given are kept)."""
        by_topic: dict[str, list[int]] = {}
        for topic, index in sorted(self.partitions if partitions is None else partitions):
            by_topic.setdefault(topic, []).append(index)
        return TransactionLogValue(
            self.producer_id if producer_id is None else producer_id,
            self.producer_epoch if epoch is None else epoch,
            self.timeout_ms if timeout_ms is None else timeout_ms,
            state,
            tuple((topic, tuple(indexes)) for topic, indexes in by_topic.items()),
            now,
            self.start_ms if start_ms is None else start_ms,
            self.previous_producer_id if previous_producer_id is None else previous_producer_id,
        )

    def apply(self, value: TransactionLogValue) -> None:
        if value.producer_epoch != self.producer_epoch or value.producer_id != self.producer_id:
            self.last_producer_epoch = self.producer_epoch if value.producer_id == self.producer_id else -1
        self.producer_id = value.producer_id
        self.previous_producer_id = value.previous_producer_id
        self.producer_epoch = value.producer_epoch
        self.timeout_ms = value.transaction_timeout_ms
        self.state = value.state
        self.partitions = {(topic, index) for topic, indexes in value.partitions for index in indexes}
        self.start_ms = value.start_timestamp_ms
        self.last_update_ms = value.last_update_timestamp_ms

    def describe(self) -> TransactionDescription:
        return TransactionDescription(
            self.transactional_id,
            ErrorCode.NONE,
            self.state.state_name,
            self.timeout_ms,
            self.start_ms,
            self.producer_id,
            self.producer_epoch,
            tuple(sorted(self.partitions)),
        )


MARKERS_ABANDONED = frozenset({ErrorCode.TRANSACTION_COORDINATOR_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH})
"""Marker answers after which a coordinator stops completing a transaction (Kafka's TransactionMarkerRequest-
CompletionHandler)."""


def _write_error(error: ErrorCode) -> ErrorCode:
    """What a failed write of __transaction_state answers (Kafka's TransactionStateManager.appendTransactionToLog)."""
    if error in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if error in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    return ErrorCode.UNKNOWN_SERVER_ERROR


class TransactionStateManager:
    def __init__(
        self,
        context: ShardContext,
        config: TransactionConfig,
        producer_ids: ProducerIdGenerator,
        markers: TxnMarkerWriter,
    ) -> None:
        self.context = context
        self.config = config
        self.producer_ids = producer_ids
        self.markers = markers
        self.transactions: dict[str, TransactionMetadata] = {}
        # For the metrics: markers waiting because their partition has no leader here, by transactional id, and
        # the ids whose Complete write failed and waits to be retried.
        self.unknown_destination: dict[str, int] = {}
        self.log_append_retry: set[str] = set()
        # The completions running, by transactional id: set when the completion ends (done, fenced or resigned).
        self.completions: dict[str, asyncio.Event] = {}

    # ==== the shard ============================================================================================

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        """A record of __transaction_state (never transactional: `producer_id` is always NO_PRODUCER_ID)."""
        try:
            transactional_id = decode_key(key)
            if value is None:
                self.transactions.pop(transactional_id, None)
                return
            record = decode_value(value)
        except TransactionLogFormatError as exc:
            log.warning(
                "skipping unreadable record at offset %d of %s-%d: %s",
                offset,
                TRANSACTION_STATE_TOPIC,
                self.context.partition,
                exc,
            )
            return
        txn = self.transactions.get(transactional_id)
        if txn is None:
            txn = TransactionMetadata(
                transactional_id, record.producer_id, -1, record.producer_epoch, -1, 0, record.state
            )
            self.transactions[transactional_id] = txn
        txn.apply(record)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        """__transaction_state holds no transactional records, so no markers either (one would be ignored)."""

    def on_loaded(self) -> None:
        for txn in self.transactions.values():
            if txn.state is S.ONGOING:
                self._schedule_timeout(txn)
            elif txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
                self._start_completion(txn)
        self._schedule_expiration()
        log.debug(
            "%s-%d holds %d transactional ids", TRANSACTION_STATE_TOPIC, self.context.partition, len(self.transactions)
        )

    def on_unloaded(self) -> None:
        """Nothing waits on a shard: writes in flight fail with NOT_LEADER_OR_FOLLOWER (NOT_COORDINATOR)."""

    # ==== writes ===============================================================================================

    async def _write(self, txn: TransactionMetadata, value: TransactionLogValue) -> ErrorCode:
        """Write `value` for `txn` and apply it once written; refuses a move the state table does not allow."""
        if not can_transition(txn.state, value.state):
            log.error("illegal transition of %s: %s -> %s", txn.transactional_id, txn.state, value.state)
            return ErrorCode.INVALID_TXN_STATE
        txn.pending = value.state
        try:
            error, _ = await self.context.append([(encode_key(txn.transactional_id), encode_value(value))])
        finally:
            txn.pending = None
        if error is not ErrorCode.NONE:
            return _write_error(error)
        if self.transactions.get(txn.transactional_id) is not txn:
            return ErrorCode.NOT_COORDINATOR
        txn.apply(value)
        return ErrorCode.NONE

    # ==== InitProducerId =======================================================================================

    async def init_producer_id(
        self, transactional_id: str, timeout_ms: int, expected_producer_id: int, expected_epoch: int
    ) -> tuple[ErrorCode, int, int]:
        """Kafka's TransactionCoordinator.handleInitProducerId for a transactional id: (error, producer id, epoch)."""
        if timeout_ms <= 0 or timeout_ms > self.config.max_timeout_ms:
            return ErrorCode.INVALID_TRANSACTION_TIMEOUT, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.state is S.DEAD:
            producer_id = await self.producer_ids.generate_producer_id()
            txn = self.transactions.get(transactional_id)  # another request may have created it meanwhile
            if txn is None or txn.state is S.DEAD:
                txn = TransactionMetadata(
                    transactional_id, producer_id, -1, NO_PRODUCER_EPOCH, NO_PRODUCER_EPOCH, timeout_ms, S.EMPTY
                )
                self.transactions[transactional_id] = txn
        if txn.pending is not None:
            return ErrorCode.CONCURRENT_TRANSACTIONS, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if expected_producer_id != NO_PRODUCER_ID and not self._is_valid_producer_id(
            txn, expected_producer_id, expected_epoch
        ):
            return ErrorCode.PRODUCER_FENCED, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT, S.PREPARE_EPOCH_FENCE, S.DEAD):
            return ErrorCode.CONCURRENT_TRANSACTIONS, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if txn.state is S.ONGOING:
            # Fence the producer of the ongoing transaction and abort it; the client retries meanwhile.
            error = await self._fence_and_abort(txn)
            return (
                ErrorCode.CONCURRENT_TRANSACTIONS if error is ErrorCode.NONE else error,
                NO_PRODUCER_ID,
                NO_PRODUCER_EPOCH,
            )
        now = self.context.time.wall_ms()
        given = expected_producer_id != NO_PRODUCER_ID
        if given and expected_producer_id != txn.producer_id:
            # The previous id with an exhausted epoch: a retry of the rotation that made the current id.
            return ErrorCode.NONE, txn.producer_id, txn.producer_epoch
        if is_epoch_exhausted(txn.producer_epoch):
            # Kafka's prepareProducerIdRotation: a new producer id at epoch 0.
            new_id = await self.producer_ids.generate_producer_id()
            value = txn.value(
                S.EMPTY, now, producer_id=new_id, epoch=0, timeout_ms=timeout_ms, partitions=(), start_ms=-1,
                previous_producer_id=txn.producer_id,
            )  # fmt: skip
        elif not given or txn.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == txn.producer_epoch:
            value = txn.value(
                S.EMPTY, now, epoch=txn.producer_epoch + 1, timeout_ms=timeout_ms, partitions=(), start_ms=-1
            )
        elif expected_epoch == txn.last_producer_epoch:
            # A retry of a bump that succeeded but whose answer was lost (Kafka's prepareIncrementProducerEpoch).
            return ErrorCode.NONE, txn.producer_id, txn.producer_epoch
        else:
            return ErrorCode.PRODUCER_FENCED, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        error = await self._write(txn, value)
        if error is not ErrorCode.NONE:
            return error, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        return ErrorCode.NONE, txn.producer_id, txn.producer_epoch

    @staticmethod
    def _is_valid_producer_id(txn: TransactionMetadata, producer_id: int, epoch: int) -> bool:
        """Kafka's isValidProducerId (KIP-360): the metadata was just created, the id is the current one, or the
        previous one with an exhausted epoch (a retry after a rotation)."""
        return (
            txn.producer_epoch == NO_PRODUCER_EPOCH
            or producer_id == txn.producer_id
            or (producer_id == txn.previous_producer_id and is_epoch_exhausted(epoch))
        )

    async def _fence_and_abort(self, txn: TransactionMetadata) -> ErrorCode:
        """Kafka's prepareFenceProducerEpoch then an abort from the coordinator: PrepareAbort at epoch + 1."""
        if not can_transition(txn.state, S.PREPARE_EPOCH_FENCE):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        epoch = txn.producer_epoch if txn.producer_epoch >= MAX_EPOCH else txn.producer_epoch + 1
        return await self._prepare_end(txn, commit=False, epoch=epoch)

    # ==== AddPartitionsToTxn, AddOffsetsToTxn ==================================================================

    def _check_producer(self, transactional_id: str, producer_id: int, epoch: int) -> TransactionMetadata | ErrorCode:
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.state is S.DEAD or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if txn.producer_epoch != epoch:
            return ErrorCode.PRODUCER_FENCED
        if txn.pending is not None:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        return txn

    async def add_partitions(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: Iterable[TopicPartition]
    ) -> ErrorCode:
        """Kafka's handleAddPartitionsToTransaction: the transaction becomes (or stays) Ongoing with them. While
        the previous transaction of this producer is being completed, waits for that first (`COMPLETION_WAIT_MS`)."""
        checked = self._check_producer(transactional_id, producer_id, epoch)
        completion = self.completions.get(transactional_id)
        completing = checked is ErrorCode.CONCURRENT_TRANSACTIONS or (
            not isinstance(checked, ErrorCode) and checked.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT)
        )
        if completion is not None and completing:
            await wait_event(self.context.time, completion, COMPLETION_WAIT_MS)
            checked = self._check_producer(transactional_id, producer_id, epoch)  # done, or still concurrent
        if isinstance(checked, ErrorCode):
            return checked
        txn = checked
        if txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT, S.PREPARE_EPOCH_FENCE):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        wanted = set(partitions)
        if txn.state is S.ONGOING and wanted <= txn.partitions:
            return ErrorCode.NONE
        now = self.context.time.wall_ms()
        starting = txn.state is not S.ONGOING
        value = txn.value(
            S.ONGOING, now, partitions=txn.partitions | wanted, start_ms=now if starting else txn.start_ms
        )
        error = await self._write(txn, value)
        if error is ErrorCode.NONE and starting:
            self._schedule_timeout(txn)
        return error

    def verify_partition(self, transactional_id: str, producer_id: int, epoch: int, partition: TopicPartition) -> bool:
        """KIP-890 part 1 for a partition led here: whether `partition` is in the ongoing transaction of this
        producer and epoch (`verify_partitions` answering NONE; only an Ongoing transaction has partitions outside
        PrepareCommit/PrepareAbort)."""
        return self.verify_partitions(transactional_id, producer_id, epoch, (partition,))[partition] is ErrorCode.NONE

    def verify_partitions(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        """KIP-890 part 1 for a partition leader on another broker (AddPartitionsToTxn v4+ verify_only, Kafka's
        handleVerifyPartitionsInTransaction): NONE for the partitions in the transaction, INVALID_TXN_STATE for the
        others, or one error for all (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS while
        it is being ended). A write in flight is not waited for: the partitions are those already written."""
        txn = self.transactions.get(transactional_id)
        wanted = list(partitions)
        if txn is None or txn.state is S.DEAD or txn.producer_id != producer_id:
            return dict.fromkeys(wanted, ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if txn.producer_epoch != epoch:
            return dict.fromkeys(wanted, ErrorCode.PRODUCER_FENCED)
        if txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            return dict.fromkeys(wanted, ErrorCode.CONCURRENT_TRANSACTIONS)
        return {tp: ErrorCode.NONE if tp in txn.partitions else ErrorCode.INVALID_TXN_STATE for tp in wanted}

    # ==== EndTxn ===============================================================================================

    async def end_transaction(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> ErrorCode:
        """Kafka's handleEndTransaction from a client (transactions version 0/1)."""
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.state is S.DEAD or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if txn.producer_epoch != epoch:
            return ErrorCode.PRODUCER_FENCED
        if txn.pending is not None:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        state = txn.state
        if state is S.ONGOING:
            return await self._prepare_end(txn, commit, txn.producer_epoch)
        if state is S.COMPLETE_COMMIT:
            return ErrorCode.NONE if commit else ErrorCode.INVALID_TXN_STATE
        if state is S.COMPLETE_ABORT:
            return ErrorCode.INVALID_TXN_STATE if commit else ErrorCode.NONE
        if state is S.PREPARE_COMMIT:
            return ErrorCode.CONCURRENT_TRANSACTIONS if commit else ErrorCode.INVALID_TXN_STATE
        if state is S.PREPARE_ABORT:
            return ErrorCode.INVALID_TXN_STATE if commit else ErrorCode.CONCURRENT_TRANSACTIONS
        return ErrorCode.INVALID_TXN_STATE  # Empty (nothing to end), PrepareEpochFence

    async def _prepare_end(self, txn: TransactionMetadata, commit: bool, epoch: int) -> ErrorCode:
        self.context.timer.cancel(("timeout", txn.transactional_id))
        target = S.PREPARE_COMMIT if commit else S.PREPARE_ABORT
        error = await self._write(txn, txn.value(target, self.context.time.wall_ms(), epoch=epoch))
        if error is ErrorCode.NONE:
            self._start_completion(txn)
        elif txn.state is S.ONGOING:
            self._schedule_timeout(txn)
        return error

    def _start_completion(self, txn: TransactionMetadata) -> None:
        done = self.completions[txn.transactional_id] = asyncio.Event()
        self.context.spawn(self._tracked(txn, done), f"completing the transaction of {txn.transactional_id}")

    async def _tracked(self, txn: TransactionMetadata, done: asyncio.Event) -> None:
        """`_complete`, with `done` set (and `completions` cleared) however it ends, cancellation included."""
        try:
            await self._complete(txn)
        finally:
            done.set()
            if self.completions.get(txn.transactional_id) is done:
                del self.completions[txn.transactional_id]

    async def _complete(self, txn: TransactionMetadata) -> None:
        """Write the markers of a PrepareCommit/PrepareAbort transaction, then its Complete state."""
        commit = txn.state is S.PREPARE_COMMIT
        remaining = sorted(txn.partitions)
        while remaining and self.context.active:
            errors = await self.markers.write_markers(
                txn.producer_id, txn.producer_epoch, self.context.leader_epoch, commit, remaining
            )
            fenced = sorted({errors[tp].name for tp in remaining if errors.get(tp) in MARKERS_ABANDONED})
            if fenced:
                # Kafka's abortSending: a newer coordinator (or producer epoch) owns the transaction now, and it
                # completes it; this one must neither retry nor write a Complete state.
                log.warning("not completing the transaction of %s: markers answered %s", txn.transactional_id, fenced)
                self.unknown_destination.pop(txn.transactional_id, None)
                return
            # A deleted partition needs no marker (Kafka drops it from the pending set).
            remaining = [
                tp
                for tp in remaining
                if errors.get(tp, ErrorCode.UNKNOWN_SERVER_ERROR)
                not in (ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            ]
            tid = txn.transactional_id
            unknown = sum(errors.get(tp) is ErrorCode.NOT_LEADER_OR_FOLLOWER for tp in remaining)
            if unknown:
                self.unknown_destination[tid] = unknown
            else:
                self.unknown_destination.pop(tid, None)
            if remaining:
                log.info("retrying %d transaction markers of %s", len(remaining), txn.transactional_id)
                await self.context.time.sleep(self.config.retry_backoff_ms)
        self.unknown_destination.pop(txn.transactional_id, None)
        target = S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT
        try:
            while self.context.active and txn.state is not target:
                error = await self._write(txn, txn.value(target, self.context.time.wall_ms(), partitions=()))
                if error is ErrorCode.NONE:
                    return
                self.log_append_retry.add(txn.transactional_id)
                await self.context.time.sleep(self.config.retry_backoff_ms)
        finally:
            self.log_append_retry.discard(txn.transactional_id)

    # ==== timers ===============================================================================================

    def _schedule_timeout(self, txn: TransactionMetadata) -> None:
        now = self.context.time.wall_ms()
        delay = max(txn.start_ms + txn.timeout_ms - now, 0)
        key = ("timeout", txn.transactional_id)
        self.context.timer.schedule(key, delay, self._on_timeout, txn, txn.producer_id, txn.producer_epoch)

    def _on_timeout(self, txn: TransactionMetadata, producer_id: int, epoch: int) -> None:
        if self.transactions.get(txn.transactional_id) is not txn or txn.state is not S.ONGOING:
            return
        if txn.producer_id != producer_id or txn.producer_epoch != epoch:
            return
        if txn.pending is not None:  # an AddPartitions write in flight: look again shortly
            self.context.timer.schedule(
                ("timeout", txn.transactional_id),
                self.config.retry_backoff_ms,
                self._on_timeout,
                txn,
                producer_id,
                epoch,
            )
            return
        log.info(
            "aborting the transaction of %s (producer %d, epoch %d): it ran longer than %d ms",
            txn.transactional_id,
            producer_id,
            epoch,
            txn.timeout_ms,
        )
        self.context.spawn(self._abort_timed_out(txn), f"aborting the timed-out transaction of {txn.transactional_id}")

    async def _abort_timed_out(self, txn: TransactionMetadata) -> None:
        error = await self._fence_and_abort(txn)
        if error is not ErrorCode.NONE and txn.state is S.ONGOING:
            log.warning("could not abort the timed-out transaction of %s: %s", txn.transactional_id, error.name)

    def _schedule_expiration(self) -> None:
        self.context.timer.schedule("expire", self.config.remove_expired_interval_ms, self._on_expiration)

    def _on_expiration(self) -> None:
        self.context.spawn(self._expire(), "removing expired transactional ids")
        self._schedule_expiration()

    async def _expire(self) -> None:
        await self.expire_transactional_ids()

    async def expire_transactional_ids(self) -> int:
        """Tombstone the ids idle for transactional.id.expiration.ms (Kafka's removeExpiredTransactionalIds)."""
        now = self.context.time.wall_ms()
        expired = [
            txn
            for txn in self.transactions.values()
            if txn.state in EXPIRATION_ALLOWED
            and txn.pending is None
            and txn.last_update_ms + self.config.transactional_id_expiration_ms <= now
        ]
        removed = 0
        for txn in expired:
            txn.pending = S.DEAD
            try:
                error, _ = await self.context.append([(encode_key(txn.transactional_id), None)])
            finally:
                txn.pending = None
            if error is ErrorCode.NONE and self.transactions.get(txn.transactional_id) is txn:
                txn.state = S.DEAD
                del self.transactions[txn.transactional_id]
                removed += 1
        return removed

    # ==== admin ================================================================================================

    def describe(self, transactional_id: str) -> TransactionDescription:
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.state is S.DEAD:
            return TransactionDescription(transactional_id, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)
        return txn.describe()

    def list_transactions(
        self, states: set[TransactionState], producer_ids: set[int], min_duration_ms: int
    ) -> list[TransactionDescription]:
        now = self.context.time.wall_ms()
        found = []
        for txn in self.transactions.values():
            if txn.state is S.DEAD or (states and txn.state not in states):
                continue
            if producer_ids and txn.producer_id not in producer_ids:
                continue
            if min_duration_ms >= 0 and now - txn.start_ms < min_duration_ms:  # Kafka's test, any state
                continue
            found.append(txn.describe())
        return found
