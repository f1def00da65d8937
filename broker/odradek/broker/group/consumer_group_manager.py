"""ConsumerGroupManager: the KIP-848 consumer groups of one __consumer_offsets partition (Kafka's
GroupMetadataManager.consumerGroupHeartbeat and its helpers).

A heartbeat is answered at once (no long-poll): validated, applied to the group in memory, its records
(`consumer_group_records.py`) appended to the partition, then answered. Steps, as Kafka's:
1. member lookup: epoch 0 joins (or rejoins) and creates the group; a static member (instance id) rejoining after
   its epoch -2 leave takes its predecessor's place and assignment without a new group epoch; an epoch other than
   the member's (or its previous one, when the member reports owning only partitions it has) is
   FENCED_MEMBER_EPOCH; epoch -1 leaves, -2 leaves a static member's place open until its session ends;
2. the member's metadata (subscription names or regex, rack, rebalance timeout, server assignor) is updated; a new
   member, a changed subscription or a changed subscribed topic (partitions added, a topic created that a regex or
   a name matches) bumps the group epoch;
3. a group epoch above the target assignment epoch recomputes the target assignment with the group's assignor;
4. the member reconciles towards its target (`consumer_group.reconcile`): it keeps what stays its, revokes what
   no longer is before it gets anything new, and gets a partition only once no other member holds it.

Timers (on the shard's CoordinatorTimer): `("cg-session", group, member)` the session
(`group.consumer.session.timeout.ms`, or a classic member's own session timeout; restarted by every heartbeat; its
expiry removes the member), and `("cg-revoke", group, member)` the member's rebalance timeout while it owes a
revocation (expiry fences it); classic members also have `("cg-join", ...)` and `("cg-sync", ...)`
(`consumer_group_classic.py`).

Online migration (KIP-848; `group.consumer.migration.policy`, Kafka's validateOnlineUpgrade/-Downgrade):
- upgrade: a joining heartbeat (epoch 0) into a non-empty classic group converts it
  (`consumer_group_conversion.consumer_group_from_classic`) when the policy allows it, the group uses the consumer
  embedded protocol and fits `group.consumer.max.size`; the conversion's records and the heartbeat's go in one
  append; the classic members stay, as classic members (`consumer_group_classic.py` answers them);
- downgrade: a member fenced (leaving with epoch -1, expired, a classic LeaveGroup) that leaves only classic
  members turns the group back into a classic group (`classic_group_from_consumer`) when the policy allows it and
  the group fits `group.max.size`; the classic group then rebalances.

Regular expressions are Python's `re` (Kafka uses RE2J; the common syntax is the same), matched whole against the
names of non-internal topics.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from odradek.broker.coordinator.runtime import Record, ShardContext
from odradek.broker.group.api import GroupListing, group_write_error
from odradek.broker.group.assignors import ASSIGNORS, MemberSubscription
from odradek.broker.group.classic_group import CONSUMER_PROTOCOL_TYPE, ClassicGroup
from odradek.broker.group.config import GroupConfig
from odradek.broker.group.consumer_group import (
    JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    Assignment,
    ConsumerGroup,
    ConsumerGroupMember,
    ConsumerGroupState,
    FencedMemberError,
    MemberState,
    normalize,
    reconcile,
)
from odradek.broker.group.consumer_group_classic import ClassicMemberRequests
from odradek.broker.group.consumer_group_conversion import (
    ConversionError,
    classic_group_from_consumer,
    consumer_group_from_classic,
)
from odradek.broker.group.consumer_group_records import (
    CURRENT_MEMBER_ASSIGNMENT,
    MEMBER_METADATA,
    METADATA,
    TARGET_ASSIGNMENT_MEMBER,
    TARGET_ASSIGNMENT_METADATA,
    ConsumerGroupKey,
    decode_current_assignment,
    decode_epoch,
    decode_key,
    decode_member_metadata,
    decode_target_member,
    encode_current_assignment,
    encode_epoch,
    encode_key,
    encode_member_metadata,
    encode_target_member,
)
from odradek.broker.group.group_metadata_manager import GroupMetadataManager
from odradek.broker.group.offsets_topic import GroupKey, encode_group_key
from odradek.broker.protocol.errors import ErrorCode

log = logging.getLogger("odradek.broker.group")

TopicsView = Callable[[], Mapping[str, tuple[str, int]]]
"""The cluster's topics: name -> (topic id, partition count)."""


@dataclass(frozen=True, slots=True)
class ConsumerHeartbeat:
    """A ConsumerGroupHeartbeat request (None: "unchanged since the last heartbeat")."""

    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    owned: Assignment | None = None  # topic id -> partitions
    client_id: str = ""
    client_host: str = ""
    version: int = 1


@dataclass(slots=True)
class ConsumerHeartbeatResult:
    error: ErrorCode
    message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


@dataclass(slots=True)
class DescribedMember:
    member: ConsumerGroupMember
    target: Assignment


@dataclass(slots=True)
class ConsumerGroupDescription:
    group_id: str
    error: ErrorCode
    message: str | None = None
    state: str = ConsumerGroupState.DEAD.value
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor: str = ""
    members: list[DescribedMember] = field(default_factory=list)


class _Reject(Exception):
    def __init__(self, error: ErrorCode, message: str | None = None) -> None:
        super().__init__(error.name)
        self.error = error
        self.message = message


class ConsumerGroupManager:
    def __init__(
        self, context: ShardContext, config: GroupConfig, classic: GroupMetadataManager, topics: TopicsView
    ) -> None:
        self.context = context
        self.config = config
        self.classic = classic
        self.topics = topics
        self.timer = context.timer
        self.groups: dict[str, ConsumerGroup] = {}
        self.classic_members = ClassicMemberRequests(self)

    @property
    def default_assignor(self) -> str:
        return self.config.consumer_assignors[0]

    # ==== loading ==============================================================================================

    def replay(self, key: bytes | memoryview, value: bytes | memoryview | None) -> bool:
        """Apply a consumer group record (worker thread, before publication); False if `key` is not one."""
        decoded = decode_key(key)
        if decoded is None:
            return False
        self._replay(decoded, value)
        return True

    def _replay(self, key: ConsumerGroupKey, value: bytes | memoryview | None) -> None:
        t = key.record_type
        if t == METADATA:
            if value is None:
                self.groups.pop(key.group, None)
            else:
                self.groups.setdefault(key.group, ConsumerGroup(key.group)).group_epoch = decode_epoch(value)
            return
        group = self.groups.get(key.group)
        if group is None:
            if value is None:
                return
            group = self.groups[key.group] = ConsumerGroup(key.group)
        member_id = key.member or ""
        if t == TARGET_ASSIGNMENT_METADATA:
            group.target_assignment_epoch = 0 if value is None else decode_epoch(value)
        elif t == TARGET_ASSIGNMENT_MEMBER:
            if value is None:
                group.target.pop(member_id, None)
            else:
                group.target[member_id] = decode_target_member(value)
        elif t == MEMBER_METADATA:
            if value is None:
                group.members.pop(member_id, None)
            else:
                member = group.members.get(member_id) or ConsumerGroupMember(member_id)
                group.members[member_id] = decode_member_metadata(member, value)
        elif t == CURRENT_MEMBER_ASSIGNMENT and value is not None:
            member = group.members.get(member_id) or ConsumerGroupMember(member_id)
            group.members[member_id] = decode_current_assignment(member, value)
        # type 4 (partition metadata) and current-assignment tombstones need nothing here

    def on_loaded(self) -> None:
        topics = self.topics()
        for group in self.groups.values():
            group.rebuild_owners()
            group.subscription_metadata = self._subscription_metadata(group, topics)
            for member in group.members.values():
                self.schedule_session(group, member.member_id)

    def on_unloaded(self) -> None:
        self.groups.clear()

    # ==== ConsumerGroupHeartbeat ===============================================================================

    async def heartbeat(self, request: ConsumerHeartbeat) -> ConsumerHeartbeatResult:
        records: list[Record] = []
        try:
            self._validate(request)
            if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                result = self._leave(request, records)
            else:
                result = self._join_or_heartbeat(request, records)
        except _Reject as exc:
            result = ConsumerHeartbeatResult(exc.error, exc.message)
        except FencedMemberError as exc:
            result = ConsumerHeartbeatResult(exc.error)
        # Records of a refused heartbeat are what it changed before the refusal (an upgrade then a full group):
        # the state in memory has changed, so they are written all the same.
        if records:
            error, _ = await self.context.append(records)
            if error is not ErrorCode.NONE:
                return ConsumerHeartbeatResult(group_write_error(error))
        return result

    def _validate(self, request: ConsumerHeartbeat) -> None:
        """Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid: INVALID_REQUEST with the reason."""

        def bad(message: str) -> _Reject:
            return _Reject(ErrorCode.INVALID_REQUEST, message)

        if not request.group_id:
            raise bad("GroupId can't be empty.")
        if request.instance_id is not None and not request.instance_id:
            raise bad("InstanceId can't be empty.")
        if request.rack_id is not None and not request.rack_id:
            raise bad("RackId can't be empty.")
        epoch = request.member_epoch
        if epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise bad(f"MemberEpoch {epoch} is invalid.")
        if epoch != JOIN_GROUP_MEMBER_EPOCH and not request.member_id:
            raise bad("MemberId can't be empty.")
        if epoch == JOIN_GROUP_MEMBER_EPOCH:
            if request.rebalance_timeout_ms == -1:
                raise bad("RebalanceTimeoutMs must be provided in first request.")
            if request.owned:
                raise bad("TopicPartitions must be empty when (re-)joining.")
            if request.subscribed_topic_names is None and request.subscribed_topic_regex is None:
                raise bad("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
        if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH and request.instance_id is None:
            raise bad("InstanceId can't be null.")
        if request.server_assignor is not None and request.server_assignor not in self.config.consumer_assignors:
            raise _Reject(ErrorCode.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {request.server_assignor} is not supported.")
        if request.subscribed_topic_regex is not None:
            try:
                re.compile(request.subscribed_topic_regex)
            except re.error as exc:
                raise _Reject(ErrorCode.INVALID_REGULAR_EXPRESSION, str(exc)) from None

    def _group_for_join(self, group_id: str, records: list[Record]) -> ConsumerGroup:
        group = self.groups.get(group_id)
        if group is not None:
            return group
        classic = self.classic.groups.get(group_id)
        if classic is not None:
            if classic.members:
                return self._upgrade(classic, records)
            # An empty classic group becomes a consumer group (Kafka's upgrade of an empty group): its record
            # is replaced, its committed offsets stay; ids given out to pending members are forgotten.
            self.classic.unload(classic, ErrorCode.UNKNOWN_MEMBER_ID)
            records.append((encode_group_key(GroupKey(group_id)), None))
            log.info("classic group %s is empty: converted to a consumer group", group_id)
        group = self.groups[group_id] = ConsumerGroup(group_id)
        return group

    def _upgrade(self, classic: ClassicGroup, records: list[Record]) -> ConsumerGroup:
        """Kafka's convertToConsumerGroup: the classic group becomes a consumer group whose members are classic
        members; parked JoinGroup and SyncGroup requests are answered REBALANCE_IN_PROGRESS (they rejoin, now into
        the consumer group)."""
        refusal = self._online_upgrade_refusal(classic)
        if refusal is not None:
            raise _Reject(ErrorCode.GROUP_ID_NOT_FOUND, refusal)
        if len(classic.members) >= self.config.consumer_max_size:
            # the joining member would not fit: Kafka refuses it after the conversion and reverts the conversion
            raise _Reject(ErrorCode.GROUP_MAX_SIZE_REACHED, self._full_message())
        try:
            group, conversion = consumer_group_from_classic(classic, self.topics())
        except ConversionError as exc:
            prefix = f"Cannot upgrade classic group {classic.group_id} to consumer group because"
            raise _Reject(ErrorCode.GROUP_ID_NOT_FOUND, f"{prefix} {exc}.") from None
        self.classic.unload(classic, ErrorCode.REBALANCE_IN_PROGRESS)
        records += conversion
        self.groups[group.group_id] = group
        for member in group.members.values():
            self.schedule_session(group, member.member_id)
        log.info(
            "classic group %s (generation %d, %d members) converted to a consumer group",
            group.group_id,
            classic.generation_id,
            len(group.members),
        )
        return group

    def _full_message(self) -> str:
        return f"The consumer group has reached its maximum capacity of {self.config.consumer_max_size}."

    def _online_upgrade_refusal(self, classic: ClassicGroup) -> str | None:
        """Why a ConsumerGroupHeartbeat may not convert the non-empty classic group (None: it may): Kafka's
        validateOnlineUpgrade checks in its order (the policy, the embedded protocol, the size). Every refusal is
        GROUP_ID_NOT_FOUND, as Kafka's."""
        group_id = classic.group_id
        prefix = f"Cannot upgrade classic group {group_id} to consumer group because"
        if not self.config.consumer_migration_policy.upgrade_enabled:
            return f"{prefix} online upgrade is disabled."
        # (a group with pending members only has no protocol type yet)
        if classic.protocol_type is not None and classic.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return f"{prefix} the group does not use the consumer embedded protocol."
        if len(classic.members) > self.config.consumer_max_size:
            return f"{prefix} the group size exceeds the consumer group maximum size."
        return None

    def _join_or_heartbeat(self, request: ConsumerHeartbeat, records: list[Record]) -> ConsumerHeartbeatResult:
        epoch = request.member_epoch
        joining = epoch == JOIN_GROUP_MEMBER_EPOCH
        if joining:
            group = self._group_for_join(request.group_id, records)
        else:
            found = self.groups.get(request.group_id)
            if found is None:
                # Kafka's getOrMaybeCreateConsumerGroup(groupId, createIfNotExists=false)
                raise _Reject(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {request.group_id} not found.")
            group = found
        member_id = request.member_id or str(uuid.uuid4())
        member = group.members.get(member_id)
        owned = request.owned
        is_new = False
        if joining:
            owned = {}
            if request.instance_id is not None:
                member, is_new = self._static_join(group, request, member_id, records)
            elif member is None:
                if len(group.members) >= self.config.consumer_max_size:
                    raise _Reject(ErrorCode.GROUP_MAX_SIZE_REACHED, self._full_message())
                member = ConsumerGroupMember(member_id, instance_id=None)
                is_new = True
        else:
            if member is None:
                raise _Reject(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of the group.")
            if request.instance_id is not None and member.instance_id != request.instance_id:
                raise _Reject(ErrorCode.FENCED_INSTANCE_ID)
            self._check_epoch(member, epoch, owned)
        assert member is not None
        updated = member.with_changes(
            instance_id=request.instance_id if request.instance_id is not None else member.instance_id,
            rack_id=request.rack_id if request.rack_id is not None else member.rack_id,
            client_id=request.client_id,
            client_host=request.client_host,
            subscribed_topic_names=tuple(sorted(request.subscribed_topic_names))
            if request.subscribed_topic_names is not None
            else member.subscribed_topic_names,
            subscribed_topic_regex=(request.subscribed_topic_regex or None)
            if request.subscribed_topic_regex is not None
            else member.subscribed_topic_regex,
            rebalance_timeout_ms=request.rebalance_timeout_ms
            if request.rebalance_timeout_ms != -1
            else member.rebalance_timeout_ms,
            server_assignor=request.server_assignor if request.server_assignor is not None else member.server_assignor,
        )
        previous, reconciled = self.update_and_reconcile(group, member, updated, is_new, owned, records)
        self.schedule_session(group, member_id)
        self._schedule_revocation(group, reconciled, changed=reconciled is not previous)
        send_assignment = (
            joining
            or reconciled.assigned != member.assigned
            or (request.owned is not None and normalize(request.owned) != reconciled.assigned)
        )
        return ConsumerHeartbeatResult(
            ErrorCode.NONE,
            member_id=member_id,
            member_epoch=reconciled.member_epoch,
            heartbeat_interval_ms=self.config.consumer_heartbeat_interval_ms,
            assignment=reconciled.assigned if send_assignment else None,
        )

    def update_and_reconcile(
        self,
        group: ConsumerGroup,
        member: ConsumerGroupMember,
        updated: ConsumerGroupMember,
        is_new: bool,
        owned: Assignment | None,
        records: list[Record],
    ) -> tuple[ConsumerGroupMember, ConsumerGroupMember]:
        """Steps 2-4 of a heartbeat (or of a classic member's JoinGroup): store the member's new metadata, bump
        the group epoch if its subscription (or a subscribed topic) changed, recompute the target if behind, and
        reconcile the member; (the member before reconciliation, after it)."""
        member_id = updated.member_id
        metadata_changed = is_new or _metadata(updated) != _metadata(member)
        subscription_changed = is_new or (
            updated.subscribed_topic_names != member.subscribed_topic_names
            or updated.subscribed_topic_regex != member.subscribed_topic_regex
            or updated.server_assignor != member.server_assignor
        )
        group.update_member(updated)
        if metadata_changed:
            records.append((encode_key(ConsumerGroupKey(MEMBER_METADATA, group.group_id, member_id)), _md(updated)))
        topics = self.topics()
        subscription_metadata = self._subscription_metadata(group, topics)
        if subscription_changed or subscription_metadata != group.subscription_metadata:
            group.subscription_metadata = subscription_metadata
            self._bump_group_epoch(group, records)
        if group.group_epoch > group.target_assignment_epoch:
            self._compute_target(group, topics, records)
        previous = group.members[member_id]
        reconciled = reconcile(
            previous, group.target_assignment_epoch, group.target.get(member_id, {}), group.owner_epoch, owned
        )
        if reconciled is not previous or is_new:
            group.update_member(reconciled)
            records.append(
                (
                    encode_key(ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, group.group_id, member_id)),
                    encode_current_assignment(reconciled),
                )
            )
        return previous, reconciled

    def _static_join(
        self, group: ConsumerGroup, request: ConsumerHeartbeat, member_id: str, records: list[Record]
    ) -> tuple[ConsumerGroupMember, bool]:
        """A static member joining (epoch 0): (member, is_new). Its predecessor must have left with epoch -2."""
        assert request.instance_id is not None
        old = group.static_member(request.instance_id)
        if old is None:
            if len(group.members) >= self.config.consumer_max_size:
                raise _Reject(ErrorCode.GROUP_MAX_SIZE_REACHED)
            return ConsumerGroupMember(member_id, instance_id=request.instance_id), True
        if old.member_id == member_id:
            return old, False
        if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise _Reject(
                ErrorCode.UNRELEASED_INSTANCE_ID,
                f"Static member {old.member_id} with instance id {request.instance_id} is not released yet.",
            )
        return self.replace_static_member(group, old, member_id, records), False

    def replace_static_member(
        self, group: ConsumerGroup, old: ConsumerGroupMember, member_id: str, records: list[Record]
    ) -> ConsumerGroupMember:
        """The member `member_id` takes the place of the static member `old`: its assignment and target, at epoch
        0, without a new group epoch."""
        target = group.target.get(old.member_id, {})
        self.remove_member_records(group, old.member_id, records)
        group.remove_member(old.member_id)
        self.cancel_member_timers(group.group_id, old.member_id)
        replacement = old.with_changes(member_id=member_id, member_epoch=0, previous_member_epoch=-1)
        group.update_member(replacement)
        group.target[member_id] = target
        records.append((encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_MEMBER, group.group_id, member_id)), _tg(target)))
        records.append((encode_key(ConsumerGroupKey(MEMBER_METADATA, group.group_id, member_id)), _md(replacement)))
        records.append(
            (
                encode_key(ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, group.group_id, member_id)),
                encode_current_assignment(replacement),
            )
        )
        log.info("static member %s of group %s replaced %s", member_id, group.group_id, old.member_id)
        return replacement

    @staticmethod
    def _check_epoch(member: ConsumerGroupMember, epoch: int, owned: Assignment | None) -> None:
        """Kafka's throwIfMemberEpochIsInvalid: the member's epoch, or its previous one when the response that
        moved it was lost and it owns nothing it was not given."""
        if epoch > member.member_epoch:
            raise FencedMemberError()
        if epoch < member.member_epoch:
            if epoch != member.previous_member_epoch or owned is None:
                raise FencedMemberError()
            for topic, parts in owned.items():
                if not parts <= member.assigned.get(topic, frozenset()):
                    raise FencedMemberError()

    def _leave(self, request: ConsumerHeartbeat, records: list[Record]) -> ConsumerHeartbeatResult:
        group = self.groups.get(request.group_id)
        if group is None:
            raise _Reject(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {request.group_id} not found.")
        member: ConsumerGroupMember | None
        if request.instance_id is not None:
            member = group.static_member(request.instance_id)
            if member is None:
                raise _Reject(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {request.instance_id} is unknown.")
            if member.member_id != request.member_id:
                raise _Reject(ErrorCode.FENCED_INSTANCE_ID)
        else:
            member = group.members.get(request.member_id)
            if member is None:
                raise _Reject(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {request.member_id} is not in the group.")
        if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            # The static member keeps its place and partitions until it rejoins or its session ends.
            left = member.with_changes(member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH)
            group.members[member.member_id] = left
            group.rebuild_owners()
            self.timer.cancel(("cg-revoke", group.group_id, member.member_id))
            records.append(
                (
                    encode_key(ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, group.group_id, member.member_id)),
                    encode_current_assignment(left),
                )
            )
            log.info("static member %s of group %s left temporarily", member.member_id, group.group_id)
        else:
            log.info("member %s is leaving group %s", member.member_id, group.group_id)
            self.fence(group, [member.member_id], records)
        return ConsumerHeartbeatResult(
            ErrorCode.NONE,
            member_id=member.member_id,
            member_epoch=request.member_epoch,
            heartbeat_interval_ms=0,
        )

    # ==== group changes ========================================================================================

    def fence(self, group: ConsumerGroup, member_ids: Sequence[str], records: list[Record]) -> None:
        """Kafka's consumerGroupFenceMember(s): the members leave; if only classic members remain and the policy
        allows a downgrade, the group becomes a classic group (which rebalances), else the members are removed."""
        if self._online_downgrade_allowed(group, frozenset(member_ids)):
            self._downgrade(group, frozenset(member_ids), records)
            return
        for member_id in member_ids:
            self._remove_member(group, member_id, records)

    def _online_downgrade_allowed(self, group: ConsumerGroup, leaving: frozenset[str]) -> bool:
        """Kafka's validateOnlineDowngradeWithFencedMembers, in its order."""
        remaining = [m for m in group.members.values() if m.member_id not in leaving]
        if not all(m.uses_classic_protocol for m in remaining):
            return False
        if not remaining:
            log.debug("skip downgrading consumer group %s to a classic group: it is empty", group.group_id)
            return False
        if not self.config.consumer_migration_policy.downgrade_enabled:
            log.info("cannot downgrade consumer group %s to a classic group: online downgrade disabled", group.group_id)
            return False
        if len(remaining) > self.config.max_size:
            log.info("cannot downgrade consumer group %s: larger than group.max.size", group.group_id)
            return False
        return True

    def _downgrade(self, group: ConsumerGroup, leaving: frozenset[str], records: list[Record]) -> None:
        """Kafka's convertToClassicGroup: the consumer group's records are replaced by the classic group's, the
        classic group takes the id and rebalances."""
        try:
            classic, conversion = classic_group_from_consumer(
                group, leaving, self.topics(), self.context.partition, self.context.time.wall_ms()
            )
        except ConversionError as exc:
            log.warning("cannot downgrade consumer group %s to a classic group: %s", group.group_id, exc)
            for member_id in leaving:
                self._remove_member(group, member_id, records)
            return
        for member_id in group.members:
            self.cancel_member_timers(group.group_id, member_id)
        group.dead = True
        del self.groups[group.group_id]
        records += conversion
        log.info(
            "consumer group %s converted to a classic group (generation %d, %d members)",
            group.group_id,
            classic.generation_id,
            len(classic.members),
        )
        self.classic.adopt(classic, f"downgrade of group {group.group_id} from consumer to classic")

    def cancel_member_timers(self, group_id: str, member_id: str) -> None:
        for kind in ("cg-session", "cg-revoke", "cg-join", "cg-sync"):
            self.timer.cancel((kind, group_id, member_id))

    def _remove_member(self, group: ConsumerGroup, member_id: str, records: list[Record]) -> None:
        """Remove the member, bump the group epoch and recompute the target (records appended)."""
        self.cancel_member_timers(group.group_id, member_id)
        self.remove_member_records(group, member_id, records)
        group.remove_member(member_id)
        topics = self.topics()
        group.subscription_metadata = self._subscription_metadata(group, topics)
        self._bump_group_epoch(group, records)
        self._compute_target(group, topics, records)

    @staticmethod
    def remove_member_records(group: ConsumerGroup, member_id: str, records: list[Record]) -> None:
        for record_type in (CURRENT_MEMBER_ASSIGNMENT, TARGET_ASSIGNMENT_MEMBER, MEMBER_METADATA):
            records.append((encode_key(ConsumerGroupKey(record_type, group.group_id, member_id)), None))

    @staticmethod
    def _bump_group_epoch(group: ConsumerGroup, records: list[Record]) -> None:
        group.group_epoch += 1
        records.append((encode_key(ConsumerGroupKey(METADATA, group.group_id)), encode_epoch(group.group_epoch)))

    def member_topic_ids(self, member: ConsumerGroupMember, topics: Mapping[str, tuple[str, int]]) -> set[str]:
        names = {n for n in member.subscribed_topic_names if n in topics}
        if member.subscribed_topic_regex:
            try:
                pattern = re.compile(member.subscribed_topic_regex)
            except re.error:
                pattern = None
            if pattern is not None:
                names |= {n for n in topics if not n.startswith("__") and pattern.fullmatch(n)}
        return {topics[n][0] for n in names}

    def _subscription_metadata(
        self, group: ConsumerGroup, topics: Mapping[str, tuple[str, int]]
    ) -> dict[str, tuple[str, int]]:
        ids = set()
        for member in group.members.values():
            ids |= self.member_topic_ids(member, topics)
        return {name: meta for name, meta in topics.items() if meta[0] in ids}

    def _compute_target(
        self, group: ConsumerGroup, topics: Mapping[str, tuple[str, int]], records: list[Record]
    ) -> None:
        assignor = ASSIGNORS[group.preferred_assignor(self.default_assignor)]
        subscriptions = [
            MemberSubscription(
                m.member_id, frozenset(self.member_topic_ids(m, topics)), group.target.get(m.member_id, {})
            )
            for m in group.members.values()
        ]
        counts = {topic_id: n for topic_id, n in group.subscription_metadata.values()}
        new_target = assignor(subscriptions, counts)
        for member_id, assignment in new_target.items():
            if group.target.get(member_id) != assignment:
                records.append(
                    (encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_MEMBER, group.group_id, member_id)), _tg(assignment))
                )
        group.target = dict(new_target)
        group.target_assignment_epoch = group.group_epoch
        records.append(
            (
                encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_METADATA, group.group_id)),
                encode_epoch(group.target_assignment_epoch),
            )
        )

    # ==== timers ===============================================================================================

    def schedule_session(self, group: ConsumerGroup, member_id: str) -> None:
        member = group.members.get(member_id)
        classic = None if member is None else member.classic_member_metadata
        self.timer.schedule(
            ("cg-session", group.group_id, member_id),
            self.config.consumer_session_timeout_ms if classic is None else classic.session_timeout_ms,
            self.expire_member,
            group,
            member_id,
            "failed its session timeout",
        )

    def _schedule_revocation(self, group: ConsumerGroup, member: ConsumerGroupMember, changed: bool) -> None:
        """Kafka's rebalance timeout: (re)started whenever the member's assignment changes while it owes a
        revocation, cancelled once it owes none."""
        key = ("cg-revoke", group.group_id, member.member_id)
        if member.state is not MemberState.UNREVOKED_PARTITIONS:
            self.timer.cancel(key)
        elif changed or not self.timer.is_scheduled(key):
            timeout = member.rebalance_timeout_ms if member.rebalance_timeout_ms > 0 else 300_000
            self.timer.schedule(key, timeout, self.expire_member, group, member.member_id, "did not revoke in time")

    def expire_member(self, group: ConsumerGroup, member_id: str, why: str) -> None:
        if self.groups.get(group.group_id) is not group or member_id not in group.members:
            return
        log.info("member %s of group %s %s; removing it", member_id, group.group_id, why)
        records: list[Record] = []
        self.fence(group, [member_id], records)
        # in the log before any record requested after it (a later heartbeat's epoch must not come first)
        self.context.append_in_background(records, f"removing member {member_id} of group {group.group_id}")

    # ==== OffsetCommit validation, admin =======================================================================

    def validate_commit(self, group_id: str, member_id: str, member_epoch: int, new_protocol: bool) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetCommit: a member at its current epoch (STALE_MEMBER_EPOCH from
        OffsetCommit v9, ILLEGAL_GENERATION before), or epoch -1 with no member id into an empty group."""
        group = self.groups[group_id]
        if member_epoch < 0 and not member_id and not group.members:
            return ErrorCode.NONE
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            # a classic member's generation is its member epoch: ILLEGAL_GENERATION, as Kafka answers it
            stale = new_protocol and not member.uses_classic_protocol
            return ErrorCode.STALE_MEMBER_EPOCH if stale else ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    def validate_fetch(self, group_id: str, member_id: str, member_epoch: int) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetFetch: the member must exist and be at its current epoch."""
        member = self.groups[group_id].members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return ErrorCode.NONE

    def describe(self, group_id: str) -> ConsumerGroupDescription:
        group = self.groups.get(group_id)
        if group is None:
            return ConsumerGroupDescription(
                group_id, ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group."
            )
        return ConsumerGroupDescription(
            group_id,
            ErrorCode.NONE,
            None,
            group.state.value,
            group.group_epoch,
            group.target_assignment_epoch,
            group.preferred_assignor(self.default_assignor),
            [DescribedMember(m, group.target.get(m.member_id, {})) for m in group.members.values()],
        )

    def list_groups(self, states: set[str] | None) -> list[GroupListing]:
        return [
            GroupListing(g.group_id, "consumer", g.state.value, group_type="consumer")
            for g in self.groups.values()
            if states is None or g.state.value.lower() in states
        ]

    async def delete_empty(self, group_id: str) -> ErrorCode:
        """Delete an empty group's records (DeleteGroups, or a classic JoinGroup taking the id over)."""
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        records: list[Record] = [
            (encode_key(ConsumerGroupKey(TARGET_ASSIGNMENT_METADATA, group_id)), None),
            (encode_key(ConsumerGroupKey(METADATA, group_id)), None),
        ]
        error, _ = await self.context.append(records)
        if error is not ErrorCode.NONE:
            return group_write_error(error)
        if self.groups.get(group_id) is group and not group.members:
            group.dead = True
            del self.groups[group_id]
        return ErrorCode.NONE


def _metadata(m: ConsumerGroupMember) -> tuple[object, ...]:
    return (
        m.instance_id,
        m.rack_id,
        m.client_id,
        m.client_host,
        m.subscribed_topic_names,
        m.subscribed_topic_regex,
        m.rebalance_timeout_ms,
        m.server_assignor,
        m.classic_member_metadata,
    )


def _md(m: ConsumerGroupMember) -> bytes:
    return encode_member_metadata(m)


def _tg(a: Assignment) -> bytes:
    return encode_target_member(a)
