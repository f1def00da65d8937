"""`TimeIndex`: the sparse `<base offset>.timeindex` file of a segment (Kafka's TimeIndex).

On-disk format: consecutive 12-byte big-endian entries, no header::

    8 bytes  timestamp         (the largest batch max timestamp seen so far in the segment)
    4 bytes  relative offset   (offset - base offset: the last offset of the batch holding that timestamp)

Timestamps are strictly increasing: an entry is only added when the segment's max timestamp grew. Written next
to each offset index entry and once more when the segment stops being active, so the last entry holds the
segment's largest timestamp. An entry (T, O) means that any record with a timestamp greater than T comes after
offset O, so a lookup of T gives an offset from which a forward scan finds the first record with a
timestamp >= T.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from pathlib import Path

from odradek.broker.log._index_file import IndexFile
from odradek.broker.records.batch import NO_TIMESTAMP

_ENTRY = struct.Struct(">qi")


class TimeIndex(IndexFile):
    entry_size = 12

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        super().__init__(path, base_offset, max_index_size)
        self._timestamps = array("q")
        self._relative_offsets = array("i")

    def _load_entries(self, data: bytes) -> None:
        self._clear_entries()
        for timestamp, relative in _ENTRY.iter_unpack(data):
            self._timestamps.append(timestamp)
            self._relative_offsets.append(relative)

    def _clear_entries(self) -> None:
        self._timestamps = array("q")
        self._relative_offsets = array("i")

    def _keep_entries(self, count: int) -> None:
        del self._timestamps[count:]
        del self._relative_offsets[count:]

    @property
    def entries(self) -> int:
        self._ensure_loaded()
        return len(self._timestamps)

    def last_entry(self) -> tuple[int, int]:
        """(timestamp, offset) of the last entry, or (-1, base offset) when empty."""
        self._ensure_loaded()
        if not self._timestamps:
            return NO_TIMESTAMP, self.base_offset
        return self._timestamps[-1], self.base_offset + self._relative_offsets[-1]

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """Append (timestamp, offset) if the timestamp is larger than the last one."""
        self._ensure_loaded()
        if not skip_full_check and self.entries >= self.max_entries:
            raise ValueError(f"time index {self.path} is full")
        last_timestamp, last_offset = self.last_entry()
        if timestamp <= last_timestamp:
            return
        if self._timestamps and offset < last_offset:
            raise ValueError(f"time index offset {offset} is smaller than the last one {last_offset}")
        relative = offset - self.base_offset
        self._write(_ENTRY.pack(timestamp, relative))
        self._timestamps.append(timestamp)
        self._relative_offsets.append(relative)

    def lookup(self, target_timestamp: int) -> tuple[int, int]:
        """(timestamp, offset) of the largest entry with timestamp <= target, else (-1, base offset)."""
        self._ensure_loaded()
        slot = bisect_right(self._timestamps, target_timestamp) - 1
        if slot < 0:
            return NO_TIMESTAMP, self.base_offset
        return self._timestamps[slot], self.base_offset + self._relative_offsets[slot]

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= `offset`."""
        self._ensure_loaded()
        relative = offset - self.base_offset
        keep = 0
        while keep < self.entries and self._relative_offsets[keep] < relative:
            keep += 1
        self._truncate_entries(keep)

    def entry(self, slot: int) -> tuple[int, int]:
        self._ensure_loaded()
        return self._timestamps[slot], self.base_offset + self._relative_offsets[slot]

    def sanity_check(self) -> bool:
        self._ensure_loaded()
        if self.path.exists() and self.path.stat().st_size % self.entry_size:
            return False
        return not (self._relative_offsets and self._relative_offsets[0] < 0)
