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
the log from the latest usable producer snapshot (`Log._reload_producer_state`, Kafka's truncateAndReload).

Validation (Kafka's ProducerAppendInfo and UnifiedLog.analyzeAndValidateProducerState), per batch from its
header, O(1) (at most the 5 retained batches are compared):

- CLIENT batches: a batch whose epoch equals the producer's and whose (first, last) sequence equals one of its
  retained batches is a duplicate: `DuplicateBatch` (46) carrying the original `BatchMetadata`; the log writes
  nothing and answers with the original offsets. Else an epoch below the producer's is INVALID_PRODUCER_EPOCH
  (47; Kafka returns it rather than PRODUCER_FENCED since 2.7, transactional or not). A new epoch must start
  at sequence 0, unless the producer had no epoch yet; within the epoch the first sequence must follow the
  last one (wrapping at 2**31 - 1), unless the log knew no epoch of the producer before this append (its data
  was deleted by retention or DeleteRecords, or it is new: any sequence is accepted, as Kafka does since 2.5:
  UNKNOWN_PRODUCER_ID is no longer returned). Else OUT_OF_ORDER_SEQUENCE_NUMBER (45). A non-transactional
  data batch of a producer with an open transaction is INVALID_TXN_STATE (48).
- COORDINATOR batches: the epoch check only (Kafka checks sequences for clients only).
- REPLICATION batches: nothing (the leader validated them).

Producer snapshots (`<20-digit offset>.snapshot`, Kafka's ProducerSnapshot schema version 1; big-endian):
``version int16 (1) | crc uint32 | count int32 | count x entry``, each entry ``producer_id int64 | epoch int16 |
last_sequence int32 | last_offset int64 | offset_delta int32 | timestamp int64 | coordinator_epoch int32 |
current_txn_first_offset int64 (-1: none)``; the CRC-32C covers every byte after the crc field. The offset in the
name is the map end offset: the state holds every batch below it. A snapshot entry keeps only the last batch
(offset_delta = last - first offset of it, so also of its sequences). `snapshot_bytes`/`entries_from_snapshot`
are the format; `Log` writes the files at each roll and at close and loads the latest usable one at open.
Not thread-safe by itself: `Log` calls it under its lock. Producers expire after `producer.id.expiration.ms`
without a batch (by their last batch's max timestamp) unless a transaction of theirs is open
(`remove_expired_producers`, Kafka's isProducerExpired).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import crc32c
from odradek.broker.log.txn_index import AbortedTxn, TransactionIndex
from odradek.broker.records.batch import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, BatchHeader
from odradek.broker.records.record import ABORT, COMMIT, read_control_record

NUM_BATCHES_TO_RETAIN = 5  # Kafka keeps the metadata of a producer's last 5 batches (max.in.flight for idempotence)

# Kafka's error codes (checked against ErrorCode by a test; `log` does not import the protocol).
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
DUPLICATE_SEQUENCE_NUMBER = 46
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
TRANSACTION_COORDINATOR_FENCED = 52

_MAX_SEQUENCE = 2**31 - 1
SNAPSHOT_VERSION = 1
_SNAPSHOT_HEADER = struct.Struct(">hIi")  # version, crc, entry count
_SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")
_CRC_START = 6  # the CRC covers everything after version (2 bytes) and crc (4 bytes)


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


class CorruptSnapshotError(Exception):
    """A producer snapshot file that cannot be read (bad version, CRC or length)."""


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """One of the last batches of a producer (for duplicate detection by the exactly-once issue)."""

    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int
    timestamp: int


class DuplicateBatch(ProducerStateError):
    """A client batch equal to one of the producer's retained batches (DUPLICATE_SEQUENCE_NUMBER internally):
    `batch` holds the original offsets and timestamp, which the produce answer carries with NONE (Kafka's
    UnifiedLog.append returning the duplicate's LogAppendInfo)."""

    def __init__(self, batch: BatchMetadata) -> None:
        super().__init__(
            DUPLICATE_SEQUENCE_NUMBER, f"duplicate of the batch at offsets {batch.first_offset}-{batch.last_offset}"
        )
        self.batch = batch


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

    def find_duplicate(self, header: BatchHeader) -> BatchMetadata | None:
        """The retained batch `header` repeats (same epoch, same first and last sequence), if any (Kafka's
        ProducerStateEntry.findDuplicateBatch)."""
        if header.producer_epoch != self.producer_epoch:
            return None
        first, last = header.base_sequence, header.last_sequence
        for batch in self.batches:
            if batch.first_sequence == first and batch.last_sequence == last:
                return batch
        return None


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
        elif self.origin is AppendOrigin.COORDINATOR and current is not None:
            _check_epoch(current, header, first_offset)
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
        if self.origin is not AppendOrigin.REPLICATION and marker is not None:
            # Kafka's appendEndTxnMarker (transactions v0/v1: a marker of the producer's epoch or later) and
            # checkCoordinatorEpoch: a marker from an older coordinator is a zombie's.
            _check_epoch(entry, header, first_offset)
            if marker.coordinator_epoch < entry.coordinator_epoch:
                raise ProducerStateError(
                    TRANSACTION_COORDINATOR_FENCED,
                    f"coordinator epoch {marker.coordinator_epoch} of producer {entry.producer_id}'s marker at offset"
                    f" {first_offset} is below {entry.coordinator_epoch}",
                )
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
        """Refuse a client batch with ProducerStateError, exactly as Kafka decides (module docstring):
        `current` is the producer's entry including earlier batches of this append, `self.producers` the state
        before it. Raises DuplicateBatch for a repeat of a retained batch."""
        if (
            current is not None
            and current.batches
            and header.producer_epoch == current.producer_epoch
            and header.base_sequence == current.batches[-1].last_sequence + 1
            and (current.current_txn_first_offset is None or header.is_transactional)
            and not header.is_control
        ):
            # The common case, decided without the checks below (same outcome: the next batch of the epoch
            # cannot repeat a retained batch, whose sequences all lie at or below the last one).
            return
        committed = self.producers.get(header.producer_id)
        if committed is not None and not header.is_control:
            duplicate = committed.find_duplicate(header)
            if duplicate is not None:
                raise DuplicateBatch(duplicate)
        if current is None:
            return  # a producer this log does not know: any epoch and sequence (Kafka 2.5+)
        _check_epoch(current, header, first_offset)
        if header.is_control:
            return
        epoch, first_sequence = header.producer_epoch, header.base_sequence
        if epoch != current.producer_epoch:
            if first_sequence != 0 and current.producer_epoch != NO_PRODUCER_EPOCH:
                raise ProducerStateError(
                    OUT_OF_ORDER_SEQUENCE_NUMBER,
                    f"new epoch {epoch} of producer {header.producer_id} at offset {first_offset} starts at sequence"
                    f" {first_sequence}, not 0 (current epoch {current.producer_epoch})",
                )
        elif committed is not None and committed.producer_epoch != NO_PRODUCER_EPOCH:
            last_sequence = current.last_sequence
            if not (first_sequence == last_sequence + 1 or (first_sequence == 0 and last_sequence == _MAX_SEQUENCE)):
                raise ProducerStateError(
                    OUT_OF_ORDER_SEQUENCE_NUMBER,
                    f"out of order sequence number for producer {header.producer_id} at offset {first_offset}:"
                    f" {first_sequence} (incoming), {last_sequence} (current end sequence number)",
                )
        if current.current_txn_first_offset is not None and not header.is_transactional:
            raise ProducerStateError(
                INVALID_TXN_STATE,
                f"expected a transactional write from producer {header.producer_id} at offset {first_offset}",
            )

    def remove_expired_producers(self, now_ms: int, expiration_ms: int) -> int:
        """Forget producers without an open transaction whose last batch's timestamp is `expiration_ms` or more
        before `now_ms` (Kafka's removeExpiredProducers); returns how many."""
        expired = [
            pid
            for pid, entry in self.producers.items()
            if entry.current_txn_first_offset is None and now_ms - entry.last_timestamp >= expiration_ms
        ]
        for pid in expired:
            del self.producers[pid]
        return len(expired)

    # -- snapshots -------------------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """This state as a snapshot file's bytes (its name is `map_end_offset`)."""
        return snapshot_bytes(self.producers.values())

    def load_snapshot(self, offset: int, entries: Iterable[ProducerStateEntry]) -> None:
        """Start from a snapshot taken at `offset` (replay then continues from there). Transactions open in the
        snapshot are ongoing. Expired entries are not skipped here (Kafka skips them at load): the periodic
        `remove_expired_producers` forgets them, as the log does not know producer.id.expiration.ms."""
        self.truncate_fully_and_start_at(offset)
        ongoing = []
        for entry in entries:
            self.producers[entry.producer_id] = entry
            if entry.current_txn_first_offset is not None:
                ongoing.append(TxnMetadata(entry.producer_id, entry.current_txn_first_offset))
        for txn in sorted(ongoing, key=lambda t: t.first_offset):
            self._ongoing[txn.first_offset] = txn

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


def _check_epoch(current: ProducerStateEntry, header: BatchHeader, first_offset: int) -> None:
    """Kafka's checkProducerEpoch (transactions v0/v1 rule): an epoch below the producer's is refused."""
    if header.producer_epoch < current.producer_epoch:
        raise ProducerStateError(
            INVALID_PRODUCER_EPOCH,
            f"epoch {header.producer_epoch} of producer {header.producer_id} at offset {first_offset} is below the"
            f" last seen epoch {current.producer_epoch}",
        )


def snapshot_bytes(entries: Iterable[ProducerStateEntry]) -> bytes:
    """Kafka's ProducerStateManager.writeSnapshot: the format in the module docstring, entries in the given
    order."""
    body = bytearray()
    count = 0
    for entry in entries:
        last = entry.batches[-1] if entry.batches else None
        body += _SNAPSHOT_ENTRY.pack(
            entry.producer_id,
            entry.producer_epoch,
            NO_SEQUENCE if last is None else last.last_sequence,
            -1 if last is None else last.last_offset,
            0 if last is None else last.last_offset - last.first_offset,
            entry.last_timestamp,
            entry.coordinator_epoch,
            -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset,
        )
        count += 1
    after_crc = struct.pack(">i", count) + bytes(body)
    return struct.pack(">hI", SNAPSHOT_VERSION, crc32c.crc32c(after_crc)) + after_crc


def entries_from_snapshot(data: bytes) -> list[ProducerStateEntry]:
    """Kafka's readSnapshot: raises CorruptSnapshotError on a wrong version, CRC or length."""
    if len(data) < _SNAPSHOT_HEADER.size:
        raise CorruptSnapshotError(f"snapshot of {len(data)} bytes is too short")
    version, crc, count = _SNAPSHOT_HEADER.unpack_from(data, 0)
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"snapshot version {version} is not {SNAPSHOT_VERSION}")
    if crc32c.crc32c(data[_CRC_START:]) != crc:
        raise CorruptSnapshotError("snapshot CRC mismatch")
    if count < 0 or len(data) != _SNAPSHOT_HEADER.size + count * _SNAPSHOT_ENTRY.size:
        raise CorruptSnapshotError(f"snapshot length {len(data)} does not hold {count} entries")
    entries = []
    for (
        pid,
        epoch,
        last_seq,
        last_offset,
        delta,
        timestamp,
        coordinator_epoch,
        txn_first,
    ) in _SNAPSHOT_ENTRY.iter_unpack(data[_SNAPSHOT_HEADER.size :]):
        batches: tuple[BatchMetadata, ...] = ()
        if last_offset >= 0:
            first_sequence = NO_SEQUENCE if last_seq == NO_SEQUENCE else (last_seq - delta) % (_MAX_SEQUENCE + 1)
            batches = (BatchMetadata(first_sequence, last_seq, last_offset - delta, last_offset, timestamp),)
        entries.append(
            ProducerStateEntry(pid, epoch, batches, coordinator_epoch, timestamp, None if txn_first < 0 else txn_first)
        )
    return entries
