"""File handling shared by `OffsetIndex` and `TimeIndex`: fixed-size big-endian entries appended to a file.

Unlike Kafka, the index file is not preallocated: entries are appended with `os.write` (so a killed process
keeps them in the page cache) and mirrored in memory for binary search. A trailing partial entry (torn
write) is ignored on load and cut off by the next write. The in-memory copy is loaded lazily on first use.
"""

from __future__ import annotations

import os
from pathlib import Path


class IndexFile:
    """Opens the file lazily; `entry_size` bytes per entry; `max_entries` from segment.index.bytes."""

    entry_size = 8

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_size // self.entry_size)
        self._fd: int | None = None
        self._loaded = False

    # -- subclass hooks --------------------------------------------------------------------------------------
    def _load_entries(self, data: bytes) -> None:
        raise NotImplementedError

    def _clear_entries(self) -> None:
        raise NotImplementedError

    def _keep_entries(self, count: int) -> None:
        raise NotImplementedError

    @property
    def entries(self) -> int:
        raise NotImplementedError

    # -- file handling ---------------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        usable = len(data) - len(data) % self.entry_size
        self._load_entries(data[:usable])
        self._loaded = True

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            # Drop a torn trailing entry so later appends stay aligned.
            self._ensure_loaded()
            size = os.fstat(self._fd).st_size
            if size != self.entries * self.entry_size:
                os.ftruncate(self._fd, self.entries * self.entry_size)
        return self._fd

    def create(self) -> None:
        """Create the file, empty, if it does not exist (without keeping it open)."""
        if self._fd is None:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644))

    def _write(self, data: bytes) -> None:
        fd = self._file()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def _truncate_entries(self, count: int) -> None:
        self._ensure_loaded()
        if count >= self.entries:
            return
        self._keep_entries(count)
        os.ftruncate(self._file(), count * self.entry_size)

    @property
    def is_full(self) -> bool:
        self._ensure_loaded()
        return self.entries >= self.max_entries

    @property
    def size_in_bytes(self) -> int:
        self._ensure_loaded()
        return self.entries * self.entry_size

    def reset(self) -> None:
        """Remove every entry (before a rebuild)."""
        self._ensure_loaded()
        self._clear_entries()
        os.ftruncate(self._file(), 0)

    def flush(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def rename_to(self, path: Path) -> None:
        if self.path.exists():
            os.replace(self.path, path)
        self.path = path

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
