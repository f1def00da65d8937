"""Validate the records of one partition of a produce request before the leader appends them.

Kafka's rules (``ProduceRequest.validateRecords``, ``UnifiedLog.analyzeAndValidateRecords`` and
``LogValidator``, Kafka 4), each with Kafka's error code:

- no batch at all, a batch whose magic is not 2, or more than one batch: INVALID_RECORD (87);
- a truncated batch or a bad length: CORRUPT_MESSAGE (2); a CRC-32C mismatch: CORRUPT_MESSAGE (2);
- from a client: baseOffset other than 0, lastOffsetDelta + 1 != recordCount, recordCount <= 0, a control
  batch, or a producer id without a base sequence: INVALID_RECORD (87);
- a batch larger than ``max.message.bytes`` (header included): MESSAGE_TOO_LARGE (10);
- a CreateTime timestamp outside [now - message.timestamp.before.max.ms, now + ...after.max.ms], or a
  producer that sets the LogAppendTime attribute on a LogAppendTime topic: INVALID_TIMESTAMP (32), with one
  (batch index, message) per bad record;
- a null key on a compacted topic: INVALID_RECORD (87), per record;
- records that do not decode, or not exactly recordCount of them: INVALID_RECORD (87).

Fast path, no decompression and no per-record Python: the topic keeps the producer's compression, is not
compacted and message.timestamp.before.max.ms is unbounded (Kafka 4's default). The after bound is then
checked against the header's maxTimestamp, and the offset of the max timestamp is the batch's last offset
(Kafka 4's "shallow" offset of max timestamp). Unlike Kafka, which recomputes maxTimestamp from the records,
the fast path trusts the producer's maxTimestamp and recordCount. Otherwise the records are decoded (and, for
a different ``compression.type``, rebuilt with that codec). For LogAppendTime topics maxTimestamp becomes
`now`, the timestamp-type attribute is set and the CRC is recomputed in place; baseTimestamp is left alone,
as Kafka does.

A batch the broker built itself (`records.builder.BuiltBatch`: a coordinator's records, a transaction marker)
goes through `validate_coordinator_batch`: its header, records and CRC were written once in this process, so
nothing is decoded or re-checksummed; only what depends on the topic's configuration is checked
(``max.message.bytes``), and a topic whose configuration would change the bytes or bound the timestamps
(another ``compression.type``, LogAppendTime, a finite ``message.timestamp.before.max.ms``, a maxTimestamp past
the after bound) gets the full non-client validation above, so the bytes appended are the same either way.
Kafka's AppendOrigin.COORDINATOR skips the client checks in the same place; unlike Kafka, which still checks
the CRC of every batch in ``analyzeAndValidateRecords``, the CRC pass is skipped too: the bytes never left the
process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from odradek.broker.log.config import LONG_MAX
from odradek.broker.records.batch import (
    CORRUPT_MESSAGE,
    CURRENT_MAGIC,
    INVALID_RECORD,
    INVALID_TIMESTAMP,
    MAGIC_OFFSET,
    MESSAGE_TOO_LARGE,
    NO_TIMESTAMP,
    UNSUPPORTED_FOR_MESSAGE_FORMAT,
    BatchHeader,
    InvalidRecordBatch,
    compute_crc,
    iter_batches,
)
from odradek.broker.records.builder import build_batch, set_max_timestamp
from odradek.broker.records.compression import CODEC_IDS
from odradek.broker.records.record import Record, iter_records

DEFAULT_MAX_DECOMPRESSED = 128 * 1024 * 1024


class RecordValidationError(Exception):
    """The records are refused: `error_code` for the partition, `record_errors` as (batch index, message)."""

    def __init__(self, error_code: int, message: str, record_errors: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.record_errors: list[tuple[int, str]] = record_errors or []


class _LogConfigLike(Protocol):
    @property
    def max_message_bytes(self) -> int: ...
    @property
    def message_timestamp_type(self) -> str: ...
    @property
    def message_timestamp_before_max_ms(self) -> int: ...
    @property
    def message_timestamp_after_max_ms(self) -> int: ...
    @property
    def compression_type(self) -> str: ...
    @property
    def cleanup_policy(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """What validation needs from a topic's LogConfig. `target_codec` None means compression.type=producer."""

    max_message_bytes: int = 1024 * 1024 + 12
    log_append_time: bool = False
    timestamp_before_max_ms: int = LONG_MAX
    timestamp_after_max_ms: int = 3_600_000
    target_codec: int | None = None
    compacted: bool = False
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED

    @classmethod
    def from_log_config(cls, config: _LogConfigLike, max_decompressed_bytes: int = 0) -> ValidationConfig:
        """Build from anything shaped like log.config.LogConfig (Kafka's topic config names)."""
        compression = config.compression_type
        return cls(
            max_message_bytes=config.max_message_bytes,
            log_append_time=config.message_timestamp_type == "LogAppendTime",
            timestamp_before_max_ms=config.message_timestamp_before_max_ms,
            timestamp_after_max_ms=config.message_timestamp_after_max_ms,
            target_codec=None if compression == "producer" else CODEC_IDS[compression],
            compacted="compact" in config.cleanup_policy,
            max_decompressed_bytes=max_decompressed_bytes or DEFAULT_MAX_DECOMPRESSED,
        )


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Validated records ready for offset stamping (``records.batch.stamp``) and append.

    Offsets are relative to the first batch's base offset (0 before stamping). `batches` describe `records`,
    which is the caller's buffer modified in place unless `size_changed` (rebuilt with another codec).
    """

    records: bytearray
    batches: list[BatchHeader]
    shallow_count: int
    record_count: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time_ms: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    is_transactional: bool
    size_changed: bool = False
    last_offset_delta: int = 0


def validate_records(
    buf: bytearray, config: ValidationConfig, now_ms: int, is_from_client: bool = True
) -> ValidationResult:
    """Check one partition's produce payload; raise RecordValidationError with Kafka's error code."""
    header = _single_batch(buf, is_from_client)
    _check_batch(buf, header, config, is_from_client)
    decoded = _needs_records(header, config)
    records = _decode(buf, header, config) if decoded else None
    max_timestamp = _check_timestamps(buf, header, config, now_ms, records)
    if records is not None and config.compacted:
        _check_keys(records)
    codec = header.compression if config.target_codec is None else config.target_codec
    if records is not None and (codec != header.compression or not _in_order(records, header)):
        return _rebuilt(header, records, codec, config, now_ms)
    return _in_place(buf, header, config, now_ms, max_timestamp)


def validate_coordinator_batch(buf: bytearray, config: ValidationConfig, now_ms: int) -> ValidationResult:
    """Check a batch this broker built (`records.builder.BuiltBatch`, see the module docstring); the result is
    what `validate_records(buf, config, now_ms, is_from_client=False)` gives for it."""
    header = _reread(buf)
    if (
        config.log_append_time
        or (config.target_codec is not None and config.target_codec != header.compression)
        or config.timestamp_before_max_ms < LONG_MAX
        or not _header_in_range(header, config, now_ms)
    ):
        return validate_records(buf, config, now_ms, is_from_client=False)
    _check_size(header, config)
    return _result(header, buf, config, now_ms, header.max_timestamp, False)


def _single_batch(buf: bytearray, is_from_client: bool) -> BatchHeader:
    if not buf:
        raise _invalid("Produce requests must have at least one record batch per partition")
    if len(buf) > MAGIC_OFFSET and buf[MAGIC_OFFSET] != CURRENT_MAGIC:
        raise _invalid("Produce requests are only allowed to contain record batches with magic version 2")
    headers: list[BatchHeader] = []
    try:
        for header in iter_batches(buf, verify_crc=False):
            headers.append(header)
            if len(headers) > 1:
                break
    except InvalidRecordBatch as exc:
        if exc.error_code == UNSUPPORTED_FOR_MESSAGE_FORMAT and headers:
            raise _invalid("Produce requests are only allowed to contain exactly one record batch") from exc
        raise RecordValidationError(exc.error_code, exc.message) from exc
    if len(headers) > 1:
        if is_from_client:
            raise _invalid("Produce requests are only allowed to contain exactly one record batch per partition")
        raise _invalid("Compressed outer record has more than one batch")
    return headers[0]


def _check_batch(buf: bytearray, header: BatchHeader, config: ValidationConfig, is_from_client: bool) -> None:
    """UnifiedLog.analyzeAndValidateRecords and LogValidator.validateBatch, in Kafka's order."""
    if is_from_client and header.base_offset != 0:
        raise _invalid(f"The baseOffset of the record batch in the append should be 0, but it is {header.base_offset}")
    _check_size(header, config)
    _check_crc(buf, header)
    if not is_from_client:
        return
    count_from_offsets = header.last_offset_delta + 1
    if header.record_count <= 0:
        raise _invalid(f"Invalid reported count for record batch: {header.record_count}")
    if count_from_offsets != header.record_count:
        raise _invalid(
            f"Inconsistent batch offset range [{header.base_offset}, {header.last_offset}] and count of "
            f"records {header.record_count}"
        )
    if header.is_control:
        raise _invalid("Clients are not allowed to write control records")
    if header.has_producer_id and header.base_sequence < 0:
        raise _invalid(
            f"Invalid sequence number {header.base_sequence} in record batch with producerId {header.producer_id}"
        )


def _check_size(header: BatchHeader, config: ValidationConfig) -> None:
    if header.size > config.max_message_bytes:
        raise RecordValidationError(
            MESSAGE_TOO_LARGE,
            f"The record batch size in the append is {header.size} bytes which exceeds the maximum "
            f"configured value of {config.max_message_bytes}.",
        )


def _check_crc(buf: bytearray, header: BatchHeader) -> None:
    computed = compute_crc(buf, header)
    if computed != header.crc:
        raise RecordValidationError(
            CORRUPT_MESSAGE,
            f"Record is corrupt (stored crc = {header.crc}, computed crc = {computed})",
        )


def _needs_records(header: BatchHeader, config: ValidationConfig) -> bool:
    if config.compacted:
        return True
    if config.target_codec is not None and config.target_codec != header.compression:
        return True
    return not config.log_append_time and config.timestamp_before_max_ms < LONG_MAX


def _decode(buf: bytearray, header: BatchHeader, config: ValidationConfig) -> list[Record]:
    try:
        return list(iter_records(buf, header, config.max_decompressed_bytes))
    except InvalidRecordBatch as exc:
        raise RecordValidationError(exc.error_code, exc.message) from exc


def _check_timestamps(
    buf: bytearray, header: BatchHeader, config: ValidationConfig, now_ms: int, records: list[Record] | None
) -> int:
    """LogValidator.validateTimestamp; returns the batch's max timestamp (decoded when `records` are)."""
    if config.log_append_time:
        if header.is_log_append_time:
            message = "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."
            # One error per record actually there, as Kafka's LogValidator iterating the records: never per the
            # header's recordCount, which the producer chose (2**31 - 1 of them cost gigabytes; found by fuzzing).
            found = records if records is not None else _decode(buf, header, config)
            raise _timestamp_errors([(i, message) for i in range(len(found))])
        return now_ms
    if records is None:
        if not _header_in_range(header, config, now_ms):
            records = _decode(buf, header, config)  # find the offending records for the per-record errors
        else:
            return header.max_timestamp
    errors = [
        (index, _out_of_range(record, config, now_ms))
        for index, record in enumerate(records)
        if record.timestamp != NO_TIMESTAMP and not _in_range(record.timestamp, config, now_ms)
    ]
    if header.is_log_append_time and header.max_timestamp == NO_TIMESTAMP:
        message = "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."
        errors = [(i, message) for i in range(len(records))]
    if errors:
        raise _timestamp_errors(errors)
    return max((record.timestamp for record in records), default=NO_TIMESTAMP)


def _header_in_range(header: BatchHeader, config: ValidationConfig, now_ms: int) -> bool:
    if header.max_timestamp == NO_TIMESTAMP:
        return not header.is_log_append_time
    return _in_range(header.max_timestamp, config, now_ms)


def _in_range(timestamp: int, config: ValidationConfig, now_ms: int) -> bool:
    diff = now_ms - timestamp
    return diff <= config.timestamp_before_max_ms and -diff <= config.timestamp_after_max_ms


def _out_of_range(record: Record, config: ValidationConfig, now_ms: int) -> str:
    low = now_ms - config.timestamp_before_max_ms
    high = now_ms + config.timestamp_after_max_ms
    return (
        f"Timestamp {record.timestamp} of message with offset {record.offset} is out of range. "
        f"The timestamp should be within [{low}, {high}]"
    )


def _timestamp_errors(errors: list[tuple[int, str]]) -> RecordValidationError:
    return RecordValidationError(
        INVALID_TIMESTAMP, "One or more records have been rejected due to invalid timestamp", errors
    )


def _check_keys(records: list[Record]) -> None:
    message = "Compacted topic cannot accept message without key in topic partition"
    errors = [(index, message) for index, record in enumerate(records) if record.key is None]
    if errors:
        raise RecordValidationError(
            INVALID_RECORD,
            f"One or more records have been rejected due to {len(errors)} record errors in total, and only "
            f"showing the first three errors at most: {errors[:3]}",
            errors,
        )


def _in_order(records: list[Record], header: BatchHeader) -> bool:
    """Inner offsets must be 0..n-1; Kafka rebuilds batches from clients that number them otherwise."""
    return all(record.offset - header.base_offset == index for index, record in enumerate(records))


def _in_place(
    buf: bytearray, header: BatchHeader, config: ValidationConfig, now_ms: int, max_timestamp: int
) -> ValidationResult:
    if config.log_append_time:
        set_max_timestamp(buf, header, True, now_ms)
    elif header.is_log_append_time or max_timestamp != header.max_timestamp:
        set_max_timestamp(buf, header, False, max_timestamp)
    final = _reread(buf)
    return _result(final, buf, config, now_ms, max_timestamp, False)


def _rebuilt(
    header: BatchHeader, records: list[Record], codec: int, config: ValidationConfig, now_ms: int
) -> ValidationResult:
    log_append_time = now_ms if config.log_append_time else NO_TIMESTAMP
    data = build_batch(
        [(r.key, r.value, r.headers, r.timestamp) for r in records],
        codec=codec,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        transactional=header.is_transactional,
        partition_leader_epoch=header.partition_leader_epoch,
        timestamp_type_log_append=config.log_append_time,
        log_append_time_ms=log_append_time,
    )
    out = bytearray(data)
    final = _reread(out)
    return _result(final, out, config, now_ms, final.max_timestamp, True)


def _reread(buf: bytearray) -> BatchHeader:
    return next(iter_batches(buf, verify_crc=False))


def _result(
    header: BatchHeader,
    buf: bytearray,
    config: ValidationConfig,
    now_ms: int,
    max_timestamp: int,
    size_changed: bool,
) -> ValidationResult:
    return ValidationResult(
        records=buf,
        batches=[header],
        shallow_count=1,
        record_count=header.record_count,
        max_timestamp=now_ms if config.log_append_time else max_timestamp,
        offset_of_max_timestamp=header.last_offset_delta,
        log_append_time_ms=now_ms if config.log_append_time else NO_TIMESTAMP,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        is_transactional=header.is_transactional,
        size_changed=size_changed,
        last_offset_delta=header.last_offset_delta,
    )


def _invalid(message: str) -> RecordValidationError:
    return RecordValidationError(INVALID_RECORD, message)
