"""OffsetMetadataManager: the committed offsets of one __consumer_offsets partition (Kafka's OffsetMetadataManager).

- Commits come from members of the current generation (or with generation -1 into a group without members: a
  standalone consumer or an admin reset); OFFSET_METADATA_TOO_LARGE above `offset.metadata.max.bytes`.
- Each committed offset remembers where its record sits in the partition. A newer record always wins: a commit
  whose write completes after a later one's (appends are ordered, their acknowledgements need not be) must not
  overwrite it, and replay applies records by the same rule.
- Transactional commits (TxnOffsetCommit) are held per producer id, pending, and become committed offsets only
  when the transaction's COMMIT marker reaches this partition (`complete_transaction`); an ABORT drops them.
  Pending offsets live in memory here (Kafka also writes them to the partition as transactional records): a
  coordinator that dies between the transaction's PrepareCommit and the marker loses them.
- Retention (`offsets.retention.minutes`): from when the group became empty, from each commit for standalone
  consumers, and for topics a live consumer group no longer subscribes to; an explicit expire timestamp (v1
  records) wins. A group left with no offsets and no members is removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from odradek.broker.coordinator.runtime import Record, ShardContext
from odradek.broker.group.api import OffsetCommitEntry, commit_error, group_write_error
from odradek.broker.group.classic_group import CONSUMER_PROTOCOL_TYPE, ClassicGroup
from odradek.broker.group.config import GroupConfig
from odradek.broker.group.group_metadata_manager import GroupMetadataManager
from odradek.broker.group.offsets_topic import (
    GroupKey,
    OffsetAndMetadata,
    OffsetKey,
    encode_group_key,
    encode_offset_key,
    encode_offset_value,
)
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ErrorCode

log = logging.getLogger("odradek.broker.group")

S = GroupState
TopicPartition = tuple[str, int]


@dataclass(slots=True, eq=False)
class CommittedOffset:
    """A committed offset and the position of its record in __consumer_offsets (the newer record wins)."""

    value: OffsetAndMetadata
    log_offset: int  # where the commit sits in __consumer_offsets (a newer write always wins)


class OffsetMetadataManager:
    def __init__(self, context: ShardContext, config: GroupConfig, groups: GroupMetadataManager) -> None:
        self.context = context
        self.config = config
        self.groups = groups
        self.offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        # producer id -> group -> partition -> offset, committed by an open transaction
        self.pending_transactional: dict[int, dict[str, dict[TopicPartition, OffsetAndMetadata]]] = {}

    def of(self, group_id: str) -> dict[TopicPartition, CommittedOffset]:
        """The committed offsets of a group (a live view; empty if none)."""
        return self.offsets.get(group_id, {})

    # ==== applying records =====================================================================================

    def apply(self, group_id: str, key: TopicPartition, value: OffsetAndMetadata | None, position: int) -> None:
        """Apply the offset record at `position` (None: a tombstone), unless a newer record already applied."""
        offsets = self.offsets.setdefault(group_id, {})
        current = offsets.get(key)
        if current is not None and current.log_offset > position:
            return
        if value is None:
            offsets.pop(key, None)
            if not offsets:
                del self.offsets[group_id]
        else:
            offsets[key] = CommittedOffset(value, position)

    def on_loaded(self) -> None:
        # A group with offsets but no group record (a standalone consumer) exists as an Empty group.
        for group_id in self.offsets:
            self.groups.get_or_create(group_id)

    def forget(self, group_id: str) -> None:
        self.offsets.pop(group_id, None)

    # ==== OffsetCommit =========================================================================================

    async def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        entries: list[OffsetCommitEntry],
        unknown_group_error: ErrorCode,
    ) -> list[ErrorCode]:
        group = self.groups.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return [unknown_group_error] * len(entries)
            group = self.groups.get_or_create(group_id)
        error = self._validate_commit(group, generation_id, member_id, group_instance_id)
        if error is not ErrorCode.NONE:
            return [error] * len(entries)
        self.groups.touch(group, member_id)
        now = self.context.time.wall_ms()
        results: list[ErrorCode] = []
        records: list[Record] = []
        accepted: list[tuple[TopicPartition, OffsetAndMetadata]] = []
        for entry in entries:
            metadata = entry.metadata or ""
            if len(metadata.encode("utf-16-le")) // 2 > self.config.offset_metadata_max_bytes:  # Java length()
                results.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                continue
            committed_at = now if entry.commit_timestamp == -1 else entry.commit_timestamp
            value = OffsetAndMetadata(entry.offset, entry.leader_epoch, metadata, committed_at, entry.expire_timestamp)
            records.append(
                (encode_offset_key(OffsetKey(group_id, entry.topic, entry.partition)), encode_offset_value(value))
            )
            accepted.append(((entry.topic, entry.partition), value))
            results.append(ErrorCode.NONE)
        if not records:
            return results
        write_error, last_offset = await self.context.append(records)
        if write_error is not ErrorCode.NONE:
            mapped = commit_error(write_error)
            return [mapped if r is ErrorCode.NONE else r for r in results]
        first_offset = last_offset - len(records) + 1
        for i, (key, value) in enumerate(accepted):
            self.apply(group_id, key, value, first_offset + i)
        return results

    # ==== TxnOffsetCommit and the transaction's marker ==========================================================

    def commit_transactional_offsets(
        self,
        group_id: str,
        producer_id: int,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        entries: list[OffsetCommitEntry],
    ) -> list[ErrorCode]:
        """Hold the offsets for `producer_id`'s transaction (Kafka's GroupMetadataManager pending transactional
        offsets). The member is checked as Kafka's validateTxnOffsetCommit does: an unknown member is
        UNKNOWN_MEMBER_ID, another generation ILLEGAL_GENERATION; generation -1 with no member id skips both."""
        group = self.groups.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return [ErrorCode.ILLEGAL_GENERATION] * len(entries)
            group = self.groups.get_or_create(group_id)
        if group.is_in(S.DEAD):
            return [ErrorCode.COORDINATOR_NOT_AVAILABLE] * len(entries)
        if member_id or generation_id >= 0:
            error = group.validate_member(member_id, group_instance_id)
            if error is ErrorCode.NONE and generation_id != group.generation_id:
                error = ErrorCode.ILLEGAL_GENERATION
            if error is not ErrorCode.NONE:
                return [error] * len(entries)
        now = self.context.time.wall_ms()
        held = self.pending_transactional.setdefault(producer_id, {}).setdefault(group_id, {})
        results = []
        for entry in entries:
            metadata = entry.metadata or ""
            if len(metadata.encode("utf-16-le")) // 2 > self.config.offset_metadata_max_bytes:
                results.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                continue
            held[(entry.topic, entry.partition)] = OffsetAndMetadata(entry.offset, entry.leader_epoch, metadata, now)
            results.append(ErrorCode.NONE)
        return results

    def has_pending_transactional_offset(self, group_id: str, key: TopicPartition) -> bool:
        return any(key in groups.get(group_id, {}) for groups in self.pending_transactional.values())

    async def complete_transaction(self, producer_id: int, commit: bool) -> ErrorCode:
        """The transaction marker of `producer_id` for this partition: write its offsets (COMMIT) or drop them."""
        groups = self.pending_transactional.get(producer_id)
        if not groups:
            return ErrorCode.NONE
        if not commit:
            del self.pending_transactional[producer_id]
            return ErrorCode.NONE
        records: list[Record] = []
        accepted: list[tuple[str, TopicPartition, OffsetAndMetadata]] = []
        for group_id, offsets in groups.items():
            for key, value in offsets.items():
                records.append((encode_offset_key(OffsetKey(group_id, *key)), encode_offset_value(value)))
                accepted.append((group_id, key, value))
        error, last_offset = await self.context.append(records)
        if error is not ErrorCode.NONE:
            return error  # the marker is retried: the offsets stay pending
        if self.pending_transactional.get(producer_id) is groups:
            del self.pending_transactional[producer_id]
        first_offset = last_offset - len(records) + 1
        for i, (group_id, key, value) in enumerate(accepted):
            self.apply(group_id, key, value, first_offset + i)
        return ErrorCode.NONE

    @staticmethod
    def _validate_commit(group: ClassicGroup, generation_id: int, member_id: str, instance_id: str | None) -> ErrorCode:
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

    # ==== OffsetFetch, OffsetDelete ============================================================================

    def fetch_offsets(
        self, group_id: str, partitions: list[TopicPartition] | None
    ) -> list[tuple[str, int, OffsetAndMetadata | None]]:
        group = self.groups.groups.get(group_id)
        offsets = {} if group is None or group.is_in(S.DEAD) else self.of(group_id)
        if partitions is None:
            return [(t, p, c.value) for (t, p), c in sorted(offsets.items())]
        found = []
        for topic, index in partitions:
            committed = offsets.get((topic, index))
            found.append((topic, index, committed.value if committed is not None else None))
        return found

    async def delete_offsets(
        self, group_id: str, partitions: list[TopicPartition]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        group = self.groups.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND, []
        if not group.is_in(S.EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return ErrorCode.NON_EMPTY_GROUP, []
        errors: list[ErrorCode] = []
        to_delete: list[TopicPartition] = []
        offsets = self.of(group_id)
        for topic, index in partitions:
            if not group.is_in(S.EMPTY) and group.is_subscribed_to(topic):
                errors.append(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC)
                continue
            errors.append(ErrorCode.NONE)
            if (topic, index) in offsets:
                to_delete.append((topic, index))
        if to_delete:
            error = await self._write_tombstones(group_id, to_delete, drop_group=False)
            if error is not ErrorCode.NONE:
                return commit_error(error), []
        return ErrorCode.NONE, errors

    async def _write_tombstones(self, group_id: str, keys: list[TopicPartition], drop_group: bool) -> ErrorCode:
        """Tombstone `keys` (and the group record if `drop_group`), then apply the tombstones."""
        records: list[Record] = [(encode_offset_key(OffsetKey(group_id, t, p)), None) for t, p in keys]
        if drop_group:
            records.append((encode_group_key(GroupKey(group_id)), None))
            self.groups.dropping.add(group_id)
        try:
            error, last_offset = await self.context.append(records)
        finally:
            self.groups.dropping.discard(group_id)
        if error is ErrorCode.NONE:
            first_offset = last_offset - len(records) + 1
            for i, key in enumerate(keys):
                self.apply(group_id, key, None, first_offset + i)
        return error

    # ==== DeleteGroups, retention ==============================================================================

    async def delete_group(self, group_id: str) -> ErrorCode:
        group = self.groups.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND
        if not group.is_in(S.EMPTY):
            return ErrorCode.NON_EMPTY_GROUP
        error = await self._write_tombstones(group_id, list(self.of(group_id)), drop_group=True)
        if error is not ErrorCode.NONE:
            return group_write_error(error)
        self._remove_group(group)
        return ErrorCode.NONE

    def _remove_group(self, group: ClassicGroup) -> None:
        if self.groups.groups.get(group.group_id) is group:
            self.groups.remove_group(group)
            self.forget(group.group_id)

    async def expire_offsets(self) -> int:
        """Remove offsets past retention and groups left with nothing; returns how many offsets were removed."""
        now = self.context.time.wall_ms()
        removed = 0
        for group in list(self.groups.groups.values()):
            if group.is_in(S.DEAD):
                continue
            offsets = self.of(group.group_id)
            expired = self._expired_offsets(group, offsets, now, self.config.offsets_retention_ms)
            drop_group = group.is_in(S.EMPTY) and len(expired) == len(offsets) and not group.members
            if not expired and not drop_group:
                continue
            error = await self._write_tombstones(group.group_id, expired, drop_group)
            if error is not ErrorCode.NONE:
                log.warning("could not expire offsets of group %s: %s", group.group_id, error.name)
                continue
            removed += len(expired)
            if drop_group and group.is_in(S.EMPTY):
                self._remove_group(group)
        return removed

    @staticmethod
    def _expired_offsets(
        group: ClassicGroup, offsets: dict[TopicPartition, CommittedOffset], now: int, retention: int
    ) -> list[TopicPartition]:
        def expired(committed: CommittedOffset, base: int) -> bool:
            if committed.value.expire_timestamp >= 0:
                return now >= committed.value.expire_timestamp
            return now - base >= retention

        if group.is_in(S.EMPTY):
            # A group that had members: from when it became empty. A standalone consumer: from each commit.
            use_state_time = group.protocol_type is not None and group.current_state_timestamp >= 0
            return [
                key
                for key, c in offsets.items()
                if expired(c, group.current_state_timestamp if use_state_time else c.value.commit_timestamp)
            ]
        if group.is_in(S.STABLE) and group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            subscribed = group.subscribed_topics()
            if subscribed is None:
                return []
            return [
                key for key, c in offsets.items() if key[0] not in subscribed and expired(c, c.value.commit_timestamp)
            ]
        return []
