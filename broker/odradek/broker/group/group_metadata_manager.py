"""GroupMetadataManager: the classic groups of one __consumer_offsets partition (Kafka's GroupMetadataManager).

Semantics follow Apache Kafka's classic group protocol:
- JoinGroup: a new dynamic member at v4+ first gets MEMBER_ID_REQUIRED with its id (KIP-394) and joins again with
  it; members join a rebalance, which completes when every member rejoined or the rebalance timeout (the longest
  `max.poll.interval.ms` of the members) passed, members that did not rejoin being removed. The first rebalance
  of an empty group waits `group.initial.rebalance.delay.ms` (extended while new members keep arriving, up to the
  rebalance timeout). The leader gets every member's metadata for the protocol the members voted for.
- SyncGroup: the leader's assignment is persisted, then every member gets its own; a member that does not send
  SyncGroup within the rebalance timeout is removed and the group rebalances again.
- Heartbeat: keeps the session alive; answers REBALANCE_IN_PROGRESS while the group rebalances. A member silent
  for its session timeout is removed, except while its JoinGroup or SyncGroup is parked (a rebalance waits for
  it: the rebalance timeout decides). A new member cannot heartbeat before its first join completes and its
  socket is muted while the join is parked, so its first JoinGroup gets `new_member_join_timeout_ms` (Kafka's
  classic-group new-member join timeout, a fixed 5 minutes) instead of its session timeout; only then is a new
  member with a parked join removed (it is expected to retry if still there). Kafka's `hasSatisfiedHeartbeat`.
- Static members (`group.instance.id`, KIP-345) keep their place across restarts: rejoining with a new member id
  while the group is Stable needs no rebalance unless the protocol would change; the old id is fenced
  (FENCED_INSTANCE_ID).

State changes go through the event table of `group/state.py`. Timers live in the partition's CoordinatorTimer
under the keys below, so a resignation cancels all of them:
`("join", group)` join phase (and initial delay), `("sync", group)` sync phase,
`("heartbeat", group, member)` session, `("pending", group, member)` KIP-394 pending member.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from odradek.broker.coordinator.runtime import ShardContext
from odradek.broker.group.api import (
    GroupDescription,
    GroupListing,
    JoinMember,
    JoinRequest,
    JoinResult,
    LeaveMember,
    MemberDescription,
    SyncResult,
    group_write_error,
)
from odradek.broker.group.classic_group import ClassicGroup, Member
from odradek.broker.group.config import GroupConfig
from odradek.broker.group.offsets_topic import GroupKey, GroupRecord, encode_group_key, encode_group_value
from odradek.broker.group.state import GroupEvent, GroupState
from odradek.broker.protocol.errors import ErrorCode

log = logging.getLogger("odradek.broker.group")

S = GroupState
Ev = GroupEvent


class GroupMetadataManager:
    def __init__(self, context: ShardContext, config: GroupConfig) -> None:
        self.context = context
        self.config = config
        self.timer = context.timer
        self.groups: dict[str, ClassicGroup] = {}

    def now_ms(self) -> int:
        return self.context.time.wall_ms()

    def get_or_create(self, group_id: str) -> ClassicGroup:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ClassicGroup(group_id, self.context.partition)
        return group

    # ==== loading ==============================================================================================

    def replay_group(self, group_id: str, record: GroupRecord | None) -> None:
        """Apply a group record read from the log (None: a tombstone). At load (worker thread, before publication)
        every record comes here; while serving only tombstones do (written by DeleteGroups and retention, then
        replayed): the group is removed (Dead, its waiters answered, its timers cancelled: at load it has none)."""
        if record is None:
            group = self.groups.get(group_id)
            if group is not None:
                self.remove_group(group)
            return
        group = ClassicGroup(group_id, self.context.partition)
        group.generation_id = record.generation
        group.protocol_type = record.protocol_type or None
        group.protocol_name = record.protocol
        group.current_state_timestamp = record.current_state_timestamp
        for m in record.members:
            protocols = [(record.protocol, m.subscription)] if record.protocol is not None else []
            group.add(
                Member(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.rebalance_timeout,
                    m.session_timeout,
                    record.protocol_type,
                    protocols,
                    m.assignment,
                    is_new=False,
                )
            )
        group.leader_id = record.leader if record.leader in group.members else next(iter(group.members), None)
        # A loaded group with members is Stable (Kafka's loading does the same): not a transition of the table.
        group.state = S.STABLE if group.members else S.EMPTY
        self.groups[group_id] = group

    def on_loaded(self) -> None:
        for group in self.groups.values():
            for member in group.members.values():
                self._heartbeat(group, member)

    def on_unloaded(self) -> None:
        for group in list(self.groups.values()):
            self.unload(group, ErrorCode.NOT_COORDINATOR)

    def unload(self, group: ClassicGroup, error: ErrorCode) -> None:
        """Forget `group`: answer its waiters with `error`, cancel its timers."""
        for member in group.members.values():
            self._cancel_heartbeat(group, member.member_id)
            if member.is_awaiting_join:
                assert member.join_future is not None
                member.join_future.set_result(JoinResult(error, member.member_id))
            if member.is_awaiting_sync:
                assert member.sync_future is not None
                member.sync_future.set_result(SyncResult(error))
        for member_id in group.pending_members:
            self.timer.cancel(("pending", group.group_id, member_id))
        self._cancel_group_timers(group)
        self.groups.pop(group.group_id, None)

    def adopt(self, group: ClassicGroup, reason: str) -> None:
        """A classic group made from a consumer group (the online downgrade, Kafka's convertToClassicGroup) takes
        its id: its members get session timers and it rebalances, so that they rejoin and their leader assigns."""
        self.groups[group.group_id] = group
        for member in group.members.values():
            self._heartbeat(group, member)
        self._prepare_rebalance(group, reason)

    # ==== JoinGroup ============================================================================================

    async def join_group(self, request: JoinRequest) -> JoinResult:
        member_id = request.member_id
        timeout = request.session_timeout_ms
        if not self.config.min_session_timeout_ms <= timeout <= self.config.max_session_timeout_ms:
            return JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT, member_id)
        if member_id == "":
            return await self._join_unknown_member(self.get_or_create(request.group_id), request)
        group = self.groups.get(request.group_id)
        if group is None:
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        return await self._join_known_member(group, request)

    async def _join_unknown_member(self, group: ClassicGroup, request: JoinRequest) -> JoinResult:
        if group.is_in(S.DEAD):
            return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        instance_id = request.group_instance_id
        existing_id = group.static_member_id(instance_id)
        if existing_id is None and len(group.members) + len(group.pending_members) >= self.config.max_size:
            return JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED)
        if not group.supports_protocols(request.protocol_type, request.protocol_names()):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        new_member_id = f"{request.client_id}-{uuid.uuid4()}"
        if instance_id is not None and existing_id is not None:
            return await self._replace_static_member(group, request, existing_id, new_member_id)
        if instance_id is None and request.require_known_member_id:
            # KIP-394: remember the id and ask the client to join again with it.
            group.pending_members.add(new_member_id)
            self.timer.schedule(
                ("pending", group.group_id, new_member_id),
                request.session_timeout_ms,
                self._expire_pending_member,
                group,
                new_member_id,
            )
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, new_member_id)
        return await self._add_member_and_rebalance(group, request, new_member_id)

    async def _join_known_member(self, group: ClassicGroup, request: JoinRequest) -> JoinResult:
        member_id = request.member_id
        if group.is_in(S.DEAD):
            return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id)
        if not group.supports_protocols(request.protocol_type, request.protocol_names()):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
        if member_id in group.pending_members:
            group.pending_members.discard(member_id)
            self.timer.cancel(("pending", group.group_id, member_id))
            return await self._add_member_and_rebalance(group, request, member_id)
        error = group.validate_member(member_id, request.group_instance_id)
        if error is not ErrorCode.NONE:
            return JoinResult(error, member_id)
        member = group.members[member_id]
        if group.is_in(S.PREPARING_REBALANCE):
            return await self._update_member_and_rebalance(group, member, request)
        if group.is_in(S.COMPLETING_REBALANCE, S.STABLE):
            # In Stable the leader rejoining or a changed subscription starts a rebalance; a member that only
            # missed its join response (a retry) gets the current generation.
            leader_rejoins = group.is_in(S.STABLE) and group.leader_id == member_id
            if leader_rejoins or not member.matches(request.protocols):
                return await self._update_member_and_rebalance(group, member, request)
            self._heartbeat(group, member)
            return self._current_join_result(group, member)
        return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)

    def _current_join_result(self, group: ClassicGroup, member: Member) -> JoinResult:
        is_leader = group.leader_id == member.member_id
        return JoinResult(
            ErrorCode.NONE,
            member.member_id,
            group.generation_id,
            group.protocol_type,
            group.protocol_name,
            group.leader_id or "",
            members=self._member_list(group) if is_leader else [],
        )

    @staticmethod
    def _member_list(group: ClassicGroup) -> list[JoinMember]:
        protocol = group.protocol_name or ""
        return [
            JoinMember(m.member_id, m.group_instance_id, m.metadata(protocol))
            for m in group.members.values()
            if protocol in m.protocol_names()
        ]

    async def _add_member_and_rebalance(self, group: ClassicGroup, request: JoinRequest, member_id: str) -> JoinResult:
        member = Member(
            member_id,
            request.group_instance_id,
            request.client_id,
            request.client_host,
            request.rebalance_timeout_ms,
            request.session_timeout_ms,
            request.protocol_type,
            request.protocols,
        )
        future: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        member.join_future = future
        # Arriving during the initial rebalance extends its delay (Kafka: PreparingRebalance after Empty).
        if group.is_in(S.PREPARING_REBALANCE) and group.in_initial_delay:
            group.new_member_added = True
        group.add(member)
        # The session timeout does not apply to a new member: it has no generation to heartbeat with, and its
        # socket is muted while the join is parked, so the initial delay (extended by every arrival) could
        # outlast it (issue 15). Its join gets the new-member join timeout; a client still there retries.
        self._heartbeat(group, member, self.config.new_member_join_timeout_ms)
        self._maybe_prepare_rebalance(group, f"adding new member {member_id}")
        self._maybe_complete_join(group)
        return await future

    async def _update_member_and_rebalance(
        self, group: ClassicGroup, member: Member, request: JoinRequest
    ) -> JoinResult:
        member.protocols = request.protocols
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        if member.is_awaiting_join:
            assert member.join_future is not None
            member.join_future.set_result(JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))
        future: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        member.join_future = future
        # The session timer is left as it is (Kafka's updateMember): a parked join satisfies it, and a new member
        # joining again keeps its new-member join timeout.
        self._maybe_prepare_rebalance(group, f"updating metadata of member {member.member_id}")
        self._maybe_complete_join(group)
        return await future

    async def _replace_static_member(
        self, group: ClassicGroup, request: JoinRequest, old_member_id: str, new_member_id: str
    ) -> JoinResult:
        instance_id = request.group_instance_id
        assert instance_id is not None
        old = group.members[old_member_id]
        if old.is_awaiting_join:
            assert old.join_future is not None
            old.join_future.set_result(JoinResult(ErrorCode.FENCED_INSTANCE_ID, old_member_id))
        if old.is_awaiting_sync:
            assert old.sync_future is not None
            old.sync_future.set_result(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        old_protocols = old.protocols
        current_leader = group.leader_id
        self._cancel_heartbeat(group, old_member_id)  # session timers are keyed by member id
        member = group.replace_static_member(instance_id, old_member_id, new_member_id)
        self._heartbeat(group, member)
        if not group.is_in(S.STABLE):
            return await self._update_member_and_rebalance(group, member, request)
        member.protocols = request.protocols
        if not (group.protocol_name and group.candidate_protocols() and group.select_protocol() == group.protocol_name):
            return await self._update_member_and_rebalance(group, member, request)
        # Stable and the protocol stays: persist the new member id, no rebalance.
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        self._heartbeat(group, member)
        error, _ = await self.store_group(group)
        if error is not ErrorCode.NONE:
            # Undo, as Kafka does, so the old id keeps working.
            member.protocols = old_protocols
            self._cancel_heartbeat(group, new_member_id)
            group.replace_static_member(instance_id, new_member_id, old_member_id)
            if group.members.get(old_member_id) is member:
                self._heartbeat(group, member)
            return JoinResult(error)
        # A rejoining static leader must not run the assignment again: v9+ says so with skip_assignment;
        # older versions get the leader's previous member id, so the client does not see itself as leader.
        skip = group.leader_id == new_member_id and request.supports_skip_assignment
        return JoinResult(
            ErrorCode.NONE,
            new_member_id,
            group.generation_id,
            group.protocol_type,
            group.protocol_name,
            new_member_id if skip else (current_leader or ""),
            skip_assignment=skip,
            members=self._member_list(group) if skip else [],
        )

    def _expire_pending_member(self, group: ClassicGroup, member_id: str) -> None:
        if member_id in group.pending_members:
            group.pending_members.discard(member_id)
            self._maybe_complete_join(group)

    # ==== rebalance ============================================================================================

    def _maybe_prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.can_handle(Ev.REBALANCE_STARTED):
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.is_in(S.COMPLETING_REBALANCE):
            self._reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._cancel_group_timers(group)
        group.pending_sync.clear()
        initial = group.is_in(S.EMPTY)
        log.info(
            "preparing to rebalance group %s in state %s with old generation %d (reason: %s)",
            group.group_id,
            group.state.value,
            group.generation_id,
            reason,
        )
        group.handle(Ev.REBALANCE_STARTED, self.now_ms())
        rebalance_timeout = group.rebalance_timeout_ms()
        if initial:
            delay = self.config.initial_rebalance_delay_ms
            group.new_member_added = False
            group.in_initial_delay = True
            self.timer.schedule(
                ("join", group.group_id), delay, self._initial_join_expired, group, max(rebalance_timeout - delay, 0)
            )
        else:
            self.timer.schedule(("join", group.group_id), rebalance_timeout, self._join_expired, group)
            self._maybe_complete_join(group)

    def _initial_join_expired(self, group: ClassicGroup, remaining_ms: int) -> None:
        if group.new_member_added and remaining_ms > 0:
            group.new_member_added = False
            delay = min(self.config.initial_rebalance_delay_ms, remaining_ms)
            self.timer.schedule(
                ("join", group.group_id), delay, self._initial_join_expired, group, max(remaining_ms - delay, 0)
            )
            return
        group.in_initial_delay = False
        self._complete_join(group)

    def _join_expired(self, group: ClassicGroup) -> None:
        self._complete_join(group)

    def _maybe_complete_join(self, group: ClassicGroup) -> None:
        """Complete a rebalance as soon as every member rejoined (not during the initial delay)."""
        if group.is_in(S.PREPARING_REBALANCE) and not group.in_initial_delay and group.has_all_members_joined():
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        if not group.is_in(S.PREPARING_REBALANCE):
            return
        self.timer.cancel(("join", group.group_id))
        group.in_initial_delay = False
        for member in group.not_yet_rejoined():
            if not member.is_static:
                log.info("member %s of group %s did not rejoin in time; removing it", member.member_id, group.group_id)
                self._cancel_heartbeat(group, member.member_id)
                group.remove(member.member_id)
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Only static members that have not rejoined remain: wait for them (or their session timeout).
            self.timer.schedule(
                ("join", group.group_id), max(group.rebalance_timeout_ms(), 1), self._join_expired, group
            )
            return
        group.generation_id += 1
        now = self.now_ms()
        if not group.members:
            group.protocol_name = None
            group.handle(Ev.JOIN_COMPLETED_EMPTY, now)
            log.info("group %s is empty at generation %d", group.group_id, group.generation_id)
            # The record is taken now: by the time the write runs, the group may have members again.
            record = group.to_record()
            self.context.append_in_background(
                [(encode_group_key(GroupKey(group.group_id)), encode_group_value(record))],
                f"storing group {group.group_id}",
            )
            return
        group.protocol_name = group.select_protocol()
        group.handle(Ev.JOIN_COMPLETED, now)
        log.info(
            "stabilized group %s generation %d (%d members, protocol %s)",
            group.group_id,
            group.generation_id,
            len(group.members),
            group.protocol_name,
        )
        all_members = self._member_list(group)
        for member in group.members.values():
            if member.is_awaiting_join:
                assert member.join_future is not None
                is_leader = member.member_id == group.leader_id
                member.join_future.set_result(
                    JoinResult(
                        ErrorCode.NONE,
                        member.member_id,
                        group.generation_id,
                        group.protocol_type,
                        group.protocol_name,
                        group.leader_id or "",
                        members=all_members if is_leader else [],
                    )
                )
                member.join_future = None
                group.pending_sync.add(member.member_id)
            member.is_new = False
            self._heartbeat(group, member)
        self.timer.schedule(
            ("sync", group.group_id),
            max(group.rebalance_timeout_ms(), 1),
            self._sync_expired,
            group,
            group.generation_id,
        )

    def _sync_expired(self, group: ClassicGroup, generation: int) -> None:
        if generation != group.generation_id or not group.pending_sync:
            return
        if not group.is_in(S.COMPLETING_REBALANCE, S.STABLE):
            return
        missing = sorted(group.pending_sync)
        log.info("members %s of group %s did not send SyncGroup in time; removing them", missing, group.group_id)
        for member_id in missing:
            if group.remove(member_id) is not None:
                self._cancel_heartbeat(group, member_id)
        group.pending_sync.clear()
        self._prepare_rebalance(group, f"members {missing} failed to sync")

    @staticmethod
    def _reset_and_propagate_assignment_error(group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
            if member.is_awaiting_sync:
                assert member.sync_future is not None
                member.sync_future.set_result(SyncResult(error))
            member.sync_future = None

    def _cancel_group_timers(self, group: ClassicGroup) -> None:
        group.in_initial_delay = False
        self.timer.cancel(("join", group.group_id))
        self.timer.cancel(("sync", group.group_id))

    # ==== sessions =============================================================================================

    def _heartbeat(self, group: ClassicGroup, member: Member, timeout_ms: int | None = None) -> None:
        """(Re)start the member's session timer: its session timeout unless `timeout_ms` is given."""
        self.timer.schedule(
            ("heartbeat", group.group_id, member.member_id),
            member.session_timeout_ms if timeout_ms is None else timeout_ms,
            self._session_expired,
            group,
            member,
        )

    def _cancel_heartbeat(self, group: ClassicGroup, member_id: str) -> None:
        self.timer.cancel(("heartbeat", group.group_id, member_id))

    def _session_expired(self, group: ClassicGroup, member: Member) -> None:
        if group.members.get(member.member_id) is not member:
            return
        if member.has_satisfied_heartbeat:
            # A rebalance is waiting for it; the rebalance (or sync) timeout decides. Re-armed so that every member
            # keeps a live session timer; completing the join or the sync restarts it anyway.
            self._heartbeat(group, member)
            return
        if member.is_new:
            log.info(
                "new member %s of group %s did not complete its first join within %d ms; removing it",
                member.member_id,
                group.group_id,
                self.config.new_member_join_timeout_ms,
            )
        else:
            log.info("member %s of group %s failed its session timeout; removing it", member.member_id, group.group_id)
        self._remove_member_and_update_group(group, member, ErrorCode.UNKNOWN_MEMBER_ID)

    def _remove_member_and_update_group(self, group: ClassicGroup, member: Member, error: ErrorCode) -> None:
        self._cancel_heartbeat(group, member.member_id)
        if member.is_awaiting_join:
            assert member.join_future is not None
            member.join_future.set_result(JoinResult(error, member.member_id))
        if member.is_awaiting_sync:
            assert member.sync_future is not None
            member.sync_future.set_result(SyncResult(error))
        group.remove(member.member_id)
        if group.is_in(S.PREPARING_REBALANCE):
            self._maybe_complete_join(group)
        else:
            self._maybe_prepare_rebalance(group, f"removing member {member.member_id}")

    # ==== SyncGroup ============================================================================================

    async def sync_group(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: list[tuple[str, bytes]],
    ) -> SyncResult:
        group = self.groups.get(group_id)
        if group is None:
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_in(S.DEAD):
            return SyncResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        error = group.validate_member(member_id, group_instance_id)
        if error is not ErrorCode.NONE:
            return SyncResult(error)
        member = group.members[member_id]
        if generation_id != group.generation_id:
            return SyncResult(ErrorCode.ILLEGAL_GENERATION)
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
            protocol_name is not None and protocol_name != group.protocol_name
        ):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if group.is_in(S.EMPTY):
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_in(S.PREPARING_REBALANCE):
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        group.pending_sync.discard(member_id)
        self._heartbeat(group, member)
        if group.is_in(S.STABLE):
            return SyncResult(ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment)
        # CompletingRebalance: wait for the leader's assignment.
        if member.is_awaiting_sync:
            assert member.sync_future is not None
            member.sync_future.set_result(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        member.sync_future = future
        if member_id == group.leader_id:
            await self._store_assignment(group, dict(assignments))
        return await future

    async def _store_assignment(self, group: ClassicGroup, given: dict[str, bytes]) -> None:
        generation = group.generation_id
        for m in group.members.values():
            m.assignment = bytes(given.get(m.member_id, b""))
        error, _ = await self.store_group(group)
        if not (group.is_in(S.COMPLETING_REBALANCE) and group.generation_id == generation):
            return  # the group moved on while the write waited
        if error is not ErrorCode.NONE:
            self._reset_and_propagate_assignment_error(group, group_write_error(error))
            self._maybe_prepare_rebalance(group, f"error {error.name} storing the assignment")
            return
        self._propagate_assignment(group)
        group.handle(Ev.ASSIGNMENT_STORED, self.now_ms())

    def _propagate_assignment(self, group: ClassicGroup) -> None:
        for member in group.members.values():
            if member.is_awaiting_sync:
                assert member.sync_future is not None
                member.sync_future.set_result(
                    SyncResult(ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment)
                )
                member.sync_future = None
            self._heartbeat(group, member)

    # ==== Heartbeat, LeaveGroup ================================================================================

    def heartbeat(self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int) -> ErrorCode:
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(S.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error is not ErrorCode.NONE or group.is_in(S.EMPTY):
            return error if error is not ErrorCode.NONE else ErrorCode.UNKNOWN_MEMBER_ID
        member = group.members[member_id]
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        self._heartbeat(group, member)
        if group.is_in(S.PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def touch(self, group: ClassicGroup, member_id: str) -> None:
        """An offset commit from a member counts as a heartbeat."""
        member = group.members.get(member_id)
        if member is not None:
            self._heartbeat(group, member)

    def leave_group(self, group_id: str, leaving: list[LeaveMember]) -> tuple[ErrorCode, list[ErrorCode]]:
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(leaving)
        return ErrorCode.NONE, [self._leave(group, item) for item in leaving]

    def _leave(self, group: ClassicGroup, item: LeaveMember) -> ErrorCode:
        member_id = item.member_id
        if item.group_instance_id is not None:
            known = group.static_member_id(item.group_instance_id)
            if known is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if item.member_id not in ("", known):
                return ErrorCode.FENCED_INSTANCE_ID
            member_id = known
        if member_id in group.pending_members:
            group.pending_members.discard(member_id)
            self.timer.cancel(("pending", group.group_id, member_id))
            self._maybe_complete_join(group)
            return ErrorCode.NONE
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        log.info("member %s is leaving group %s", member_id, group.group_id)
        self._remove_member_and_update_group(group, member, ErrorCode.UNKNOWN_MEMBER_ID)
        return ErrorCode.NONE

    # ==== admin ================================================================================================

    def describe_group(self, group_id: str) -> GroupDescription:
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return GroupDescription(group_id, ErrorCode.GROUP_ID_NOT_FOUND, S.DEAD.value, "", "", [])
        stable = group.is_in(S.STABLE)
        protocol = group.protocol_name or ""
        members = [
            MemberDescription(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.metadata(protocol) if stable and protocol in m.protocol_names() else b"",
                m.assignment if stable else b"",
            )
            for m in group.members.values()
        ]
        return GroupDescription(
            group_id, ErrorCode.NONE, group.state.value, group.protocol_type or "", protocol if stable else "", members
        )

    def list_groups(self, states: set[GroupState] | None) -> list[GroupListing]:
        return [
            GroupListing(g.group_id, g.protocol_type or "", g.state.value)
            for g in self.groups.values()
            if not g.is_in(S.DEAD) and (not states or g.state in states)
        ]

    def remove_group(self, group: ClassicGroup) -> None:
        """The group's tombstone is written (deleted or expired): it is Dead and forgotten."""
        if self.groups.get(group.group_id) is group:
            group.handle(Ev.GROUP_REMOVED, self.now_ms())
            self.unload(group, ErrorCode.COORDINATOR_NOT_AVAILABLE)

    # ==== persistence ==========================================================================================

    async def store_group(self, group: ClassicGroup) -> tuple[ErrorCode, int]:
        return await self._store_record(group.group_id, group.to_record())

    async def _store_record(self, group_id: str, record: GroupRecord) -> tuple[ErrorCode, int]:
        return await self.context.append([(encode_group_key(GroupKey(group_id)), encode_group_value(record))])
