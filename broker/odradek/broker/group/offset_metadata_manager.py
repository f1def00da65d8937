"""OffsetMetadataManager: the committed offsets of one __consumer_offsets partition (Kafka's OffsetMetadataManager).

- Commits come from members of the current generation (or with generation -1 into a group without members: a
  standalone consumer or an admin reset); OFFSET_METADATA_TOO_LARGE above `offset.metadata.max.bytes`.
- Each committed offset remembers where its record sits in the partition. A newer record always wins: a commit
  whose write completes after a later one's (appends are ordered, their acknowledgements need not be) must not
  overwrite it, and replay applies records by the same rule.
- Transactional commits (TxnOffsetCommit) are written to the partition as a transactional batch of the
  producer (id and epoch; the log checks the epoch), as Kafka does, and are pending per producer id until the
  transaction's marker: `complete_transaction` writes the COMMIT or ABORT marker to this partition, and replaying
  it makes the producer's pending offsets committed (each at its record's position, so the newer-record rule
  holds between transactional and plain commits) or drops them. A load rebuilds the same state from the log:
  records of a transaction with no marker yet are pending, a COMMIT marker makes them visible, an ABORT discards
  them. So a coordinator killed between the transaction's PrepareCommit and the marker loses nothing: the
  transaction coordinator resends the marker after its own reload.
- Every change is written first and applied by replaying the written records (`ShardContext.write`): the state
  of a serving shard is the state a reload builds.
- Retention (`offsets.retention.minutes`): from when the group became empty, from each commit for standalone
  consumers, and for topics a live consumer group no longer subscribes to; an explicit expire timestamp (v1
  records) wins. A group left with no offsets and no members is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import dataclass

from odradek.broker.coordinator.runtime import NO_PRODUCER_ID, Record, ShardContext, TxnProducer
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
# What the log answers a transactional write of a stale producer: the client gets it as it is (Kafka's
# TxnOffsetCommit does the same).
_PRODUCER_ERRORS = frozenset(
    {ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.PRODUCER_FENCED, ErrorCode.TRANSACTION_COORDINATOR_FENCED}
)


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
        # producer id -> group -> partition -> offset written by the producer's open transaction (no marker yet)
        self.pending_transactional: dict[int, dict[str, dict[TopicPartition, CommittedOffset]]] = {}
        # Ids of KIP-848 consumer groups (set by the shard): their offsets are theirs, no classic group is made.
        self.other_groups: Container[str] = frozenset()

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

    def replay_offset(
        self, producer_id: int, group_id: str, key: TopicPartition, value: OffsetAndMetadata | None, position: int
    ) -> None:
        """An offset record read from the log or just written: a plain one applies, a transactional one is held
        for its producer until the marker (a transactional tombstone is never written; it would drop the held
        offset)."""
        if producer_id == NO_PRODUCER_ID:
            self.apply(group_id, key, value, position)
            return
        held = self.pending_transactional.setdefault(producer_id, {}).setdefault(group_id, {})
        if value is None:
            held.pop(key, None)
        else:
            held[key] = CommittedOffset(value, position)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        """The marker of `producer_id`: COMMIT applies its pending offsets (newer record wins), ABORT drops them."""
        groups = self.pending_transactional.pop(producer_id, None)
        if not groups or not commit:
            return
        for group_id, held in groups.items():
            for key, committed in held.items():
                self.apply(group_id, key, committed.value, committed.log_offset)

    def on_loaded(self) -> None:
        # A group with offsets but no group record (a standalone consumer) exists as an Empty group; so does one
        # with only offsets of an open transaction.
        for group_id in self.offsets:
            if group_id not in self.other_groups:
                self.groups.get_or_create(group_id)
        for groups in self.pending_transactional.values():
            for group_id in groups:
                if group_id not in self.other_groups:
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
        return await self.write_offsets(group_id, entries)

    async def write_offsets(self, group_id: str, entries: list[OffsetCommitEntry]) -> list[ErrorCode]:
        """Store validated commits (OFFSET_METADATA_TOO_LARGE per partition): one append, then applied."""
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
        write_error, _ = await self.context.write(records)  # applied by the replay of what was written
        if write_error is not ErrorCode.NONE:
            mapped = commit_error(write_error)
            return [mapped if r is ErrorCode.NONE else r for r in results]
        return results

    # ==== TxnOffsetCommit and the transaction's marker ==========================================================

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
        """Write the offsets in `producer_id`'s transaction (a transactional batch of that producer and epoch);
        they are pending until the marker. The member is checked as Kafka's validateTxnOffsetCommit does: an
        unknown member is UNKNOWN_MEMBER_ID, another generation ILLEGAL_GENERATION; generation -1 with no member id
        skips both. A stale epoch is the log's answer (INVALID_PRODUCER_EPOCH or PRODUCER_FENCED)."""
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
        results: list[ErrorCode] = []
        records: list[Record] = []
        for entry in entries:
            metadata = entry.metadata or ""
            if len(metadata.encode("utf-16-le")) // 2 > self.config.offset_metadata_max_bytes:
                results.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                continue
            value = OffsetAndMetadata(entry.offset, entry.leader_epoch, metadata, now)
            records.append(
                (encode_offset_key(OffsetKey(group_id, entry.topic, entry.partition)), encode_offset_value(value))
            )
            results.append(ErrorCode.NONE)
        if not records:
            return results
        error, _ = await self.context.write(records, TxnProducer(producer_id, producer_epoch))
        if error is not ErrorCode.NONE:
            mapped = error if error in _PRODUCER_ERRORS else commit_error(error)
            return [mapped if r is ErrorCode.NONE else r for r in results]
        return results

    def has_pending_transactional_offset(self, group_id: str, key: TopicPartition) -> bool:
        return any(key in groups.get(group_id, {}) for groups in self.pending_transactional.values())

    async def complete_transaction(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> ErrorCode:
        """The transaction marker of `producer_id` for this partition: written, then replayed (COMMIT applies the
        producer's pending offsets, ABORT drops them). On a failed write the offsets stay pending and the
        transaction coordinator retries the marker."""
        error, _ = await self.context.write_marker(producer_id, producer_epoch, coordinator_epoch, commit)
        return error

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
        live = group_id in self.other_groups or (group is not None and not group.is_in(S.DEAD))
        offsets = self.of(group_id) if live else {}
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

    async def delete_all_offsets(self, group_id: str) -> ErrorCode:
        """Tombstone every committed offset of the group (DeleteGroups of a consumer group)."""
        keys = list(self.of(group_id))
        return await self._write_tombstones(group_id, keys, drop_group=False) if keys else ErrorCode.NONE

    async def _write_tombstones(self, group_id: str, keys: list[TopicPartition], drop_group: bool) -> ErrorCode:
        """Tombstone `keys` (and the group record if `drop_group`); the replay of the written tombstones removes
        them (and the group). A background group record requested before goes into the log ahead of them (the
        runtime's ordering), so it cannot bring the group back on the next load."""
        records: list[Record] = [(encode_offset_key(OffsetKey(group_id, t, p)), None) for t, p in keys]
        if drop_group:
            records.append((encode_group_key(GroupKey(group_id)), None))
        error, _ = await self.context.write(records)
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
