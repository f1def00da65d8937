"""Response chunks that are not bytes: a slice of a file, sent with sendfile by the server.

- `Region` is what a codec accepts in place of record bytes (a records field of a response): any object with
  `fd`, `position` and `size`, i.e. bytes [position, position + size) of the open file `fd`. The protocol layer
  never reads it and never imports the storage that makes it (structural typing keeps the layers apart).
- `RegionWriter` is a `bytearray` that the generated encoders write into as usual; a records field holding a
  region gets its length prefix written and the region recorded at that point. `chunks()` then yields the body
  as `[bytes, FileRegion, bytes, ..., bytes]`: the record data is never copied into the body.
- A `FileRegion` owns its file descriptor (a `dup` of the segment's, taken by `chunks()`), so a segment closed or
  deleted while the response waits in the queue cannot pull the descriptor from under the send. The server
  closes it once sent.
- `StreamedRecords` is record data that does not exist before it is sent (Fetch down-conversion for old clients):
  its size is promised when the response is encoded, its bytes are made piece by piece while it is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from odradek.broker.protocol.primitives import (
    I32,
    w_bytes,
    w_compact_bytes,
    w_compact_nullable_bytes,
    w_nullable_bytes,
    w_uvarint,
)


class Region(Protocol):
    """Bytes [position, position + size) of the open file descriptor `fd`."""

    @property
    def fd(self) -> int: ...

    @property
    def position(self) -> int: ...

    @property
    def size(self) -> int: ...


@dataclass(slots=True)
class FileRegion:
    fd: int
    position: int
    size: int
    closed: bool = field(default=False)

    @classmethod
    def from_fd(cls, fd: int, position: int, size: int) -> FileRegion:
        return cls(os.dup(fd), position, size)

    def read(self) -> bytes:
        """The region's bytes (for TLS connections and tests, where sendfile does not apply)."""
        return os.pread(self.fd, self.size, self.position)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


@dataclass(slots=True)
class StreamedRecords:
    """Record data made while the response is sent (down-converted records, `records.legacy`): exactly `size`
    bytes, yielded by `pieces` one at a time; the server writes and drains each before asking for the next, so
    only one piece is in memory. `on_close` (e.g. closing the file descriptor the pieces are read from) runs once,
    when the response is sent or dropped."""

    size: int
    pieces: Iterator[bytes]
    on_close: Callable[[], None] | None = None
    closed: bool = field(default=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.on_close is not None:
                self.on_close()


# What a response is sent as: the server writes bytes-like chunks, sends FileRegions with sendfile and
# StreamedRecords piece by piece.
Chunk = bytes | bytearray | memoryview | FileRegion | StreamedRecords


class RegionWriter(bytearray):
    """An encode buffer that also holds the file regions written into it, each at its offset in the buffer."""

    __slots__ = ("regions",)

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[tuple[int, Region | StreamedRecords]] = []

    def add_region(self, region: Region | StreamedRecords) -> None:
        self.regions.append((len(self), region))

    def chunks(self) -> list[Chunk]:
        """The buffer cut at each region, the regions (as FileRegions owning a dup of their descriptor) between."""
        if not self.regions:
            return [self]
        view = memoryview(self)
        chunks: list[Chunk] = []
        start = 0
        for at, region in self.regions:
            chunks.append(view[start:at])
            if isinstance(region, StreamedRecords):
                chunks.append(region)
            else:
                chunks.append(FileRegion.from_fd(region.fd, region.position, region.size))
            start = at
        chunks.append(view[start:])
        return chunks


def _add_region(w: bytearray, region: Region | StreamedRecords) -> None:
    if not isinstance(w, RegionWriter):
        raise TypeError("a file region can only be encoded into a RegionWriter")
    w.add_region(region)


def w_records(w: bytearray, value: bytes | memoryview | Region | StreamedRecords | None) -> None:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        w_bytes(w, value)
        return
    w.extend(I32.pack(value.size))
    _add_region(w, value)


def w_nullable_records(w: bytearray, value: bytes | memoryview | Region | StreamedRecords | None) -> None:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        w_nullable_bytes(w, value)
        return
    w.extend(I32.pack(value.size))
    _add_region(w, value)


def w_compact_records(w: bytearray, value: bytes | memoryview | Region | StreamedRecords | None) -> None:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        w_compact_bytes(w, value)
        return
    w_uvarint(w, value.size + 1)
    _add_region(w, value)


def w_compact_nullable_records(w: bytearray, value: bytes | memoryview | Region | StreamedRecords | None) -> None:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        w_compact_nullable_bytes(w, value)
        return
    w_uvarint(w, value.size + 1)
    _add_region(w, value)
