"""Fuzz harness: one partition's produce payload through the record-batch validator the Produce path uses.

`log.validator.validate_records` is what `ReplicaManager.append_to_partition` runs before an append; it catches
`RecordValidationError` and `InvalidRecordBatch` and turns their `error_code` into the partition's error.

Input: byte 0 selects the topic configuration (bits 0-2: default, compacted, LogAppendTime, recompress to none,
recompress to zstd, bounded timestamp.before, a 1 KiB decompression cap, max.message.bytes 200), whether the
CRC-32C of every batch is recomputed first (bit 3, so mutations reach record decoding) and whether the records
come from a client (bit 4 clear) or a follower; the rest is the records field.

Oracle:
- only RecordValidationError / InvalidRecordBatch escape, with a known, non-zero Kafka error code (the replica
  manager builds `ErrorCode(error_code)` from it);
- what is accepted is what recovery keeps: exactly one batch, its length, magic, counts and CRC-32C valid
  (records.batch.iter_batches); from a client lastOffsetDelta + 1 == recordCount; and when the validator decoded
  the records (compacted, recompressed or bounded-timestamp topics) the stored batch decodes to recordCount
  records with records.record.iter_records.

    python tests/fuzz/fuzz_record_batch.py -runs=20000 [-max_total_time=60] [CORPUS_DIR] [--pure]

Seeds: the batches inside the golden Produce frames (every client and codec) and fuzz_support.sample_batches().
"""

from __future__ import annotations

import struct
import sys

from fuzz_support import golden_batches, instrumented, run_harness, sample_batches

with instrumented(__name__):
    from odradek.broker.log.validator import RecordValidationError, ValidationConfig, validate_records
    from odradek.broker.protocol.errors import ErrorCode
    from odradek.broker.records.batch import InvalidRecordBatch, iter_batches
    from odradek.broker.records.record import iter_records

NOW_MS = 2_000_000_000_000  # fixed (2033), so that a replayed input behaves the same on any day
TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000
CONFIGS = (
    ValidationConfig(),
    ValidationConfig(compacted=True),
    ValidationConfig(log_append_time=True),
    ValidationConfig(target_codec=0),
    ValidationConfig(target_codec=4),
    ValidationConfig(timestamp_before_max_ms=TEN_YEARS_MS, timestamp_after_max_ms=TEN_YEARS_MS),
    ValidationConfig(max_decompressed_bytes=1024, compacted=True),
    ValidationConfig(max_message_bytes=200),
)
FIX_CRC = 0x08
FROM_FOLLOWER = 0x10


def fix_all_crcs(buf: bytearray) -> None:
    import crc32c

    position = 0
    while position + 61 <= len(buf):
        (length,) = struct.unpack_from(">i", buf, position + 8)
        end = position + 12 + length
        if length < 49 or end > len(buf):
            return
        struct.pack_into(">I", buf, position + 17, crc32c.crc32c(bytes(buf[position + 21 : end])))
        position = end


def _decodes_records(config: ValidationConfig, compression: int) -> bool:
    return (
        config.compacted
        or (config.target_codec is not None and config.target_codec != compression)
        or (not config.log_append_time and config.timestamp_before_max_ms < 2**63 - 1)
    )


def check(data: bytes) -> None:
    if not data:
        return
    selector = data[0]
    config = CONFIGS[selector & 7]
    buf = bytearray(data[1:])
    if selector & FIX_CRC:
        fix_all_crcs(buf)
    from_client = not selector & FROM_FOLLOWER
    original_compression = buf[22] & 7 if len(buf) > 22 else 0  # attributes: int16 at 21, codec in bits 0-2
    try:
        result = validate_records(buf, config, NOW_MS, is_from_client=from_client)
    except (RecordValidationError, InvalidRecordBatch) as exc:
        code = ErrorCode(exc.error_code)  # ValueError for a code Kafka does not have
        assert code != ErrorCode.NONE, f"refused with error code 0: {exc}"
        for index, message in getattr(exc, "record_errors", []):
            assert isinstance(index, int) and isinstance(message, str)
        return
    stored = bytes(result.records)
    headers = list(iter_batches(stored))  # InvalidRecordBatch here: accepted bytes that recovery would drop
    assert len(headers) == 1 == len(result.batches), f"{len(headers)} batches accepted"
    [header] = headers
    assert header.size == len(stored), "trailing bytes after the accepted batch"
    assert header.record_count == result.record_count
    if from_client:
        assert header.last_offset_delta + 1 == header.record_count, "offset range and record count disagree"
    if _decodes_records(config, original_compression):
        records = list(iter_records(stored, header, 1 << 26))
        assert len(records) == header.record_count, f"{len(records)} records decoded, header says {header.record_count}"


def seeds() -> list[bytes]:
    batches = golden_batches() + sample_batches()
    return [bytes([selector]) + batch for batch in batches for selector in (0, 1, 2, 3, 4, 5, 6, 7)]


if __name__ == "__main__":
    sys.exit(run_harness("record_batch", check, seeds()))
