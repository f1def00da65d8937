"""The records of `__consumer_offsets`, in Apache Kafka's own binary formats (so tools that read the topic work).

Every record's key and value start with an int16 version, followed by the fields of Kafka's coordinator record
schemas (group-coordinator `OffsetCommitKey`, `OffsetCommitValue`, `GroupMetadataKey`, `GroupMetadataValue`):

- key version 0 or 1: an offset commit, `group string, topic string, partition int32`;
- key version 2: group metadata, `group string`;
- OffsetCommitValue v0-4: `offset int64`, `leaderEpoch int32` (v3+), `metadata string`, `commitTimestamp int64`,
  `expireTimestamp int64` (v1 only); v4 is flexible (compact strings, tagged fields);
- GroupMetadataValue v0-4: `protocolType string`, `generation int32`, `protocol string?`, `leader string?`,
  `currentStateTimestamp int64` (v2+), members `[memberId, groupInstanceId? (v3+), clientId, clientHost,
  rebalanceTimeout int32 (v1+), sessionTimeout int32, subscription bytes, assignment bytes]`; v4 is flexible.

A null value is a tombstone (offset deleted, group deleted). Odradek writes key version 1 for offsets (what Kafka
writes), OffsetCommitValue v3 (v1 when the commit carries an expire timestamp, as Kafka does) and
GroupMetadataValue v3; it reads every version.

The partition of a group is Kafka's: `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with
Java's String.hashCode over UTF-16 code units.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field

from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.primitives import (
    Reader,
    w_bytes,
    w_compact_bytes,
    w_compact_nullable_string,
    w_compact_string,
    w_nullable_string,
    w_string,
    w_uvarint,
)

OFFSETS_TOPIC = "__consumer_offsets"

OFFSET_KEY_VERSIONS = (0, 1)
GROUP_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
OFFSET_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_VALUE_VERSION = 3

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_KEY_HEAD = struct.Struct(">hh")  # version, group length
_VALUE_V3_HEAD = struct.Struct(">hqih")  # version 3, offset, leader epoch, metadata length


class OffsetsTopicFormatError(ValueError):
    """A key or value of __consumer_offsets that cannot be read."""


def java_string_hash(text: str) -> int:
    """Java's String.hashCode (signed 32-bit), over UTF-16 code units."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


@functools.lru_cache(maxsize=65536)  # asked on every group request (and per transactional id): a pure function
def partition_for(group_id: str, num_partitions: int) -> int:
    """The __consumer_offsets partition holding `group_id` (Kafka's `Utils.abs(hashCode) % n`)."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group: str


@dataclass(frozen=True, slots=True)
class OffsetAndMetadata:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int = -1


@dataclass(frozen=True, slots=True)
class MemberRecord:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupRecord:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple[MemberRecord, ...] = field(default_factory=tuple)


# ---- encoding -----------------------------------------------------------------------------------------------


def encode_offset_key(key: OffsetKey) -> bytes:
    out = bytearray(_I16.pack(OFFSET_KEY_VERSIONS[1]))
    w_string(out, key.group)
    w_string(out, key.topic)
    out += _I32.pack(key.partition)
    return bytes(out)


def encode_group_key(key: GroupKey) -> bytes:
    out = bytearray(_I16.pack(GROUP_KEY_VERSION))
    w_string(out, key.group)
    return bytes(out)


def encode_offset_value(value: OffsetAndMetadata) -> bytes:
    if value.expire_timestamp >= 0:
        out = bytearray(_I16.pack(OFFSET_VALUE_VERSION_WITH_EXPIRY))
        out += _I64.pack(value.offset)
        w_string(out, value.metadata)
        out += _I64.pack(value.commit_timestamp)
        out += _I64.pack(value.expire_timestamp)
        return bytes(out)
    out = bytearray(_I16.pack(OFFSET_VALUE_VERSION))
    out += _I64.pack(value.offset)
    out += _I32.pack(value.leader_epoch)
    w_string(out, value.metadata)
    out += _I64.pack(value.commit_timestamp)
    return bytes(out)


def encode_group_value(value: GroupRecord, version: int = GROUP_VALUE_VERSION) -> bytes:
    """GroupMetadataValue; `version` 0-4 (tests write the old ones to check that they are read)."""
    if not 0 <= version <= 4:
        raise ValueError(f"GroupMetadataValue version {version}")
    flexible = version >= 4
    s_str = w_compact_string if flexible else w_string
    s_nstr = w_compact_nullable_string if flexible else w_nullable_string
    s_bytes = w_compact_bytes if flexible else w_bytes
    out = bytearray(_I16.pack(version))
    s_str(out, value.protocol_type)
    out += _I32.pack(value.generation)
    s_nstr(out, value.protocol)
    s_nstr(out, value.leader)
    if version >= 2:
        out += _I64.pack(value.current_state_timestamp)
    _array_len(out, len(value.members), flexible)
    for m in value.members:
        s_str(out, m.member_id)
        if version >= 3:
            s_nstr(out, m.group_instance_id)
        s_str(out, m.client_id)
        s_str(out, m.client_host)
        if version >= 1:
            out += _I32.pack(m.rebalance_timeout)
        out += _I32.pack(m.session_timeout)
        s_bytes(out, m.subscription)
        s_bytes(out, m.assignment)
        if flexible:
            out.append(0)
    if flexible:
        out.append(0)
    return bytes(out)


def _array_len(out: bytearray, n: int, flexible: bool) -> None:
    if flexible:
        w_uvarint(out, n + 1)
    else:
        out += _I32.pack(n)


# ---- decoding -----------------------------------------------------------------------------------------------


def decode_key(data: bytes | memoryview) -> OffsetKey | GroupKey | None:
    """The key of a __consumer_offsets record; None for record types a classic coordinator ignores
    (Kafka 4's consumer-protocol and share-group records, versions 3 and above)."""
    fast = _offset_key(data)
    if fast is not None:
        return fast
    try:
        r = Reader(data)
        version = r.int16()
        if version in OFFSET_KEY_VERSIONS:
            group = r.string()
            topic = r.string()
            return OffsetKey(group, topic, r.int32())
        if version == GROUP_KEY_VERSION:
            return GroupKey(r.string())
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad __consumer_offsets key: {exc}") from None
    return None


def decode_offset_value(data: bytes | memoryview) -> OffsetAndMetadata:
    fast = _offset_value_v3(data)
    if fast is not None:
        return fast
    try:
        r = Reader(data)
        version = r.int16()
        if not 0 <= version <= 4:
            raise OffsetsTopicFormatError(f"unknown OffsetCommitValue version {version}")
        flexible = version >= 4
        offset = r.int64()
        leader_epoch = r.int32() if version >= 3 else -1
        metadata = r.compact_string() if flexible else r.string()
        commit_timestamp = r.int64()
        expire_timestamp = r.int64() if version == 1 else -1
        if flexible:
            r.skip_tagged_fields()
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad OffsetCommitValue: {exc}") from None
    return OffsetAndMetadata(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)


# Every offset commit is replayed right after its write (write-then-replay) and at each load: the common forms are
# read with struct alone. Each returns None for any other input (another version, a null or negative length, a
# short or undecodable buffer), which the Reader path above then reads or refuses, so the result is the same.


def _offset_key(data: bytes | memoryview) -> OffsetKey | None:
    """OffsetCommitKey v0/v1: version int16, group string, topic string, partition int32."""
    try:
        version, group_length = _KEY_HEAD.unpack_from(data, 0)
        if version not in OFFSET_KEY_VERSIONS or group_length < 0:
            return None
        topic_at = 4 + group_length
        (topic_length,) = _I16.unpack_from(data, topic_at)
        if topic_length < 0:
            return None
        partition_at = topic_at + 2 + topic_length
        (partition,) = _I32.unpack_from(data, partition_at)
        return OffsetKey(str(data[4:topic_at], "utf-8"), str(data[topic_at + 2 : partition_at], "utf-8"), partition)
    except (struct.error, UnicodeDecodeError):
        return None


def _offset_value_v3(data: bytes | memoryview) -> OffsetAndMetadata | None:
    """OffsetCommitValue v3 (what `encode_offset_value` writes without an expire timestamp): version, offset
    int64, leader epoch int32, metadata string, commit timestamp int64."""
    try:
        version, offset, leader_epoch, metadata_length = _VALUE_V3_HEAD.unpack_from(data, 0)
        if version != OFFSET_VALUE_VERSION or metadata_length < 0:
            return None
        timestamp_at = _VALUE_V3_HEAD.size + metadata_length
        (commit_timestamp,) = _I64.unpack_from(data, timestamp_at)
        metadata = str(data[_VALUE_V3_HEAD.size : timestamp_at], "utf-8")
    except (struct.error, UnicodeDecodeError):
        return None
    return OffsetAndMetadata(offset, leader_epoch, metadata, commit_timestamp, -1)


def decode_group_value(data: bytes | memoryview) -> GroupRecord:
    try:
        r = Reader(data)
        version = r.int16()
        if not 0 <= version <= 4:
            raise OffsetsTopicFormatError(f"unknown GroupMetadataValue version {version}")
        flexible = version >= 4
        r_str = r.compact_string if flexible else r.string
        r_nstr = r.compact_nullable_string if flexible else r.nullable_string
        r_bytes = r.compact_bytes if flexible else r.bytes_
        protocol_type = r_str()
        generation = r.int32()
        protocol = r_nstr()
        leader = r_nstr()
        timestamp = r.int64() if version >= 2 else -1
        count = r.compact_array_len() if flexible else r.array_len()
        members = []
        for _ in range(max(count, 0)):
            member_id = r_str()
            instance = r_nstr() if version >= 3 else None
            client_id = r_str()
            client_host = r_str()
            rebalance_timeout = r.int32() if version >= 1 else -1
            session_timeout = r.int32()
            subscription = bytes(r_bytes())
            assignment = bytes(r_bytes())
            if flexible:
                r.skip_tagged_fields()
            if rebalance_timeout < 0:
                rebalance_timeout = session_timeout
            members.append(
                MemberRecord(
                    member_id,
                    instance,
                    client_id,
                    client_host,
                    rebalance_timeout,
                    session_timeout,
                    subscription,
                    assignment,
                )
            )
        if flexible:
            r.skip_tagged_fields()
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad GroupMetadataValue: {exc}") from None
    return GroupRecord(protocol_type, generation, protocol, leader, timestamp, tuple(members))
