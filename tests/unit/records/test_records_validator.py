"""log.validator: one test per Kafka rule, the fast path, LogAppendTime and recompression."""

from __future__ import annotations

import struct
from types import ModuleType

import pytest
from odradek.broker.log.validator import RecordValidationError, ValidationConfig, validate_records
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records import compression
from odradek.broker.records.batch import compute_crc, iter_batches, read_header
from odradek.broker.records.builder import build_batch, build_control_batch, set_max_timestamp
from odradek.broker.records.record import iter_records

NOW = 1_700_000_000_000
HOUR = 3_600_000
DEFAULT = ValidationConfig()
RECORDS = [(b"k0", b"v0", [], NOW - 10), (b"k1", b"v1", [("h", b"x")], NOW), (b"k2", b"v2", [], NOW - 5)]


def _batch(records: list = RECORDS, codec: int = compression.NONE, **kw: object) -> bytearray:  # type: ignore[type-arg]
    return bytearray(build_batch(records, codec=codec, **kw))  # type: ignore[arg-type]


def _error(buf: bytearray, config: ValidationConfig = DEFAULT, **kw: object) -> RecordValidationError:
    with pytest.raises(RecordValidationError) as info:
        validate_records(buf, config, NOW, **kw)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_fast_path_keeps_bytes(codec: int) -> None:
    buf = _batch(codec=codec, producer_id=4, producer_epoch=0, base_sequence=0)
    before = bytes(buf)
    result = validate_records(buf, ValidationConfig(), NOW)
    assert result.records is buf and bytes(buf) == before and not result.size_changed
    assert (result.record_count, result.shallow_count, result.max_timestamp) == (3, 1, NOW)
    assert result.offset_of_max_timestamp == 2  # Kafka 4: the batch's last offset
    assert result.log_append_time_ms == -1
    assert (result.producer_id, result.base_sequence) == (4, 0)


def test_fast_path_does_not_decompress(monkeypatch: pytest.MonkeyPatch) -> None:
    import odradek.broker.log.validator as validator

    monkeypatch.setattr(validator, "iter_records", None)  # any decode would fail
    validate_records(_batch(codec=compression.ZSTD), ValidationConfig(), NOW)


def test_empty_payload() -> None:
    assert _error(bytearray()).error_code == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("magic", [0, 1, 3])
def test_magic_other_than_2(magic: int) -> None:
    buf = _batch()
    buf[16] = magic
    assert _error(buf).error_code == ErrorCode.INVALID_RECORD


def test_two_batches() -> None:
    buf = _batch() + _batch()
    error = _error(buf)
    assert error.error_code == ErrorCode.INVALID_RECORD and "exactly one record batch" in error.message


def test_truncated_batch_is_corrupt() -> None:
    assert _error(_batch()[:-3]).error_code == ErrorCode.CORRUPT_MESSAGE


def test_crc_mismatch() -> None:
    buf = _batch()
    buf[-1] ^= 0xFF
    assert _error(buf).error_code == ErrorCode.CORRUPT_MESSAGE


def test_too_large() -> None:
    buf = _batch()
    error = _error(buf, ValidationConfig(max_message_bytes=len(buf) - 1))
    assert error.error_code == ErrorCode.MESSAGE_TOO_LARGE
    validate_records(buf, ValidationConfig(max_message_bytes=len(buf)), NOW)


def test_nonzero_base_offset_from_client() -> None:
    buf = _batch(base_offset=5)
    assert _error(buf).error_code == ErrorCode.INVALID_RECORD
    validate_records(_batch(base_offset=5), ValidationConfig(), NOW, is_from_client=False)


def test_inconsistent_count() -> None:
    buf = _batch()
    struct.pack_into(">i", buf, 23, 5)  # lastOffsetDelta
    header = read_header(buf)
    set_max_timestamp(buf, header, False, header.max_timestamp)  # re-sign the CRC
    assert _error(buf).error_code == ErrorCode.INVALID_RECORD


def test_control_batch_from_client() -> None:
    buf = bytearray(build_control_batch(True, producer_id=1, producer_epoch=0))
    error = _error(buf)
    assert error.error_code == ErrorCode.INVALID_RECORD and "control records" in error.message


def test_producer_id_without_sequence() -> None:
    assert _error(_batch(producer_id=9, producer_epoch=0)).error_code == ErrorCode.INVALID_RECORD


def test_timestamp_after_max_fast_path_gives_record_errors() -> None:
    records = [(b"a", b"1", [], NOW), (b"b", b"2", [], NOW + 2 * HOUR), (b"c", b"3", [], NOW + 3 * HOUR)]
    error = _error(_batch(records, codec=compression.SNAPPY))
    assert error.error_code == ErrorCode.INVALID_TIMESTAMP
    assert [index for index, _ in error.record_errors] == [1, 2]
    assert "out of range" in error.record_errors[0][1]


def test_timestamp_before_max_checks_every_record() -> None:
    records = [(b"a", b"1", [], NOW), (b"b", b"2", [], NOW - 2 * HOUR), (b"c", b"3", [], NOW)]
    config = ValidationConfig(timestamp_before_max_ms=HOUR)
    error = _error(_batch(records, codec=compression.LZ4), config)
    assert error.error_code == ErrorCode.INVALID_TIMESTAMP and [i for i, _ in error.record_errors] == [1]
    result = validate_records(_batch(codec=compression.LZ4), config, NOW)
    assert result.max_timestamp == NOW and not result.size_changed


def test_no_timestamp_is_not_checked() -> None:
    records = [(b"a", b"1", [], -1)]
    validate_records(_batch(records), ValidationConfig(timestamp_before_max_ms=0, timestamp_after_max_ms=0), NOW)


def test_producer_set_log_append_time_on_log_append_topic() -> None:
    buf = _batch(timestamp_type_log_append=True)
    error = _error(buf, ValidationConfig(log_append_time=True))
    assert error.error_code == ErrorCode.INVALID_TIMESTAMP and len(error.record_errors) == 3


def test_log_append_time_errors_follow_the_records_not_the_header_count() -> None:
    """Found by tests/fuzz/fuzz_record_batch.py: one error per *header* recordCount made a ~100-byte produce
    allocate gigabytes (2**31 - 1 tuples). Kafka's LogValidator reports per record it iterates, and a batch
    holding fewer records than its count is refused as malformed first. (1,000,000 here: enough to fail
    clearly before the fix without exhausting memory; tests/fuzz/regressions replays the 2**29 case.)"""
    count = 1_000_000
    buf = _batch(timestamp_type_log_append=True)
    struct.pack_into(">i", buf, 23, count - 1)  # lastOffsetDelta + 1 == recordCount, as a client must send
    struct.pack_into(">i", buf, 57, count)
    struct.pack_into(">I", buf, 17, compute_crc(buf, read_header(buf)))
    error = _error(buf, ValidationConfig(log_append_time=True))
    assert error.error_code in (ErrorCode.INVALID_RECORD, ErrorCode.CORRUPT_MESSAGE)
    assert len(error.record_errors) <= 3


def test_null_key_on_compacted_topic() -> None:
    records = [(b"a", b"1", [], NOW), (None, b"2", [], NOW), (None, None, [], NOW)]
    error = _error(_batch(records, codec=compression.GZIP), ValidationConfig(compacted=True))
    assert error.error_code == ErrorCode.INVALID_RECORD
    assert [i for i, _ in error.record_errors] == [1, 2]
    assert "Compacted topic cannot accept message without key" in error.record_errors[0][1]


def test_compacted_with_keys_passes() -> None:
    result = validate_records(_batch(codec=compression.ZSTD), ValidationConfig(compacted=True), NOW)
    assert result.record_count == 3 and not result.size_changed


def test_record_count_mismatch_when_decoding() -> None:
    buf = _batch([(b"a", b"1", [], NOW)])
    struct.pack_into(">i", buf, 57, 2)
    struct.pack_into(">i", buf, 23, 1)
    header = read_header(buf)
    set_max_timestamp(buf, header, False, header.max_timestamp)
    error = _error(buf, ValidationConfig(compacted=True))
    assert error.error_code == ErrorCode.INVALID_RECORD


def test_decompression_bomb_is_refused() -> None:
    records = [(b"k", bytes(4 * 1024 * 1024), [], NOW)]
    config = ValidationConfig(compacted=True, max_decompressed_bytes=1024 * 1024)
    assert _error(_batch(records, codec=compression.ZSTD), config).error_code == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("codec", [0, 2, 3])
def test_log_append_time_rewrites_header_and_crc(codec: int, kafka_records: ModuleType) -> None:
    buf = _batch(codec=codec)
    base_timestamp = read_header(buf).base_timestamp
    result = validate_records(buf, ValidationConfig(log_append_time=True), NOW + 1000)
    (header,) = list(iter_batches(result.records))  # CRC verified
    assert header.is_log_append_time and header.max_timestamp == NOW + 1000
    assert header.base_timestamp == base_timestamp
    assert (result.max_timestamp, result.log_append_time_ms) == (NOW + 1000, NOW + 1000)
    assert result.records is buf and not result.size_changed
    batch = kafka_records.DefaultRecordBatch(bytearray(result.records))
    assert batch.validate_crc() and {r.timestamp for r in batch} == {NOW + 1000}


@pytest.mark.parametrize(("source", "target"), [(0, 4), (2, 1), (4, 3), (3, 0), (1, 2)])
def test_recompression(source: int, target: int, kafka_records: ModuleType) -> None:
    buf = _batch(codec=source, producer_id=6, producer_epoch=1, base_sequence=3)
    result = validate_records(buf, ValidationConfig(target_codec=target), NOW)
    (header,) = result.batches
    assert header.compression == target and result.size_changed
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (6, 1, 3)
    assert list(iter_batches(result.records)) == [header]
    got = [(r.key, r.value, r.timestamp) for r in iter_records(result.records, header, 1 << 20)]
    assert got == [(k, v, t) for k, v, _, t in RECORDS]
    batch = kafka_records.DefaultRecordBatch(bytearray(result.records))
    assert [r.value for r in batch] == [v for _, v, _, _ in RECORDS]


def test_recompression_with_log_append_time() -> None:
    result = validate_records(
        _batch(codec=compression.GZIP), ValidationConfig(target_codec=4, log_append_time=True), NOW + 7
    )
    (header,) = result.batches
    assert header.compression == 4 and header.is_log_append_time and header.max_timestamp == NOW + 7


def test_same_codec_as_target_stays_in_place() -> None:
    buf = _batch(codec=compression.LZ4)
    result = validate_records(buf, ValidationConfig(target_codec=compression.LZ4), NOW)
    assert result.records is buf and not result.size_changed


def test_from_log_config() -> None:
    class Config:
        max_message_bytes = 100
        message_timestamp_type = "LogAppendTime"
        message_timestamp_before_max_ms = 5
        message_timestamp_after_max_ms = 6
        compression_type = "zstd"
        cleanup_policy = ("compact", "delete")

    config = ValidationConfig.from_log_config(Config())
    assert config == ValidationConfig(
        max_message_bytes=100,
        log_append_time=True,
        timestamp_before_max_ms=5,
        timestamp_after_max_ms=6,
        target_codec=4,
        compacted=True,
    )
