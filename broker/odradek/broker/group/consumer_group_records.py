"""The `__consumer_offsets` records of KIP-848 consumer groups, in Kafka's formats (CoordinatorRecordType):

- 3 ConsumerGroupMetadata (key: group): `Epoch int32` (tagged fields of later Kafkas are skipped);
- 5 ConsumerGroupMemberMetadata (group, member): `InstanceId string?, RackId string?, ClientId, ClientHost,
  SubscribedTopicNames [string], SubscribedTopicRegex string?, RebalanceTimeoutMs int32, ServerAssignor string?`
  tagged field 0, ClassicMemberMetadata (a classic member of a converted group; absent for the others):
  `SessionTimeoutMs int32, SupportedProtocols [Name string, Metadata bytes]` (Kafka 4.0's layout; unknown tags
  are skipped);
- 6 ConsumerGroupTargetAssignmentMetadata (group): `AssignmentEpoch int32`;
- 7 ConsumerGroupTargetAssignmentMember (group, member): `TopicPartitions [TopicId uuid, Partitions [int32]]`;
- 8 ConsumerGroupCurrentMemberAssignment (group, member): `MemberEpoch int32, PreviousMemberEpoch int32,
  State int8, AssignedPartitions [TopicPartitions], PartitionsPendingRevocation [TopicPartitions]`.

Values are version 0 and flexible (compact strings and arrays, tagged fields after every struct). Keys are not
flexible: `int16 type, string group[, string member]`. A null value is a tombstone. Type 4
(ConsumerGroupPartitionMetadata) is not written (the subscribed topics' metadata is recomputed from the cluster's
on load) and is skipped when read, as are the share-group and streams types.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from odradek.broker.group.consumer_group import (
    Assignment,
    ClassicMemberMetadata,
    ConsumerGroupMember,
    MemberState,
    normalize,
)
from odradek.broker.group.offsets_topic import OffsetsTopicFormatError
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.primitives import (
    Reader,
    w_compact_array_len,
    w_compact_bytes,
    w_compact_nullable_string,
    w_compact_string,
    w_string,
    w_tagged_fields,
    w_uvarint,
)

CLASSIC_MEMBER_METADATA_TAG = 0

METADATA = 3
PARTITION_METADATA = 4
MEMBER_METADATA = 5
TARGET_ASSIGNMENT_METADATA = 6
TARGET_ASSIGNMENT_MEMBER = 7
CURRENT_MEMBER_ASSIGNMENT = 8
_WITH_MEMBER = (MEMBER_METADATA, TARGET_ASSIGNMENT_MEMBER, CURRENT_MEMBER_ASSIGNMENT)
_KNOWN = (
    METADATA,
    PARTITION_METADATA,
    MEMBER_METADATA,
    TARGET_ASSIGNMENT_METADATA,
    TARGET_ASSIGNMENT_MEMBER,
    CURRENT_MEMBER_ASSIGNMENT,
)


@dataclass(frozen=True, slots=True)
class ConsumerGroupKey:
    record_type: int
    group: str
    member: str | None = None


def encode_key(key: ConsumerGroupKey) -> bytes:
    w = bytearray(key.record_type.to_bytes(2, "big", signed=True))
    w_string(w, key.group)
    if key.record_type in _WITH_MEMBER:
        w_string(w, key.member or "")
    return bytes(w)


def decode_key(data: bytes | memoryview) -> ConsumerGroupKey | None:
    """The key if it is a consumer group record type; None for any other type."""
    try:
        r = Reader(data)
        record_type = r.int16()
        if record_type not in _KNOWN:
            return None
        group = r.string()
        member = r.string() if record_type in _WITH_MEMBER else None
        return ConsumerGroupKey(record_type, group, member)
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad consumer group key: {exc}") from None


def _header(w: bytearray) -> None:
    w += b"\x00\x00"  # value version 0


def _int32(w: bytearray, v: int) -> None:
    w += v.to_bytes(4, "big", signed=True)


def _partitions(w: bytearray, assignment: Assignment) -> None:
    w_compact_array_len(w, len(assignment))
    for topic in sorted(assignment):
        w += uuid.UUID(topic).bytes
        parts = sorted(assignment[topic])
        w_compact_array_len(w, len(parts))
        for p in parts:
            _int32(w, p)
        w_uvarint(w, 0)


def _read_partitions(r: Reader) -> dict[str, frozenset[int]]:
    out: dict[str, frozenset[int]] = {}
    for _ in range(max(r.compact_array_len(), 0)):
        topic = str(r.uuid())
        out[topic] = frozenset(r.int32() for _ in range(max(r.compact_array_len(4), 0)))
        r.skip_tagged_fields()
    return normalize(out)


def encode_epoch(epoch: int) -> bytes:
    """ConsumerGroupMetadataValue or ConsumerGroupTargetAssignmentMetadataValue: one epoch."""
    w = bytearray()
    _header(w)
    _int32(w, epoch)
    w_uvarint(w, 0)
    return bytes(w)


def encode_member_metadata(m: ConsumerGroupMember) -> bytes:
    w = bytearray()
    _header(w)
    w_compact_nullable_string(w, m.instance_id)
    w_compact_nullable_string(w, m.rack_id)
    w_compact_string(w, m.client_id)
    w_compact_string(w, m.client_host)
    w_compact_array_len(w, len(m.subscribed_topic_names))
    for name in m.subscribed_topic_names:
        w_compact_string(w, name)
    w_compact_nullable_string(w, m.subscribed_topic_regex)
    _int32(w, m.rebalance_timeout_ms)
    w_compact_nullable_string(w, m.server_assignor)
    tags: list[tuple[int, bytearray]] = []
    if m.classic_member_metadata is not None:
        tags.append((CLASSIC_MEMBER_METADATA_TAG, _classic_metadata(m.classic_member_metadata)))
    w_tagged_fields(w, tags)
    return bytes(w)


def _classic_metadata(c: ClassicMemberMetadata) -> bytearray:
    w = bytearray()
    _int32(w, c.session_timeout_ms)
    w_compact_array_len(w, len(c.supported_protocols))
    for name, metadata in c.supported_protocols:
        w_compact_string(w, name)
        w_compact_bytes(w, metadata)
        w_uvarint(w, 0)
    w_uvarint(w, 0)
    return w


def _read_classic_metadata(r: Reader) -> ClassicMemberMetadata:
    session_timeout = r.int32()
    protocols = []
    for _ in range(max(r.compact_array_len(), 0)):
        name = r.compact_string()
        protocols.append((name, bytes(r.compact_bytes())))
        r.skip_tagged_fields()
    r.skip_tagged_fields()
    return ClassicMemberMetadata(session_timeout, tuple(protocols))


def encode_target_member(assignment: Assignment) -> bytes:
    w = bytearray()
    _header(w)
    _partitions(w, assignment)
    w_uvarint(w, 0)
    return bytes(w)


def encode_current_assignment(m: ConsumerGroupMember) -> bytes:
    w = bytearray()
    _header(w)
    _int32(w, m.member_epoch)
    _int32(w, m.previous_member_epoch)
    w.append(m.state.value & 0xFF)
    _partitions(w, m.assigned)
    _partitions(w, m.pending_revocation)
    w_uvarint(w, 0)
    return bytes(w)


def _value_reader(data: bytes | memoryview, what: str) -> Reader:
    r = Reader(data)
    version = r.int16()
    if version != 0:
        raise OffsetsTopicFormatError(f"unknown {what} version {version}")
    return r


def decode_epoch(data: bytes | memoryview) -> int:
    try:
        return _value_reader(data, "epoch value").int32()
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad consumer group epoch value: {exc}") from None


def decode_member_metadata(member: ConsumerGroupMember, data: bytes | memoryview) -> ConsumerGroupMember:
    try:
        r = _value_reader(data, "ConsumerGroupMemberMetadataValue")
        instance_id = r.compact_nullable_string()
        rack_id = r.compact_nullable_string()
        client_id = r.compact_string()
        client_host = r.compact_string()
        names = tuple(r.compact_string() for _ in range(max(r.compact_array_len(), 0)))
        regex = r.compact_nullable_string()
        rebalance_timeout = r.int32()
        assignor = r.compact_nullable_string()
        classic: ClassicMemberMetadata | None = None
        for _ in range(r.uvarint()):
            tag, end = r.tag_header()
            if tag == CLASSIC_MEMBER_METADATA_TAG:
                classic = _read_classic_metadata(r)
                r.tag_end(end)
            r.pos = end
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad ConsumerGroupMemberMetadataValue: {exc}") from None
    return member.with_changes(
        instance_id=instance_id,
        rack_id=rack_id,
        client_id=client_id,
        client_host=client_host,
        subscribed_topic_names=names,
        subscribed_topic_regex=regex,
        rebalance_timeout_ms=rebalance_timeout,
        server_assignor=assignor,
        classic_member_metadata=classic,
    )


def decode_target_member(data: bytes | memoryview) -> dict[str, frozenset[int]]:
    try:
        return _read_partitions(_value_reader(data, "ConsumerGroupTargetAssignmentMemberValue"))
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad ConsumerGroupTargetAssignmentMemberValue: {exc}") from None


def decode_current_assignment(member: ConsumerGroupMember, data: bytes | memoryview) -> ConsumerGroupMember:
    try:
        r = _value_reader(data, "ConsumerGroupCurrentMemberAssignmentValue")
        epoch = r.int32()
        previous = r.int32()
        state_byte = r.int8()
        assigned = _read_partitions(r)
        pending = _read_partitions(r)
    except ProtocolError as exc:
        raise OffsetsTopicFormatError(f"bad ConsumerGroupCurrentMemberAssignmentValue: {exc}") from None
    try:
        state = MemberState(state_byte)
    except ValueError:
        state = MemberState.UNKNOWN
    return member.with_changes(
        member_epoch=epoch, previous_member_epoch=previous, state=state, assigned=assigned, pending_revocation=pending
    )
