"""`OffsetIndex`: the sparse `<base offset>.index` file of a segment (Kafka's OffsetIndex).

On-disk format: consecutive 8-byte big-endian entries, no header::

    4 bytes  relative offset   (offset - segment base offset; the last offset of the batch indexed)
    4 bytes  position          (byte position of that batch in the segment's .log file)

Entries are strictly increasing in both fields. One entry is added after more than `index.interval.bytes`
bytes have been appended since the previous one, so a lookup of offset O finds the largest entry <= O and the
reader scans batch headers from that position. The index is derived data: it is rebuilt from the .log after
a crash.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from pathlib import Path

from odradek.broker.log._index_file import IndexFile

_ENTRY = struct.Struct(">ii")


class OffsetIndex(IndexFile):
    entry_size = 8

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        super().__init__(path, base_offset, max_index_size)
        self._relative_offsets = array("i")
        self._positions = array("i")

    def _load_entries(self, data: bytes) -> None:
        self._relative_offsets = array("i")
        self._positions = array("i")
        for relative, position in _ENTRY.iter_unpack(data):
            self._relative_offsets.append(relative)
            self._positions.append(position)

    def _clear_entries(self) -> None:
        self._relative_offsets = array("i")
        self._positions = array("i")

    def _keep_entries(self, count: int) -> None:
        del self._relative_offsets[count:]
        del self._positions[count:]

    @property
    def entries(self) -> int:
        self._ensure_loaded()
        return len(self._relative_offsets)

    @property
    def last_offset(self) -> int:
        """The last offset indexed, or the base offset when empty."""
        self._ensure_loaded()
        if not self._relative_offsets:
            return self.base_offset
        return self.base_offset + self._relative_offsets[-1]

    def append(self, offset: int, position: int) -> None:
        self._ensure_loaded()
        relative = offset - self.base_offset
        if self._relative_offsets and relative <= self._relative_offsets[-1]:
            raise ValueError(f"offset {offset} is not larger than the last indexed offset {self.last_offset}")
        if self.entries >= self.max_entries:
            raise ValueError(f"index {self.path} is full")
        self._write(_ENTRY.pack(relative, position))
        self._relative_offsets.append(relative)
        self._positions.append(position)

    def lookup(self, target_offset: int) -> tuple[int, int]:
        """(offset, position) of the largest entry whose offset <= target, else (base offset, 0)."""
        self._ensure_loaded()
        slot = bisect_right(self._relative_offsets, target_offset - self.base_offset) - 1
        if slot < 0:
            return self.base_offset, 0
        return self.base_offset + self._relative_offsets[slot], self._positions[slot]

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= `offset`."""
        self._ensure_loaded()
        self._truncate_entries(bisect_right(self._relative_offsets, offset - self.base_offset - 1))

    def entry(self, slot: int) -> tuple[int, int]:
        self._ensure_loaded()
        return self.base_offset + self._relative_offsets[slot], self._positions[slot]

    def sanity_check(self, log_size: int) -> bool:
        """False when the file is not a whole number of entries or points outside the log."""
        self._ensure_loaded()
        if self.path.exists() and self.path.stat().st_size % self.entry_size:
            return False
        entries = self._relative_offsets
        return not (entries and (entries[0] < 0 or self._positions[-1] > log_size))
