"""Per-record access to stored batches, for the cold paths only (compaction, timestamp search, dump-log).

Isolated here until `records/record.py` lands; swap these functions for it then. Record layout inside a v2
batch (after decompression of the records section when the codec is not 0), each field a zigzag varint unless
noted::

    length  attributes(int8)  timestampDelta(varlong)  offsetDelta  keyLength  key  valueLength  value
    headerCount  [headerKeyLength headerKey headerValueLength headerValue]...

Lengths of -1 mean null. A record's timestamp is baseTimestamp + timestampDelta (the batch maxTimestamp for
LogAppendTime batches), its offset baseOffset + offsetDelta.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import cramjam
import crc32c
from odradek.broker.records.batch import (
    ATTRIBUTES_OFFSET,
    CORRUPT_MESSAGE,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    InvalidRecordBatch,
)

CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD = 0, 1, 2, 3, 4
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_BLOCK = 32 * 1024


def read_varint(buf: bytes | memoryview, position: int) -> tuple[int, int]:
    """Zigzag varint at `position` -> (value, next position)."""
    raw = 0
    shift = 0
    while True:
        if position >= len(buf) or shift > 63:
            raise InvalidRecordBatch(CORRUPT_MESSAGE, "truncated or overlong varint in a record")
        byte = buf[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), position
        shift += 7


def write_varint(value: int) -> bytes:
    raw = (value << 1) ^ (value >> 63)
    raw &= (1 << 64) - 1
    out = bytearray()
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


def decompress(codec: int, data: bytes | memoryview) -> bytes:
    if codec == CODEC_NONE:
        return bytes(data)
    if codec == CODEC_GZIP:
        return gzip.decompress(data)
    if codec == CODEC_SNAPPY:
        raw = bytes(data)
        if raw.startswith(_XERIAL_MAGIC):
            out = bytearray()
            position = 16
            while position < len(raw):
                (length,) = struct.unpack_from(">i", raw, position)
                position += 4
                out += bytes(cramjam.snappy.decompress_raw(raw[position : position + length]))
                position += length
            return bytes(out)
        return bytes(cramjam.snappy.decompress_raw(raw))
    if codec == CODEC_LZ4:
        return bytes(cramjam.lz4.decompress(bytes(data)))
    if codec == CODEC_ZSTD:
        return bytes(cramjam.zstd.decompress(bytes(data)))
    raise InvalidRecordBatch(CORRUPT_MESSAGE, f"unknown compression codec {codec}")


def compress(codec: int, data: bytes, xerial: bool = True) -> bytes:
    if codec == CODEC_NONE:
        return data
    if codec == CODEC_GZIP:
        return gzip.compress(data)
    if codec == CODEC_SNAPPY:
        if not xerial:
            return bytes(cramjam.snappy.compress_raw(data))
        out = bytearray(_XERIAL_MAGIC + struct.pack(">ii", 1, 1))
        for start in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK]))
            out += struct.pack(">i", len(block)) + block
        return bytes(out)
    if codec == CODEC_LZ4:
        return bytes(cramjam.lz4.compress(data))
    if codec == CODEC_ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise ValueError(f"unknown compression codec {codec}")


@dataclass(frozen=True, slots=True)
class ScannedRecord:
    """One record; `rest` is its encoding after the timestampDelta field (offsetDelta through headers)."""

    offset: int
    timestamp: int
    key: bytes | None
    has_value: bool
    attributes: int
    timestamp_delta: int
    rest: bytes

    def encode(self, timestamp_delta: int | None = None) -> bytes:
        """The record's wire form, optionally with another timestampDelta."""
        delta = self.timestamp_delta if timestamp_delta is None else timestamp_delta
        body = bytes([self.attributes & 0xFF]) + write_varint(delta) + self.rest
        return write_varint(len(body)) + body


def records_section(batch: bytes | memoryview, header: BatchHeader) -> bytes:
    """The decompressed records section of `batch` (which starts at position 0)."""
    return decompress(header.compression, batch[HEADER_SIZE : header.size])


def iter_records(batch: bytes | memoryview, header: BatchHeader) -> Iterator[ScannedRecord]:
    """Records of one whole batch (`batch[0:header.size]`), decompressing if needed."""
    data = records_section(batch, header)
    position = 0
    for _ in range(header.record_count):
        length, position = read_varint(data, position)
        end = position + length
        if length < 1 or end > len(data):
            raise InvalidRecordBatch(CORRUPT_MESSAGE, "record length out of bounds")
        attributes = data[position]
        timestamp_delta, cursor = read_varint(data, position + 1)
        rest_start = cursor
        offset_delta, cursor = read_varint(data, cursor)
        key_length, cursor = read_varint(data, cursor)
        key = None
        if key_length >= 0:
            key = data[cursor : cursor + key_length]
            cursor += key_length
        value_length, cursor = read_varint(data, cursor)
        timestamp = (
            header.max_timestamp if header.is_log_append_time else header.base_timestamp + timestamp_delta
        )
        yield ScannedRecord(
            offset=header.base_offset + offset_delta,
            timestamp=timestamp,
            key=key,
            has_value=value_length >= 0,
            attributes=attributes,
            timestamp_delta=timestamp_delta,
            rest=data[rest_start:end],
        )
        position = end


_REBUILT_HEADER = struct.Struct(">qiibIhiqqqhii")


def build_batch(
    header: BatchHeader,
    records: list[bytes],
    *,
    attributes: int,
    base_timestamp: int,
    max_timestamp: int,
    xerial: bool = True,
) -> bytes:
    """A batch with `header`'s offsets, producer fields and codec holding `records` (encoded), CRC recomputed.

    baseOffset and lastOffsetDelta are kept (Kafka keeps the original last offset so the producer's last
    sequence survives compaction); recordCount is len(records).
    """
    body = compress(attributes & 0x07, b"".join(records), xerial=xerial)
    batch_length = HEADER_SIZE - LOG_OVERHEAD + len(body)
    out = bytearray(
        _REBUILT_HEADER.pack(
            header.base_offset,
            batch_length,
            header.partition_leader_epoch,
            header.magic,
            0,
            attributes,
            header.last_offset_delta,
            base_timestamp,
            max_timestamp,
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            len(records),
        )
    )
    out += body
    struct.pack_into(">I", out, CRC_OFFSET, crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def is_xerial(batch: bytes | memoryview) -> bool:
    return bytes(batch[HEADER_SIZE : HEADER_SIZE + len(_XERIAL_MAGIC)]) == _XERIAL_MAGIC
