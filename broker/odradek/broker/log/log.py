"""`Log`: one partition's log, a folder of segments (Kafka's UnifiedLog + LocalLog, local storage only).

Partition folder `<topic>-<partition>/`::

    00000000000000000000.log/.index/.timeindex   segments (segment.py), sorted by base offset; a .txnindex
                                                 (txn_index.py) for segments holding ABORT markers
    leader-epoch-checkpoint                      LeaderEpochFileCache (leader_epoch_cache.py)
    partition.metadata                           "version: 0\\ntopic_id: <base64url topic id>\\n"
    *.deleted                                    segments removed by retention/truncation/cleaning, unlinked
                                                 file.delete.delay.ms later (or at the next open)
    *.cleaned, *.swap                            cleaner output (cleaner.py); at open a `.swap` completes the
                                                 interrupted swap, a `.cleaned` is discarded

The recovery point and log start offset live in per-dir checkpoints owned by `LogManager`.

Threads: the event loop appends and reads; worker threads flush, apply retention and swap cleaned segments.
`self._lock` serialises every change of the segment list, the offsets and producer state; the segment list is
one immutable `LogSegments` value replaced in one assignment, so `read` works on one snapshot without the lock.

Producer state (producer_state.py) is updated between offset assignment and the segment write of every append,
rebuilt on load (replay from the log start, then recovery of the unflushed tail) and after truncation; the log
owns the last stable offset, min(first unstable offset, high watermark).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import random
import shutil
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from odradek.broker.log import checkpoint, files
from odradek.broker.log.config import LogConfig
from odradek.broker.log.leader_epoch_cache import LeaderEpochFileCache
from odradek.broker.log.log_segments import LogSegments
from odradek.broker.log.producer_state import (
    AppendOrigin,
    CorruptSnapshotError,
    DuplicateBatch,
    ProducerAppendInfo,
    ProducerStateEntry,
    ProducerStateManager,
    entries_from_snapshot,
)
from odradek.broker.log.segment import FetchSlice, LogSegment, now_ms
from odradek.broker.log.txn_index import AbortedTxn
from odradek.broker.records.batch import NO_PRODUCER_ID, NO_TIMESTAMP, read_header, stamp

logger = logging.getLogger(__name__)

PARTITION_METADATA = "partition.metadata"
# ListOffsets target timestamps (Kafka's ListOffsetsRequest constants; the log does not import the protocol).
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5
OFFSET_OUT_OF_RANGE = 1  # ErrorCode.OFFSET_OUT_OF_RANGE; `log` stays free of the protocol package


_Predicate = Callable[[LogSegment, LogSegment | None], bool]


class OffsetOutOfRange(Exception):
    """Kafka's OffsetOutOfRangeException; `error_code` is 1 (OFFSET_OUT_OF_RANGE)."""

    error_code = OFFSET_OUT_OF_RANGE


class UnexpectedAppendOffset(Exception):
    """A follower append whose first offset is below the log end offset."""


@dataclass(frozen=True, slots=True)
class LogAppendInfo:
    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_start_offset: int
    valid_bytes: int
    batch_count: int
    log_append_time_ms: int = -1
    last_stable_offset: int = -1  # the log's LSO once the append is applied (-1: not reported)
    duplicate: bool = False  # a retry of batches already in the log: nothing written, the original offsets


@dataclass(frozen=True, slots=True)
class FetchDataInfo:
    """What `Log.read` returns: `slice` is None when there is nothing to send."""

    fetch_offset: int
    slice: FetchSlice | None

    @property
    def size(self) -> int:
        return 0 if self.slice is None else self.slice.size

    def read_bytes(self) -> bytes:
        return b"" if self.slice is None else self.slice.read_bytes()


class TimestampAndOffset(NamedTuple):
    offset: int
    timestamp: int
    leader_epoch: int  # -1 when unknown


class Log:
    def __init__(self, directory: Path, config: LogConfig, topic_id: uuid.UUID | None) -> None:
        self.dir = directory
        self.topic, self.partition = files.parse_partition_dir_name(directory.name)
        self.config = config
        self.topic_id = topic_id
        self._lock = threading.Lock()
        self._view = LogSegments()  # replaced whole, never mutated: see log_segments.py
        self._producer_state = ProducerStateManager()
        self._next_offset = 0
        self._log_start_offset = 0
        self._recovery_point = 0
        self._high_watermark: int | None = None
        self._pending_deletes: list[tuple[int, LogSegment]] = []
        self._roll_jitter_ms = 0
        self._dir_dirty = False
        self._recovery_gap: int | None = None
        self.last_flush_ms = now_ms()
        self.epoch_cache = LeaderEpochFileCache.in_dir(directory)

    # -- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        directory: Path | str,
        config: LogConfig,
        topic_id: uuid.UUID | None = None,
        recovery_point: int = 0,
        had_clean_shutdown: bool = False,
        now_ms: int | None = None,
        log_start_offset: int = 0,
        config_is_final: bool = True,
    ) -> Log:
        """Open (or create) the partition folder, recovering from `recovery_point` after an unclean stop.

        `config_is_final=False`: `config` is a placeholder until the topic's own is known; a gap in the offsets
        found by recovery is then left for `resolve_recovery_gap` (see there)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        log = cls(directory, config, topic_id)
        log._load(recovery_point, had_clean_shutdown, log_start_offset, _now(now_ms))
        if config_is_final:
            log.resolve_recovery_gap()
        return log

    def _new_segment(self, base_offset: int, now: int, suffix: str = "") -> LogSegment:
        return LogSegment(
            self.dir,
            base_offset,
            index_interval_bytes=self.config.index_interval_bytes,
            max_index_size=self.config.segment_index_bytes,
            created_ms=now,
            suffix=suffix,
        )

    def _load(self, recovery_point: int, clean: bool, log_start_offset: int, now: int) -> None:
        self._load_partition_metadata()
        swaps: list[Path] = []
        for path in list(self.dir.iterdir()):
            name = path.name
            if name.endswith(files.DELETED_SUFFIX) or name.endswith(files.CLEANED_SUFFIX) or name.endswith(".tmp"):
                path.unlink(missing_ok=True)
            elif name.endswith(files.LOG_SUFFIX + files.SWAP_SUFFIX):
                swaps.append(path)
            elif name.endswith(files.SWAP_SUFFIX):
                continue
        segments: dict[int, LogSegment] = {}
        rebuild_txn_index: set[int] = set()  # segments whose .txnindex the producer-state replay rebuilds
        for path in sorted(self.dir.glob("*" + files.LOG_SUFFIX)):
            base = files.offset_from_file_name(path.name)
            segment = self._new_segment(base, now)
            if not segment.sanity_check():
                logger.warning("rebuilding the indexes of %s", path)
                if not segment.txn_index.sanity_check():
                    segment.txn_index.reset()
                    rebuild_txn_index.add(base)
                truncated = segment.recover(self.config.max_message_bytes)
                if truncated > 0:
                    next_offset = segment.read_next_offset()
                    logger.warning(
                        "Corruption found in segment %s of %s while rebuilding its indexes, truncating to offset %s"
                        " (%d bytes)",
                        base,
                        self.dir,
                        next_offset,
                        truncated,
                    )
                    # Later segments would leave a hole: `resolve_recovery_gap` deals with it as with one found by
                    # recovery.
                    self._note_gap(next_offset)
            segments[base] = segment
        for suffix in (files.INDEX_SUFFIX, files.TIME_INDEX_SUFFIX, files.TXN_INDEX_SUFFIX):
            for path in self.dir.glob("*" + suffix):
                if files.offset_from_file_name(path.name) not in segments:
                    path.unlink()
        for swap_path in swaps:
            self._complete_swap(swap_path, segments, now)
        if not segments:
            segments[log_start_offset] = self._new_segment(log_start_offset, now)
        ordered = [segments[base] for base in sorted(segments)]
        # Producer state: the latest usable snapshot, then replayed over the segments recovery does not touch,
        # then by recovery itself over the others. A snapshot is usable if nothing below its offset can change:
        # after a clean stop, any up to the log end; else none above the first recovered segment (recovery may
        # truncate there; a snapshot taken at a roll may describe data a power loss took), and none above a
        # segment whose `.txnindex` the replay must rebuild.
        first_recovered = len(ordered) if clean else LogSegments.of(ordered).floor_index(recovery_point)
        if first_recovered < len(ordered):
            bound = ordered[first_recovered].base_offset
        else:
            bound = ordered[-1].read_next_offset()
        bound = min([bound, *rebuild_txn_index])
        start = self._load_snapshot(bound, ordered[0].base_offset)
        for index, segment in enumerate(ordered[:first_recovered]):
            if index + 1 < len(ordered) and ordered[index + 1].base_offset <= start:
                continue  # wholly below the snapshot
            self._replay_producer_state(segment, segment.base_offset in rebuild_txn_index, start)
        if not clean:
            ordered = self._recover(ordered, first_recovered)
        self._set_segments(ordered)
        self._next_offset = ordered[-1].read_next_offset()
        self._log_start_offset = max(log_start_offset, ordered[0].base_offset)
        if self._log_start_offset > self._next_offset:
            self._truncate_fully_locked(self._log_start_offset, now)
        self._recovery_point = self._next_offset if clean else min(recovery_point, self._next_offset)
        self.epoch_cache.truncate_from_end(self._next_offset)
        self.epoch_cache.truncate_from_start(self._log_start_offset)
        self._producer_state.on_high_watermark_updated(self.high_watermark)
        self._delete_snapshots(lambda offset: offset > self._next_offset or offset < self._view.bases[0])
        self._pick_roll_jitter()

    def _complete_swap(self, swap_path: Path, segments: dict[int, LogSegment], now: int) -> None:
        """Finish a cleaner swap interrupted by a crash: the `.swap` replaces the live segments it covers."""
        base = files.offset_from_file_name(swap_path.name)
        swap = self._new_segment(base, now, suffix=files.SWAP_SUFFIX)
        swap.recover(self.config.max_message_bytes)
        end = swap.read_next_offset()
        for old_base in [b for b in segments if base <= b < max(end, base + 1)]:
            segments.pop(old_base).delete()
        swap.change_suffix("")
        segments[base] = swap

    def _recover(self, segments: list[LogSegment], first: int) -> list[LogSegment]:
        """Recover every segment from `segments[first]` (the one holding the recovery point), replaying their
        batches into producer state and rebuilding their `.txnindex`; after the first corrupt one, the later
        segments are deleted (Kafka's LogLoader).

        Also notes the first segment that ends before the next segment's base offset (`recovery_gap`): in a log
        that is not compacted offsets are contiguous, so the missing ones were lost (a power loss took the
        unflushed tail of a rolled segment while the next segment's file survived). Whether it is a loss depends
        on cleanup.policy, so `resolve_recovery_gap` decides, once the topic's config is known."""
        bases = [s.base_offset for s in segments]
        for index in range(first, len(segments)):
            segment = segments[index]
            truncated = segment.recover(self.config.max_message_bytes, self.epoch_cache, self._producer_state)
            next_offset = segment.read_next_offset()
            if truncated > 0:
                logger.warning(
                    "Corruption found in segment %s of %s, truncating to offset %s (%d bytes)",
                    segment.base_offset,
                    self.dir,
                    next_offset,
                    truncated,
                )
                for later in segments[index + 1 :]:
                    later.delete()
                return segments[: index + 1]
            if index + 1 < len(segments) and next_offset < bases[index + 1]:
                self._note_gap(next_offset)
        return segments

    def _replay_producer_state(self, segment: LogSegment, rebuild_txn_index: bool = False, start: int = 0) -> None:
        """Apply the producer fields of every batch of `segment` ending at or above `start` (headers only; a
        control batch's record)."""
        txn_index = segment.txn_index if rebuild_txn_index else None
        state = self._producer_state
        for header in segment.scan_headers():
            if header.next_offset <= start:
                continue  # in the snapshot already
            if header.is_control:  # the marker type is in its one record
                data = segment.read_batch_bytes(header.position, header.size)
                state.replay(read_header(data), data, txn_index)
            else:
                state.replay(header, b"", txn_index)

    def _reload_producer_state(self) -> None:
        """Rebuild producer state up to the log end from the latest snapshot at or below it, replaying the log
        after it (Kafka's truncateAndReload); snapshots above the log end are deleted first."""
        self._delete_snapshots(lambda offset: offset > self._next_offset)
        segments = self._view.segments
        start = self._load_snapshot(self._next_offset, segments[0].base_offset)
        for index, segment in enumerate(segments):
            if index + 1 < len(segments) and segments[index + 1].base_offset <= start:
                continue
            self._replay_producer_state(segment, False, start)
        self._producer_state.on_high_watermark_updated(self.high_watermark)

    # -- producer snapshots ----------------------------------------------------------------------------------
    def _load_snapshot(self, bound: int, log_start: int) -> int:
        """Start producer state from the latest readable snapshot at or below `bound` (a corrupt one is deleted
        and the next older tried); without one, empty at `log_start`. Returns the offset the replay starts at."""
        for offset in reversed(files.snapshot_offsets(self.dir)):
            if offset > bound:
                continue
            path = files.snapshot_file(self.dir, offset)
            try:
                entries = entries_from_snapshot(path.read_bytes())
            except (OSError, CorruptSnapshotError) as exc:
                logger.warning("deleting unreadable producer snapshot %s: %s", path, exc)
                path.unlink(missing_ok=True)
                continue
            self._producer_state.load_snapshot(offset, entries)
            return offset
        self._producer_state.truncate_fully_and_start_at(log_start)
        return log_start

    def _take_snapshot_locked(self) -> None:
        """Write the producer state as `<map end offset>.snapshot` (Kafka's takeSnapshot): a temporary file
        renamed into place. Not fsynced (Kafka flushes them asynchronously): a torn one fails its CRC at load and
        an older one, or the log itself, is used instead."""
        state = self._producer_state
        path = files.snapshot_file(self.dir, state.map_end_offset)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(state.snapshot())
        os.replace(tmp, path)

    def take_snapshot(self) -> None:
        with self._lock:
            self._take_snapshot_locked()

    def _delete_snapshots(self, predicate: Callable[[int], bool]) -> None:
        for offset in files.snapshot_offsets(self.dir):
            if predicate(offset):
                files.snapshot_file(self.dir, offset).unlink(missing_ok=True)

    @property
    def snapshot_offsets(self) -> list[int]:
        return files.snapshot_offsets(self.dir)

    def remove_expired_producers(self, now_ms: int, expiration_ms: int) -> int:
        """producer.id.expiration.ms: forget idle producers (see `ProducerStateManager.remove_expired_producers`)."""
        with self._lock:
            return self._producer_state.remove_expired_producers(now_ms, expiration_ms)

    def transaction_stats(self, now_ms: int, late_after_ms: int) -> tuple[int, bool]:
        """(producer ids known, whether an open transaction's producer last wrote more than `late_after_ms` ago):
        Kafka's ProducerIdCount and hasLateTransaction, for the metrics."""
        with self._lock:
            state = self._producer_state
            late = False
            for txn in state.ongoing_txns:
                entry = state.producers.get(txn.producer_id)
                if entry is not None and now_ms - entry.last_timestamp > late_after_ms:
                    late = True
                    break
            return len(state.producers), late

    def has_ongoing_transaction(self, producer_id: int, producer_epoch: int) -> bool:
        """Whether the producer, at this epoch, has a transaction open in this log (Kafka's
        UnifiedLog.hasOngoingTransaction: a partition already in the transaction needs no KIP-890 verification)."""
        entry = self._producer_state.producers.get(producer_id)  # one dict read: safe without the lock
        return (
            entry is not None and entry.producer_epoch == producer_epoch and entry.current_txn_first_offset is not None
        )

    def active_producers(self) -> list[ProducerStateEntry]:
        """The producers this log knows, by producer id (DescribeProducers)."""
        with self._lock:
            return [self._producer_state.producers[pid] for pid in sorted(self._producer_state.producers)]

    def _note_gap(self, offset: int) -> None:
        gap = self._recovery_gap
        self._recovery_gap = offset if gap is None else min(gap, offset)

    @property
    def recovery_gap(self) -> int | None:
        """The lowest offset at which a segment ends before the next segment starts, found while loading: by
        recovery after an unclean stop, or by an index rebuild that truncated a corrupt batch (None if there is
        none, or once `resolve_recovery_gap` ran)."""
        return self._recovery_gap

    def resolve_recovery_gap(self) -> bool:
        """Truncate at `recovery_gap` unless the log is compacted. Returns True if it truncated.

        Unlike Kafka, which keeps the later segments and so leaves a hole below the log end offset, a log that is
        not compacted is cut where its offsets stop being contiguous, as after a corrupt batch. A compacted log
        has legitimate gaps (the cleaner removes records, and even a segment's last batches), so it is kept, as
        Kafka keeps it. `Log.open` calls this at once unless told that its config is a placeholder
        (`LogManager` opens logs before it knows the topics' configs, and calls it from `get_or_create_log`)."""
        gap = self._recovery_gap
        self._recovery_gap = None
        if gap is None or gap >= self._next_offset:
            return False
        if self.config.compact:
            logger.info("offsets of %s are not contiguous at %s: kept, the log is compacted", self.dir, gap)
            return False
        following = next((s.base_offset for s in self._view.segments if s.base_offset > gap), self._next_offset)
        logger.warning(
            "Corruption found in %s: a segment ends at offset %s but the next one starts at %s (records lost "
            "before a flush, or cut at a corrupt batch); truncating to offset %s",
            self.dir,
            gap,
            following,
            gap,
        )
        return self.truncate_to(gap)

    def _load_partition_metadata(self) -> None:
        path = self.dir / PARTITION_METADATA
        if path.exists():
            for line in path.read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "topic_id" and value.strip():
                    stored = uuid.UUID(bytes=base64.urlsafe_b64decode(value.strip() + "=="))
                    if self.topic_id is None:
                        self.topic_id = stored
                    elif stored != self.topic_id:
                        raise ValueError(f"{self.dir}: topic id {stored} on disk, {self.topic_id} expected")
        elif self.topic_id is not None:
            encoded = base64.urlsafe_b64encode(self.topic_id.bytes).decode().rstrip("=")
            # fsynced before the rename, as Kafka's PartitionMetadataFile: otherwise a power loss can leave a
            # partition.metadata with a torn tail, and the log would not load.
            checkpoint.write_atomically(path, f"version: 0\ntopic_id: {encoded}\n".encode())

    def _set_segments(self, segments: list[LogSegment]) -> None:
        """Publish a new segment list: one assignment of one immutable value (readers never see half of it)."""
        self._view = LogSegments.of(segments)

    def _pick_roll_jitter(self) -> None:
        jitter = self.config.segment_jitter_ms
        self._roll_jitter_ms = random.randint(0, jitter) if jitter > 0 else 0

    # -- offsets ---------------------------------------------------------------------------------------------
    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._next_offset

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    @property
    def high_watermark(self) -> int:
        """The high watermark; follows the log end offset until `update_high_watermark` is called."""
        hw = self._high_watermark
        return self._next_offset if hw is None else min(hw, self._next_offset)

    def update_high_watermark(self, offset: int | None) -> bool:
        """Set the high watermark (clamped to [log start, log end]); None: follow the log end offset.

        Returns True when the last stable offset moved (delayed READ_COMMITTED fetches can complete)."""
        with self._lock:
            before = self.last_stable_offset
            if offset is None:
                self._high_watermark = None
            else:
                self._high_watermark = max(self._log_start_offset, min(offset, self._next_offset))
            self._producer_state.on_high_watermark_updated(self.high_watermark)
            return self.last_stable_offset != before

    @property
    def first_unstable_offset(self) -> int | None:
        """The first offset of the earliest ongoing transaction, or of a completed one whose marker is not
        yet below the high watermark (None when there is none)."""
        return self._producer_state.first_unstable_offset

    @property
    def last_stable_offset(self) -> int:
        """min(first unstable offset, high watermark) (Kafka's UnifiedLog.lastStableOffset): READ_COMMITTED
        fetches stop here. Equal to the high watermark while no transaction is open."""
        hw = self.high_watermark
        unstable = self._producer_state.first_unstable_offset
        return hw if unstable is None or unstable >= hw else unstable

    @property
    def producer_state(self) -> ProducerStateManager:
        """This log's producer state (read-only use outside the log: it changes under the log's lock)."""
        return self._producer_state

    def collect_aborted_transactions(self, start_offset: int, upper_bound_offset: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping [start_offset, upper_bound_offset), for a READ_COMMITTED fetch
        (Kafka's UnifiedLog.collectAbortedTransactions): from the segment holding `start_offset` on, until a
        segment's index says no later one can add any."""
        view = self._view
        found: list[AbortedTxn] = []
        for segment in view.segments[view.floor_index(start_offset) :]:
            result = segment.txn_index.collect_aborted_txns(start_offset, upper_bound_offset)
            found.extend(result.aborted_transactions)
            if result.is_complete:
                break
        return found

    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return self._view.segments

    @property
    def active_segment(self) -> LogSegment:
        return self._view.segments[-1]

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self._view.segments)

    @property
    def num_segments(self) -> int:
        return len(self._view.segments)

    @property
    def lock(self) -> threading.Lock:
        """The lock held around segment-list changes (the cleaner swaps under it)."""
        return self._lock

    # -- appends ---------------------------------------------------------------------------------------------
    def append_as_leader(
        self,
        records: bytearray,
        leader_epoch: int,
        now_ms: int | None = None,
        origin: AppendOrigin = AppendOrigin.CLIENT,
    ) -> LogAppendInfo:
        """Append validated batches, assigning consecutive offsets from the log end offset and stamping the
        leader epoch (in place, in `records`); producer state is updated from every batch header.

        Raises ProducerStateError (nothing written) when the producer-state checks refuse a batch."""
        with self._lock:
            offset = first = self._next_offset
            max_ts, offset_of_max = NO_TIMESTAMP, first
            position, end, count = 0, len(records), 0
            producers: ProducerAppendInfo | None = None  # only built for batches with a producer id
            while position < end:
                header = read_header(records, position)
                stamp(records, header, offset, leader_epoch)
                if header.producer_id != NO_PRODUCER_ID:
                    producers = producers or self._producer_state.prepare(origin)
                    try:
                        producers.append(header, offset, records)
                    except DuplicateBatch as exc:
                        # Kafka answers the whole append with the duplicate's offsets and writes nothing.
                        batch = exc.batch
                        return LogAppendInfo(
                            batch.first_offset,
                            batch.last_offset,
                            batch.timestamp,
                            batch.last_offset,
                            self._log_start_offset,
                            0,
                            0,
                            batch.timestamp,
                            self.last_stable_offset,
                            duplicate=True,
                        )
                offset += header.last_offset_delta + 1
                if header.max_timestamp > max_ts:
                    max_ts, offset_of_max = header.max_timestamp, offset - 1
                position += header.size
                count += 1
            if count == 0:
                raise ValueError("append of an empty record set")
            if leader_epoch >= 0:
                latest = self.epoch_cache.latest_epoch
                if latest is None or leader_epoch > latest:
                    self.epoch_cache.assign(leader_epoch, first)
            info = self._append_locked(
                records, first, offset - 1, max_ts, offset_of_max, count, producers, _now(now_ms)
            )
        self._maybe_flush_by_count()
        return info

    def append_as_follower(self, records: bytes | bytearray | memoryview, now_ms: int | None = None) -> LogAppendInfo:
        """Append batches whose offsets and epochs the leader assigned (replication); producer state follows
        them unchecked."""
        with self._lock:
            position, end, count = 0, len(records), 0
            first = last = -1
            max_ts = NO_TIMESTAMP
            offset_of_max = -1
            producers: ProducerAppendInfo | None = None
            while position < end:
                header = read_header(records, position)
                if count == 0:
                    first = header.base_offset
                    if first < self._next_offset:
                        raise UnexpectedAppendOffset(
                            f"first offset {first} is below the log end offset {self._next_offset}"
                        )
                elif header.base_offset <= last:
                    raise UnexpectedAppendOffset(f"offsets are not increasing at {header.base_offset}")
                if header.producer_id != NO_PRODUCER_ID:
                    producers = producers or self._producer_state.prepare(AppendOrigin.REPLICATION)
                    producers.append(header, header.base_offset, records)
                last = header.last_offset
                if header.max_timestamp > max_ts:
                    max_ts, offset_of_max = header.max_timestamp, last
                epoch = header.partition_leader_epoch
                if epoch >= 0:
                    latest = self.epoch_cache.latest_epoch
                    if latest is None or epoch > latest:
                        self.epoch_cache.assign(epoch, header.base_offset)
                position += header.size
                count += 1
            if count == 0:
                raise ValueError("append of an empty record set")
            info = self._append_locked(records, first, last, max_ts, offset_of_max, count, producers, _now(now_ms))
        self._maybe_flush_by_count()
        return info

    def _append_locked(
        self,
        records: bytes | bytearray | memoryview,
        first: int,
        last: int,
        max_ts: int,
        offset_of_max: int,
        count: int,
        producers: ProducerAppendInfo | None,
        now: int,
    ) -> LogAppendInfo:
        """Write to the (maybe rolled) active segment, then apply producer state: the step between offset
        assignment and the append is `producers`, filled per batch by the caller (Kafka's
        analyzeAndValidateProducerState), applied only once the bytes are written."""
        segment = self._maybe_roll(len(records), first, last, max_ts, now)
        segment.append(last, max_ts, offset_of_max, records)
        self._next_offset = last + 1
        state = self._producer_state
        if producers is None:
            state.map_end_offset = self._next_offset
        else:
            state.apply(producers, self._next_offset, segment.txn_index)
        state.on_high_watermark_updated(self.high_watermark)
        lso = self.last_stable_offset
        return LogAppendInfo(first, last, max_ts, offset_of_max, self._log_start_offset, len(records), count, -1, lso)

    def _should_roll(self, segment: LogSegment, size: int, last: int, max_ts: int, now: int) -> bool:
        config = self.config
        if segment.offset_index.is_full or segment.time_index.is_full:
            return True
        if not segment.can_convert_to_relative_offset(last):
            return True
        if segment.size == 0:
            return False
        if segment.size > config.segment_bytes - size:
            return True
        waited = segment.time_waited_for_roll(now, max_ts)
        return waited > config.segment_ms - self._roll_jitter_ms

    def _maybe_roll(self, size: int, first: int, last: int, max_ts: int, now: int) -> LogSegment:
        segment = self._view.segments[-1]
        if self._should_roll(segment, size, last, max_ts, now):
            return self._roll_locked(first, now)
        return segment

    def _roll_locked(self, new_base: int, now: int) -> LogSegment:
        active = self._view.segments[-1]
        if active.size == 0:
            # An empty active segment is replaced rather than kept.
            if active.base_offset == new_base:
                return active
            active.delete()
            segments = list(self._view.segments[:-1])
        else:
            active.on_become_inactive()
            segments = list(self._view.segments)
            if self._producer_state.map_end_offset == new_base:
                self._take_snapshot_locked()  # the state below the new segment (Kafka's roll)
        segment = self._new_segment(new_base, now)
        segments.append(segment)
        self._set_segments(segments)
        self._pick_roll_jitter()
        self._dir_dirty = True
        return segment

    def roll(self, now_ms: int | None = None) -> LogSegment:
        """Start a new segment at the log end offset (used by tests and retention)."""
        with self._lock:
            return self._roll_locked(self._next_offset, _now(now_ms))

    def _maybe_flush_by_count(self) -> None:
        if self._next_offset - self._recovery_point >= self.config.flush_messages:
            self.flush()

    # -- reads -----------------------------------------------------------------------------------------------
    def read(
        self, fetch_offset: int, max_bytes: int, max_offset: int | None = None, min_one_message: bool = False
    ) -> FetchDataInfo:
        """Bytes from the batch holding `fetch_offset`, at most `max_bytes` (or one whole batch when
        `min_one_message`), excluding batches at or after `max_offset` (e.g. the high watermark).

        Raises OffsetOutOfRange outside [log start offset, log end offset]."""
        end = self._next_offset
        view = self._view  # one reference: a consistent list and bases even while a worker thread swaps
        segments = view.segments
        if fetch_offset == end:
            return FetchDataInfo(fetch_offset, None)
        if fetch_offset < self._log_start_offset or fetch_offset > end:
            raise OffsetOutOfRange(
                f"offset {fetch_offset} is outside [{self._log_start_offset}, {end}] for {self.dir.name}"
            )
        limit = end if max_offset is None else min(max_offset, end)
        if fetch_offset >= limit:
            return FetchDataInfo(fetch_offset, None)
        index = view.floor_index(fetch_offset)
        limit_index = bisect_right(view.bases, limit) - 1 if limit < end else len(segments)
        while index < len(segments):
            segment = segments[index]
            if segment.base_offset >= limit:
                break
            max_position = segment.size
            if index == limit_index:
                batch = segment.translate_offset(limit)
                if batch is not None:
                    max_position = batch.position
            data = segment.read(fetch_offset, max_bytes, max_position, min_one_message)
            if data is not None:
                return FetchDataInfo(fetch_offset, data)
            index += 1
        return FetchDataInfo(fetch_offset, None)

    def offset_for_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """ListOffsets: -2 earliest, -4 earliest local, -1 latest, -3 max timestamp, else the first record
        with a timestamp >= `timestamp`. None when nothing matches."""
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            start = self._log_start_offset
            epoch = self.epoch_cache.epoch_for_offset(start)
            return TimestampAndOffset(start, NO_TIMESTAMP, -1 if epoch is None else epoch)
        if timestamp == LATEST_TIMESTAMP:
            epoch = self.epoch_cache.latest_epoch
            return TimestampAndOffset(self._next_offset, NO_TIMESTAMP, -1 if epoch is None else epoch)
        segments = self._view.segments
        if timestamp == MAX_TIMESTAMP:
            best: LogSegment | None = None
            for segment in segments:
                if best is None or segment.max_timestamp_so_far > best.max_timestamp_so_far:
                    best = segment
            if best is None:
                return None
            found = best.find_offset_of_max_timestamp()
            return None if found is None else TimestampAndOffset(found[1], found[0], found[2])
        # Any other target, negative ones included, is searched for like a timestamp, as Kafka's
        # UnifiedLog.fetchOffsetByTimestamp does (a ValueError here closed the connection; found by fuzzing).
        for segment in segments:
            if segment.largest_timestamp >= timestamp:
                found = segment.find_offset_by_timestamp(timestamp, self._log_start_offset)
                if found is not None:
                    return TimestampAndOffset(found[1], found[0], found[2])
        return None

    # -- log start offset, truncation ------------------------------------------------------------------------
    def maybe_increment_log_start_offset(self, new_start: int) -> bool:
        """Move the log start offset up (DeleteRecords). Segments below it go at the next retention run."""
        if new_start > self._next_offset:
            raise OffsetOutOfRange(f"new log start offset {new_start} is beyond the log end offset")
        with self._lock:
            if new_start <= self._log_start_offset:
                return False
            self._log_start_offset = new_start
            if self._high_watermark is not None and self._high_watermark < new_start:
                self._high_watermark = new_start
            self.epoch_cache.truncate_from_start(new_start)
            self._producer_state.on_log_start_offset_incremented(new_start)
            return True

    def truncate_to(self, offset: int, now_ms: int | None = None) -> bool:
        """Remove everything at and above `offset` (whole batches). Returns False when nothing was removed."""
        if offset < 0:
            raise ValueError(f"cannot truncate to a negative offset {offset}")
        if offset >= self._next_offset:
            return False
        now = _now(now_ms)
        with self._lock:
            if self._view.bases[0] > offset:
                self._truncate_fully_locked(offset, now)
                return True
            keep = [s for s in self._view.segments if s.base_offset <= offset]
            for segment in self._view.segments[len(keep) :]:
                self._schedule_delete(segment, now)
            keep[-1].truncate_to(offset)
            self._set_segments(keep)
            self._next_offset = keep[-1].read_next_offset()
            self.epoch_cache.truncate_from_end(self._next_offset)
            self._log_start_offset = min(self._log_start_offset, self._next_offset)
            self._recovery_point = min(self._recovery_point, self._next_offset)
            if self._high_watermark is not None:
                self._high_watermark = min(self._high_watermark, self._next_offset)
            self._reload_producer_state()
            return True

    def truncate_fully_and_start_at(self, offset: int, now_ms: int | None = None) -> None:
        """Drop every segment and start an empty log at `offset` (a follower behind the leader's start)."""
        with self._lock:
            self._truncate_fully_locked(offset, _now(now_ms))

    def _truncate_fully_locked(self, offset: int, now: int) -> None:
        for segment in self._view.segments:
            self._schedule_delete(segment, now)
        self._set_segments([self._new_segment(offset, now)])
        self._next_offset = offset
        self._log_start_offset = offset
        self._recovery_point = offset
        self._producer_state.truncate_fully_and_start_at(offset)
        self._delete_snapshots(lambda _offset: True)
        if self._high_watermark is not None:
            self._high_watermark = offset
        self.epoch_cache.clear()
        self._dir_dirty = True

    # -- retention -------------------------------------------------------------------------------------------
    def delete_old_segments(self, now_ms: int | None = None, high_watermark: int | None = None) -> int:
        """Apply retention.ms and retention.bytes (cleanup.policy containing delete) and the log start offset
        (always). Segments go to `.deleted`; returns how many were removed."""
        now = _now(now_ms)
        hw = self.high_watermark if high_watermark is None else high_watermark
        deleted = self._delete_segments(
            lambda s, nxt: nxt is not None and nxt.base_offset <= self._log_start_offset, hw, now
        )
        if self.config.delete:
            deleted += self._delete_by_size(hw, now)
            retention_ms = self.config.retention_ms
            if retention_ms >= 0:
                deleted += self._delete_segments(lambda s, nxt: now - s.largest_timestamp > retention_ms, hw, now)
        return deleted

    def _delete_by_size(self, hw: int, now: int) -> int:
        retention_bytes = self.config.retention_bytes
        if retention_bytes < 0:
            return 0
        excess = self.size_in_bytes - retention_bytes
        if excess <= 0:
            return 0

        def should_delete(segment: LogSegment, _next: LogSegment | None) -> bool:
            nonlocal excess
            if excess - segment.size >= 0:
                excess -= segment.size
                return True
            return False

        return self._delete_segments(should_delete, hw, now)

    def _delete_segments(self, predicate: _Predicate, hw: int, now: int) -> int:
        with self._lock:
            segments = self._view.segments
            doomed: list[LogSegment] = []
            for index, segment in enumerate(segments):
                nxt = segments[index + 1] if index + 1 < len(segments) else None
                upper = nxt.base_offset if nxt is not None else self._next_offset
                if nxt is None and segment.size == 0:
                    break
                if hw >= upper and predicate(segment, nxt):
                    doomed.append(segment)
                else:
                    break
            if not doomed:
                return 0
            if len(doomed) == len(segments):
                self._roll_locked(self._next_offset, now)
            remaining = [s for s in self._view.segments if s not in doomed]
            self._set_segments(remaining)
            for segment in doomed:
                self._schedule_delete(segment, now)
            if remaining[0].base_offset > self._log_start_offset:
                self._log_start_offset = remaining[0].base_offset
                self.epoch_cache.truncate_from_start(self._log_start_offset)
                self._producer_state.on_log_start_offset_incremented(self._log_start_offset)
            # The snapshots of deleted segments go with them (the one at the new first segment keeps the
            # state of producers whose batches were deleted, as Kafka keeps it).
            first_base = remaining[0].base_offset
            self._delete_snapshots(lambda offset: offset < first_base)
            self._recovery_point = max(self._recovery_point, self._log_start_offset)
            return len(doomed)

    def _schedule_delete(self, segment: LogSegment, now: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.rename_to_deleted()
        self._pending_deletes.append((now + self.config.file_delete_delay_ms, segment))

    def delete_expired_files(self, now_ms: int | None = None) -> int:
        """Unlink `.deleted` segments whose file.delete.delay.ms has passed. Returns how many."""
        now = _now(now_ms)
        with self._lock:
            due = [s for t, s in self._pending_deletes if t <= now]
            self._pending_deletes = [(t, s) for t, s in self._pending_deletes if t > now]
        for segment in due:
            segment.delete()
        return len(due)

    def replace_segments(self, new_segment: LogSegment, old_segments: list[LogSegment], now_ms: int) -> bool:
        """Cleaner swap: `new_segment` (suffix `.swap`) replaces `old_segments`, atomically for readers.

        Returns False (and deletes the new segment) if the old segments are no longer all in the log
        (retention or truncation ran meanwhile)."""
        with self._lock:
            current = list(self._view.segments)
            if any(s not in current for s in old_segments) or old_segments[-1] is current[-1]:
                new_segment.delete()
                return False
            first = current.index(old_segments[0])
            for segment in old_segments:
                self._schedule_delete(segment, now_ms)
            new_segment.change_suffix("")
            rest = [s for s in current if s not in old_segments]
            rest.insert(first, new_segment)
            self._set_segments(rest)
            return True

    # -- flush, config, lifecycle ----------------------------------------------------------------------------
    def flush(self, up_to_offset: int | None = None) -> None:
        """fsync segments holding offsets in [recovery point, up_to_offset) and move the recovery point."""
        offset = self._next_offset if up_to_offset is None else min(up_to_offset, self._next_offset)
        if offset <= self._recovery_point:
            return
        view = self._view
        for segment in view.segments[view.floor_index(self._recovery_point) :]:
            if segment.base_offset >= offset:
                break
            if not segment.file.closed:
                segment.flush()
        if self._dir_dirty:
            self._dir_dirty = False
            _fsync_dir(self.dir)
        with self._lock:
            self._recovery_point = max(self._recovery_point, offset)
        self.last_flush_ms = now_ms()

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        self._pick_roll_jitter()
        for segment in self._view.segments:
            segment.index_interval_bytes = config.index_interval_bytes

    def close(self, snapshot: bool = True) -> None:
        """Close the files; with `snapshot`, first write the producer state at the log end (a clean stop: the
        next open replays nothing)."""
        with self._lock:
            if snapshot and self.dir.exists():
                with contextlib.suppress(OSError):
                    self._take_snapshot_locked()
            for segment in self._view.segments:
                segment.close()
            for _, segment in self._pending_deletes:
                segment.delete()
            self._pending_deletes.clear()

    def delete(self) -> None:
        """Close and remove the whole partition folder."""
        self.close(snapshot=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _now(now_ms_value: int | None) -> int:
    return now_ms() if now_ms_value is None else now_ms_value


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
