"""Source offsets: the standalone offset file, the reader tasks use, and the in-order commit rule.

File format (`offset.storage.file.filename`): one JSON object mapping key to value, both JSON texts as in Kafka's
offsets topic: key `["<connector>",{<source partition>}]`, value `{<source offset>}` (compact JSON, partition keys
sorted). Kafka's standalone file is a Java-serialised map and cannot be shared with it; the keys and values are the
same JSON. The file is replaced atomically (write to `<file>.tmp`, fsync, rename, fsync the folder), so a crash
leaves either the old or the new offsets.

`SubmittedRecords` implements Kafka's rule that a source offset is committed only when the record it belongs to and
every earlier record of the same source partition were acknowledged by the broker.
"""

from __future__ import annotations

import collections
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from odradek.connect.api.errors import ConnectException


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def offset_key(connector: str, partition: Mapping[str, Any]) -> str:
    return _compact([connector, dict(partition)])


def partition_of(key: str) -> tuple[str, dict[str, Any]]:
    connector, partition = json.loads(key)
    return str(connector), dict(partition)


class OffsetBackingStore(Protocol):
    """Where source offsets live: the standalone file or, in distributed mode, the offsets topic."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, values: Mapping[str, Mapping[str, Any] | None]) -> None: ...

    def connector_offsets(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]: ...


class TransactionalOffsetStore(OffsetBackingStore, Protocol):
    """An offsets topic that exactly-once source tasks write through their own transactional producer."""

    @property
    def topic(self) -> str: ...

    def records(self, values: Mapping[str, Mapping[str, Any] | None]) -> list[tuple[bytes, bytes | None]]:
        """The topic's (key, value) records for `values`."""
        ...

    def cache(self, values: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Make offsets of a committed transaction visible to this worker's readers at once."""
        ...


class FileOffsetBackingStore:
    """The offset file (see module docstring); thread-safe; `set` persists before returning."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            except ValueError as exc:
                raise ConnectException(f"Offset file {self.path} is not valid JSON: {exc}") from exc
            self._data = {str(k): str(v) for k, v in loaded.items()}

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            text = self._data.get(key)
        return None if text is None else dict(json.loads(text))

    def set(self, values: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Store (or, for None, remove) offsets and write the file."""
        with self._lock:
            for key, value in values.items():
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = _compact(dict(value))
            self._write()

    def connector_offsets(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        with self._lock:
            items = list(self._data.items())
        out = []
        for key, value in items:
            owner, partition = partition_of(key)
            if owner == connector:
                out.append((partition, dict(json.loads(value))))
        return out

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(self._data, out, sort_keys=True, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True, slots=True)
class OffsetStorageReaderImpl:
    store: OffsetBackingStore
    connector: str

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.store.get(offset_key(self.connector, partition))

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], dict[str, Any] | None]]:
        return [(p, self.offset(p)) for p in partitions]


@dataclass(slots=True)
class SubmittedRecord:
    partition_key: str
    offset: dict[str, Any] | None
    acked: bool = False


@dataclass(slots=True)
class SubmittedRecords:
    """Records sent but not yet committed, per source partition in send order (Kafka's SubmittedRecords)."""

    pending: dict[str, collections.deque[SubmittedRecord]] = field(default_factory=dict)

    def submit(self, partition_key: str, offset: Mapping[str, Any] | None) -> SubmittedRecord:
        record = SubmittedRecord(partition_key, dict(offset) if offset is not None else None)
        queue = self.pending.get(partition_key)
        if queue is None:  # not setdefault: its default argument would be a new deque per record
            queue = self.pending[partition_key] = collections.deque()
        queue.append(record)
        return record

    def committable(self) -> dict[str, dict[str, Any]]:
        """The latest offset per partition whose record and all earlier ones are acked; those records are removed."""
        out: dict[str, dict[str, Any]] = {}
        for key, queue in list(self.pending.items()):
            while queue and queue[0].acked:
                record = queue.popleft()
                if record.offset is not None:
                    out[key] = record.offset
            if not queue:
                del self.pending[key]
        return out

    def outstanding(self) -> int:
        return sum(1 for q in self.pending.values() for r in q if not r.acked)
