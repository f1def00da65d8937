"""A stable classic group as a consumer group (Kafka's ConsumerGroup.fromClassicGroup and the records
convertToConsumerGroup writes): the first step of the online upgrade (KIP-848 "Online migration").

Not wired into the coordinator yet: the converted group's classic members would need their JoinGroup, SyncGroup,
Heartbeat and LeaveGroup answered by the consumer group (Kafka's classicGroup*ToConsumerGroup), which is not
implemented (docs/not-implemented.md). The function is pure: it reads the classic group and the cluster's topics
and returns the new group and the records, leaving the classic group untouched.

The conversion, with Kafka's values:
- group epoch = target assignment epoch = the classic generation;
- each member: epoch and previous epoch = the generation, state STABLE, its client id/host, instance id and
  rebalance timeout, its subscription (topic names of the ConsumerProtocolSubscription it sent for the group's
  protocol) and its assignment (the ConsumerProtocolAssignment the leader gave it, topics by id; topics the
  cluster no longer has are dropped), its target = its assignment, and ClassicMemberMetadata (its session timeout
  and every protocol it supports);
- records: the classic group's tombstone, then member metadata of every member, the group epoch, the target of
  every member, the target assignment epoch and the current assignment of every member (Kafka's
  createConsumerGroupRecords order).
"""

from __future__ import annotations

from collections.abc import Mapping

from odradek.broker.coordinator.runtime import Record
from odradek.broker.group.classic_group import CONSUMER_PROTOCOL_TYPE, ClassicGroup, parse_subscription_topics
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
from odradek.broker.group.offsets_topic import GroupKey, encode_group_key
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.messages import consumer_protocol_assignment
from odradek.broker.protocol.primitives import Reader

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
    if classic.state is not GroupState.STABLE or classic.protocol_name is None:
        raise ConversionError("the group is not stable")
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
            subscribed = tuple(sorted(set(parse_subscription_topics(old.metadata(protocol)))))
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
