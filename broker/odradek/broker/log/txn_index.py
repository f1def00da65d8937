"""`TransactionIndex`: the `<base offset>.txnindex` file of a segment (Kafka's TransactionIndex and AbortedTxn).

On-disk format: consecutive 34-byte big-endian entries, no header, one per aborted transaction whose ABORT
marker was written in this segment (the transaction's data may start in earlier segments)::

    2 bytes  version           (0)
    8 bytes  producerId
    8 bytes  firstOffset       (first offset of the transaction's data)
    8 bytes  lastOffset        (offset of the ABORT marker)
    8 bytes  lastStableOffset  (the partition's LSO once the marker was written)

Entries are appended in marker order, so lastOffset strictly increases (an append that breaks this is refused).
The file is created at the first entry, as Kafka does: most segments have none. A Fetch at READ_COMMITTED
collects, segment by segment from the one holding the fetch offset, the entries that overlap the fetched
range, and stops at the first segment holding an entry whose lastStableOffset reaches the end of the range.
Rebuilt by segment recovery (the log replays producer state over the recovered batches), truncated with the
segment, renamed and deleted with it. A torn trailing partial entry is ignored and cut by the next write.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TXN_INDEX_ENTRY_SIZE = 34
CURRENT_VERSION = 0
_ENTRY = struct.Struct(">hqqqq")
assert _ENTRY.size == TXN_INDEX_ENTRY_SIZE


class CorruptIndex(Exception):
    """Kafka's CorruptIndexException: the index must be rebuilt (the segment is recovered)."""


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """One entry: an aborted transaction of `producer_id` spanning [first_offset, last_offset] (the marker)."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int
    version: int = CURRENT_VERSION

    def encode(self) -> bytes:
        return _ENTRY.pack(self.version, self.producer_id, self.first_offset, self.last_offset, self.last_stable_offset)


@dataclass(frozen=True, slots=True)
class TxnIndexSearchResult:
    """Aborted transactions overlapping a fetch range; `is_complete`: no later segment can add any."""

    aborted_transactions: tuple[AbortedTxn, ...]
    is_complete: bool


class TransactionIndex:
    """The `.txnindex` of the segment starting at `start_offset`. Not thread-safe: `Log` serialises writes."""

    def __init__(self, path: Path, start_offset: int) -> None:
        self.path = path
        self.start_offset = start_offset
        self._entries: list[AbortedTxn] | None = None  # loaded on first use

    # -- reading ---------------------------------------------------------------------------------------------
    def _load(self) -> list[AbortedTxn]:
        entries = self._entries
        if entries is None:
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            usable = len(data) - len(data) % TXN_INDEX_ENTRY_SIZE
            entries = []
            for version, producer_id, first, last, lso in _ENTRY.iter_unpack(data[:usable]):
                if version > CURRENT_VERSION:
                    raise CorruptIndex(f"unexpected aborted transaction version {version} in {self.path}")
                entries.append(AbortedTxn(producer_id, first, last, lso, version))
            self._entries = entries
        return entries

    def all_aborted_txns(self) -> tuple[AbortedTxn, ...]:
        return tuple(self._load())

    def __iter__(self) -> Iterator[AbortedTxn]:
        return iter(self.all_aborted_txns())

    def collect_aborted_txns(self, fetch_offset: int, upper_bound_offset: int) -> TxnIndexSearchResult:
        """Entries overlapping [fetch_offset, upper_bound_offset) (Kafka's collectAbortedTxns)."""
        found: list[AbortedTxn] = []
        for txn in self._load():
            if txn.last_offset >= fetch_offset and txn.first_offset < upper_bound_offset:
                found.append(txn)
            if txn.last_stable_offset >= upper_bound_offset:
                return TxnIndexSearchResult(tuple(found), True)
        return TxnIndexSearchResult(tuple(found), False)

    def sanity_check(self) -> bool:
        """False (rebuild needed) when an entry ends before the segment starts or the version is unknown."""
        try:
            return all(txn.last_offset >= self.start_offset for txn in self._load())
        except CorruptIndex:
            return False

    # -- writing ---------------------------------------------------------------------------------------------
    def append(self, txn: AbortedTxn) -> None:
        entries = self._load()
        if entries and entries[-1].last_offset >= txn.last_offset:
            raise ValueError(
                f"the last offset of appended transactions must increase: {txn.last_offset} is not greater than "
                f"{entries[-1].last_offset} in {self.path}"
            )
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            # Written at the end of the whole entries, so that a torn trailing entry is overwritten.
            os.pwrite(fd, txn.encode(), len(entries) * TXN_INDEX_ENTRY_SIZE)
            os.ftruncate(fd, (len(entries) + 1) * TXN_INDEX_ENTRY_SIZE)
        finally:
            os.close(fd)
        entries.append(txn)

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or after `offset`."""
        entries = self._load()
        keep = next((i for i, txn in enumerate(entries) if txn.last_offset >= offset), len(entries))
        if keep < len(entries):
            self._truncate_entries(keep)

    def reset(self) -> None:
        """Remove every entry (before a rebuild by recovery)."""
        self._truncate_entries(0)

    def _truncate_entries(self, count: int) -> None:
        if self.path.exists():
            os.truncate(self.path, count * TXN_INDEX_ENTRY_SIZE)
        self._entries = self._load()[:count]

    # -- lifecycle -------------------------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.path.exists():
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename_to(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, path)
        self.path = path

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self._entries = []
