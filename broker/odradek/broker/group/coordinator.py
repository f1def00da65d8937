"""GroupCoordinator: Kafka's classic group protocol and committed offsets, for the groups this broker coordinates
(Kafka's GroupCoordinatorService).

A group lives in the `__consumer_offsets` partition `partition_for(group_id)`; the broker leading that partition
is the group's coordinator. This class is the front the handlers call: it validates the group id, finds the
partition's shard in the CoordinatorRuntime (NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS otherwise) and hands
the request to the shard's GroupMetadataManager (joins, syncs, heartbeats, leaves, descriptions) or
OffsetMetadataManager (commits, fetches, deletions, retention). The runtime owns loading (a worker thread replays
the partition when this broker is elected), appends, timers (on the injected `Time`) and background writes.
"""

from __future__ import annotations

from collections.abc import Callable

from odradek.broker.coordinator.runtime import CoordinatorError, CoordinatorLog, CoordinatorRuntime, ShardContext
from odradek.broker.group.api import (
    GroupDescription,
    GroupListing,
    JoinMember,
    JoinRequest,
    JoinResult,
    LeaveMember,
    MemberDescription,
    OffsetCommitEntry,
    SyncResult,
    group_write_error,
)
from odradek.broker.group.classic_group import ClassicGroup
from odradek.broker.group.config import GroupConfig
from odradek.broker.group.consumer_group_manager import (
    ConsumerGroupDescription,
    ConsumerHeartbeat,
    ConsumerHeartbeatResult,
    TopicsView,
)
from odradek.broker.group.offsets_topic import OffsetAndMetadata, partition_for
from odradek.broker.group.shard import GroupCoordinatorShard
from odradek.broker.group.state import GroupState
from odradek.broker.metrics.consumer_lag import GroupOffsets
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import Time

__all__ = [
    "CoordinatorError",
    "CoordinatorLog",
    "GroupConfig",
    "GroupCoordinator",
    "GroupDescription",
    "GroupListing",
    "JoinMember",
    "JoinRequest",
    "JoinResult",
    "LeaveMember",
    "MemberDescription",
    "OffsetCommitEntry",
    "SyncResult",
]


class GroupCoordinator:
    def __init__(
        self,
        config: GroupConfig,
        storage: CoordinatorLog,
        num_partitions: Callable[[], int],
        time: Time,
        topics: TopicsView | None = None,
    ) -> None:
        self.config = config
        self.num_partitions = num_partitions
        self.time = time
        self.topics: TopicsView = topics or dict  # name -> (topic id, partitions), for KIP-848 groups
        self.runtime: CoordinatorRuntime[GroupCoordinatorShard] = CoordinatorRuntime(
            "group coordinator", storage, time, self._new_shard
        )

    def _new_shard(self, context: ShardContext) -> GroupCoordinatorShard:
        return GroupCoordinatorShard(context, self.config, self.topics)

    # ==== partitions ===========================================================================================

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.num_partitions())

    def _shard(self, group_id: str, require_id: bool = True) -> GroupCoordinatorShard:
        """The group's shard, if this broker coordinates it; else CoordinatorError (INVALID_GROUP_ID for an empty
        id when `require_id`: the membership APIs and OffsetDelete refuse it, commits and fetches do not)."""
        if require_id and not group_id:
            raise CoordinatorError(ErrorCode.INVALID_GROUP_ID)
        n = self.num_partitions()
        if n <= 0:
            raise CoordinatorError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        return self.runtime.shard(partition_for(group_id, n))

    def is_coordinator_for(self, group_id: str) -> bool:
        n = self.num_partitions()
        return n > 0 and partition_for(group_id, n) in self.runtime.owned

    @property
    def loaded(self) -> frozenset[int]:
        return self.runtime.loaded

    @property
    def loading(self) -> frozenset[int]:
        return self.runtime.loading

    def on_elected(self, partition: int, leader_epoch: int) -> None:
        """This broker leads `partition` of __consumer_offsets: load its groups and offsets in the background.
        (`leader_epoch` is not used yet: the coordinator runtime will fence stale loads with it.)

        Until the load is done, requests for its groups get COORDINATOR_LOAD_IN_PROGRESS (clients retry)."""
        self.runtime.on_elected(partition, leader_epoch)

    def on_resigned(self, partition: int, leader_epoch: int | None) -> None:
        """Another broker leads `partition` now (or it is gone): forget its groups, fail their waiters."""
        self.runtime.on_resigned(partition, leader_epoch)

    async def wait_loaded(self) -> None:
        """Wait for the loads in progress (tests, and start-up if one wants every partition ready)."""
        await self.runtime.wait_loaded()

    def close(self) -> None:
        self.runtime.close()

    def group(self, group_id: str) -> ClassicGroup | None:
        """The group as this coordinator holds it (None if not loaded here or unknown): for tests and tools."""
        try:
            return self._shard(group_id, require_id=False).groups.groups.get(group_id)
        except CoordinatorError:
            return None

    # ==== group membership =====================================================================================

    async def join_group(self, request: JoinRequest) -> JoinResult:
        try:
            shard = self._shard(request.group_id)
        except CoordinatorError as exc:
            return JoinResult(exc.error, request.member_id)
        consumer_group = shard.consumer_groups.groups.get(request.group_id)
        if consumer_group is not None:
            # A classic member joining a KIP-848 group: a non-empty one takes it as a classic member (Kafka's
            # classicGroupJoinToConsumerGroup); an empty one becomes a classic group (Kafka's downgrade of an empty
            # group).
            if consumer_group.members:
                return await shard.consumer_groups.classic_members.join(request)
            error = await shard.consumer_groups.delete_empty(request.group_id)
            if error is not ErrorCode.NONE:
                return JoinResult(error, request.member_id)
        return await shard.groups.join_group(request)

    # ==== KIP-848 consumer groups ==============================================================================

    async def consumer_group_heartbeat(self, request: ConsumerHeartbeat) -> ConsumerHeartbeatResult:
        try:
            shard = self._shard(request.group_id)
        except CoordinatorError as exc:
            return ConsumerHeartbeatResult(exc.error)
        return await shard.consumer_groups.heartbeat(request)

    def consumer_group_describe(self, group_id: str) -> ConsumerGroupDescription:
        try:
            shard = self._shard(group_id)
        except CoordinatorError as exc:
            return ConsumerGroupDescription(group_id, exc.error)
        return shard.consumer_groups.describe(group_id)

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
        try:
            shard = self._shard(group_id)
        except CoordinatorError as exc:
            return SyncResult(exc.error)
        if group_id in shard.consumer_groups.groups:  # a classic member of a KIP-848 group
            return shard.consumer_groups.classic_members.sync(
                group_id, generation_id, member_id, group_instance_id, protocol_type, protocol_name
            )
        return await shard.groups.sync_group(
            group_id, generation_id, member_id, group_instance_id, protocol_type, protocol_name, assignments
        )

    def heartbeat(self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int) -> ErrorCode:
        try:
            shard = self._shard(group_id)
        except CoordinatorError as exc:
            return exc.error
        if group_id in shard.consumer_groups.groups:  # a classic member of a KIP-848 group
            classic_members = shard.consumer_groups.classic_members
            return classic_members.heartbeat(group_id, member_id, group_instance_id, generation_id)
        return shard.groups.heartbeat(group_id, member_id, group_instance_id, generation_id)

    def leave_group(self, group_id: str, leaving: list[LeaveMember]) -> tuple[ErrorCode, list[ErrorCode]]:
        """(group error, one error per leaving member)."""
        try:
            shard = self._shard(group_id)
        except CoordinatorError as exc:
            return exc.error, [exc.error] * len(leaving)
        if group_id in shard.consumer_groups.groups:  # classic members of a KIP-848 group
            return shard.consumer_groups.classic_members.leave(group_id, leaving)
        return shard.groups.leave_group(group_id, leaving)

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
            shard = self._shard(group_id, require_id=False)
        except CoordinatorError as exc:
            return [exc.error] * len(entries)
        if group_id in shard.consumer_groups.groups:
            # OffsetCommit v9+ (which answers GROUP_ID_NOT_FOUND for an unknown group) carries the member epoch.
            new_protocol = unknown_group_error is ErrorCode.GROUP_ID_NOT_FOUND
            error = shard.consumer_groups.validate_commit(group_id, member_id, generation_id, new_protocol)
            if error is not ErrorCode.NONE:
                return [error] * len(entries)
            return await shard.offsets.write_offsets(group_id, entries)
        return await shard.offsets.commit_offsets(
            group_id, generation_id, member_id, group_instance_id, entries, unknown_group_error
        )

    def fetch_offsets(
        self,
        group_id: str,
        partitions: list[tuple[str, int]] | None,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> tuple[ErrorCode, list[tuple[str, int, OffsetAndMetadata | None]]]:
        """Committed offsets of `partitions` (None: every committed partition); None where nothing is committed.
        A KIP-848 group checks OffsetFetch v9's member id and epoch (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH), unless
        neither is given (an admin client)."""
        try:
            shard = self._shard(group_id, require_id=False)
        except CoordinatorError as exc:
            return exc.error, []
        if group_id in shard.consumer_groups.groups and (member_id or member_epoch >= 0):
            error = shard.consumer_groups.validate_fetch(group_id, member_id or "", member_epoch)
            if error is not ErrorCode.NONE:
                return error, []
        return ErrorCode.NONE, shard.offsets.fetch_offsets(group_id, partitions)

    async def commit_transactional_offsets(
        self,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        entries: list[OffsetCommitEntry],
    ) -> list[ErrorCode]:
        """TxnOffsetCommit: write the offsets in the transaction of `producer_id`; pending until its marker."""
        try:
            shard = self._shard(group_id, require_id=False)
        except CoordinatorError as exc:
            return [exc.error] * len(entries)
        return await shard.offsets.commit_transactional_offsets(
            group_id, producer_id, producer_epoch, generation_id, member_id, group_instance_id, entries
        )

    def has_pending_transactional_offset(self, group_id: str, topic: str, partition: int) -> bool:
        """OffsetFetch require_stable: an open transaction holds an offset of this partition for the group."""
        try:
            shard = self._shard(group_id, require_id=False)
        except CoordinatorError:
            return False
        return shard.offsets.has_pending_transactional_offset(group_id, (topic, partition))

    async def complete_transaction(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> ErrorCode:
        """A transaction marker for `partition` of __consumer_offsets: written there, then the producer's pending
        offsets are applied (COMMIT) or dropped (ABORT)."""
        try:
            shard = self.runtime.shard(partition)
        except CoordinatorError as exc:
            return exc.error
        return await shard.offsets.complete_transaction(producer_id, producer_epoch, coordinator_epoch, commit)

    async def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        try:
            shard = self._shard(group_id)
        except CoordinatorError as exc:
            return exc.error, []
        return await shard.offsets.delete_offsets(group_id, partitions)

    # ==== admin ================================================================================================

    def describe_group(self, group_id: str) -> GroupDescription:
        try:
            shard = self._shard(group_id, require_id=False)
        except CoordinatorError as exc:
            return GroupDescription(group_id, exc.error, "", "", "", [])
        if group_id in shard.consumer_groups.groups:
            # DescribeGroups answers for classic groups only (Kafka: "Group ... is not a classic group."); admin
            # clients describe a consumer group with ConsumerGroupDescribe.
            return GroupDescription(group_id, ErrorCode.GROUP_ID_NOT_FOUND, GroupState.DEAD.value, "", "", [])
        return shard.groups.describe_group(group_id)

    def list_groups(
        self, states: set[GroupState] | None = None, consumer_states: set[str] | None = None
    ) -> list[GroupListing]:
        """Classic groups in `states` and KIP-848 groups whose state (lower case) is in `consumer_states` (None
        for both: every group)."""
        if consumer_states is None and states is not None:
            consumer_states = {state.value.lower() for state in states}
        listings = []
        for shard in self.runtime.shards():
            if states is None or states:  # an empty set: no classic state was asked for
                listings += shard.groups.list_groups(states)
            listings += shard.consumer_groups.list_groups(consumer_states)
        return sorted(listings, key=lambda listing: listing.group_id)

    async def delete_groups(self, group_ids: list[str]) -> list[ErrorCode]:
        results = []
        for group_id in group_ids:
            results.append(await self._delete_group(group_id))
        return results

    async def _delete_group(self, group_id: str) -> ErrorCode:
        try:
            shard = self._shard(group_id, require_id=False)
        except CoordinatorError as exc:
            return exc.error
        if group_id in shard.consumer_groups.groups:
            if shard.consumer_groups.groups[group_id].members:
                return ErrorCode.NON_EMPTY_GROUP
            error = await shard.offsets.delete_all_offsets(group_id)
            if error is not ErrorCode.NONE:
                return group_write_error(error)
            return await shard.consumer_groups.delete_empty(group_id)
        return await shard.offsets.delete_group(group_id)

    async def expire_offsets(self) -> int:
        """Remove offsets past `offsets.retention.minutes` and groups left with nothing; returns offsets removed."""
        removed = 0
        for shard in self.runtime.shards():
            removed += await shard.offsets.expire_offsets()
        return removed

    # ==== metrics ==============================================================================================

    def group_offsets(self) -> list[GroupOffsets]:
        """A snapshot for the metrics thread."""
        return [snapshot for shard in self.runtime.shards() for snapshot in shard.group_offsets()]
