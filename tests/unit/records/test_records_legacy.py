"""Message formats v0/v1 (records.legacy) against kafka-python's own legacy encoder and decoder
(kafka.record.legacy_records, an independent implementation of Kafka's LegacyRecord): byte-identical
uncompressed MessageSets, compressed wrappers read both ways, conversion to v2 and down-conversion from v2."""

from __future__ import annotations

import warnings

import pytest
from odradek.broker.records import legacy
from odradek.broker.records.batch import CORRUPT_MESSAGE, INVALID_RECORD, NO_TIMESTAMP, InvalidRecordBatch, iter_batches
from odradek.broker.records.builder import build_batch, build_control_batch
from odradek.broker.records.compression import GZIP, LZ4, NONE, SNAPPY, ZSTD, decompress
from odradek.broker.records.record import iter_records

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecords

# kafka-python's codec ids for legacy messages are Kafka's: 0 none, 1 gzip, 2 snappy, 3 lz4
ORACLE_CODECS = [NONE, GZIP, SNAPPY, LZ4]  # kafka-python's codecs: gzip, python-snappy (xerial), lz4 frames
# except lz4 in magic 0, whose pre-KIP-57 frame kafka-python writes only with the xxhash package (not installed)
ORACLE_PAIRS = [(magic, codec) for magic in (0, 1) for codec in ORACLE_CODECS if (magic, codec) != (0, LZ4)]

MESSAGES = [(b"k0", b"v0", 1_000), (None, b"v1", 1_001), (b"k2", None, 1_002), (b"", b"x" * 300, 1_003)]


def _oracle(magic: int, codec: int, messages: list[tuple[bytes | None, bytes | None, int]] = MESSAGES) -> bytes:
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for offset, (key, value, timestamp) in enumerate(messages):
        builder.append(offset, timestamp if magic else None, key, value)
    return bytes(builder.build())


def _oracle_read(data: bytes) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of every message, wrappers expanded, as kafka-python's consumer reads them."""
    records = MemoryRecords(data)
    out = []
    while (batch := records.next_batch()) is not None:
        out += [(m.offset, m.timestamp, m.key, m.value) for m in batch]
    return out


def _ours(magic: int, messages: list[tuple[bytes | None, bytes | None, int]] = MESSAGES) -> bytes:
    out = bytearray()
    for offset, (key, value, timestamp) in enumerate(messages):
        legacy.append_message(out, offset, magic, 0, timestamp, key, value)
    return bytes(out)


@pytest.mark.parametrize("magic", [0, 1])
def test_uncompressed_message_sets_are_byte_identical_to_kafka_python(magic: int) -> None:
    assert _ours(magic) == _oracle(magic, NONE)


@pytest.mark.parametrize(("magic", "codec"), ORACLE_PAIRS)
def test_kafka_python_message_sets_convert_to_one_v2_batch(magic: int, codec: int) -> None:
    batch = legacy.to_record_batch(_oracle(magic, codec))
    (header,) = iter_batches(batch)
    assert header.compression == codec
    assert header.producer_id == -1
    records = list(iter_records(batch, header))
    assert [(r.key, r.value) for r in records] == [(k, v) for k, v, _ in MESSAGES]
    expected_ts = [ts if magic else NO_TIMESTAMP for _, _, ts in MESSAGES]
    assert [r.timestamp for r in records] == expected_ts
    assert [r.offset for r in records] == [0, 1, 2, 3]
    assert header.max_timestamp == max(expected_ts)


def test_a_log_append_time_wrapper_gives_its_timestamp_to_the_inner_messages() -> None:
    inner = bytearray()
    for offset, (key, value, ts) in enumerate(MESSAGES):
        legacy.append_message(inner, offset, 1, 0, ts, key, value)
    from odradek.broker.records.compression import compress

    wrapper = bytearray()
    legacy.append_message(wrapper, 3, 1, GZIP | legacy.TIMESTAMP_TYPE_MASK, 9_999, None, compress(GZIP, inner))
    assert [m.timestamp for m, _ in legacy.deep_messages(wrapper)] == [9_999] * 4
    assert [m.offset for m, _ in legacy.deep_messages(wrapper)] == [0, 1, 2, 3]


@pytest.mark.parametrize("codec", ORACLE_CODECS)
def test_a_corrupted_message_fails_its_crc(codec: int) -> None:
    data = bytearray(_oracle(1, codec))
    data[-1] ^= 0xFF
    with pytest.raises(InvalidRecordBatch) as raised:
        legacy.to_record_batch(data)
    assert raised.value.error_code == CORRUPT_MESSAGE


def test_a_truncated_message_set_and_an_empty_one_are_refused() -> None:
    data = _oracle(0, NONE)
    with pytest.raises(InvalidRecordBatch) as raised:
        legacy.to_record_batch(data[:-3])
    assert raised.value.error_code == CORRUPT_MESSAGE
    with pytest.raises(InvalidRecordBatch) as empty:
        legacy.to_record_batch(b"")
    assert empty.value.error_code == INVALID_RECORD


def test_magic_is_read_at_the_same_position_in_both_formats() -> None:
    assert legacy.is_legacy(_oracle(0, NONE))
    assert legacy.is_legacy(_oracle(1, GZIP))
    assert not legacy.is_legacy(build_batch([(b"k", b"v", (), 5)]))


def _stored(codec: int, base_offset: int = 10, log_append: bool = False) -> bytes:
    return build_batch(
        [(k, v, (("h", b"x"),), ts) for k, v, ts in MESSAGES],
        base_offset=base_offset,
        codec=codec,
        timestamp_type_log_append=log_append,
        log_append_time_ms=7_777,
    )


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", [NONE, GZIP, SNAPPY, LZ4, ZSTD])
def test_down_converted_batches_read_back_in_kafka_python(magic: int, codec: int) -> None:
    converted, count = legacy.down_convert_batch(_stored(codec), 0, magic)
    assert count == len(MESSAGES)
    wrappers = list(legacy.iter_messages(converted))
    written_codec = wrappers[0].codec
    assert written_codec == (NONE if codec == ZSTD or (codec == LZ4 and magic == 0) else codec)
    if (magic, written_codec) in ORACLE_PAIRS:
        got = _oracle_read(converted)
        assert [(o, k, v) for o, _, k, v in got] == [(10 + i, k, v) for i, (k, v, _) in enumerate(MESSAGES)]
        if magic == 1:
            assert [ts for _, ts, _, _ in got] == [ts for _, _, ts in MESSAGES]
    if written_codec != NONE:  # Kafka's layout: inner offsets relative in magic 1, absolute in magic 0
        inner = list(legacy.iter_messages(decompress(written_codec, wrappers[0].value or b"", 1 << 20)))
        first = 0 if magic == 1 else 10
        assert [m.offset for m in inner] == [first + i for i in range(len(MESSAGES))]
        assert wrappers[0].offset == 10 + len(MESSAGES) - 1
    ours = [m for m, _ in legacy.deep_messages(converted)]
    assert [(m.offset, m.key, m.value) for m in ours] == [(10 + i, k, v) for i, (k, v, _) in enumerate(MESSAGES)]
    assert {m.magic for m in ours} == {magic}


def test_down_conversion_of_a_log_append_time_batch_keeps_the_append_time_in_magic_1() -> None:
    converted, _ = legacy.down_convert_batch(_stored(GZIP, log_append=True), 0, 1)
    (wrapper,) = legacy.iter_messages(converted)
    assert wrapper.is_log_append_time and wrapper.timestamp == 7_777
    assert {m.timestamp for m, _ in legacy.deep_messages(converted)} == {7_777}


def test_control_batches_are_dropped_on_down_conversion() -> None:
    marker = build_control_batch(True, producer_id=5, producer_epoch=0, base_offset=3)
    assert legacy.down_convert_batch(marker, 0, 1) == (b"", 0)


def _reader(data: bytes) -> legacy.Read:
    return lambda position, size: data[position : position + size]


def test_lazy_down_conversion_streams_batch_by_batch_and_fills_the_promised_size() -> None:
    batches = [build_batch([(b"k", b"v" * 50, (), 1)], base_offset=i) for i in range(3)]
    marker = build_control_batch(False, producer_id=5, producer_epoch=0, base_offset=3)
    data = b"".join(batches) + marker + build_batch([(b"k", b"last", (), 2)], base_offset=4)
    lazy = legacy.LazyDownConversion(_reader(data), 0, len(data), 1)
    assert lazy.size == len(data)  # a converted single-record batch is smaller than its v2 form here
    pieces = list(lazy.pieces())
    body = b"".join(pieces)
    assert len(body) == lazy.size
    got = _oracle_read(body)  # kafka-python stops at the filler, as at any partial message
    assert [offset for offset, _, _, _ in got] == [0, 1, 2, 4]
    assert lazy.converted == 4
    # the filler reads as the start of a message too long to be there
    filler = pieces[-1]
    assert int.from_bytes(filler[:8], "big", signed=True) == -1
    assert int.from_bytes(filler[8:12], "big") > len(filler) - 12


def test_lazy_down_conversion_cuts_the_last_batch_when_conversion_grows() -> None:
    # many small records: their magic 1 form (34 bytes of overhead each) is larger than the v2 batch
    many = build_batch([(None, b"v", (), 1)] * 50, base_offset=0)
    second = build_batch([(None, b"w", (), 1)] * 50, base_offset=50)
    data = many + second
    lazy = legacy.LazyDownConversion(_reader(data), 0, len(data), 1)
    first, _ = legacy.down_convert_batch(many, 0, 1)
    assert lazy.size == max(len(data), len(first))
    body = b"".join(lazy.pieces())
    assert len(body) == lazy.size
    whole = list(legacy.iter_messages(body, allow_partial=True))
    assert [m.offset for m in whole][:50] == list(range(50))  # the first batch always goes whole


def test_lazy_down_conversion_stops_at_a_batch_cut_by_the_slice() -> None:
    data = build_batch([(b"k", b"v", (), 1)]) + build_batch([(b"k", b"w", (), 1)], base_offset=1)
    cut = len(data) - 5
    lazy = legacy.LazyDownConversion(_reader(data), 0, cut, 0)
    body = b"".join(lazy.pieces())
    assert [m.value for m in legacy.iter_messages(body, allow_partial=True)] == [b"v"]
    assert lazy.converted == 1


def test_lazy_down_conversion_reads_from_the_slice_position() -> None:
    data = build_batch([(b"k", b"v", (), 1)], base_offset=7)
    lazy = legacy.LazyDownConversion(_reader(b"\x00" * 100 + data), 100, len(data), 1)
    body = b"".join(lazy.pieces())
    assert [m.offset for m in legacy.iter_messages(body, allow_partial=True)] == [7]


def test_xxh32_short_inputs_match_the_reference_vectors() -> None:
    assert legacy.xxh32(b"") == 0x02CC5D05
    assert legacy.xxh32(b"a") == 0x550D7456
    assert legacy.xxh32(b"abc") == 0x32D153FF


@pytest.mark.parametrize("content_size", [False, True])
def test_a_magic_0_lz4_frame_with_kafka_3160s_header_checksum_is_accepted(content_size: bool) -> None:
    """librdkafka writes magic 0 lz4 frames with the header checksum over the frame magic too (KAFKA-3160); Kafka
    ignores it for magic 0. The checksum recomputed here equals the one the lz4 library writes."""
    import lz4.frame

    inner = bytearray()
    for offset, (key, value, _) in enumerate(MESSAGES):
        legacy.append_message(inner, offset, 0, 0, NO_TIMESTAMP, key, value)
    frame = lz4.frame.compress(bytes(inner), store_size=content_size)
    at = 6 + (8 if frame[4] & 0x08 else 0)
    assert legacy.fix_lz4_header_checksum(frame) == frame  # the library's own checksum, recomputed
    broken = frame[:at] + bytes([(legacy.xxh32(frame[0:at]) >> 8) & 0xFF]) + frame[at + 1 :]
    assert broken != frame
    wrapper = bytearray()
    legacy.append_message(wrapper, len(MESSAGES) - 1, 0, LZ4, NO_TIMESTAMP, None, broken)
    batch = legacy.to_record_batch(wrapper)
    (header,) = iter_batches(batch)
    assert [r.value for r in iter_records(batch, header)] == [v for _, v, _ in MESSAGES]
    inner_1 = bytearray()  # magic 1 frames are checked: KIP-57 fixed the checksum from then on
    legacy.append_message(inner_1, 0, 1, 0, 5, b"k", b"v")
    frame_1 = lz4.frame.compress(bytes(inner_1), store_size=content_size)
    broken_1 = frame_1[:at] + bytes([(legacy.xxh32(frame_1[0:at]) >> 8) & 0xFF]) + frame_1[at + 1 :]
    magic_1 = bytearray()
    legacy.append_message(magic_1, 0, 1, LZ4, 5, None, broken_1)
    with pytest.raises(InvalidRecordBatch) as refused:
        legacy.to_record_batch(magic_1)
    assert refused.value.error_code == CORRUPT_MESSAGE
    fixed_1 = bytearray()
    legacy.append_message(fixed_1, 0, 1, LZ4, 5, None, frame_1)
    assert legacy.to_record_batch(fixed_1)  # and the right checksum passes
