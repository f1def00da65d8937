"""`LogCleaner`: compaction for cleanup.policy=compact and compact,delete (Kafka's LogCleaner, KIP-534 horizons).

A log's non-active segments below the high watermark split at the cleaner checkpoint into a *clean* section
(compacted before) and a *dirty* section. A pass runs when dirty bytes / (clean + dirty bytes) reaches
min.cleanable.dirty.ratio, when a dirty segment is older than max.compaction.lag.ms, or when a tombstone's
delete horizon has passed. Segments whose largest timestamp is within min.compaction.lag.ms are not cleanable,
nor is anything from the first of them on. A pass:

1. builds an offset map key -> last offset over the dirty section;
2. rewrites every cleanable segment, in groups that fit segment.bytes, into `<base>.log.cleaned` (plus indexes):
   a record is kept if no later offset holds its key; keyless records are dropped (as Kafka does); records keep
   their offsets (gaps are fine) and each batch keeps its base and last offset; an unchanged batch is copied
   byte for byte, a changed one is rebuilt with the same codec and a new CRC-32C;
3. tombstones (null value): the first pass that sees one sets the batch's delete horizon (attribute bit 6,
   baseTimestamp = now + delete.retention.ms); a pass after the horizon removes it;
4. the group is fsynced, renamed `.cleaned` -> `.swap`, and swapped in under the Log's lock (old files become
   `.deleted`); a crash leaves either the old segments or a `.swap` that `Log.open` completes;
5. `cleaner-offset-checkpoint` in the log dir ("0\\nN\\ntopic partition offset\\n...") records the end of the
   dirty section.

Transactional and control batches are kept as they are (aborted data is not removed yet), and transactional
records do not enter the offset map (one of an aborted transaction must not remove the older record of its key).
The offset map is an unbounded dict (Kafka's is bounded by log.cleaner.dedupe.buffer.size).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from odradek.broker.log import checkpoint, files
from odradek.broker.log.log import Log
from odradek.broker.log.segment import INT32_MAX, LogSegment
from odradek.broker.records.batch import DELETE_HORIZON_MASK, HEADER_SIZE, BatchHeader, read_header
from odradek.broker.records.builder import rebuild_batch
from odradek.broker.records.record import iter_records

logger = logging.getLogger(__name__)

_checkpoint_lock = threading.Lock()


@dataclass(slots=True)
class CleanerStats:
    cleaned: bool = False
    reason: str = ""
    dirty_ratio: float = 0.0
    first_dirty_offset: int = 0
    end_offset: int = 0
    segments_cleaned: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_removed: int = 0
    tombstones_removed: int = 0
    keys: int = 0
    swapped_groups: list[int] = field(default_factory=list)


def checkpoint_path(log: Log) -> Path:
    return log.dir.parent / files.CLEANER_OFFSET_CHECKPOINT


def read_checkpoint(log: Log) -> int | None:
    try:
        return checkpoint.read_offsets(checkpoint_path(log)).get((log.topic, log.partition))
    except checkpoint.CorruptCheckpoint:
        return None


def write_checkpoint(log: Log, offset: int) -> None:
    with _checkpoint_lock:
        path = checkpoint_path(log)
        try:
            offsets = checkpoint.read_offsets(path)
        except checkpoint.CorruptCheckpoint:
            offsets = {}
        offsets[(log.topic, log.partition)] = offset
        checkpoint.write_offsets(path, offsets)


@dataclass(frozen=True, slots=True)
class _Cleanable:
    segments: tuple[LogSegment, ...]  # every cleanable segment, oldest first
    first_dirty: int
    dirty: tuple[LogSegment, ...]
    clean_bytes: int
    dirty_bytes: int

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0

    @property
    def end_offset(self) -> int:
        return self.dirty[-1].read_next_offset() if self.dirty else self.first_dirty


def _cleanable(log: Log, now_ms: int) -> _Cleanable:
    segments = log.segments
    config = log.config
    hw = log.high_watermark
    cleanable: list[LogSegment] = []
    for index, segment in enumerate(segments[:-1]):
        end = segments[index + 1].base_offset
        if end <= log.log_start_offset:
            continue  # wholly below the log start offset: retention removes it
        if end > hw:
            break
        if config.min_compaction_lag_ms > 0 and segment.largest_timestamp > now_ms - config.min_compaction_lag_ms:
            break
        cleanable.append(segment)
    checkpointed = read_checkpoint(log)
    first_dirty = log.log_start_offset
    if checkpointed is not None and log.log_start_offset <= checkpointed <= log.log_end_offset:
        first_dirty = checkpointed
    clean = [s for s in cleanable if _segment_end(segments, s) <= first_dirty]
    dirty = [s for s in cleanable if s not in clean]
    return _Cleanable(
        tuple(cleanable), first_dirty, tuple(dirty), sum(s.size for s in clean), sum(s.size for s in dirty)
    )


def _segment_end(segments: tuple[LogSegment, ...], segment: LogSegment) -> int:
    index = segments.index(segment)
    return segments[index + 1].base_offset if index + 1 < len(segments) else segment.read_next_offset()


def _iter_batches(segment: LogSegment) -> Iterable[tuple[BatchHeader, bytes]]:
    for shallow in segment.scan_batches(0):
        data = segment.read_batch_bytes(shallow.position, shallow.size)
        yield read_header(data), data


def _has_expired_horizon(segments: Iterable[LogSegment], now_ms: int) -> bool:
    for segment in segments:
        for shallow in segment.scan_batches(0):
            header = read_header(segment.read_batch_bytes(shallow.position, HEADER_SIZE))
            if header.attributes & DELETE_HORIZON_MASK and header.base_timestamp <= now_ms:
                return True
    return False


def _build_offset_map(dirty: Iterable[LogSegment], first_dirty: int, stats: CleanerStats) -> dict[bytes, int]:
    offsets: dict[bytes, int] = {}
    for segment in dirty:
        for header, data in _iter_batches(segment):
            # A transactional record may belong to an aborted transaction: it must not shadow an older record of
            # its key (an aborted TxnOffsetCommit would otherwise compact away the committed offset before it).
            # Transactional batches are kept as they are, so leaving them out only compacts less.
            if header.is_control or header.is_transactional or header.next_offset <= first_dirty:
                continue
            for record in iter_records(data, header):
                if record.key is not None and record.offset >= first_dirty:
                    offsets[record.key] = record.offset
    stats.keys = len(offsets)
    return offsets


def _clean_batch(
    header: BatchHeader,
    data: bytes,
    offsets: dict[bytes, int],
    now_ms: int,
    delete_retention_ms: int,
    stats: CleanerStats,
) -> bytes | None:
    """The batch to write for `data` (itself if unchanged), or None to drop it."""
    if header.is_control or header.is_transactional:
        return data
    has_horizon = bool(header.attributes & DELETE_HORIZON_MASK)
    horizon_passed = has_horizon and header.base_timestamp <= now_ms
    kept = []
    removed = 0
    tombstones = False
    for record in iter_records(data, header):
        stats.records_read += 1
        if record.key is None or offsets.get(record.key, -1) > record.offset:
            removed += 1
            continue
        if record.value is None:
            if horizon_passed:
                removed += 1
                stats.tombstones_removed += 1
                continue
            tombstones = True
        kept.append(record)
    stats.records_removed += removed
    set_horizon = tombstones and not has_horizon
    if removed == 0 and not set_horizon:
        return data
    if not kept:
        if not header.has_producer_id:
            return None
        # Keep an empty batch so the producer's last sequence survives (Kafka does the same).
        return rebuild_batch(header, [], 0, attributes=header.attributes & ~DELETE_HORIZON_MASK)
    attributes = header.attributes
    base_timestamp = header.base_timestamp
    if set_horizon:
        attributes |= DELETE_HORIZON_MASK
        base_timestamp = now_ms + delete_retention_ms
    elif not tombstones:
        attributes &= ~DELETE_HORIZON_MASK
        base_timestamp = header.base_timestamp if not has_horizon else kept[0].timestamp
    return rebuild_batch(header, kept, header.compression, attributes=attributes, base_timestamp=base_timestamp)


def _groups(segments: tuple[LogSegment, ...], max_size: int) -> list[list[LogSegment]]:
    groups: list[list[LogSegment]] = []
    for segment in segments:
        if groups:
            last = groups[-1]
            fits = sum(s.size for s in last) + segment.size <= max_size
            offsets_fit = segment.read_next_offset() - last[0].base_offset <= INT32_MAX
            if fits and offsets_fit:
                last.append(segment)
                continue
        groups.append([segment])
    return groups


def _clean_group(
    log: Log, group: list[LogSegment], offsets: dict[bytes, int], now_ms: int, stats: CleanerStats
) -> bool:
    base = group[0].base_offset
    for suffix in (files.CLEANED_SUFFIX, files.SWAP_SUFFIX):
        for kind in files.SEGMENT_SUFFIXES:
            files.segment_file(log.dir, base, kind, suffix).unlink(missing_ok=True)
    cleaned = LogSegment(
        log.dir,
        base,
        index_interval_bytes=log.config.index_interval_bytes,
        max_index_size=log.config.segment_index_bytes,
        suffix=files.CLEANED_SUFFIX,
    )
    try:
        for segment in group:
            stats.bytes_read += segment.size
            # Transactional batches and markers are kept, so are the aborted transactions their markers ended.
            for aborted in segment.txn_index.all_aborted_txns():
                cleaned.txn_index.append(aborted)
            for header, data in _iter_batches(segment):
                out = _clean_batch(header, data, offsets, now_ms, log.config.delete_retention_ms, stats)
                if out is None:
                    continue
                out_header = read_header(out)
                cleaned.append(out_header.last_offset, out_header.max_timestamp, out_header.last_offset, out)
                stats.bytes_written += len(out)
        cleaned.on_become_inactive()
        cleaned.flush()
        mtime = group[-1].last_modified_ms
        os.utime(cleaned.log_path, ns=(mtime * 1_000_000, mtime * 1_000_000))
        cleaned.change_suffix(files.SWAP_SUFFIX)
        checkpoint.fsync_dir(log.dir)
    except BaseException:
        cleaned.delete()
        raise
    if not log.replace_segments(cleaned, group, now_ms):
        return False
    stats.segments_cleaned += len(group)
    stats.swapped_groups.append(base)
    return True


def clean_log(log: Log, now_ms: int, force: bool = False) -> CleanerStats:
    """One compaction pass over `log` if it is due (see the module docstring). Safe to call from a thread
    while the event loop appends; cleaner passes over the same log must not run concurrently."""
    stats = CleanerStats()
    if not log.config.compact:
        stats.reason = "cleanup.policy has no compact"
        return stats
    cleanable = _cleanable(log, now_ms)
    stats.dirty_ratio = cleanable.ratio
    stats.first_dirty_offset = cleanable.first_dirty
    if not cleanable.segments:
        stats.reason = "nothing cleanable"
        return stats
    config = log.config
    due = force or (cleanable.dirty and cleanable.ratio >= config.min_cleanable_dirty_ratio)
    if not due and cleanable.dirty and config.max_compaction_lag_ms < 2**62:
        oldest = min(s.largest_timestamp for s in cleanable.dirty)
        due = now_ms - oldest > config.max_compaction_lag_ms
    if not due:
        due = _has_expired_horizon(cleanable.segments, now_ms)
    if not due:
        stats.reason = f"dirty ratio {cleanable.ratio:.2f} below {config.min_cleanable_dirty_ratio}"
        return stats
    end_offset = cleanable.end_offset
    stats.end_offset = end_offset
    offsets = _build_offset_map(cleanable.dirty, cleanable.first_dirty, stats)
    for group in _groups(cleanable.segments, config.segment_bytes):
        if not _clean_group(log, group, offsets, now_ms, stats):
            stats.reason = "the log changed during cleaning"
            return stats
    write_checkpoint(log, max(end_offset, cleanable.first_dirty))
    stats.cleaned = True
    return stats


class LogCleaner:
    """Runs `clean_log` over many logs, filthiest first (the broker calls `clean_logs` from a worker thread)."""

    def clean_logs(self, logs: Iterable[Log], now_ms: int) -> list[CleanerStats]:
        compacted = [log for log in logs if log.config.compact]
        compacted.sort(key=lambda log: _cleanable(log, now_ms).ratio, reverse=True)
        results = []
        for log in compacted:
            try:
                results.append(clean_log(log, now_ms))
            except Exception:
                logger.exception("cleaning %s failed", log.dir)
        return results

    def clean_log(self, log: Log, now_ms: int, force: bool = False) -> CleanerStats:
        return clean_log(log, now_ms, force)
