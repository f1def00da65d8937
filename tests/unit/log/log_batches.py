"""Test helper: build RecordBatch v2 bytes (the records builder is written elsewhere; this one is deliberately
small). CRCs come from the crc32c package."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Sequence

import cramjam
import crc32c

Record = tuple[bytes | None, bytes | None, int]  # key, value, timestamp


def varint(value: int) -> bytes:
    raw = ((value << 1) ^ (value >> 63)) & ((1 << 64) - 1)
    out = bytearray()
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


def _bytes_field(data: bytes | None) -> bytes:
    return varint(-1) if data is None else varint(len(data)) + data


def encode_record(offset_delta: int, timestamp_delta: int, key: bytes | None, value: bytes | None) -> bytes:
    body = (
        b"\x00" + varint(timestamp_delta) + varint(offset_delta) + _bytes_field(key) + _bytes_field(value) + varint(0)
    )
    return varint(len(body)) + body


def build_batch(
    records: Sequence[Record],
    base_offset: int = 0,
    *,
    codec: int = 0,
    leader_epoch: int = -1,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    attributes_extra: int = 0,
    offset_deltas: Sequence[int] | None = None,
) -> bytearray:
    assert records
    base_ts = records[0][2]
    deltas = list(offset_deltas) if offset_deltas is not None else list(range(len(records)))
    body = b"".join(encode_record(deltas[i], ts - base_ts, key, value) for i, (key, value, ts) in enumerate(records))
    if codec == 1:
        body = gzip.compress(body)
    elif codec == 2:
        body = bytes(cramjam.snappy.compress_raw(body))
    elif codec == 3:
        body = bytes(cramjam.lz4.compress(body))
    elif codec == 4:
        body = bytes(cramjam.zstd.compress(body))
    attributes = codec | attributes_extra
    max_ts = max(ts for _, _, ts in records)
    header = struct.pack(
        ">qiibIhiqqqhii",
        base_offset,
        49 + len(body),
        leader_epoch,
        2,
        0,
        attributes,
        deltas[-1],
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    batch = bytearray(header + body)
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    return batch


def simple_batch(count: int = 1, ts: int = 1_000, value_size: int = 10, key_prefix: bytes = b"k") -> bytearray:
    return build_batch([(key_prefix + str(i).encode(), b"v" * value_size, ts + i) for i in range(count)])
