"""build_batch / iter_records / rebuild_batch, cross-checked against kafka-python's RecordBatch v2 code."""

from __future__ import annotations

import struct
from types import ModuleType

import pytest
from odradek.broker.records import compression
from odradek.broker.records.batch import INVALID_RECORD, InvalidRecordBatch, iter_batches, read_header
from odradek.broker.records.builder import (
    build_batch,
    build_control_batch,
    rebuild_batch,
    set_max_timestamp,
)
from odradek.broker.records.record import (
    ABORT,
    COMMIT,
    Record,
    iter_records,
    parse_control_record,
)

CODECS = [compression.NONE, compression.GZIP, compression.SNAPPY, compression.LZ4, compression.ZSTD]
CAP = 64 * 1024 * 1024
RECORDS = [
    (b"key-0", b"value-0" * 50, [("h1", b"v1"), ("h2", None)], 1_700_000_000_000),
    (None, b"value-1" * 50, [], 1_700_000_000_005),
    (b"key-2", None, [("h3", b"")], 1_699_999_999_990),
    (b"", b"x" * 3000, [], 1_700_000_000_001),
]


def _decode(data: bytes) -> list[Record]:
    header = read_header(data)
    return list(iter_records(data, header, CAP))


@pytest.mark.parametrize("codec", CODECS)
def test_build_then_iter(codec: int) -> None:
    data = build_batch(RECORDS, base_offset=100, codec=codec, producer_id=7, producer_epoch=2, base_sequence=9)
    (header,) = list(iter_batches(data))
    assert header.compression == codec
    assert (header.base_offset, header.last_offset_delta, header.record_count) == (100, 3, 4)
    assert header.base_timestamp == RECORDS[0][3]
    assert header.max_timestamp == max(r[3] for r in RECORDS)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 2, 9)
    got = _decode(data)
    assert [(r.key, r.value, list(r.headers), r.timestamp) for r in got] == [
        (k, v, list(h), t) for k, v, h, t in RECORDS
    ]
    assert [r.offset for r in got] == [100, 101, 102, 103]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_reads_our_batches(codec: int, kafka_records: ModuleType) -> None:
    data = build_batch(RECORDS, base_offset=5, codec=codec, producer_id=3, producer_epoch=1, base_sequence=0)
    batch = kafka_records.DefaultRecordBatch(bytearray(data))
    assert batch.validate_crc()
    assert batch.compression_type == codec
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
    expected = [(5 + i, t, k, v, list(h)) for i, (k, v, h, t) in enumerate(RECORDS)]
    assert got == expected


@pytest.mark.parametrize("codec", CODECS)
def test_we_read_kafka_python_batches(codec: int, kafka_records: ModuleType) -> None:
    builder = kafka_records.DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=False,
        producer_id=11,
        producer_epoch=0,
        base_sequence=4,
        batch_size=1 << 20,
    )
    for offset, (key, value, headers, timestamp) in enumerate(RECORDS):
        builder.append(offset, timestamp=timestamp, key=key, value=value, headers=headers)
    data = bytes(builder.build())
    (header,) = list(iter_batches(data))  # CRC-32C checked
    assert header.compression == codec
    if codec == compression.SNAPPY:
        assert data[61:69] == compression.XERIAL_MAGIC  # kafka-python frames snappy the xerial way
    got = [(r.key, r.value, list(r.headers), r.timestamp) for r in _decode(data)]
    assert got == [(k, v, list(h), t) for k, v, h, t in RECORDS]


def test_control_batch() -> None:
    data = build_control_batch(True, producer_id=42, producer_epoch=3, coordinator_epoch=17, base_offset=9)
    (header,) = list(iter_batches(data))
    assert header.is_control and header.is_transactional and header.producer_id == 42
    (record,) = _decode(data)
    marker = parse_control_record(record)
    assert (marker.type, marker.coordinator_epoch) == (COMMIT, 17)
    abort = parse_control_record(_decode(build_control_batch(False, 1, 0))[0])
    assert abort.type == ABORT


def test_kafka_python_sees_control_batch(kafka_records: ModuleType) -> None:
    batch = kafka_records.DefaultRecordBatch(bytearray(build_control_batch(False, 5, 1, coordinator_epoch=2)))
    assert batch.validate_crc() and batch.is_control_batch and batch.is_transactional


@pytest.mark.parametrize("codec", CODECS)
def test_rebuild_keeps_offsets_and_producer(codec: int) -> None:
    data = build_batch(RECORDS, base_offset=50, producer_id=8, producer_epoch=1, base_sequence=20)
    header = read_header(data)
    kept = [r for r in _decode(data) if r.offset in (51, 53)]
    rebuilt = rebuild_batch(header, kept, codec)
    (new,) = list(iter_batches(rebuilt))
    assert (new.base_offset, new.last_offset_delta, new.record_count, new.compression) == (50, 3, 2, codec)
    assert (new.producer_id, new.producer_epoch, new.base_sequence) == (8, 1, 20)
    assert [(r.offset, r.value) for r in _decode(rebuilt)] == [(51, RECORDS[1][1]), (53, RECORDS[3][1])]


def test_rebuild_to_empty_batch_keeps_range() -> None:
    data = build_batch(RECORDS, base_offset=10, producer_id=8, producer_epoch=1, base_sequence=0)
    empty = rebuild_batch(read_header(data), [], compression.NONE)
    (header,) = list(iter_batches(empty))
    assert (header.record_count, header.last_offset, header.producer_id) == (0, 13, 8)
    assert _decode(empty) == []


def test_set_max_timestamp_log_append_time_recomputes_crc(kafka_records: ModuleType) -> None:
    buf = bytearray(build_batch(RECORDS, codec=compression.LZ4))
    header = read_header(buf)
    set_max_timestamp(buf, header, True, 1_800_000_000_000)
    (after,) = list(iter_batches(buf))  # CRC valid again
    assert after.is_log_append_time and after.max_timestamp == 1_800_000_000_000
    assert after.base_timestamp == header.base_timestamp
    assert all(r.timestamp == 1_800_000_000_000 for r in _decode(bytes(buf)))
    batch = kafka_records.DefaultRecordBatch(buf)
    assert batch.validate_crc() and batch.timestamp_type == 1
    assert {r.timestamp for r in batch} == {1_800_000_000_000}


def _raw_batch(count: int, section: bytes) -> bytes:
    """A batch with an arbitrary records section, CRC fixed up, for malformed-record tests."""
    good = bytearray(build_batch([(b"k", b"v", [], 0)]))
    data = bytearray(good[:61]) + section
    struct.pack_into(">i", data, 8, len(data) - 12)
    struct.pack_into(">i", data, 57, count)
    header = read_header(data)
    set_max_timestamp(data, header, False, header.max_timestamp)
    return bytes(data)


@pytest.mark.parametrize(
    ("count", "section"),
    [
        (2, bytes.fromhex("10 00 00 00 02 6b 02 76 00")),  # count says 2, one record present
        (1, bytes.fromhex("10 00 00 00 02 6b 02 76 00 00")),  # trailing byte after the last record
        (1, bytes.fromhex("10 00 00 00 7e 6b 02 76 00")),  # key length 63 overruns the record
        (1, bytes.fromhex("7e 00 00 00 02 6b 02 76 00")),  # record length overruns the section
        (1, bytes.fromhex("10 00 ff ff ff ff ff ff ff ff ff ff")),  # overlong varlong
        (1, bytes.fromhex("12 00 00 00 02 6b 02 76 02 01")),  # negative header key length
    ],
)
def test_malformed_records_are_invalid(count: int, section: bytes) -> None:
    data = _raw_batch(count, section)
    with pytest.raises(InvalidRecordBatch) as info:
        _decode(data)
    assert info.value.error_code == INVALID_RECORD


def test_well_formed_raw_section_decodes() -> None:
    data = _raw_batch(1, bytes.fromhex("10 00 00 00 02 6b 02 76 00"))
    assert [(r.key, r.value) for r in _decode(data)] == [(b"k", b"v")]
