"""GroupCoordinatorShard: the state of one __consumer_offsets partition (Kafka's GroupCoordinatorShard): its
groups (GroupMetadataManager) and committed offsets (OffsetMetadataManager), rebuilt by replaying the partition.

Records are Kafka's (`offsets_topic.py`): offset commits keyed by (group, topic, partition), group metadata keyed
by group; a null value is a tombstone. The latest record per key wins; an unreadable record is logged and skipped.
An offset record of a transaction (TxnOffsetCommit) is pending until its producer's marker: COMMIT applies it,
ABORT drops it. `replay` runs at load and after each durable write of the offsets (write-then-replay).
"""

from __future__ import annotations

import logging

from odradek.broker.coordinator.runtime import ShardContext
from odradek.broker.group.config import GroupConfig
from odradek.broker.group.consumer_group_manager import ConsumerGroupManager, TopicsView
from odradek.broker.group.group_metadata_manager import GroupMetadataManager
from odradek.broker.group.offset_metadata_manager import OffsetMetadataManager
from odradek.broker.group.offsets_topic import (
    GroupKey,
    OffsetKey,
    OffsetsTopicFormatError,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from odradek.broker.group.state import GroupState
from odradek.broker.metrics.consumer_lag import GroupOffsets

log = logging.getLogger("odradek.broker.group")


class GroupCoordinatorShard:
    def __init__(self, context: ShardContext, config: GroupConfig, topics: TopicsView | None = None) -> None:
        self.context = context
        self.groups = GroupMetadataManager(context, config)
        self.offsets = OffsetMetadataManager(context, config, self.groups)
        self.consumer_groups = ConsumerGroupManager(context, config, self.groups, topics or dict)
        self.offsets.other_groups = self.consumer_groups.groups  # KIP-848 groups: not classic groups

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        try:
            decoded = decode_key(key)
            if isinstance(decoded, OffsetKey):
                commit = None if value is None else decode_offset_value(value)
                self.offsets.replay_offset(
                    producer_id, decoded.group, (decoded.topic, decoded.partition), commit, offset
                )
            elif isinstance(decoded, GroupKey):
                self.groups.replay_group(decoded.group, None if value is None else decode_group_value(value))
            elif decoded is None:
                self.consumer_groups.replay(key, value)
        except OffsetsTopicFormatError as exc:
            log.warning(
                "skipping unreadable record at offset %d of __consumer_offsets-%d: %s",
                offset,
                self.context.partition,
                exc,
            )

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        self.offsets.replay_end_transaction(producer_id, commit)

    def on_loaded(self) -> None:
        self.offsets.on_loaded()
        self.groups.on_loaded()
        self.consumer_groups.on_loaded()
        log.debug("__consumer_offsets-%d holds %d groups", self.context.partition, len(self.groups.groups))

    def on_unloaded(self) -> None:
        self.groups.on_unloaded()
        self.consumer_groups.on_unloaded()

    def group_offsets(self) -> list[GroupOffsets]:
        """A snapshot for the metrics thread: dict copies are single C-level operations under the GIL."""
        snapshot = []
        for group in list(self.groups.groups.values()):
            if group.is_in(GroupState.DEAD):
                continue
            offsets = dict(self.offsets.of(group.group_id))
            snapshot.append(
                GroupOffsets(group.group_id, len(group.members), {k: c.value.offset for k, c in offsets.items()})
            )
        for consumer_group in list(self.consumer_groups.groups.values()):
            offsets = dict(self.offsets.of(consumer_group.group_id))
            snapshot.append(
                GroupOffsets(
                    consumer_group.group_id,
                    len(consumer_group.members),
                    {k: c.value.offset for k, c in offsets.items()},
                )
            )
        return snapshot
