"""GroupCoordinator: Kafka's classic group protocol and committed offsets, for the groups this broker coordinates.

A group lives in the `__consumer_offsets` partition `partition_for(group_id)`; the broker leading that partition
is the group's coordinator. The coordinator keeps every group of its partitions in memory, writes each change
(offset commits, group metadata after a rebalance, tombstones) to the partition through `CoordinatorLog`, and
rebuilds the groups from the partition in a worker thread when it becomes its leader (`on_elected`), so offsets
and group state survive restarts and SIGKILL.

Semantics follow Apache Kafka's classic GroupCoordinator:
- JoinGroup: a new dynamic member at v4+ first gets MEMBER_ID_REQUIRED with its id (KIP-394) and joins again with
  it; members join a rebalance, which completes when every member rejoined or the rebalance timeout (the longest
  `max.poll.interval.ms` of the members) passed, members that did not rejoin being removed. The first rebalance
  of an empty group waits `group.initial.rebalance.delay.ms` (extended while new members keep arriving, up to the
  rebalance timeout). The leader gets every member's metadata for the protocol the members voted for.
- SyncGroup: the leader's assignment is persisted, then every member gets its own; a member that does not send
  SyncGroup within the rebalance timeout is removed and the group rebalances again.
- Heartbeat: keeps the session alive; answers REBALANCE_IN_PROGRESS while the group rebalances. A member silent
  for its session timeout is removed.
- Static members (`group.instance.id`, KIP-345) keep their place across restarts: rejoining with a new member id
  while the group is Stable needs no rebalance unless the protocol would change; the old id is fenced
  (FENCED_INSTANCE_ID).
- Offsets: commits from members of the current generation (or with generation -1 into a group without members),
  OFFSET_METADATA_TOO_LARGE above `offset.metadata.max.bytes`; retention `offsets.retention.minutes` after the
  group became empty (after the commit for standalone consumers, or for topics a live group no longer reads).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from odradek.broker.group.classic_group import CONSUMER_PROTOCOL_TYPE, ClassicGroup, CommittedOffset, Member
from odradek.broker.group.offsets_topic import (
    GroupKey,
    GroupRecord,
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
    partition_for,
)
from odradek.broker.group.state import GroupState
from odradek.broker.metrics.consumer_lag import GroupOffsets
from odradek.broker.protocol.errors import ErrorCode

log = logging.getLogger("odradek.broker.group")

S = GroupState
Record = tuple[bytes, bytes | None]


class CoordinatorLog(Protocol):
    """The coordinator's view of __consumer_offsets (wired by app.py over the replica manager)."""

    async def append(self, partition: int, records: Sequence[Record]) -> tuple[ErrorCode, int]:
        """Append (key, value) records (value None = tombstone) and wait for the ISR; (error, last offset).

        The append itself happens before the first suspension, so appends keep the order of the calls."""
        ...

    def read(self, partition: int) -> Iterator[tuple[int, bytes | None, bytes | None]]:
        """(offset, key, value) of every record of the partition up to its high watermark."""
        ...


@dataclass(frozen=True, slots=True)
class GroupConfig:
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    max_size: int = 2**31 - 1
    offset_metadata_max_bytes: int = 4096
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000
    new_member_join_timeout_ms: int = 300_000


class CoordinatorError(Exception):
    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A JoinGroup as the coordinator sees it (v0's rebalance timeout is its session timeout)."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    require_known_member_id: bool = True
    supports_skip_assignment: bool = False

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]


@dataclass(slots=True)
class JoinMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(slots=True)
class JoinResult:
    error: ErrorCode
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: list[JoinMember] = field(default_factory=list)


@dataclass(slots=True)
class SyncResult:
    error: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(slots=True)
class LeaveMember:
    member_id: str
    group_instance_id: str | None


@dataclass(slots=True)
class MemberDescription:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(slots=True)
class GroupDescription:
    group_id: str
    error: ErrorCode
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberDescription]


@dataclass(slots=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: str


@dataclass(slots=True)
class OffsetCommitEntry:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    expire_timestamp: int = -1


_WRITE_ERRORS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.REQUEST_TIMED_OUT: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_COORDINATOR,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
}
_COMMIT_SIZE_ERRORS = {ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE}


def _commit_error(error: ErrorCode) -> ErrorCode:
    if error in _COMMIT_SIZE_ERRORS:
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE
    return _WRITE_ERRORS.get(error, ErrorCode.UNKNOWN_SERVER_ERROR)


def _group_write_error(error: ErrorCode) -> ErrorCode:
    if error in _COMMIT_SIZE_ERRORS:
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return _WRITE_ERRORS.get(error, ErrorCode.UNKNOWN_SERVER_ERROR)


class GroupCoordinator:
    def __init__(
        self,
        config: GroupConfig,
        storage: CoordinatorLog,
        num_partitions: Callable[[], int],
        now_ms: Callable[[], int],
    ) -> None:
        self.config = config
        self.storage = storage
        self.num_partitions = num_partitions
        self.now_ms = now_ms
        self.groups: dict[str, ClassicGroup] = {}
        self.loaded: set[int] = set()
        self.loading: set[int] = set()
        self._loads: dict[int, asyncio.Task[None]] = {}

    # ==== partitions ===========================================================================================

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.num_partitions())

    def _check_coordinator(self, group_id: str) -> int:
        """The group's partition, if this broker coordinates it; else NOT_COORDINATOR / LOAD_IN_PROGRESS."""
        n = self.num_partitions()
        if n <= 0:
            raise CoordinatorError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        partition = partition_for(group_id, n)
        if partition in self.loading:
            raise CoordinatorError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        if partition not in self.loaded:
            raise CoordinatorError(ErrorCode.NOT_COORDINATOR)
        return partition

    def is_coordinator_for(self, group_id: str) -> bool:
        n = self.num_partitions()
        return n > 0 and partition_for(group_id, n) in self.loaded | self.loading

    def on_elected(self, partition: int, leader_epoch: int) -> None:
        """This broker leads `partition` of __consumer_offsets: load its groups and offsets in the background.
        (`leader_epoch` is not used yet: the coordinator runtime will fence stale loads with it.)

        Until the load is done, requests for its groups get COORDINATOR_LOAD_IN_PROGRESS (clients retry)."""
        if partition in self.loaded or partition in self.loading:
            return
        self.loading.add(partition)
        self._loads[partition] = asyncio.get_running_loop().create_task(self._load(partition))

    def on_resigned(self, partition: int, leader_epoch: int | None) -> None:
        """Another broker leads `partition` now (or it is gone: `leader_epoch` None): forget its groups, fail
        their waiters. (`leader_epoch` is not used yet.)"""
        self.loaded.discard(partition)
        self.loading.discard(partition)
        task = self._loads.pop(partition, None)
        if task is not None:
            task.cancel()
        for group in [g for g in self.groups.values() if g.partition == partition]:
            self._unload(group, ErrorCode.NOT_COORDINATOR)

    async def wait_loaded(self) -> None:
        """Wait for the loads in progress (tests, and start-up if one wants every partition ready)."""
        await asyncio.gather(*self._loads.values(), return_exceptions=True)

    async def _load(self, partition: int) -> None:
        try:
            # Reading and decoding the partition is file I/O: a worker thread, not the event loop. Nothing
            # appends to the partition meanwhile: its groups answer COORDINATOR_LOAD_IN_PROGRESS.
            groups, offsets, count = await asyncio.to_thread(self._replay, partition)
        except Exception:
            log.exception("loading __consumer_offsets-%d failed", partition)
            self.loading.discard(partition)
            return
        finally:
            self._loads.pop(partition, None)
        if partition not in self.loading:
            return  # resigned while loading
        self.loading.discard(partition)
        for group_id, record in groups.items():
            self._restore_group(group_id, partition, record)
        for (group_id, topic, index), (value, position) in offsets.items():
            group = self.groups.get(group_id)
            if group is None:
                group = self.groups[group_id] = ClassicGroup(group_id, partition)
            group.offsets[(topic, index)] = CommittedOffset(value, position)
        self.loaded.add(partition)
        log.log(
            logging.INFO if count else logging.DEBUG,
            "loaded __consumer_offsets-%d: %d records, %d groups",
            partition,
            count,
            sum(1 for g in self.groups.values() if g.partition == partition),
        )

    def _replay(
        self, partition: int
    ) -> tuple[dict[str, GroupRecord], dict[tuple[str, str, int], tuple[OffsetAndMetadata, int]], int]:
        """The latest group record and offset commit per key in the partition (tombstones remove them)."""
        offsets: dict[tuple[str, str, int], tuple[OffsetAndMetadata, int]] = {}
        groups: dict[str, GroupRecord] = {}
        count = 0
        for position, key_bytes, value_bytes in self.storage.read(partition):
            if key_bytes is None:
                continue
            count += 1
            try:
                key = decode_key(key_bytes)
                if isinstance(key, OffsetKey):
                    okey = (key.group, key.topic, key.partition)
                    if value_bytes is None:
                        offsets.pop(okey, None)
                    else:
                        offsets[okey] = (decode_offset_value(value_bytes), position)
                elif isinstance(key, GroupKey):
                    if value_bytes is None:
                        groups.pop(key.group, None)
                    else:
                        groups[key.group] = decode_group_value(value_bytes)
            except OffsetsTopicFormatError as exc:
                log.warning(
                    "skipping unreadable record at offset %d of __consumer_offsets-%d: %s", position, partition, exc
                )
        return groups, offsets, count

    def _restore_group(self, group_id: str, partition: int, record: GroupRecord) -> None:
        group = ClassicGroup(group_id, partition)
        group.generation_id = record.generation
        group.protocol_type = record.protocol_type or None
        group.protocol_name = record.protocol
        group.current_state_timestamp = record.current_state_timestamp
        for m in record.members:
            protocols = [(record.protocol, m.subscription)] if record.protocol is not None else []
            member = Member(
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
            group.add(member)
        group.leader_id = record.leader if record.leader in group.members else next(iter(group.members), None)
        group.state = S.STABLE if group.members else S.EMPTY
        self.groups[group_id] = group
        for member in group.members.values():
            self._schedule_heartbeat(group, member)

    def _unload(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            self._cancel_heartbeat(member)
            if member.is_awaiting_join:
                assert member.join_future is not None
                member.join_future.set_result(JoinResult(error, member.member_id))
            if member.is_awaiting_sync:
                assert member.sync_future is not None
                member.sync_future.set_result(SyncResult(error))
        for timer in group.pending_members.values():
            if timer is not None:
                timer.cancel()
        self._cancel_group_timers(group)
        self.groups.pop(group.group_id, None)

    def close(self) -> None:
        for task in self._loads.values():
            task.cancel()
        self._loads.clear()
        self.loading.clear()
        for group in list(self.groups.values()):
            self._unload(group, ErrorCode.NOT_COORDINATOR)
        self.loaded.clear()

    # ==== JoinGroup ============================================================================================

    async def join_group(self, request: JoinRequest) -> JoinResult:
        member_id = request.member_id
        if not request.group_id:
            return JoinResult(ErrorCode.INVALID_GROUP_ID, member_id)
        try:
            partition = self._check_coordinator(request.group_id)
        except CoordinatorError as exc:
            return JoinResult(exc.error, member_id)
        timeout = request.session_timeout_ms
        if not self.config.min_session_timeout_ms <= timeout <= self.config.max_session_timeout_ms:
            return JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT, member_id)
        group = self.groups.get(request.group_id)
        if member_id == "":
            if group is None:
                group = self.groups[request.group_id] = ClassicGroup(request.group_id, partition)
            return await self._join_unknown_member(group, request)
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
            group.pending_members[new_member_id] = asyncio.get_running_loop().call_later(
                request.session_timeout_ms / 1000.0, self._expire_pending_member, group, new_member_id
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
            timer = group.pending_members.pop(member_id)
            if timer is not None:
                timer.cancel()
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

    def _member_list(self, group: ClassicGroup) -> list[JoinMember]:
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
        group.add(member)
        group.new_member_added = True
        # A new member's session starts with its join (Kafka: new.member.join.timeout while awaiting the join).
        self._schedule_heartbeat(group, member)
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
        self._heartbeat(group, member)
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
        member = group.replace_static_member(instance_id, old_member_id, new_member_id)
        if not group.is_in(S.STABLE):
            return await self._update_member_and_rebalance(group, member, request)
        member.protocols = request.protocols
        if not (group.protocol_name and group.candidate_protocols() and group.select_protocol() == group.protocol_name):
            return await self._update_member_and_rebalance(group, member, request)
        # Stable and the protocol stays: persist the new member id, no rebalance.
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        self._heartbeat(group, member)
        error, _ = await self._store_group(group)
        if error is not ErrorCode.NONE:
            # Undo, as Kafka does, so the old id keeps working.
            member.protocols = old_protocols
            group.replace_static_member(instance_id, new_member_id, old_member_id)
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
        if group.pending_members.pop(member_id, "absent") != "absent":
            self._maybe_complete_join(group)

    # ==== rebalance ============================================================================================

    def _maybe_prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.is_in(S.STABLE, S.COMPLETING_REBALANCE, S.EMPTY):
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
        group.transition_to(S.PREPARING_REBALANCE, self.now_ms())
        loop = asyncio.get_running_loop()
        rebalance_timeout = group.rebalance_timeout_ms()
        if initial:
            delay = min(self.config.initial_rebalance_delay_ms, rebalance_timeout)
            remaining = max(rebalance_timeout - delay, 0)
            group.new_member_added = False
            group.in_initial_delay = True
            group.join_timer = loop.call_later(delay / 1000.0, self._initial_join_expired, group, remaining)
        else:
            group.join_timer = loop.call_later(rebalance_timeout / 1000.0, self._join_expired, group)
            self._maybe_complete_join(group)

    def _initial_join_expired(self, group: ClassicGroup, remaining_ms: int) -> None:
        group.join_timer = None
        if group.new_member_added and remaining_ms > 0:
            group.new_member_added = False
            delay = min(self.config.initial_rebalance_delay_ms, remaining_ms)
            group.join_timer = asyncio.get_running_loop().call_later(
                delay / 1000.0, self._initial_join_expired, group, max(remaining_ms - delay, 0)
            )
            return
        group.in_initial_delay = False
        self._complete_join(group)

    def _join_expired(self, group: ClassicGroup) -> None:
        group.join_timer = None
        self._complete_join(group)

    def _maybe_complete_join(self, group: ClassicGroup) -> None:
        """Complete a rebalance as soon as every member rejoined (not during the initial delay)."""
        if group.is_in(S.PREPARING_REBALANCE) and not group.in_initial_delay and group.has_all_members_joined():
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        if not group.is_in(S.PREPARING_REBALANCE):
            return
        if group.join_timer is not None:
            group.join_timer.cancel()
            group.join_timer = None
        group.in_initial_delay = False
        for member in group.not_yet_rejoined():
            if not member.is_static:
                log.info("member %s of group %s did not rejoin in time; removing it", member.member_id, group.group_id)
                self._cancel_heartbeat(member)
                group.remove(member.member_id)
        for member_id, timer in list(group.pending_members.items()):
            if timer is None or timer.cancelled():
                group.pending_members.pop(member_id, None)
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Only static members that have not rejoined remain: wait for them (or their session timeout).
            group.join_timer = asyncio.get_running_loop().call_later(
                max(group.rebalance_timeout_ms(), 1) / 1000.0, self._join_expired, group
            )
            return
        group.generation_id += 1
        now = self.now_ms()
        if not group.members:
            group.protocol_name = None
            group.transition_to(S.EMPTY, now)
            log.info("group %s is empty at generation %d", group.group_id, group.generation_id)
            asyncio.get_running_loop().create_task(self._store_group_logged(group))
            return
        group.protocol_name = group.select_protocol()
        group.transition_to(S.COMPLETING_REBALANCE, now)
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
                member.is_new = False
                group.pending_sync.add(member.member_id)
            self._heartbeat(group, member)
        group.sync_timer = asyncio.get_running_loop().call_later(
            max(group.rebalance_timeout_ms(), 1) / 1000.0, self._sync_expired, group, group.generation_id
        )

    def _sync_expired(self, group: ClassicGroup, generation: int) -> None:
        group.sync_timer = None
        if generation != group.generation_id or not group.pending_sync:
            return
        if not group.is_in(S.COMPLETING_REBALANCE, S.STABLE):
            return
        missing = sorted(group.pending_sync)
        log.info("members %s of group %s did not send SyncGroup in time; removing them", missing, group.group_id)
        for member_id in missing:
            member = group.remove(member_id)
            if member is not None:
                self._cancel_heartbeat(member)
        group.pending_sync.clear()
        self._prepare_rebalance(group, f"members {missing} failed to sync")

    def _reset_and_propagate_assignment_error(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
            if member.is_awaiting_sync:
                assert member.sync_future is not None
                member.sync_future.set_result(SyncResult(error))
            member.sync_future = None

    def _cancel_group_timers(self, group: ClassicGroup) -> None:
        group.in_initial_delay = False
        for name in ("join_timer", "sync_timer"):
            timer = getattr(group, name)
            if timer is not None:
                timer.cancel()
                setattr(group, name, None)

    # ==== sessions =============================================================================================

    def _schedule_heartbeat(self, group: ClassicGroup, member: Member) -> None:
        self._cancel_heartbeat(member)
        member.heartbeat_timer = asyncio.get_running_loop().call_later(
            member.session_timeout_ms / 1000.0, self._session_expired, group, member
        )

    def _heartbeat(self, group: ClassicGroup, member: Member) -> None:
        self._schedule_heartbeat(group, member)

    @staticmethod
    def _cancel_heartbeat(member: Member) -> None:
        if member.heartbeat_timer is not None:
            member.heartbeat_timer.cancel()
            member.heartbeat_timer = None

    def _session_expired(self, group: ClassicGroup, member: Member) -> None:
        member.heartbeat_timer = None
        if group.members.get(member.member_id) is not member:
            return
        if member.is_awaiting_join and not member.is_new:
            # A rebalance is waiting for it; the rebalance timeout decides.
            self._schedule_heartbeat(group, member)
            return
        if member.is_awaiting_sync:
            self._schedule_heartbeat(group, member)
            return
        log.info("member %s of group %s failed its session timeout; removing it", member.member_id, group.group_id)
        self._remove_member_and_update_group(group, member, ErrorCode.UNKNOWN_MEMBER_ID)

    def _remove_member_and_update_group(self, group: ClassicGroup, member: Member, error: ErrorCode) -> None:
        self._cancel_heartbeat(member)
        if member.is_awaiting_join:
            assert member.join_future is not None
            member.join_future.set_result(JoinResult(error, member.member_id))
        if member.is_awaiting_sync:
            assert member.sync_future is not None
            member.sync_future.set_result(SyncResult(error))
        group.remove(member.member_id)
        if group.is_in(S.STABLE, S.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, f"removing member {member.member_id}")
        elif group.is_in(S.PREPARING_REBALANCE):
            self._maybe_complete_join(group)

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
        if not group_id:
            return SyncResult(ErrorCode.INVALID_GROUP_ID)
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return SyncResult(exc.error)
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
            given = dict(assignments)
            generation = group.generation_id
            for m in group.members.values():
                m.assignment = bytes(given.get(m.member_id, b""))
            error, _ = await self._store_group(group)
            if group.is_in(S.COMPLETING_REBALANCE) and group.generation_id == generation:
                if error is not ErrorCode.NONE:
                    self._reset_and_propagate_assignment_error(group, _group_write_error(error))
                    self._maybe_prepare_rebalance(group, f"error {error.name} storing the assignment")
                else:
                    self._propagate_assignment(group)
                    group.transition_to(S.STABLE, self.now_ms())
        return await future

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
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return exc.error
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

    def leave_group(self, group_id: str, leaving: list[LeaveMember]) -> tuple[ErrorCode, list[ErrorCode]]:
        """(group error, one error per leaving member)."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, [ErrorCode.INVALID_GROUP_ID] * len(leaving)
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return exc.error, [exc.error] * len(leaving)
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(leaving)
        errors = []
        for item in leaving:
            if item.group_instance_id is not None:
                known = group.static_member_id(item.group_instance_id)
                if known is None:
                    errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                    continue
                if item.member_id not in ("", known):
                    errors.append(ErrorCode.FENCED_INSTANCE_ID)
                    continue
                member_id = known
            else:
                member_id = item.member_id
            if member_id in group.pending_members:
                timer = group.pending_members.pop(member_id)
                if timer is not None:
                    timer.cancel()
                self._maybe_complete_join(group)
                errors.append(ErrorCode.NONE)
                continue
            member = group.members.get(member_id)
            if member is None:
                errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                continue
            log.info("member %s is leaving group %s", member_id, group_id)
            self._remove_member_and_update_group(group, member, ErrorCode.UNKNOWN_MEMBER_ID)
            errors.append(ErrorCode.NONE)
        return ErrorCode.NONE, errors

    # ==== offsets ==============================================================================================

    async def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        entries: list[OffsetCommitEntry],
        unknown_group_error: ErrorCode = ErrorCode.ILLEGAL_GENERATION,
    ) -> list[ErrorCode]:
        """Commit offsets; a commit with a generation into a group that does not exist gets
        `unknown_group_error` (ILLEGAL_GENERATION before OffsetCommit v9, GROUP_ID_NOT_FOUND from v9)."""
        try:
            partition = self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return [exc.error] * len(entries)
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return [unknown_group_error] * len(entries)
            group = self.groups[group_id] = ClassicGroup(group_id, partition)
        error = self._validate_commit(group, generation_id, member_id, group_instance_id)
        if error is not ErrorCode.NONE:
            return [error] * len(entries)
        member = group.members.get(member_id)
        if member is not None:
            self._heartbeat(group, member)
        now = self.now_ms()
        results: list[ErrorCode] = []
        records: list[Record] = []
        accepted: list[tuple[tuple[str, int], OffsetAndMetadata]] = []
        for entry in entries:
            metadata = entry.metadata or ""
            if len(metadata.encode("utf-16-le")) // 2 > self.config.offset_metadata_max_bytes:  # Java length()
                results.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                continue
            value = OffsetAndMetadata(entry.offset, entry.leader_epoch, metadata, now, entry.expire_timestamp)
            records.append(
                (encode_offset_key(OffsetKey(group_id, entry.topic, entry.partition)), encode_offset_value(value))
            )
            accepted.append(((entry.topic, entry.partition), value))
            results.append(ErrorCode.NONE)
        if not records:
            return results
        write_error, last_offset = await self.storage.append(group.partition, records)
        if write_error is not ErrorCode.NONE:
            mapped = _commit_error(write_error)
            return [mapped if r is ErrorCode.NONE else r for r in results]
        first_offset = last_offset - len(records) + 1
        for i, (key, value) in enumerate(accepted):
            position = first_offset + i
            current = group.offsets.get(key)
            if current is None or current.log_offset < position:
                group.offsets[key] = CommittedOffset(value, position)
        return results

    def _validate_commit(
        self, group: ClassicGroup, generation_id: int, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        if group.is_in(S.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.is_in(S.EMPTY):
            return ErrorCode.NONE  # a standalone consumer, or an admin reset on an inactive group
        error = group.validate_member(member_id, instance_id)
        if error is not ErrorCode.NONE:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.is_in(S.COMPLETING_REBALANCE):
            # The member has the new generation from JoinGroup but not its assignment yet.
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def fetch_offsets(
        self, group_id: str, partitions: list[tuple[str, int]] | None
    ) -> tuple[ErrorCode, list[tuple[str, int, OffsetAndMetadata | None]]]:
        """Committed offsets of `partitions` (None: every committed partition); None where nothing is committed."""
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return exc.error, []
        group = self.groups.get(group_id)
        offsets = {} if group is None or group.is_in(S.DEAD) else group.offsets
        if partitions is None:
            return ErrorCode.NONE, [(t, p, c.value) for (t, p), c in sorted(offsets.items())]
        found = []
        for topic, index in partitions:
            committed = offsets.get((topic, index))
            found.append((topic, index, committed.value if committed is not None else None))
        return ErrorCode.NONE, found

    async def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return exc.error, []
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND, []
        if not group.is_in(S.EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return ErrorCode.NON_EMPTY_GROUP, []
        errors: list[ErrorCode] = []
        to_delete: list[tuple[str, int]] = []
        for topic, index in partitions:
            if not group.is_in(S.EMPTY) and group.is_subscribed_to(topic):
                errors.append(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC)
                continue
            errors.append(ErrorCode.NONE)
            if (topic, index) in group.offsets:
                to_delete.append((topic, index))
        if to_delete:
            error, _ = await self.storage.append(
                group.partition, [(encode_offset_key(OffsetKey(group_id, t, p)), None) for t, p in to_delete]
            )
            if error is not ErrorCode.NONE:
                return _commit_error(error), []
            for key in to_delete:
                group.offsets.pop(key, None)
        return ErrorCode.NONE, errors

    # ==== admin ================================================================================================

    def describe_group(self, group_id: str) -> GroupDescription:
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return GroupDescription(group_id, exc.error, "", "", "", [])
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

    def list_groups(self, states: set[GroupState] | None = None) -> list[GroupListing]:
        return [
            GroupListing(g.group_id, g.protocol_type or "", g.state.value)
            for g in sorted(self.groups.values(), key=lambda g: g.group_id)
            if g.partition in self.loaded and not g.is_in(S.DEAD) and (not states or g.state in states)
        ]

    async def delete_groups(self, group_ids: list[str]) -> list[ErrorCode]:
        results = []
        for group_id in group_ids:
            results.append(await self._delete_group(group_id))
        return results

    async def _delete_group(self, group_id: str) -> ErrorCode:
        try:
            self._check_coordinator(group_id)
        except CoordinatorError as exc:
            return exc.error
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND
        if not group.is_in(S.EMPTY):
            return ErrorCode.NON_EMPTY_GROUP
        records: list[Record] = [(encode_offset_key(OffsetKey(group_id, t, p)), None) for t, p in group.offsets]
        records.append((encode_group_key(GroupKey(group_id)), None))
        error, _ = await self.storage.append(group.partition, records)
        if error is not ErrorCode.NONE:
            return _group_write_error(error)
        if self.groups.get(group_id) is group:
            group.transition_to(S.DEAD, self.now_ms())
            self._unload(group, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        return ErrorCode.NONE

    # ==== retention ============================================================================================

    async def expire_offsets(self) -> int:
        """Remove offsets past `offsets.retention.minutes` and groups left with nothing; returns offsets removed."""
        now = self.now_ms()
        retention = self.config.offsets_retention_ms
        removed = 0
        for group in list(self.groups.values()):
            if group.partition not in self.loaded or group.is_in(S.DEAD):
                continue
            expired = self._expired_offsets(group, now, retention)
            records: list[Record] = [(encode_offset_key(OffsetKey(group.group_id, t, p)), None) for t, p in expired]
            drop_group = group.is_in(S.EMPTY) and len(expired) == len(group.offsets) and not group.members
            if drop_group:
                records.append((encode_group_key(GroupKey(group.group_id)), None))
            if not records:
                continue
            error, _ = await self.storage.append(group.partition, records)
            if error is not ErrorCode.NONE:
                log.warning("could not expire offsets of group %s: %s", group.group_id, error.name)
                continue
            for key in expired:
                group.offsets.pop(key, None)
            removed += len(expired)
            if drop_group and self.groups.get(group.group_id) is group and group.is_in(S.EMPTY):
                group.transition_to(S.DEAD, now)
                self._unload(group, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        return removed

    def _expired_offsets(self, group: ClassicGroup, now: int, retention: int) -> list[tuple[str, int]]:
        def expired(committed: CommittedOffset, base: int) -> bool:
            if committed.value.expire_timestamp >= 0:
                return now >= committed.value.expire_timestamp
            return now - base >= retention

        if group.is_in(S.EMPTY):
            # A group that had members: from when it became empty. A standalone consumer: from each commit.
            use_state_time = group.protocol_type is not None and group.current_state_timestamp >= 0
            return [
                key
                for key, c in group.offsets.items()
                if expired(c, group.current_state_timestamp if use_state_time else c.value.commit_timestamp)
            ]
        if group.is_in(S.STABLE) and group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            subscribed = group.subscribed_topics()
            if subscribed is None:
                return []
            return [
                key
                for key, c in group.offsets.items()
                if key[0] not in subscribed and expired(c, c.value.commit_timestamp)
            ]
        return []

    # ==== persistence ==========================================================================================

    async def _store_group(self, group: ClassicGroup) -> tuple[ErrorCode, int]:
        record = group.to_record()
        return await self.storage.append(
            group.partition, [(encode_group_key(GroupKey(group.group_id)), encode_group_value(record))]
        )

    async def _store_group_logged(self, group: ClassicGroup) -> None:
        error, _ = await self._store_group(group)
        if error is not ErrorCode.NONE:
            log.warning("could not store metadata of group %s: %s", group.group_id, error.name)

    # ==== metrics ==============================================================================================

    def group_offsets(self) -> list[GroupOffsets]:
        """A snapshot for the metrics thread: dict copies are single C-level operations under the GIL."""
        snapshot = []
        for group in list(self.groups.values()):
            if group.is_in(S.DEAD) or group.partition not in self.loaded:
                continue
            offsets = dict(group.offsets)
            snapshot.append(
                GroupOffsets(group.group_id, len(group.members), {k: c.value.offset for k, c in offsets.items()})
            )
        return snapshot
