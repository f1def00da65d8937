"""__consumer_offsets records in Kafka's formats: golden bytes from the schemas, every version read back."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from odradek.broker.group.offsets_topic import (
    GroupKey,
    GroupRecord,
    MemberRecord,
    OffsetAndMetadata,
    OffsetKey,
    OffsetsTopicFormatError,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_group_key,
    encode_group_value,
    encode_offset_key,
    encode_offset_value,
    java_string_hash,
    partition_for,
)


def _s(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def test_offset_key_bytes_follow_offset_commit_key_v1() -> None:
    expected = struct.pack(">h", 1) + _s("g") + _s("topic") + struct.pack(">i", 7)
    assert encode_offset_key(OffsetKey("g", "topic", 7)) == expected
    assert decode_key(expected) == OffsetKey("g", "topic", 7)
    # Key version 0 (written by Kafka before 0.10.1) is the same layout.
    assert decode_key(struct.pack(">h", 0) + expected[2:]) == OffsetKey("g", "topic", 7)


def test_group_key_bytes_follow_group_metadata_key_v2() -> None:
    expected = struct.pack(">h", 2) + _s("my-group")
    assert encode_group_key(GroupKey("my-group")) == expected
    assert decode_key(expected) == GroupKey("my-group")


def test_unknown_key_versions_are_ignored_not_fatal() -> None:
    # Kafka 4 writes consumer-protocol records (key versions 3+) to the same topic.
    assert decode_key(struct.pack(">h", 3) + _s("g")) is None
    with pytest.raises(OffsetsTopicFormatError):
        decode_key(b"\x00\x01\x00")


def test_offset_value_v3_bytes() -> None:
    value = OffsetAndMetadata(offset=42, leader_epoch=5, metadata="meta", commit_timestamp=1000)
    expected = struct.pack(">hqi", 3, 42, 5) + _s("meta") + struct.pack(">q", 1000)
    assert encode_offset_value(value) == expected
    assert decode_offset_value(expected) == value


def test_offset_value_with_expiry_is_written_as_v1() -> None:
    value = OffsetAndMetadata(offset=1, metadata="", commit_timestamp=10, expire_timestamp=20)
    data = encode_offset_value(value)
    assert data == struct.pack(">hq", 1, 1) + _s("") + struct.pack(">qq", 10, 20)
    assert decode_offset_value(data) == value


def test_offset_value_v0_and_flexible_v4_are_read() -> None:
    v0 = struct.pack(">hq", 0, 9) + _s("x") + struct.pack(">q", 5)
    assert decode_offset_value(v0) == OffsetAndMetadata(9, -1, "x", 5, -1)
    # v4: compact string (length + 1 as unsigned varint) and an empty tagged-field section.
    v4 = struct.pack(">hqi", 4, 9, 2) + bytes([2]) + b"x" + struct.pack(">q", 5) + b"\x00"
    assert decode_offset_value(v4) == OffsetAndMetadata(9, 2, "x", 5, -1)


MEMBER = MemberRecord("m-1", "instance-a", "client", "/127.0.0.1", 300_000, 45_000, b"sub", b"assign")


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_group_value_every_version_round_trips(version: int) -> None:
    record = GroupRecord("consumer", 3, "range", "m-1", 1234, (MEMBER,))
    decoded = decode_group_value(encode_group_value(record, version))
    assert decoded.protocol_type == "consumer"
    assert decoded.generation == 3
    assert decoded.protocol == "range"
    assert decoded.leader == "m-1"
    assert decoded.current_state_timestamp == (1234 if version >= 2 else -1)
    member = decoded.members[0]
    assert member.group_instance_id == ("instance-a" if version >= 3 else None)
    assert member.rebalance_timeout == (300_000 if version >= 1 else 45_000)
    assert (member.subscription, member.assignment) == (b"sub", b"assign")


def test_group_value_v3_bytes() -> None:
    record = GroupRecord("consumer", 1, None, None, 7, ())
    expected = struct.pack(">h", 3) + _s("consumer") + struct.pack(">i", 1) + b"\xff\xff" * 2 + struct.pack(">qi", 7, 0)
    assert encode_group_value(record) == expected
    assert decode_group_value(expected) == record


def test_truncated_values_raise_format_errors() -> None:
    data = encode_group_value(GroupRecord("consumer", 1, "range", "m-1", 7, (MEMBER,)))
    for cut in (1, 5, len(data) // 2, len(data) - 1):
        with pytest.raises(OffsetsTopicFormatError):
            decode_group_value(data[:cut])
    with pytest.raises(OffsetsTopicFormatError):
        decode_offset_value(struct.pack(">h", 9))


def test_java_string_hash_matches_java() -> None:
    # Values of String.hashCode() in Java.
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert java_string_hash("\u00e9t\u00e9") == 0xE9 * 31 * 31 + ord("t") * 31 + 0xE9  # code units, not UTF-8
    assert java_string_hash("\U0001f600") == 1772899  # a surrogate pair: 0xD83D * 31 + 0xDE00


def test_partition_for_uses_kafka_abs() -> None:
    # Utils.abs(Integer.MIN_VALUE) is 0 in Kafka, not Integer.MIN_VALUE.
    assert partition_for("polygenelubricants", 50) == 0
    assert partition_for("hello", 50) == 99162322 % 50
    assert partition_for("x" * 40, 50) == abs(java_string_hash("x" * 40)) % 50


@given(st.text(max_size=30), st.text(max_size=30), st.integers(0, 2**31 - 1))
def test_offset_key_round_trip(group: str, topic: str, partition: int) -> None:
    assert decode_key(encode_offset_key(OffsetKey(group, topic, partition))) == OffsetKey(group, topic, partition)


@given(st.integers(-1, 2**62), st.integers(-1, 2**31 - 1), st.text(max_size=50), st.integers(0, 2**62))
def test_offset_value_round_trip(offset: int, epoch: int, metadata: str, ts: int) -> None:
    value = OffsetAndMetadata(offset, epoch, metadata, ts)
    assert decode_offset_value(encode_offset_value(value)) == value


# ---- the struct-only reading of offset keys and values (replayed after every commit) ----------------------------


def _outcome(decode: object, data: bytes) -> object:
    try:
        return decode(data)  # type: ignore[operator]
    except OffsetsTopicFormatError as exc:
        return ("refused", str(exc))


def _variants(data: bytes) -> list[bytes]:
    """`data`, every truncation of it, every single byte set to 0x00, 0x80 and 0xFF, every pair of bytes set to
    -1 (a null length), and a trailing byte."""
    out = [data, data + b"\x00"] + [data[:n] for n in range(len(data))]
    for i in range(len(data)):
        out += [data[:i] + bytes([b]) + data[i + 1 :] for b in (0x00, 0x80, 0xFF)]
        out.append(data[:i] + b"\xff\xff" + data[i + 2 :])
    return out


@given(
    st.text(max_size=12),
    st.text(max_size=12),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(-1, 2**31 - 1),
    st.text(max_size=8),
    st.sampled_from([-1, 1_700_000_000_000]),
)
def test_the_struct_path_reads_exactly_what_the_reader_path_reads(
    group: str, topic: str, partition: int, offset: int, epoch: int, metadata: str, expire: int
) -> None:
    """For encoded records and every damaged form of them: the same value, or the same refusal, with the struct
    path as with the Reader path alone (the struct path disabled)."""
    from odradek.broker.group import offsets_topic

    key = encode_offset_key(OffsetKey(group, topic, partition))
    value = encode_offset_value(OffsetAndMetadata(offset, epoch, metadata, 1_700_000_000_000, expire))
    samples = [(decode_key, d) for d in _variants(key)] + [(decode_offset_value, d) for d in _variants(value)]
    with_struct = [_outcome(decode, data) for decode, data in samples]
    fast_key, fast_value = offsets_topic._offset_key, offsets_topic._offset_value_v3
    try:
        offsets_topic._offset_key = lambda data: None  # type: ignore[assignment]
        offsets_topic._offset_value_v3 = lambda data: None  # type: ignore[assignment]
        reader_only = [_outcome(decode, data) for decode, data in samples]
    finally:
        offsets_topic._offset_key, offsets_topic._offset_value_v3 = fast_key, fast_value
    assert with_struct == reader_only
    assert with_struct[0] == OffsetKey(group, topic, partition)
    assert fast_key(key) == OffsetKey(group, topic, partition)  # the struct path is the one taken
    assert (fast_value(value) is None) == (expire >= 0)  # v1 (with expiry) goes to the Reader path
