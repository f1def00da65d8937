"""Classic members inside a consumer group (KIP-848 online migration): the JoinGroup, SyncGroup, Heartbeat and
LeaveGroup of a member still speaking the classic protocol, answered by the consumer group (Kafka's
GroupMetadataManager.classicGroupJoinToConsumerGroup, classicGroupSyncToConsumerGroup,
classicGroupHeartbeatToConsumerGroup and classicGroupLeaveToConsumerGroup).

A classic member is a consumer group member with ClassicMemberMetadata (its session timeout and its JoinGroup
protocols); the server-side assignor decides its partitions, as everybody's. Its generation is its member epoch.
- JoinGroup is answered at once, with no rebalance barrier: the subscription (topics, owned partitions, rack) is
  read from the embedded ConsumerProtocolSubscription of the first protocol; the member is updated and reconciled
  as a heartbeat would do (`ConsumerGroupManager.update_and_reconcile`, one append); the answer's generation is
  its member epoch, the protocol its first one, and the leader nobody: every classic member is a follower and
  sends an empty SyncGroup. A v4+ JoinGroup without a member id gets MEMBER_ID_REQUIRED with a new id (KIP-394).
- SyncGroup returns its assigned partitions (not those pending revocation) as a ConsumerProtocolAssignment of
  the version of its subscription; REBALANCE_IN_PROGRESS if the group epoch moved past its epoch since its join
  (unless it is revoking: then it finishes that first).
- Heartbeat answers REBALANCE_IN_PROGRESS when the member must rejoin: the group epoch moved past its epoch, it
  owes a revocation, or partitions it waits for have been released.
- LeaveGroup fences the members named (which may downgrade the group: `ConsumerGroupManager.fence`).

Timers (the shard's CoordinatorTimer): `("cg-join", group, member)` the member's rebalance timeout from the first
REBALANCE_IN_PROGRESS until its JoinGroup; `("cg-sync", group, member)` its rebalance timeout from its JoinGroup
answer until its SyncGroup; either expiring fences it. Its session timer is the manager's `("cg-session", ...)`,
with its own session timeout, restarted by its JoinGroup, SyncGroup and Heartbeat.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from odradek.broker.coordinator.runtime import Record
from odradek.broker.group.api import JoinRequest, JoinResult, LeaveMember, SyncResult, group_write_error
from odradek.broker.group.classic_group import CONSUMER_PROTOCOL_TYPE
from odradek.broker.group.consumer_group import (
    Assignment,
    ClassicMemberMetadata,
    ConsumerGroup,
    ConsumerGroupMember,
    MemberState,
    normalize,
)
from odradek.broker.group.consumer_group_conversion import embedded_version, encode_assignment
from odradek.broker.protocol.errors import ErrorCode, ProtocolError
from odradek.broker.protocol.messages import consumer_protocol_subscription
from odradek.broker.protocol.primitives import Reader

if TYPE_CHECKING:
    from odradek.broker.group.consumer_group_manager import ConsumerGroupManager

log = logging.getLogger("odradek.broker.group")


class _Refused(Exception):
    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


def decode_subscription(metadata: bytes) -> consumer_protocol_subscription.ConsumerProtocolSubscription:
    """An embedded ConsumerProtocolSubscription (the int16 version first; versions above the highest known are
    read as it, as Kafka's ConsumerProtocol does); ProtocolError when malformed."""
    r = Reader(metadata)
    version = r.int16()
    if version < 0:
        raise ProtocolError(f"ConsumerProtocolSubscription version {version}")
    return consumer_protocol_subscription.decode(r, min(version, consumer_protocol_subscription.MAX_VERSION))


def owned_assignment(
    owned: list[consumer_protocol_subscription.TopicPartition], topics: Mapping[str, tuple[str, int]]
) -> dict[str, frozenset[int]]:
    """The owned partitions a subscription reports, by topic id (topics the cluster does not have are dropped)."""
    out: dict[str, set[int]] = {}
    for tp in owned:
        meta = topics.get(tp.topic)
        if meta is not None:
            out.setdefault(meta[0], set()).update(tp.partitions)
    return normalize(out)


class ClassicMemberRequests:
    """The classic protocol's requests for the consumer groups of one shard (module doc)."""

    def __init__(self, manager: ConsumerGroupManager) -> None:
        self.manager = manager
        self.timer = manager.timer

    # ==== JoinGroup ============================================================================================

    async def join(self, request: JoinRequest) -> JoinResult:
        group = self.manager.groups[request.group_id]
        records: list[Record] = []
        try:
            result = self._join(group, request, records)
        except _Refused as exc:
            result = JoinResult(exc.error, request.member_id)
        if result.error is ErrorCode.NONE and self.manager.groups.get(group.group_id) is group:
            member_id = result.member_id
            self.timer.cancel(("cg-join", group.group_id, member_id))
            self.manager.schedule_session(group, member_id)
            self._schedule(group, "cg-sync", member_id, request.rebalance_timeout_ms, "did not send SyncGroup in time")
        if records:
            error, _ = await self.manager.context.append(records)
            if error is not ErrorCode.NONE:
                return JoinResult(group_write_error(error), result.member_id)
        return result

    def _join(self, group: ConsumerGroup, request: JoinRequest, records: list[Record]) -> JoinResult:
        config = self.manager.config
        if not config.min_session_timeout_ms <= request.session_timeout_ms <= config.max_session_timeout_ms:
            raise _Refused(ErrorCode.INVALID_SESSION_TIMEOUT)
        member_id = request.member_id or str(uuid.uuid4())
        if member_id not in group.members and len(group.members) >= config.consumer_max_size:
            raise _Refused(ErrorCode.GROUP_MAX_SIZE_REACHED)
        if not self._supports(group, member_id, request):
            raise _Refused(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if not request.member_id and request.group_instance_id is None and request.require_known_member_id:
            log.info("a classic member joins consumer group %s: new member id %s", group.group_id, member_id)
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id)
        try:
            subscription = decode_subscription(request.protocols[0][1])
        except ProtocolError:
            # Kafka: "Malformed embedded consumer protocol in subscription deserialization." (an IllegalState)
            raise _Refused(ErrorCode.UNKNOWN_SERVER_ERROR) from None
        member, is_new = self._member_for_join(group, request, member_id, records)
        updated = member.with_changes(
            instance_id=request.group_instance_id or member.instance_id,
            rack_id=subscription.rack_id or member.rack_id,
            rebalance_timeout_ms=request.rebalance_timeout_ms
            if request.rebalance_timeout_ms != -1
            else member.rebalance_timeout_ms,
            subscribed_topic_names=tuple(sorted(set(subscription.topics))),
            subscribed_topic_regex=None,
            client_id=request.client_id,
            client_host=request.client_host,
            classic_member_metadata=ClassicMemberMetadata(
                request.session_timeout_ms, tuple((name, bytes(data)) for name, data in request.protocols)
            ),
        )
        owned = owned_assignment(subscription.owned_partitions, self.manager.topics())
        _, reconciled = self.manager.update_and_reconcile(group, member, updated, is_new, owned, records)
        log.info(
            "classic member %s of consumer group %s joined at epoch %d (%s)",
            reconciled.member_id,
            group.group_id,
            reconciled.member_epoch,
            reconciled.state.label,
        )
        return JoinResult(
            ErrorCode.NONE,
            reconciled.member_id,
            reconciled.member_epoch,
            CONSUMER_PROTOCOL_TYPE,
            request.protocols[0][0],
            leader="",
        )

    @staticmethod
    def _supports(group: ConsumerGroup, member_id: str, request: JoinRequest) -> bool:
        """Kafka's ConsumerGroup.supportsClassicProtocols: the consumer protocol type, and a protocol every other
        classic member supports too."""
        if request.protocol_type != CONSUMER_PROTOCOL_TYPE or not request.protocols:
            return False
        names = set(request.protocol_names())
        for other in group.members.values():
            if other.member_id != member_id and other.classic_member_metadata is not None:
                names &= {name for name, _ in other.classic_member_metadata.supported_protocols}
        return bool(names)

    def _member_for_join(
        self, group: ConsumerGroup, request: JoinRequest, member_id: str, records: list[Record]
    ) -> tuple[ConsumerGroupMember, bool]:
        """(the member, whether it is new). A static member rejoining with no member id takes its predecessor's
        place (a classic static member does not announce its restart); another member id is FENCED_INSTANCE_ID."""
        instance_id = request.group_instance_id
        if instance_id is None:
            member = group.members.get(member_id)
            return (ConsumerGroupMember(member_id), True) if member is None else (member, False)
        old = group.static_member(instance_id)
        if old is None:
            return ConsumerGroupMember(member_id, instance_id=instance_id), True
        if old.member_id == member_id:
            return old, False
        if request.member_id:
            raise _Refused(ErrorCode.FENCED_INSTANCE_ID)
        return self.manager.replace_static_member(group, old, member_id, records), False

    # ==== SyncGroup, Heartbeat =================================================================================

    def sync(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
    ) -> SyncResult:
        group = self.manager.groups[group_id]
        try:
            member = self._validate(group, member_id, instance_id, generation_id)
            assert member.classic_member_metadata is not None
            protocol, metadata = member.classic_member_metadata.supported_protocols[0]
            if (protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE) or (
                protocol_name is not None and protocol_name != protocol
            ):
                raise _Refused(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
            if group.group_epoch > member.member_epoch and member.state is not MemberState.UNREVOKED_PARTITIONS:
                self._rejoin(group, member)
        except _Refused as exc:
            return SyncResult(exc.error)
        self.timer.cancel(("cg-sync", group_id, member_id))
        self.manager.schedule_session(group, member_id)
        assignment = encode_assignment(member.assigned, self.manager.topics(), embedded_version(metadata))
        return SyncResult(ErrorCode.NONE, CONSUMER_PROTOCOL_TYPE, protocol, assignment)

    def heartbeat(self, group_id: str, member_id: str, instance_id: str | None, generation_id: int) -> ErrorCode:
        group = self.manager.groups[group_id]
        try:
            member = self._validate(group, member_id, instance_id, generation_id)
            self.manager.schedule_session(group, member_id)
            if (
                member.member_epoch < group.group_epoch
                or member.state is MemberState.UNREVOKED_PARTITIONS
                or (member.state is MemberState.UNRELEASED_PARTITIONS and not _waits_on_unreleased(group, member))
            ):
                self._rejoin(group, member)
        except _Refused as exc:
            return exc.error
        return ErrorCode.NONE

    def _rejoin(self, group: ConsumerGroup, member: ConsumerGroupMember) -> None:
        """Tell the member to rejoin (REBALANCE_IN_PROGRESS); it has its rebalance timeout to do so."""
        key = ("cg-join", group.group_id, member.member_id)
        if not self.timer.is_scheduled(key):
            self._schedule(group, "cg-join", member.member_id, member.rebalance_timeout_ms, "did not rejoin in time")
        raise _Refused(ErrorCode.REBALANCE_IN_PROGRESS)

    @staticmethod
    def _validate(
        group: ConsumerGroup, member_id: str, instance_id: str | None, generation_id: int
    ) -> ConsumerGroupMember:
        """Kafka's validateConsumerGroupMember, throwIfMemberDoesNotUseClassicProtocol and
        throwIfGenerationIdUnmatched."""
        member = group.members.get(member_id) if instance_id is None else group.static_member(instance_id)
        if member is None:
            raise _Refused(ErrorCode.UNKNOWN_MEMBER_ID)
        if member.member_id != member_id:
            raise _Refused(ErrorCode.FENCED_INSTANCE_ID)
        if not member.uses_classic_protocol:
            raise _Refused(ErrorCode.UNKNOWN_MEMBER_ID)
        if generation_id != member.member_epoch:
            raise _Refused(ErrorCode.ILLEGAL_GENERATION)
        return member

    # ==== LeaveGroup ===========================================================================================

    def leave(self, group_id: str, leaving: list[LeaveMember]) -> tuple[ErrorCode, list[ErrorCode]]:
        group = self.manager.groups[group_id]
        errors: list[ErrorCode] = []
        fenced: list[str] = []
        for item in leaving:
            try:
                member_id = self._leaving_member(group, item).member_id
            except _Refused as exc:
                errors.append(exc.error)
                continue
            errors.append(ErrorCode.NONE)
            if member_id not in fenced:
                log.info("classic member %s is leaving consumer group %s", member_id, group_id)
                fenced.append(member_id)
        if fenced:
            records: list[Record] = []
            self.manager.fence(group, fenced, records)
            self.manager.context.append_in_background(records, f"members {fenced} leaving group {group_id}")
        return ErrorCode.NONE, errors

    @staticmethod
    def _leaving_member(group: ConsumerGroup, item: LeaveMember) -> ConsumerGroupMember:
        if item.group_instance_id is None:
            member = group.members.get(item.member_id)
        else:
            member = group.static_member(item.group_instance_id)
            # an admin removal (kafka-consumer-groups --delete --members) names the instance only
            if member is not None and item.member_id not in ("", member.member_id):
                raise _Refused(ErrorCode.FENCED_INSTANCE_ID)
        if member is None or not member.uses_classic_protocol:
            raise _Refused(ErrorCode.UNKNOWN_MEMBER_ID)
        return member

    # ==== timers ===============================================================================================

    def _schedule(self, group: ConsumerGroup, kind: str, member_id: str, timeout_ms: int, why: str) -> None:
        timeout = timeout_ms if timeout_ms > 0 else 300_000
        key = (kind, group.group_id, member_id)
        self.timer.schedule(key, timeout, self.manager.expire_member, group, member_id, why)


def _waits_on_unreleased(group: ConsumerGroup, member: ConsumerGroupMember) -> bool:
    """Kafka's ConsumerGroup.waitingOnUnreleasedPartition: a partition of the member's target that it does not
    have is still held by another member."""
    target: Assignment = group.target.get(member.member_id, {})
    for topic, parts in target.items():
        have = member.assigned.get(topic, frozenset())
        for p in parts - have:
            holder = group.owner.get((topic, p))
            if holder is not None and holder != member.member_id:
                return True
    return False
