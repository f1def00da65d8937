"""Kafka's binary formats of MirrorMaker 2's internal records (org.apache.kafka.connect.mirror.OffsetSync,
Checkpoint and Heartbeat), so Kafka's own MirrorClient and formatters read what Odradek writes, and back.

The fields are written as Kafka's `protocol.types.Struct`: STRING = int16 byte length + UTF-8 bytes (never null),
INT16 / INT32 / INT64 = big-endian two's complement. Layouts:

- OffsetSync (topic `mm2-offset-syncs.<alias>.internal`, partition 0), no version header:
  key   = topic STRING, partition INT32
  value = upstreamOffset INT64, offset INT64
- Checkpoint (topic `<source>.checkpoints.internal` on the target, partition 0):
  key   = group STRING, topic STRING, partition INT32
  value = version INT16 (0), then V0: upstreamOffset INT64, offset INT64, metadata STRING
- Heartbeat (topic `heartbeats` on the target, partition 0):
  key   = sourceClusterAlias STRING, targetClusterAlias STRING
  value = version INT16 (0), then V0: timestamp INT64

A value with a version this module does not know raises FormatError, as Kafka's reader asserts version 0.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 0
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")


class FormatError(ValueError):
    """Bytes that are not a record of the expected layout."""


class _Writer:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def string(self, value: str) -> _Writer:
        data = value.encode("utf-8")
        if len(data) > 0x7FFF:
            raise FormatError(f"string of {len(data)} bytes is longer than 32767")
        self.parts += (_INT16.pack(len(data)), data)
        return self

    def int16(self, value: int) -> _Writer:
        self.parts.append(_INT16.pack(value))
        return self

    def int32(self, value: int) -> _Writer:
        self.parts.append(_INT32.pack(value))
        return self

    def int64(self, value: int) -> _Writer:
        self.parts.append(_INT64.pack(value))
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise FormatError(f"record ends at byte {len(self.data)}, expected {end}")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def string(self) -> str:
        size = _INT16.unpack(self._take(2))[0]
        if size < 0:
            raise FormatError("null STRING")
        try:
            return self._take(size).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"STRING is not UTF-8: {exc}") from None

    def int16(self) -> int:
        value: int = _INT16.unpack(self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = _INT32.unpack(self._take(4))[0]
        return value

    def int64(self) -> int:
        value: int = _INT64.unpack(self._take(8))[0]
        return value

    def version(self) -> int:
        version = self.int16()
        if version != VERSION:
            raise FormatError(f"unknown version {version} (this reader knows {VERSION})")
        return version


@dataclass(frozen=True, slots=True)
class OffsetSync:
    """Upstream offset `upstream_offset` of `topic`-`partition` was copied to downstream offset `downstream_offset`.

    Compared by identity where the OffsetSyncStore needs it (`is`): equal values from two records are two syncs.
    """

    topic: str
    partition: int
    upstream_offset: int
    downstream_offset: int

    def record_key(self) -> bytes:
        return _Writer().string(self.topic).int32(self.partition).bytes()

    def record_value(self) -> bytes:
        return _Writer().int64(self.upstream_offset).int64(self.downstream_offset).bytes()

    @classmethod
    def deserialize(cls, key: bytes, value: bytes) -> OffsetSync:
        k, v = _Reader(key), _Reader(value)
        return cls(k.string(), k.int32(), v.int64(), v.int64())


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Group `group` at upstream offset `upstream_offset` of `topic`-`partition` (the topic as named on the
    target) may resume at `downstream_offset` there; `metadata` is the group's commit metadata."""

    group: str
    topic: str
    partition: int
    upstream_offset: int
    downstream_offset: int
    metadata: str = ""

    def record_key(self) -> bytes:
        return _Writer().string(self.group).string(self.topic).int32(self.partition).bytes()

    def record_value(self) -> bytes:
        w = _Writer().int16(VERSION)
        return w.int64(self.upstream_offset).int64(self.downstream_offset).string(self.metadata).bytes()

    def connect_partition(self) -> dict[str, str | int]:
        """The Connect source partition of a checkpoint record (Kafka's Checkpoint.connectPartition)."""
        return {"group": self.group, "topic": self.topic, "partition": self.partition}

    @classmethod
    def deserialize(cls, key: bytes, value: bytes) -> Checkpoint:
        k, v = _Reader(key), _Reader(value)
        group, topic, partition = k.string(), k.string(), k.int32()
        v.version()
        return cls(group, topic, partition, v.int64(), v.int64(), v.string())


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """`source_alias` -> `target_alias` flow alive at `timestamp` (ms since the epoch)."""

    source_alias: str
    target_alias: str
    timestamp: int

    def record_key(self) -> bytes:
        return _Writer().string(self.source_alias).string(self.target_alias).bytes()

    def record_value(self) -> bytes:
        return _Writer().int16(VERSION).int64(self.timestamp).bytes()

    def connect_partition(self) -> dict[str, str | int]:
        return {"sourceClusterAlias": self.source_alias, "targetClusterAlias": self.target_alias}

    @classmethod
    def deserialize(cls, key: bytes, value: bytes) -> Heartbeat:
        k, v = _Reader(key), _Reader(value)
        source, target = k.string(), k.string()
        v.version()
        return cls(source, target, v.int64())
