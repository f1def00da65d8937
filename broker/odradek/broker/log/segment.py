"""`LogSegment`: one `.log` file and its two indexes (Kafka's LogSegment + FileRecords).

Files, named by the segment's base offset (see files.py)::

    <base>.log        RecordBatch v2 batches back to back, exactly as produced (format in records/batch.py);
                      offsets increase, batches never straddle segments
    <base>.index      OffsetIndex (offset_index.py)
    <base>.timeindex  TimeIndex (time_index.py)
    <base>.txnindex   TransactionIndex (txn_index.py): aborted transactions whose marker is in this segment;
                      only created at its first entry

Appends go straight to the kernel with os.write (a killed process loses nothing acknowledged); fsync happens
only in `flush`. Reads hand out a `FetchSlice` (file, position, size) for os.sendfile / loop.sendfile. Hot
paths look only at batch headers; per-record work is limited to `find_offset_by_timestamp`.
"""

from __future__ import annotations

import io
import mmap
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crc32c
from odradek.broker.log import files
from odradek.broker.log.leader_epoch_cache import LeaderEpochFileCache
from odradek.broker.log.offset_index import OffsetIndex
from odradek.broker.log.producer_state import ProducerStateManager
from odradek.broker.log.time_index import TimeIndex
from odradek.broker.log.txn_index import TransactionIndex
from odradek.broker.records.batch import (
    ATTRIBUTES_OFFSET,
    CURRENT_MAGIC,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    MIN_BATCH_LENGTH,
    NO_TIMESTAMP,
    BatchHeader,
    InvalidRecordBatch,
    read_header,
)
from odradek.broker.records.record import iter_records

INT32_MAX = 2**31 - 1
# baseOffset, batchLength, (skip to 23) lastOffsetDelta, (skip to 35) maxTimestamp: what the hot path needs.
_SHALLOW = struct.Struct(">qi11xi8xq")
_SHALLOW_SIZE = _SHALLOW.size  # 43
_SCAN_CHUNK = 64 * 1024


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class FetchSlice:
    """Bytes [position, position + size) of a segment file: what a fetch sends (may end inside a batch,
    as Kafka's does; clients drop a trailing partial batch). `first_offset` is the base offset of the first
    batch in the slice. `file` stays open until the segment is deleted (file.delete.delay.ms after
    removal)."""

    file: io.FileIO
    path: Path
    position: int
    size: int
    first_offset: int

    def read_bytes(self) -> bytes:
        if self.size == 0:
            return b""
        return os.pread(self.file.fileno(), self.size, self.position)


@dataclass(frozen=True, slots=True)
class ShallowBatch:
    """What a header scan of the file yields per batch."""

    position: int
    base_offset: int
    last_offset: int
    size: int
    max_timestamp: int


class LogSegment:
    """One segment. Not thread-safe by itself: `Log` serialises mutation; reads of sealed ones are safe."""

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int = 4096,
        max_index_size: int = 10 * 1024 * 1024,
        created_ms: int | None = None,
        suffix: str = "",
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.suffix = suffix
        self.index_interval_bytes = index_interval_bytes
        self.log_path = files.segment_file(directory, base_offset, files.LOG_SUFFIX, suffix)
        self.offset_index = OffsetIndex(
            files.segment_file(directory, base_offset, files.INDEX_SUFFIX, suffix),
            base_offset,
            max_index_size,
        )
        self.time_index = TimeIndex(
            files.segment_file(directory, base_offset, files.TIME_INDEX_SUFFIX, suffix),
            base_offset,
            max_index_size,
        )
        self.txn_index = TransactionIndex(
            files.segment_file(directory, base_offset, files.TXN_INDEX_SUFFIX, suffix), base_offset
        )
        new = not self.log_path.exists()
        self.file = io.FileIO(self.log_path, "a+")
        self._fd = self.file.fileno()
        if new:
            # Empty index files from the start (entries are appended lazily), so that a segment too small for an
            # index entry does not look like one whose indexes were lost (`sanity_check`) at every load.
            self.offset_index.create()
            self.time_index.create()
        self._size = os.fstat(self._fd).st_size
        self.created_ms = now_ms() if created_ms is None else created_ms
        self._bytes_since_last_index_entry = 0
        self._max_timestamp: int | None = None  # loaded lazily from the time index
        self._offset_of_max_timestamp = base_offset
        self._rolling_based_timestamp: int | None = None
        self._rolling_loaded = False

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self._size}, path={self.log_path})"

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def _load_max_timestamp(self) -> None:
        if self._max_timestamp is None:
            self._max_timestamp, self._offset_of_max_timestamp = self.time_index.last_entry()

    @property
    def max_timestamp_so_far(self) -> int:
        self._load_max_timestamp()
        assert self._max_timestamp is not None
        return self._max_timestamp

    @property
    def offset_of_max_timestamp_so_far(self) -> int:
        self._load_max_timestamp()
        return self._offset_of_max_timestamp

    @property
    def last_modified_ms(self) -> int:
        return os.stat(self._fd).st_mtime_ns // 1_000_000

    @property
    def largest_timestamp(self) -> int:
        """The largest record timestamp, or the file's modification time if there is none (Kafka's rule)."""
        ts = self.max_timestamp_so_far
        return ts if ts >= 0 else self.last_modified_ms

    def rolling_based_timestamp(self) -> int | None:
        """Max timestamp of the first batch: what segment.ms counts from (None when empty)."""
        if not self._rolling_loaded:
            first = next(self.scan_batches(0), None)
            self._rolling_based_timestamp = first.max_timestamp if first is not None else None
            self._rolling_loaded = True
        return self._rolling_based_timestamp

    def time_waited_for_roll(self, now: int, message_timestamp: int) -> int:
        ts = self.rolling_based_timestamp()
        if ts is not None and ts >= 0:
            return message_timestamp - ts
        return now - self.created_ms

    def can_convert_to_relative_offset(self, offset: int) -> bool:
        return 0 <= offset - self.base_offset <= INT32_MAX

    # -- append ----------------------------------------------------------------------------------------------
    def append(
        self,
        largest_offset: int,
        largest_timestamp: int,
        offset_of_max_timestamp: int,
        records: bytes | bytearray | memoryview,
    ) -> None:
        """Append whole batches (already stamped). Adds index entries every index.interval.bytes."""
        if not records:
            return
        if not self.can_convert_to_relative_offset(largest_offset):
            raise ValueError(f"offset {largest_offset} does not fit segment {self.base_offset}")
        physical_position = self._size
        if physical_position == 0:
            self._rolling_based_timestamp = largest_timestamp
            self._rolling_loaded = True
        view = memoryview(records)
        while view:
            view = view[os.write(self._fd, view) :]
        self._load_max_timestamp()
        assert self._max_timestamp is not None
        max_ts = self._max_timestamp
        offset_of_max = self._offset_of_max_timestamp
        since = self._bytes_since_last_index_entry
        interval = self.index_interval_bytes
        position = 0
        end = len(records)
        unpack = _SHALLOW.unpack_from
        while position < end:
            base, length, last_delta, batch_max_ts = unpack(records, position)
            batch_last = base + last_delta
            if batch_max_ts > max_ts:
                max_ts = batch_max_ts
                offset_of_max = batch_last
            if since > interval:
                self.offset_index.append(batch_last, physical_position)
                self.time_index.maybe_append(max_ts, offset_of_max)
                since = 0
            size = length + LOG_OVERHEAD
            physical_position += size
            since += size
            position += size
        if largest_timestamp > max_ts:
            max_ts, offset_of_max = largest_timestamp, offset_of_max_timestamp
        self._max_timestamp = max_ts
        self._offset_of_max_timestamp = offset_of_max
        self._bytes_since_last_index_entry = since
        self._size = physical_position

    # -- reading ---------------------------------------------------------------------------------------------
    def scan_batches(self, start_position: int, end_position: int | None = None) -> _BatchScan:
        return _BatchScan(self._fd, start_position, self._size if end_position is None else end_position)

    def scan_headers(self, start_position: int = 0) -> Iterator[BatchHeader]:
        """The full 61-byte header of every batch from `start_position` (positions are file positions), read
        64 KiB at a time; stops at the end of the file or at a header that does not parse."""
        position, end = start_position, self._size
        chunk, chunk_start = b"", start_position
        while end - position >= HEADER_SIZE:
            relative = position - chunk_start
            if relative + HEADER_SIZE > len(chunk):
                chunk, chunk_start, relative = (
                    os.pread(self._fd, min(_SCAN_CHUNK, end - position), position),
                    position,
                    0,
                )
                if len(chunk) < HEADER_SIZE:
                    return
            try:
                header = read_header(chunk, relative, file_position=position)
            except InvalidRecordBatch:
                return
            if header.batch_length < MIN_BATCH_LENGTH or position + header.size > end:
                return
            yield header
            position += header.size

    def translate_offset(self, offset: int, starting_position: int = 0) -> ShallowBatch | None:
        """The first batch whose last offset is >= `offset`, or None if the segment ends before it."""
        _, position = self.offset_index.lookup(offset)
        for batch in self.scan_batches(max(position, starting_position)):
            if batch.last_offset >= offset:
                return batch
        return None

    def read(
        self, start_offset: int, max_size: int, max_position: int | None = None, min_one_message: bool = False
    ) -> FetchSlice | None:
        """Slice from the batch holding `start_offset`, at most `max_size` bytes (or the first batch whole
        when `min_one_message`), never past `max_position`. None when `start_offset` is past this segment."""
        if max_size < 0:
            raise ValueError(f"invalid max size {max_size}")
        limit = self._size if max_position is None else max_position
        batch = self.translate_offset(start_offset)
        if batch is None:
            return None
        adjusted = max(max_size, batch.size) if min_one_message else max_size
        if adjusted == 0 or batch.position >= limit:
            return FetchSlice(self.file, self.log_path, batch.position, 0, batch.base_offset)
        size = min(limit - batch.position, adjusted)
        return FetchSlice(self.file, self.log_path, batch.position, size, batch.base_offset)

    def read_next_offset(self) -> int:
        """The offset after the last batch (the base offset when empty)."""
        _, position = self.offset_index.lookup(INT32_MAX + self.base_offset)
        last: ShallowBatch | None = None
        for batch in self.scan_batches(position):
            last = batch
        return self.base_offset if last is None else last.last_offset + 1

    def read_batch_bytes(self, position: int, size: int) -> bytes:
        return os.pread(self._fd, size, position)

    def find_offset_by_timestamp(self, timestamp: int, starting_offset: int) -> tuple[int, int, int] | None:
        """(timestamp, offset, leader epoch) of the first record with timestamp >= `timestamp` and offset >=
        `starting_offset` (Kafka's FileRecords.searchForTimestamp), or None."""
        _, index_offset = self.time_index.lookup(timestamp)
        _, position = self.offset_index.lookup(max(index_offset, starting_offset))
        for batch in self.scan_batches(position):
            if batch.max_timestamp < timestamp or batch.last_offset < starting_offset:
                continue
            data = self.read_batch_bytes(batch.position, batch.size)
            header = read_header(data)
            for record in iter_records(data, header):
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return record.timestamp, record.offset, header.partition_leader_epoch
        return None

    def find_offset_of_max_timestamp(self) -> tuple[int, int, int] | None:
        """(timestamp, offset, epoch) of the first record holding the segment's max timestamp, or None."""
        max_ts = self.max_timestamp_so_far
        if max_ts == NO_TIMESTAMP:
            return None
        return self.find_offset_by_timestamp(max_ts, self.base_offset)

    # -- recovery and truncation -----------------------------------------------------------------------------
    def recover(
        self,
        max_message_size: int,
        leader_epoch_cache: LeaderEpochFileCache | None = None,
        producer_state: ProducerStateManager | None = None,
    ) -> int:
        """Rebuild both indexes from the .log, truncating at the first batch whose length, magic, CRC-32C,
        record counts or offsets are wrong. Returns the number of bytes truncated.

        With `producer_state` (brought up to this segment's base offset by the caller) every kept batch is
        replayed into it and the `.txnindex` is rebuilt from the markers (Kafka's LogSegment.recover);
        without, the `.txnindex` is only cut at the new end.

        `max_message_size` is not used to reject batches: a batch that fits in the file and passes its CRC is
        kept even if max.message.bytes was lowered after it was written.
        """
        del max_message_size
        self.offset_index.reset()
        self.time_index.reset()
        if producer_state is not None:
            self.txn_index.reset()
        self._max_timestamp = NO_TIMESTAMP
        self._offset_of_max_timestamp = self.base_offset
        valid = 0
        last_index_entry = 0
        end = self._size
        if end:
            with mmap.mmap(self._fd, end, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    valid, last_index_entry = self._recover_scan(view, end, leader_epoch_cache, producer_state)
                finally:
                    view.release()
        truncated = end - valid
        if truncated > 0:
            os.ftruncate(self._fd, valid)
            self._size = valid
        if producer_state is None:
            self.txn_index.truncate_to(self.read_next_offset())
        self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp, skip_full_check=True)
        self._bytes_since_last_index_entry = valid - last_index_entry
        self._rolling_loaded = False
        return truncated

    def _recover_scan(
        self,
        view: memoryview,
        end: int,
        leader_epoch_cache: LeaderEpochFileCache | None,
        producer_state: ProducerStateManager | None,
    ) -> tuple[int, int]:
        valid = 0
        last_index_entry = 0
        max_ts = NO_TIMESTAMP
        offset_of_max = self.base_offset
        previous_next_offset = self.base_offset
        while valid < end:
            if end - valid < HEADER_SIZE:
                break
            base, length, last_delta, batch_max_ts = _SHALLOW.unpack_from(view, valid)
            size = length + LOG_OVERHEAD
            if length < MIN_BATCH_LENGTH or valid + size > end or view[valid + MAGIC_OFFSET] != CURRENT_MAGIC:
                break
            header = read_header(view, valid)
            if header.record_count < 0 or last_delta < 0 or base < previous_next_offset:
                break
            if not self.can_convert_to_relative_offset(base + last_delta):
                break
            if crc32c.crc32c(view[valid + ATTRIBUTES_OFFSET : valid + size]) != header.crc:
                break
            batch_last = base + last_delta
            if batch_max_ts > max_ts:
                max_ts, offset_of_max = batch_max_ts, batch_last
            if valid - last_index_entry > self.index_interval_bytes:
                self.offset_index.append(batch_last, valid)
                self.time_index.maybe_append(max_ts, offset_of_max)
                last_index_entry = valid
            if leader_epoch_cache is not None and header.partition_leader_epoch >= 0:
                latest = leader_epoch_cache.latest_epoch
                if latest is None or header.partition_leader_epoch > latest:
                    leader_epoch_cache.assign(header.partition_leader_epoch, base)
            if producer_state is not None:
                producer_state.replay(header, view, self.txn_index)
            previous_next_offset = batch_last + 1
            valid += size
        self._max_timestamp, self._offset_of_max_timestamp = max_ts, offset_of_max
        return valid, last_index_entry

    def truncate_to(self, offset: int) -> int:
        """Remove every batch whose last offset is >= `offset` (whole batches). Returns bytes removed."""
        batch = self.translate_offset(offset)
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self.txn_index.truncate_to(offset)
        removed = 0
        if batch is not None:
            removed = self._size - batch.position
            os.ftruncate(self._fd, batch.position)
            self._size = batch.position
        if self._size == 0:
            self.created_ms = now_ms()
        self._rolling_loaded = False
        self._bytes_since_last_index_entry = 0
        self._reload_max_timestamp()
        return removed

    def _reload_max_timestamp(self) -> None:
        max_ts, offset_of_max = self.time_index.last_entry()
        _, position = self.offset_index.lookup(offset_of_max)
        for batch in self.scan_batches(position):
            if batch.max_timestamp > max_ts:
                max_ts, offset_of_max = batch.max_timestamp, batch.last_offset
        self._max_timestamp, self._offset_of_max_timestamp = max_ts, offset_of_max

    def sanity_check(self) -> bool:
        """True when both index files look usable (otherwise the caller recovers the segment)."""
        if self._size > 0 and not (self.offset_index.path.exists() and self.time_index.path.exists()):
            return False
        return (
            self.offset_index.sanity_check(self._size)
            and self.time_index.sanity_check()
            and self.txn_index.sanity_check()
        )

    # -- lifecycle -------------------------------------------------------------------------------------------
    def on_become_inactive(self) -> None:
        """Called when a new segment is rolled: record the max timestamp in the time index."""
        self._load_max_timestamp()
        assert self._max_timestamp is not None
        self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp, skip_full_check=True)

    def flush(self) -> None:
        os.fsync(self._fd)
        self.offset_index.flush()
        self.time_index.flush()
        self.txn_index.flush()

    def close(self) -> None:
        if self.file.closed:
            return
        if self._max_timestamp is not None and self._max_timestamp != NO_TIMESTAMP:
            self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp, skip_full_check=True)
        self.offset_index.close()
        self.time_index.close()
        self.file.close()

    def change_suffix(self, new_suffix: str) -> None:
        """Rename the files from the current suffix to `new_suffix` ("" for a live segment)."""
        new_log = files.segment_file(self.directory, self.base_offset, files.LOG_SUFFIX, new_suffix)
        os.replace(self.log_path, new_log)
        self.log_path = new_log
        self.offset_index.rename_to(
            files.segment_file(self.directory, self.base_offset, files.INDEX_SUFFIX, new_suffix)
        )
        self.time_index.rename_to(
            files.segment_file(self.directory, self.base_offset, files.TIME_INDEX_SUFFIX, new_suffix)
        )
        self.txn_index.rename_to(
            files.segment_file(self.directory, self.base_offset, files.TXN_INDEX_SUFFIX, new_suffix)
        )
        self.suffix = new_suffix

    def rename_to_deleted(self) -> None:
        self.change_suffix(files.DELETED_SUFFIX)

    def delete(self) -> None:
        """Close and remove the files (whatever their current suffix)."""
        self.offset_index.delete()
        self.time_index.delete()
        self.txn_index.delete()
        if not self.file.closed:
            self.file.close()
        self.log_path.unlink(missing_ok=True)


class _BatchScan:
    """Iterator over batch headers in [start, end) of a file, reading 64 KiB at a time with pread."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        self._fd = fd
        self._position = start
        self._end = end
        self._chunk = b""
        self._chunk_start = start

    def __iter__(self) -> _BatchScan:
        return self

    def __next__(self) -> ShallowBatch:
        position = self._position
        if self._end - position < HEADER_SIZE:
            raise StopIteration
        relative = position - self._chunk_start
        if relative < 0 or relative + _SHALLOW_SIZE > len(self._chunk):
            self._chunk = os.pread(self._fd, min(_SCAN_CHUNK, self._end - position), position)
            self._chunk_start = position
            relative = 0
            if len(self._chunk) < _SHALLOW_SIZE:
                raise StopIteration
        base, length, last_delta, max_ts = _SHALLOW.unpack_from(self._chunk, relative)
        size = length + LOG_OVERHEAD
        if length < MIN_BATCH_LENGTH or position + size > self._end:
            raise StopIteration
        self._position = position + size
        return ShallowBatch(position, base, base + last_delta, size, max_ts)
