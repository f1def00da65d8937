"""A classic consumer group: members, protocols and generation (Kafka's ClassicGroup); its committed offsets are
the OffsetMetadataManager's.

Pure bookkeeping; the coordinator owns the timers (keyed in the runtime's CoordinatorTimer) and the futures
clients wait on, which it stores on the member objects as Kafka stores its callbacks. State changes go through
`handle(event)`, i.e. through the table of `group/state.py`. Protocol metadata and assignments are opaque bytes,
passed through untouched; only the consumer protocol's subscription is parsed, leniently, to know which topics a
group reads (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC, retention of offsets for unsubscribed topics).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

from odradek.broker.group.offsets_topic import GroupRecord, MemberRecord
from odradek.broker.group.state import GroupEvent, GroupState, can_handle, next_state
from odradek.broker.protocol.errors import ErrorCode

CONSUMER_PROTOCOL_TYPE = "consumer"

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


@dataclass(slots=True, eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    is_new: bool = True
    # Futures the coordinator completes (JoinGroup and SyncGroup responses waiting for the rebalance).
    join_future: asyncio.Future[Any] | None = None
    sync_future: asyncio.Future[Any] | None = None

    @property
    def is_awaiting_join(self) -> bool:
        return self.join_future is not None and not self.join_future.done()

    @property
    def is_awaiting_sync(self) -> bool:
        return self.sync_future is not None and not self.sync_future.done()

    @property
    def has_satisfied_heartbeat(self) -> bool:
        """Whether an expiring session timer spares this member (Kafka's hasSatisfiedHeartbeat): a parked JoinGroup
        or SyncGroup stands for heartbeats, except for a new member awaiting its first join (its timer is the
        new-member join timeout, which does expire it)."""
        return not self.is_new and (self.is_awaiting_join or self.is_awaiting_sync)

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        raise KeyError(protocol)

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        return self.protocols == protocols


@dataclass(slots=True, eq=False)
class ClassicGroup:
    group_id: str
    partition: int
    state: GroupState = GroupState.EMPTY
    generation_id: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    current_state_timestamp: int = -1
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # group.instance.id -> member id
    pending_members: set[str] = field(default_factory=set)  # KIP-394: ids given out, not joined yet
    new_member_added: bool = False
    in_initial_delay: bool = False
    pending_sync: set[str] = field(default_factory=set)

    # ---- state ------------------------------------------------------------------------------------------

    def handle(self, event: GroupEvent, now_ms: int) -> None:
        """Move to the state the transition table gives for `event` (IllegalStateTransition if none)."""
        self.state = next_state(self.group_id, self.state, event)
        self.current_state_timestamp = now_ms

    def can_handle(self, event: GroupEvent) -> bool:
        return can_handle(self.state, event)

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    # ---- members ----------------------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.pending_members.discard(member.member_id)

    def remove(self, member_id: str) -> Member | None:
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
            del self.static_members[member.group_instance_id]
        self.pending_sync.discard(member_id)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def replace_static_member(self, instance_id: str, old_member_id: str, new_member_id: str) -> Member:
        member = self.members.pop(old_member_id)
        member.member_id = new_member_id
        # Kafka replaces the member by a fresh one, which is not new: its parked join satisfies its session.
        member.is_new = False
        self.members[new_member_id] = member
        self.static_members[instance_id] = new_member_id
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        if old_member_id in self.pending_sync:
            self.pending_sync.discard(old_member_id)
            self.pending_sync.add(new_member_id)
        return member

    def static_member_id(self, instance_id: str | None) -> str | None:
        return None if instance_id is None else self.static_members.get(instance_id)

    def validate_member(self, member_id: str, instance_id: str | None) -> ErrorCode:
        """Kafka's ClassicGroup.validateMember: the instance id must be this member's, the member known."""
        if instance_id is not None:
            known = self.static_members.get(instance_id)
            if known is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if known != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def has_all_members_joined(self) -> bool:
        return all(m.is_awaiting_join for m in self.members.values()) and not self.pending_members

    def not_yet_rejoined(self) -> list[Member]:
        return [m for m in self.members.values() if not m.is_awaiting_join]

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep a leader that rejoined, else pick a member that did; False if none rejoined."""
        leader = self.members.get(self.leader_id or "")
        if leader is not None and leader.is_awaiting_join:
            return True
        for member in self.members.values():
            if member.is_awaiting_join:
                self.leader_id = member.member_id
                return True
        return False

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # ---- protocols --------------------------------------------------------------------------------------

    def candidate_protocols(self) -> list[str]:
        """Protocols every member supports, in the first member's order of preference."""
        members = list(self.members.values())
        if not members:
            return []
        common = set(members[0].protocol_names())
        for member in members[1:]:
            common &= set(member.protocol_names())
        return [name for name in members[0].protocol_names() if name in common]

    def supports_protocols(self, protocol_type: str, protocols: list[str]) -> bool:
        if not self.members:
            return bool(protocol_type) and bool(protocols)
        if self.protocol_type != protocol_type:
            return False
        common = set(self.candidate_protocols())
        return any(name in common for name in protocols)

    def select_protocol(self) -> str:
        """Each member votes for its most preferred candidate; the most votes wins (ties: first member's order)."""
        candidates = self.candidate_protocols()
        if not candidates:
            raise ValueError(f"group {self.group_id} has no protocol all members support")
        votes = dict.fromkeys(candidates, 0)
        for member in self.members.values():
            choice = next(name for name in member.protocol_names() if name in votes)
            votes[choice] += 1
        return max(candidates, key=lambda name: (votes[name], -candidates.index(name)))

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to, for the consumer protocol; None when not known."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            try:
                parsed = parse_subscription_topics(member.metadata(self.protocol_name))
            except (KeyError, ValueError):
                return None
            topics.update(parsed)
        return topics

    def is_subscribed_to(self, topic: str) -> bool:
        topics = self.subscribed_topics()
        return True if topics is None else topic in topics

    # ---- records ----------------------------------------------------------------------------------------

    def to_record(self) -> GroupRecord:
        protocol = self.protocol_name
        members = tuple(
            MemberRecord(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.metadata(protocol) if protocol is not None and protocol in m.protocol_names() else b"",
                m.assignment,
            )
            for m in self.members.values()
        )
        return GroupRecord(
            self.protocol_type or "",
            self.generation_id,
            protocol,
            self.leader_id,
            self.current_state_timestamp,
            members,
        )

    def summary_state(self) -> str:
        return self.state.value


def parse_subscription_topics(data: bytes) -> list[str]:
    """Topics of a ConsumerProtocolSubscription (any version: int16 version, then [topic string])."""
    view = memoryview(data)
    if len(view) < 6:
        raise ValueError("subscription too short")
    (count,) = _I32.unpack_from(view, 2)
    if count < 0 or count > len(view):
        raise ValueError("bad topic count")
    pos = 6
    topics = []
    for _ in range(count):
        if pos + 2 > len(view):
            raise ValueError("truncated subscription")
        (size,) = _I16.unpack_from(view, pos)
        pos += 2
        if size < 0 or pos + size > len(view):
            raise ValueError("bad topic name length")
        topics.append(bytes(view[pos : pos + size]).decode("utf-8", errors="replace"))
        pos += size
    return topics
