"""On-disk format of the embedded metadata store: a snapshot plus an append-only journal (synchronous I/O).

Folder layout (by default ``<log.dirs[0]>/__cluster_metadata/``)::

    lock            empty; held with flock(LOCK_EX) while a store has the folder open
    snapshot        one frame: the whole key space at revision R (absent until the first snapshot)
    snapshot.tmp    a snapshot being written; ignored and removed on open
    journal         frames, one per committed transaction with revision > R, in revision order

Frame: ``length:u32be | crc:u32be | payload[length]`` where ``crc`` is zlib's CRC-32 of the payload.
Payloads are UTF-8 JSON; keys and values are standard base64 strings:

- journal entry: ``{"rev": N, "changes": [["p", key, value, create_revision, version, lease], ["d", key],
  ...]}`` (the *resulting* state of each key the txn changed, in first-touch order; ``mod_revision`` is
  ``rev``).
- snapshot: ``{"rev": R, "kvs": [[key, value, create_revision, mod_revision, version, lease], ...]}``.

A journal frame is written and fsynced before its transaction is visible. Recovery reads frames until the
first torn or corrupt one (short header, short payload, CRC mismatch, bad JSON, or a revision that does not
follow the previous one) and truncates the file there, so a crash mid-write loses at most the transaction
being written. Journal entries with a revision at or below the snapshot's are skipped (a crash between
writing the snapshot and truncating the journal).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from odradek.broker.metadata.store import KeyValue, MetadataStoreError

__all__ = [
    "Change",
    "JournalEntry",
    "MetadataDirectory",
    "Recovered",
    "decode_entry",
    "encode_entry",
    "frame",
    "read_frames",
]

_HEADER = struct.Struct(">II")
MAX_FRAME_BYTES = 256 * 1024 * 1024
JOURNAL = "journal"
SNAPSHOT = "snapshot"
SNAPSHOT_TMP = "snapshot.tmp"
LOCK = "lock"


@dataclass(frozen=True, slots=True)
class Change:
    """The state of ``key`` after a transaction: ``kv`` is ``None`` when the transaction deleted it."""

    key: bytes
    kv: KeyValue | None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    revision: int
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Recovered:
    """What ``MetadataDirectory.open`` found: the snapshot state and the journal entries after it."""

    snapshot_revision: int
    kvs: dict[bytes, KeyValue]
    entries: list[JournalEntry]
    truncated_bytes: int


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected a base64 string")
    return base64.b64decode(text, validate=True)


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_frames(data: bytes) -> Iterator[tuple[bytes, int]]:
    """Yields ``(payload, end_offset)`` for each intact frame, stopping at the first torn or corrupt one."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length > MAX_FRAME_BYTES or start + length > len(data):
            return
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return
        pos = start + length
        yield payload, pos


def encode_entry(entry: JournalEntry) -> bytes:
    changes: list[list[Any]] = []
    for change in entry.changes:
        kv = change.kv
        if kv is None:
            changes.append(["d", _b64(change.key)])
        else:
            changes.append(["p", _b64(kv.key), _b64(kv.value), kv.create_revision, kv.version, kv.lease])
    return json.dumps({"rev": entry.revision, "changes": changes}, separators=(",", ":")).encode()


def decode_entry(payload: bytes) -> JournalEntry:
    """Parses a journal payload; raises ``ValueError`` (or a subclass) if it is malformed."""
    doc = json.loads(payload)
    revision = _int(doc["rev"])
    changes = []
    for item in doc["changes"]:
        if item[0] == "d" and len(item) == 2:
            changes.append(Change(_unb64(item[1]), None))
        elif item[0] == "p" and len(item) == 6:
            key = _unb64(item[1])
            kv = KeyValue(key, _unb64(item[2]), _int(item[3]), revision, _int(item[4]), _int(item[5]))
            changes.append(Change(key, kv))
        else:
            raise ValueError(f"bad change {item!r}")
    return JournalEntry(revision, tuple(changes))


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _encode_snapshot(revision: int, kvs: Iterable[KeyValue]) -> bytes:
    rows = [[_b64(kv.key), _b64(kv.value), kv.create_revision, kv.mod_revision, kv.version, kv.lease] for kv in kvs]
    return json.dumps({"rev": revision, "kvs": rows}, separators=(",", ":")).encode()


def _decode_snapshot(payload: bytes) -> tuple[int, dict[bytes, KeyValue]]:
    doc = json.loads(payload)
    kvs = {}
    for row in doc["kvs"]:
        kv = KeyValue(_unb64(row[0]), _unb64(row[1]), _int(row[2]), _int(row[3]), _int(row[4]), _int(row[5]))
        kvs[kv.key] = kv
    return _int(doc["rev"]), kvs


class MetadataDirectory:
    """The folder of one embedded store: exclusive lock, snapshot and journal (blocking calls)."""

    def __init__(self, path: str, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        self._lock_fd = -1
        self._journal_fd = -1
        self.journal_bytes = 0

    def open(self) -> Recovered:
        """Locks the folder (creating it), loads the snapshot, replays and repairs the journal.

        A folder created here is made durable in its parent (fsync of the parent folder), so a power loss right
        after the first commit cannot lose the whole store."""
        created = not os.path.isdir(self.path)
        os.makedirs(self.path, exist_ok=True)
        if created:
            self._sync_dir(os.path.dirname(os.path.abspath(self.path)))
        self._lock_fd = os.open(os.path.join(self.path, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._close_fd(self._lock_fd)
            self._lock_fd = -1
            raise MetadataStoreError(f"{self.path} is already open in another store") from None
        try:
            return self._recover()
        except BaseException:
            self.close()
            raise

    def _recover(self) -> Recovered:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.path, SNAPSHOT_TMP))
        snapshot_revision, kvs = self._load_snapshot()
        journal_path = os.path.join(self.path, JOURNAL)
        self._journal_fd = os.open(journal_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        with open(journal_path, "rb") as f:
            data = f.read()
        entries, good = self._parse_journal(data, snapshot_revision)
        if good < len(data):
            os.ftruncate(self._journal_fd, good)
            self._sync(self._journal_fd)
        self.journal_bytes = good
        self._sync_dir()
        return Recovered(snapshot_revision, kvs, entries, len(data) - good)

    def _load_snapshot(self) -> tuple[int, dict[bytes, KeyValue]]:
        try:
            with open(os.path.join(self.path, SNAPSHOT), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return 0, {}
        for payload, end in read_frames(data):
            if end == len(data):
                return _decode_snapshot(payload)
        raise MetadataStoreError(f"{self.path}/{SNAPSHOT} is corrupt")

    @staticmethod
    def _parse_journal(data: bytes, snapshot_revision: int) -> tuple[list[JournalEntry], int]:
        entries: list[JournalEntry] = []
        good = 0
        last = snapshot_revision
        for payload, end in read_frames(data):
            try:
                entry = decode_entry(payload)
            except (ValueError, KeyError, IndexError, TypeError):
                break
            if entry.revision > snapshot_revision:
                if entry.revision != last + 1:
                    break
                entries.append(entry)
                last = entry.revision
            good = end
        return entries, good

    def append(self, entry: JournalEntry) -> None:
        """Writes one frame and fsyncs it. On error the folder must be reopened (recovery fixes the tail)."""
        data = frame(encode_entry(entry))
        view = memoryview(data)
        while view:
            written = os.write(self._journal_fd, view)
            view = view[written:]
        self._sync(self._journal_fd)
        self.journal_bytes += len(data)

    def write_snapshot(self, revision: int, kvs: Iterable[KeyValue]) -> None:
        """Atomically replaces the snapshot (tmp, fsync, rename, fsync folder), then empties the journal."""
        tmp = os.path.join(self.path, SNAPSHOT_TMP)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            data = frame(_encode_snapshot(revision, kvs))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            self._sync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(self.path, SNAPSHOT))
        self._sync_dir()
        os.ftruncate(self._journal_fd, 0)
        self._sync(self._journal_fd)
        self.journal_bytes = 0

    def close(self) -> None:
        self._close_fd(self._journal_fd)
        self._journal_fd = -1
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self._close_fd(self._lock_fd)
            self._lock_fd = -1

    @staticmethod
    def _close_fd(fd: int) -> None:
        if fd >= 0:
            os.close(fd)

    def _sync(self, fd: int) -> None:
        if self._fsync:
            os.fsync(fd)

    def _sync_dir(self, path: str | None = None) -> None:
        if not self._fsync:
            return
        fd = os.open(self.path if path is None else path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
