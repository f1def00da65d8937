"""Per-record access to stored batches, for the cold paths only (compaction, timestamp search, dump-log).

Isolated here: `records/record.py` decodes records but does not keep their raw encoding, which the cleaner
reuses (re-encoding only the timestampDelta when it sets a delete horizon). Codecs come from records.

Record layout inside a v2 batch (after decompression of the records section when the codec is not 0), each
field a zigzag varint unless noted::

    length  attributes(int8)  timestampDelta(varlong)  offsetDelta  keyLength  key  valueLength  value
    headerCount  [headerKeyLength headerKey headerValueLength headerValue]...

Lengths of -1 mean null. A record's timestamp is baseTimestamp + timestampDelta (the batch maxTimestamp for
LogAppendTime batches), its offset baseOffset + offsetDelta.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import crc32c
from odradek.broker.records import compression
from odradek.broker.records.batch import (
    ATTRIBUTES_OFFSET,
    CORRUPT_MESSAGE,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    InvalidRecordBatch,
)

CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
MAX_DECOMPRESSED = 1 << 30  # a cold-path sanity bound on one batch's decompressed records section


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
    return compression.decompress(codec, data, MAX_DECOMPRESSED)


def compress(codec: int, data: bytes) -> bytes:
    """Same codec as the batch had; snappy in xerial framing and lz4 with independent blocks, as Java writes."""
    return compression.compress(codec, data)


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
        timestamp = header.max_timestamp if header.is_log_append_time else header.base_timestamp + timestamp_delta
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
) -> bytes:
    """A batch with `header`'s offsets, producer fields and codec holding `records` (encoded), CRC recomputed.

    baseOffset and lastOffsetDelta are kept (Kafka keeps the original last offset so the producer's last
    sequence survives compaction); recordCount is len(records).
    """
    codec = attributes & 0x07 if records else 0  # an empty batch is written uncompressed, as Kafka does
    attributes = (attributes & ~0x07) | codec
    body = compress(codec, b"".join(records))
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
