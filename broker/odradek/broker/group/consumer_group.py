"""A KIP-848 consumer group (Kafka's modern ConsumerGroup, ConsumerGroupMember and CurrentAssignmentBuilder).

Epochs (all only move forward):
- the group epoch is bumped whenever the group's membership, a member's subscription or the metadata of a
  subscribed topic (its partition count, a topic appearing) changes;
- the target assignment epoch is the group epoch the target assignment (the assignor's answer) was computed at;
- a member's epoch is the target assignment epoch it reconciled to. A member must revoke the partitions its target
  no longer holds before its epoch moves (it keeps its epoch while it owes revocations); it gets a partition only
  once no other member holds it (partition epochs below), so no partition is ever owned by two members at once.

An assignment maps a topic id (the uuid string of the metadata image) to its partitions. Values here are frozen;
the coordinator (`consumer_group_manager.py`) replaces members, never mutates them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from odradek.broker.protocol.errors import ErrorCode

Assignment = Mapping[str, frozenset[int]]
"""topic id -> partitions (empty sets are never stored)."""

EMPTY_ASSIGNMENT: Assignment = {}

# Member epochs with a meaning in ConsumerGroupHeartbeat (Kafka's ConsumerGroupHeartbeatRequest constants).
JOIN_GROUP_MEMBER_EPOCH = 0
LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2


def normalize(assignment: Mapping[str, Iterable[int]]) -> dict[str, frozenset[int]]:
    """The assignment with empty topics dropped and partitions frozen."""
    return {topic: frozenset(parts) for topic, parts in assignment.items() if parts}


def union(a: Assignment, b: Assignment) -> dict[str, frozenset[int]]:
    return normalize({t: a.get(t, frozenset()) | b.get(t, frozenset()) for t in a.keys() | b.keys()})


def partition_count(assignment: Assignment) -> int:
    return sum(len(parts) for parts in assignment.values())


class MemberState(enum.Enum):
    """Kafka's MemberState, with the byte stored in ConsumerGroupCurrentMemberAssignmentValue.State."""

    STABLE = 0
    UNRELEASED_PARTITIONS = 1
    UNREVOKED_PARTITIONS = 2
    UNKNOWN = 127

    @property
    def label(self) -> str:
        return self.name.lower()


class ConsumerGroupState(enum.Enum):
    """What DescribeGroups / ListGroups / ConsumerGroupDescribe call the group (Kafka's ConsumerGroupState)."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class ClassicMemberMetadata:
    """What a member still speaking the classic protocol inside a consumer group keeps of its JoinGroup (the
    ClassicMemberMetadata tag of ConsumerGroupMemberMetadataValue): its session timeout and its supported
    protocols, (assignor name, embedded ConsumerProtocol subscription bytes) in the member's order."""

    session_timeout_ms: int
    supported_protocols: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupMember:
    """A member as persisted: metadata (ConsumerGroupMemberMetadataValue) and its current assignment
    (ConsumerGroupCurrentMemberAssignmentValue). `assigned` and `pending_revocation` are disjoint."""

    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    # None for a member speaking the consumer protocol; set for a classic member of a converted group
    classic_member_metadata: ClassicMemberMetadata | None = None

    @property
    def uses_classic_protocol(self) -> bool:
        return self.classic_member_metadata is not None

    def owned(self) -> dict[str, frozenset[int]]:
        """Every partition the member may still hold: assigned plus pending revocation."""
        return union(self.assigned, self.pending_revocation)

    def with_changes(self, **changes: object) -> ConsumerGroupMember:
        return replace(self, **changes)  # type: ignore[arg-type]


# ==== reconciliation: Kafka's CurrentAssignmentBuilder as a table =============================================
#
# For each state: when the member's assignment is recomputed against the target (None: never, the member is
# fenced). The recomputation's outcome (`_next_assignment`) is one of the states below, with the epoch rule of the
# second table.

RECOMPUTE_WHEN: Mapping[MemberState, str | None] = {
    # a new target assignment epoch was reached
    MemberState.STABLE: "target_epoch_changed",
    # the member reported that it no longer owns any partition pending revocation
    MemberState.UNREVOKED_PARTITIONS: "revocation_acknowledged",
    # every heartbeat: partitions it waits for may have been released by their owners, or the target moved
    MemberState.UNRELEASED_PARTITIONS: "always",
    MemberState.UNKNOWN: None,
}

# outcome state -> whether the member's epoch moves to the target assignment epoch
EPOCH_MOVES_TO_TARGET: Mapping[MemberState, bool] = {
    MemberState.STABLE: True,
    MemberState.UNRELEASED_PARTITIONS: True,
    MemberState.UNREVOKED_PARTITIONS: False,  # revoke first: the epoch stays until the revocation is acknowledged
}

# (from, to) pairs the builder may produce; anything else is a bug.
TRANSITIONS: frozenset[tuple[MemberState, MemberState]] = frozenset(
    (a, b)
    for a in (MemberState.STABLE, MemberState.UNREVOKED_PARTITIONS, MemberState.UNRELEASED_PARTITIONS)
    for b in (MemberState.STABLE, MemberState.UNREVOKED_PARTITIONS, MemberState.UNRELEASED_PARTITIONS)
)


class FencedMemberError(Exception):
    def __init__(self, error: ErrorCode = ErrorCode.FENCED_MEMBER_EPOCH) -> None:
        super().__init__(error.name)
        self.error = error


def _owns_any(owned: Assignment | None, partitions: Assignment) -> bool:
    """Whether the member (by what it reported owning; None: not reported, assume it still owns everything)
    still holds one of `partitions`."""
    if owned is None:
        return bool(partitions)
    return any(owned.get(topic, frozenset()) & parts for topic, parts in partitions.items())


def reconcile(
    member: ConsumerGroupMember,
    target_epoch: int,
    target: Assignment,
    owner_epoch: Mapping[tuple[str, int], int],
    owned: Assignment | None,
) -> ConsumerGroupMember:
    """The member after this heartbeat (Kafka's CurrentAssignmentBuilder.build).

    `owner_epoch` maps every partition held by any member to that member's epoch; `owned` is what the member's
    heartbeat reported holding (None when it did not report). Raises FencedMemberError for a member in UNKNOWN."""
    trigger = RECOMPUTE_WHEN[member.state]
    if trigger is None:
        raise FencedMemberError()
    if trigger == "target_epoch_changed" and member.member_epoch == target_epoch:
        return member
    if trigger == "revocation_acknowledged" and _owns_any(owned, member.pending_revocation):
        return member
    updated = _next_assignment(member, target_epoch, target, owner_epoch, owned)
    assert (member.state, updated.state) in TRANSITIONS
    assert updated.member_epoch >= member.member_epoch, "member epochs only move forward"
    return updated


def _next_assignment(
    member: ConsumerGroupMember,
    target_epoch: int,
    target: Assignment,
    owner_epoch: Mapping[tuple[str, int], int],
    owned: Assignment | None,
) -> ConsumerGroupMember:
    keep: dict[str, frozenset[int]] = {}
    revoke: dict[str, frozenset[int]] = {}
    assign: dict[str, frozenset[int]] = {}
    unreleased = False
    current = member.assigned
    for topic in target.keys() | current.keys():
        wanted = target.get(topic, frozenset())
        have = current.get(topic, frozenset())
        keep[topic] = have & wanted
        revoke[topic] = have - wanted
        free = frozenset(p for p in wanted - have if (topic, p) not in owner_epoch)
        if len(free) < len(wanted - have):
            unreleased = True  # another member (or this one, pending revocation) still holds some of them
        assign[topic] = free
    keep, revoke, assign = normalize(keep), normalize(revoke), normalize(assign)
    if revoke and _owns_any(owned, revoke):
        state = MemberState.UNREVOKED_PARTITIONS
        return member.with_changes(state=state, assigned=keep, pending_revocation=revoke)
    state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
    assert EPOCH_MOVES_TO_TARGET[state]
    return member.with_changes(
        state=state,
        member_epoch=target_epoch,
        previous_member_epoch=member.member_epoch,
        assigned=union(keep, assign),
        pending_revocation={},
    )


@dataclass(slots=True, eq=False)
class ConsumerGroup:
    """A consumer group's state. `owner_epoch` is derived (rebuilt from the members on load): every partition held
    by a member (assigned or pending revocation) with that member's epoch; a partition appears at most once."""

    group_id: str
    group_epoch: int = 0
    target_assignment_epoch: int = 0
    members: dict[str, ConsumerGroupMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    owner_epoch: dict[tuple[str, int], int] = field(default_factory=dict)
    owner: dict[tuple[str, int], str] = field(default_factory=dict)
    # topic name -> (topic id, partitions) of the subscribed topics, at the last group epoch
    subscription_metadata: dict[str, tuple[str, int]] = field(default_factory=dict)
    dead: bool = False

    @property
    def state(self) -> ConsumerGroupState:
        if self.dead:
            return ConsumerGroupState.DEAD
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch != self.target_assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        for member in self.members.values():
            if member.member_epoch != self.target_assignment_epoch or member.state is not MemberState.STABLE:
                return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def static_member(self, instance_id: str) -> ConsumerGroupMember | None:
        for member in self.members.values():
            if member.instance_id == instance_id:
                return member
        return None

    def update_member(self, member: ConsumerGroupMember) -> None:
        """Put `member` in place of the member with its id, keeping `owner_epoch` in step."""
        old = self.members.get(member.member_id)
        if old is not None:
            self._release(old)
        self.members[member.member_id] = member
        for topic, parts in member.owned().items():
            for p in parts:
                holder = self.owner.get((topic, p))
                assert holder is None, f"partition {topic}-{p} held by {holder} and {member.member_id}"
                self.owner[(topic, p)] = member.member_id
                self.owner_epoch[(topic, p)] = member.member_epoch

    def remove_member(self, member_id: str) -> ConsumerGroupMember | None:
        member = self.members.pop(member_id, None)
        if member is not None:
            self._release(member)
        self.target.pop(member_id, None)
        return member

    def _release(self, member: ConsumerGroupMember) -> None:
        for topic, parts in member.owned().items():
            for p in parts:
                if self.owner.get((topic, p)) == member.member_id:
                    del self.owner[(topic, p)]
                    del self.owner_epoch[(topic, p)]

    def rebuild_owners(self) -> None:
        self.owner.clear()
        self.owner_epoch.clear()
        for member in list(self.members.values()):
            del self.members[member.member_id]
            self.update_member(member)

    def subscribed_topic_names(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed_topic_names}

    def preferred_assignor(self, default: str) -> str:
        """The server assignor most members asked for (ties: the first by name); `default` when none did."""
        votes: dict[str, int] = {}
        for m in self.members.values():
            if m.server_assignor:
                votes[m.server_assignor] = votes.get(m.server_assignor, 0) + 1
        if not votes:
            return default
        return sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
