"""`ProducerStateManager`: per-log producer state and ongoing transactions (Kafka's ProducerStateManager,
ProducerAppendInfo, ProducerStateEntry, TxnMetadata, CompletedTxn).

The step between offset assignment and the segment append. For every batch that carries a producer id, read
from its 61-byte header only (producer id, epoch, base sequence, offsets, max timestamp, transactional and
control flags; a control batch's one record gives the marker type), an append:

1. `prepare(origin)` opens a `ProducerAppendInfo`; `ProducerAppendInfo.append(header, ...)` runs the validation hook
   (`ProducerStateManager.validate_batch`) and computes the producer's new entry, without touching the state,
   so that a refused batch or a failed write leaves it as it was;
2. after the segment write, `apply(info, next_offset, txn_index)` commits the entries, registers the
   transactions started (a transactional data batch of a producer with no open transaction opens one at its
   first offset) and completes those ended by a marker (COMMIT or ABORT control batch). An ABORT adds an
   `AbortedTxn` to the `.txnindex` of the segment holding the marker, with the LSO at that point.

A completed transaction stays *unreplicated* until the high watermark passes its marker. The first unstable
offset is the smallest first offset of an ongoing or unreplicated transaction; the log's last stable offset is
min(first unstable offset, high watermark) (Kafka's UnifiedLog.lastStableOffset).

Who calls it: `Log.append_as_leader` (origin CLIENT or COORDINATOR) and `Log.append_as_follower` (REPLICATION)
per append; segment recovery per recovered batch (rebuilding the `.txnindex`); truncation and loading replay
the log from its start (`Log._reload_producer_state`, Kafka's truncateAndReload). Producer snapshots
(`<offset>.snapshot`, Kafka's format) are the next issue's: they plug in as `load_snapshot(offset)` before the
replay, which then starts at the snapshot offset instead of the log start, and `take_snapshot()` at each roll.
Not thread-safe by itself: `Log` calls it under its lock. Producers are never expired yet (Kafka's
producer.id.expiration.ms belongs with the exactly-once issue), so `producers` holds every id a log has seen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from odradek.broker.log.txn_index import AbortedTxn, TransactionIndex
from odradek.broker.records.batch import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, BatchHeader
from odradek.broker.records.record import ABORT, COMMIT, read_control_record

NUM_BATCHES_TO_RETAIN = 5  # Kafka keeps the metadata of a producer's last 5 batches (max.in.flight for idempotence)


class AppendOrigin(enum.Enum):
    """Who wrote the batch (Kafka's AppendOrigin): only CLIENT batches are checked by the validation hook."""

    CLIENT = "client"
    COORDINATOR = "coordinator"
    REPLICATION = "replication"


class ProducerStateError(Exception):
    """A batch refused by the producer-state checks; `error_code` is Kafka's (45 OUT_OF_ORDER_SEQUENCE_NUMBER,
    46 DUPLICATE_SEQUENCE_NUMBER, 47 INVALID_PRODUCER_EPOCH, 48 INVALID_TXN_STATE, ...)."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """One of the last batches of a producer (for duplicate detection by the exactly-once issue)."""

    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ProducerStateEntry:
    """The state of one producer id: epoch, last batches, the first offset of its open transaction."""

    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    batches: tuple[BatchMetadata, ...] = ()
    coordinator_epoch: int = -1
    last_timestamp: int = -1
    current_txn_first_offset: int | None = None

    @property
    def last_sequence(self) -> int:
        return self.batches[-1].last_sequence if self.batches else NO_SEQUENCE

    @property
    def last_data_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1


@dataclass(frozen=True, slots=True)
class TxnMetadata:
    producer_id: int
    first_offset: int
    last_offset: int | None = None  # the marker's offset once completed


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction ended by a marker at `last_offset`."""

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


class ProducerAppendInfo:
    """The producer-state changes of one append, computed before the write and applied after it."""

    def __init__(self, manager: ProducerStateManager, origin: AppendOrigin) -> None:
        self._manager = manager
        self.origin = origin
        self.entries: dict[int, ProducerStateEntry] = {}
        self.started_txns: list[TxnMetadata] = []
        self.completed_txns: list[CompletedTxn] = []

    def current(self, producer_id: int) -> ProducerStateEntry | None:
        entry = self.entries.get(producer_id)
        return entry if entry is not None else self._manager.producers.get(producer_id)

    def append(self, header: BatchHeader, first_offset: int, buf: bytes | bytearray | memoryview) -> None:
        """Account for one batch (O(1): header fields, and a control batch's one record). `header` describes the
        batch at `header.position` in `buf`; `first_offset` is its base offset as the log assigned it (the
        leader stamps it after reading the header). Batches without a producer id are ignored."""
        producer_id = header.producer_id
        if producer_id == NO_PRODUCER_ID:
            return
        current = self.entries.get(producer_id) or self._manager.producers.get(producer_id)
        if self.origin is AppendOrigin.CLIENT:
            self._manager.validate_batch(current, header, first_offset)
        entry = current if current is not None else ProducerStateEntry(producer_id)
        if header.is_control:
            self.entries[producer_id] = self._end_txn(entry, header, first_offset, buf)
        else:
            self.entries[producer_id] = self._data_batch(entry, header, first_offset)

    def _data_batch(self, entry: ProducerStateEntry, header: BatchHeader, first_offset: int) -> ProducerStateEntry:
        epoch = header.producer_epoch
        batches = entry.batches if entry.producer_epoch == epoch else ()
        last_offset = first_offset + header.last_offset_delta
        added = BatchMetadata(
            header.base_sequence, header.last_sequence, first_offset, last_offset, header.max_timestamp
        )
        txn_first = entry.current_txn_first_offset
        if txn_first is None and header.is_transactional:
            txn_first = first_offset
            self.started_txns.append(TxnMetadata(entry.producer_id, txn_first))
        # Constructors rather than dataclasses.replace: this runs per batch of every idempotent producer.
        return ProducerStateEntry(
            entry.producer_id,
            epoch,
            (*batches, added)[-NUM_BATCHES_TO_RETAIN:],
            entry.coordinator_epoch,
            header.max_timestamp,
            txn_first,
        )

    def _end_txn(
        self, entry: ProducerStateEntry, header: BatchHeader, first_offset: int, buf: bytes | bytearray | memoryview
    ) -> ProducerStateEntry:
        marker = read_control_record(buf, header)
        first = entry.current_txn_first_offset
        if first is not None and marker is not None and marker.type in (ABORT, COMMIT):
            self.completed_txns.append(CompletedTxn(entry.producer_id, first, first_offset, marker.type == ABORT))
        # A marker for a producer with no open transaction changes nothing but the epoch (Kafka's
        # appendEndTxnMarker does the same; the coordinator may retry markers).
        epoch = header.producer_epoch
        coordinator_epoch = entry.coordinator_epoch if marker is None else marker.coordinator_epoch
        return ProducerStateEntry(
            entry.producer_id,
            epoch,
            entry.batches if entry.producer_epoch == epoch else (),
            max(entry.coordinator_epoch, coordinator_epoch),
            header.max_timestamp,
            None,
        )


class ProducerStateManager:
    """Producers and transactions of one log, up to `map_end_offset` (the log end offset once applied)."""

    def __init__(self) -> None:
        self.producers: dict[int, ProducerStateEntry] = {}
        # Keyed by first offset. Ongoing ones are added in offset order; unreplicated ones in marker order.
        self._ongoing: dict[int, TxnMetadata] = {}
        self._unreplicated: dict[int, TxnMetadata] = {}
        self.map_end_offset = 0

    # -- the validation hook ---------------------------------------------------------------------------------
    def validate_batch(self, current: ProducerStateEntry | None, header: BatchHeader, first_offset: int) -> None:
        """Hook for the exactly-once issue: raise ProducerStateError to refuse a client batch (Kafka's
        ProducerAppendInfo.checkProducerEpoch, checkSequence and duplicate detection: INVALID_PRODUCER_EPOCH,
        OUT_OF_ORDER_SEQUENCE_NUMBER, DUPLICATE_SEQUENCE_NUMBER, INVALID_TXN_STATE). Accepts every batch today:
        the Produce handler refuses transactional produce, and idempotent producers are not checked yet."""
        del current, header, first_offset

    # -- appends ---------------------------------------------------------------------------------------------
    def prepare(self, origin: AppendOrigin) -> ProducerAppendInfo:
        return ProducerAppendInfo(self, origin)

    def apply(self, info: ProducerAppendInfo, next_offset: int, txn_index: TransactionIndex | None) -> None:
        """Commit `info` once its batches are written (Kafka's update + completeTxn + updateMapEndOffset);
        aborted transactions go to `txn_index` (the segment holding their marker), when given."""
        self.producers.update(info.entries)
        for txn in info.started_txns:
            self._ongoing[txn.first_offset] = txn
        for completed in info.completed_txns:
            if txn_index is not None and completed.is_aborted:
                lso = self.last_stable_offset(completed)
                txn_index.append(AbortedTxn(completed.producer_id, completed.first_offset, completed.last_offset, lso))
            self.complete_txn(completed)
        self.map_end_offset = next_offset

    def replay(
        self, header: BatchHeader, buf: bytes | bytearray | memoryview, txn_index: TransactionIndex | None
    ) -> None:
        """Apply one stored batch (loading, recovery, truncation): no validation."""
        if header.producer_id != NO_PRODUCER_ID:
            info = self.prepare(AppendOrigin.REPLICATION)
            info.append(header, header.base_offset, buf)
            self.apply(info, header.next_offset, txn_index)
        else:
            self.map_end_offset = header.next_offset

    def last_stable_offset(self, completed: CompletedTxn) -> int:
        """The LSO once `completed` is: the first offset of the earliest other ongoing transaction, else the
        offset after its marker (Kafka's ProducerStateManager.lastStableOffset)."""
        for txn in self._ongoing.values():
            if txn.producer_id != completed.producer_id:
                return txn.first_offset
        return completed.last_offset + 1

    def complete_txn(self, completed: CompletedTxn) -> None:
        txn = self._ongoing.pop(completed.first_offset, None)
        if txn is not None:
            self._unreplicated[completed.first_offset] = TxnMetadata(
                txn.producer_id, txn.first_offset, completed.last_offset
            )

    # -- offsets ---------------------------------------------------------------------------------------------
    @property
    def first_unstable_offset(self) -> int | None:
        """The first offset of the earliest ongoing or unreplicated transaction (None when there is none)."""
        if not self._ongoing and not self._unreplicated:
            return None
        candidates = [next(iter(self._ongoing), None), min(self._unreplicated, default=None)]
        offsets = [offset for offset in candidates if offset is not None]
        return min(offsets) if offsets else None

    @property
    def ongoing_txns(self) -> tuple[TxnMetadata, ...]:
        return tuple(self._ongoing.values())

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        """Forget completed transactions whose marker is below the high watermark."""
        if self._unreplicated:
            self._unreplicated = {
                first: txn
                for first, txn in self._unreplicated.items()
                if txn.last_offset is None or txn.last_offset >= high_watermark
            }

    def on_log_start_offset_incremented(self, log_start_offset: int) -> None:
        """Completed transactions wholly below the log start offset are gone with their segments."""
        self.on_high_watermark_updated(log_start_offset)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Forget everything (the log restarts empty at `offset`, or is about to be replayed)."""
        self.producers.clear()
        self._ongoing.clear()
        self._unreplicated.clear()
        self.map_end_offset = offset
