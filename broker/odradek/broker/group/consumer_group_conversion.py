"""The online migration of a group between the protocols (KIP-848 "Online migration"): a classic group as a
consumer group (Kafka's ConsumerGroup.fromClassicGroup and the records convertToConsumerGroup writes), and a
consumer group left with classic members only as a classic group (ClassicGroup.fromConsumerGroup and the records
convertToClassicGroup writes). Both functions are pure: they read the group and the cluster's topics and return
the new group and the records, leaving the old group untouched; `consumer_group_manager.py` decides when.

The upgrade, with Kafka's values (the group may be rebalancing: its members' last assignments are taken, which
no two members share; members that joined the rebalance with nothing get nothing):
- group epoch = target assignment epoch = the classic generation;
- each member: epoch and previous epoch = the generation, state STABLE, its client id/host, instance id and
  rebalance timeout, its subscription (topic names of the ConsumerProtocolSubscription it sent for the group's
  protocol) and its assignment (the ConsumerProtocolAssignment the leader gave it, topics by id; topics the
  cluster no longer has are dropped), its target = its assignment, and ClassicMemberMetadata (its session timeout
  and every protocol it supports);
- records: the classic group's tombstone, then member metadata of every member, the group epoch, the target of
  every member, the target assignment epoch and the current assignment of every member (Kafka's
  createConsumerGroupRecords order).

The downgrade: a Stable classic group at generation = the group epoch, protocol type `consumer`, its members the
remaining classic members (in the consumer group's order: the first is the leader) with their session timeouts,
rebalance timeouts and supported protocols, the protocol the members vote for, and as each member's assignment its
target assignment, as a ConsumerProtocolAssignment of the version of its subscription for that protocol. Records:
the consumer group's tombstones (current assignments, targets, the target assignment epoch, member metadata, the
group epoch: Kafka's createGroupTombstoneRecords order), then the classic group's record. The coordinator then
starts a rebalance, so the members rejoin and their leader assigns.
"""

from __future__ import annotations

from collections.abc import Mapping

from odradek.broker.coordinator.runtime import Record
from odradek.broker.group.classic_group import CONSUMER_PROTOCOL_TYPE, ClassicGroup, Member, parse_subscription_topics
from odradek.broker.group.consumer_group import (
    ClassicMemberMetadata,
    ConsumerGroup,
    ConsumerGroupMember,
    MemberState,
    normalize,
)
from odradek.broker.group.consumer_group_records import (
    CURRENT_MEMBER_ASSIGNMENT,
    MEMBER_METADATA,
    METADATA,
    TARGET_ASSIGNMENT_MEMBER,
    TARGET_ASSIGNMENT_METADATA,
    ConsumerGroupKey,
    encode_current_assignment,
    encode_epoch,
    encode_key,
    encode_member_metadata,
    encode_target_member,
)
from odradek.broker.group.offsets_topic import GroupKey, encode_group_key, encode_group_value
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.messages import consumer_protocol_assignment
from odradek.broker.protocol.primitives import Reader

Topics = Mapping[str, tuple[str, int]]
"""topic name -> (topic id, partition count)"""

# The client-side assignors Kafka's upgrade accepts (ConsumerGroup.fromClassicGroup refuses a custom one: the
# server-side assignors cannot take over its decisions).
SUPPORTED_CLASSIC_ASSIGNORS = frozenset({"range", "roundrobin", "sticky", "cooperative-sticky"})


class ConversionError(Exception):
    """Why the classic group cannot become a consumer group (the reason ends Kafka's GROUP_ID_NOT_FOUND message)."""


def decode_assignment(data: bytes, topics: Mapping[str, tuple[str, int]]) -> dict[str, frozenset[int]]:
    """A ConsumerProtocolAssignment (any version 0-3) as topic id -> partitions; unknown topics and partitions
    beyond a topic's count are dropped. Empty bytes (a member not yet given anything) is an empty assignment."""
    if not data:
        return {}
    try:
        r = Reader(data)
        version = r.int16()
        decoded = consumer_protocol_assignment.decode(r, min(version, consumer_protocol_assignment.MAX_VERSION))
    except ProtocolError as exc:
        raise ConversionError("the embedded consumer protocol is malformed") from exc
    out: dict[str, set[int]] = {}
    for tp in decoded.assigned_partitions:
        meta = topics.get(tp.topic)
        if meta is None:
            continue
        topic_id, count = meta
        out.setdefault(topic_id, set()).update(p for p in tp.partitions if 0 <= p < count)
    return normalize(out)


def consumer_group_from_classic(
    classic: ClassicGroup, topics: Mapping[str, tuple[str, int]]
) -> tuple[ConsumerGroup, list[Record]]:
    """The consumer group the stable classic group becomes, and the records that make it durable (module doc).
    Raises ConversionError when the group is not a stable consumer-protocol group with a supported assignor or when
    a member's embedded protocol is malformed."""
    if classic.protocol_type != CONSUMER_PROTOCOL_TYPE:
        raise ConversionError("the group does not use the consumer embedded protocol")
    if classic.protocol_name is None or not classic.members or classic.state is GroupState.DEAD:
        raise ConversionError("the group has no generation yet")
    protocol = classic.protocol_name
    if protocol not in SUPPORTED_CLASSIC_ASSIGNORS:
        raise ConversionError(
            "an unsupported custom assignor is in use. Please refer to the documentation or switch to a default "
            "assignor before re-attempting the upgrade"
        )
    generation = classic.generation_id
    group = ConsumerGroup(classic.group_id, group_epoch=generation, target_assignment_epoch=generation)
    for old in classic.members.values():
        try:
            subscribed = tuple(sorted(set(parse_subscription_topics(_subscription(old, protocol)))))
        except (KeyError, ValueError) as exc:
            raise ConversionError("the embedded consumer protocol is malformed") from exc
        assigned = decode_assignment(old.assignment, topics)
        member = ConsumerGroupMember(
            old.member_id,
            member_epoch=generation,
            previous_member_epoch=generation,
            state=MemberState.STABLE,
            instance_id=old.group_instance_id,
            client_id=old.client_id,
            client_host=old.client_host,
            subscribed_topic_names=subscribed,
            rebalance_timeout_ms=old.rebalance_timeout_ms,
            assigned=assigned,
            classic_member_metadata=ClassicMemberMetadata(old.session_timeout_ms, tuple(old.protocols)),
        )
        group.update_member(member)  # asserts that no partition is held twice
        group.target[member.member_id] = assigned
    wanted = group.subscribed_topic_names()
    group.subscription_metadata = {name: meta for name, meta in topics.items() if name in wanted}
    gid = group.group_id
    records: list[Record] = [(encode_group_key(GroupKey(gid)), None)]
    members = list(group.members.values())
    records += [
        (encode_key(ConsumerGroupKey(MEMBER_METADATA, gid, m.member_id)), encode_member_metadata(m)) for m in members
    ]
    records.append((encode_key(ConsumerGroupKey(METADATA, gid)), encode_epoch(group.group_epoch)))
    records += [
        (encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_MEMBER, gid, m.member_id)), encode_target_member(m.assigned))
        for m in members
    ]
    records.append(
        (encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_METADATA, gid)), encode_epoch(group.target_assignment_epoch))
    )
    records += [
        (encode_key(ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, gid, m.member_id)), encode_current_assignment(m))
        for m in members
    ]
    return group, records


def _subscription(member: Member, protocol: str) -> bytes:
    """The member's subscription for the group's protocol (a member that joined a rebalance with other protocols
    only: its first one)."""
    if protocol in member.protocol_names():
        return member.metadata(protocol)
    return member.protocols[0][1] if member.protocols else b""


def encode_assignment(assignment: Mapping[str, frozenset[int]], topics: Topics, version: int) -> bytes:
    """topic id -> partitions as a ConsumerProtocolAssignment of `version` (capped at the highest known; the int16
    version first, as ConsumerProtocol.serializeAssignment writes it); topics the cluster no longer has are left
    out."""
    names = {topic_id: name for name, (topic_id, _) in topics.items()}
    version = max(0, min(version, consumer_protocol_assignment.MAX_VERSION))
    body = consumer_protocol_assignment.ConsumerProtocolAssignment(
        assigned_partitions=[
            consumer_protocol_assignment.TopicPartition(topic=names[topic_id], partitions=sorted(parts))
            for topic_id, parts in sorted(assignment.items())
            if topic_id in names
        ]
    )
    out = bytearray(version.to_bytes(2, "big", signed=True))
    consumer_protocol_assignment.encode(out, body, version)
    return bytes(out)


def embedded_version(metadata: bytes) -> int:
    """The version a ConsumerProtocolSubscription starts with (0 for bytes too short to say)."""
    return int.from_bytes(metadata[:2], "big", signed=True) if len(metadata) >= 2 else 0


def classic_group_from_consumer(
    group: ConsumerGroup, leaving: frozenset[str], topics: Topics, partition: int, now_ms: int
) -> tuple[ClassicGroup, list[Record]]:
    """The classic group the consumer group becomes once the members `leaving` are gone (module doc). Raises
    ConversionError when a remaining member does not speak the classic protocol or the members share no
    protocol."""
    classic = ClassicGroup(
        group.group_id,
        partition,
        state=GroupState.STABLE,
        generation_id=group.group_epoch,
        protocol_type=CONSUMER_PROTOCOL_TYPE,
        current_state_timestamp=now_ms,
    )
    for m in group.members.values():
        if m.member_id in leaving:
            continue
        meta = m.classic_member_metadata
        if meta is None:
            raise ConversionError(f"member {m.member_id} uses the consumer protocol")
        classic.add(
            Member(
                m.member_id,
                m.instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                meta.session_timeout_ms,
                CONSUMER_PROTOCOL_TYPE,
                list(meta.supported_protocols),
                is_new=False,
            )
        )
    try:
        classic.protocol_name = classic.select_protocol()
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    for member in classic.members.values():
        version = embedded_version(member.metadata(classic.protocol_name))
        member.assignment = encode_assignment(group.target.get(member.member_id, {}), topics, version)
    records = consumer_group_tombstones(group)
    records.append((encode_group_key(GroupKey(group.group_id)), encode_group_value(classic.to_record())))
    return classic, records


def consumer_group_tombstones(group: ConsumerGroup) -> list[Record]:
    """Every record of the consumer group as a tombstone, in Kafka's createGroupTombstoneRecords order."""
    gid = group.group_id
    members = list(group.members)
    records: list[Record] = [(encode_key(ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, gid, m)), None) for m in members]
    records += [(encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_MEMBER, gid, m)), None) for m in members]
    records.append((encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_METADATA, gid)), None))
    records += [(encode_key(ConsumerGroupKey(MEMBER_METADATA, gid, m)), None) for m in members]
    records.append((encode_key(ConsumerGroupKey(METADATA, gid)), None))
    return records
