"""Transaction markers written into partitions (the broker side of Kafka's WriteTxnMarkers, and what the
transaction coordinator's TransactionMarkerChannelManager sends): structurally a `txn.api.TxnMarkerWriter`.

A marker is a control batch (`records.builder.build_control_batch`: transactional, one COMMIT or ABORT record
carrying the coordinator epoch) appended with `ReplicaManager.produce(acks=all, origin COORDINATOR)`, so the log
completes the producer's transaction (producer state, `.txnindex` for an abort, the last stable offset, which
wakes read_committed fetches). A partition of `__consumer_offsets` is handed to the group coordinator
(`complete_offsets`), which writes the same control batch there through its runtime and then, the marker being
durable, applies the producer's pending offsets (COMMIT) or drops them (ABORT). Every partition here is one this
broker leads; a partition led elsewhere answers NOT_LEADER_OR_FOLLOWER (with replication, a writer for remote
partitions sends WriteTxnMarkers to their leaders through the same interface).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import build_control_batch
from odradek.broker.replication.api import AppendOrigin, ProduceEntry, TopicPartition
from odradek.broker.replication.replica_manager import ReplicaManager

CompleteOffsets = Callable[[int, int, int, int, bool], Awaitable[ErrorCode]]
"""(partition of __consumer_offsets, producer id, producer epoch, coordinator epoch, commit) -> error: the group
coordinator writes the marker to its partition and applies or drops the producer's pending offsets."""


class ReplicaTxnMarkerWriter:
    def __init__(
        self,
        manager: ReplicaManager,
        timeout_ms: Callable[[], int],
        offsets_topic: str,
        complete_offsets: CompleteOffsets,
    ) -> None:
        self.manager = manager
        self.timeout_ms = timeout_ms
        self.offsets_topic = offsets_topic
        self.complete_offsets = complete_offsets

    async def write_markers(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        partitions: Sequence[TopicPartition],
    ) -> Mapping[TopicPartition, ErrorCode]:
        now = self.manager.time.wall_ms()
        data = [tp for tp in partitions if tp[0] != self.offsets_topic]
        entries = [
            ProduceEntry(
                topic, index, build_control_batch(commit, producer_id, producer_epoch, coordinator_epoch, 0, now)
            )
            for topic, index in data
        ]
        errors: dict[TopicPartition, ErrorCode] = {}
        if entries:
            results = await self.manager.produce(entries, -1, self.timeout_ms(), AppendOrigin.COORDINATOR)
            errors.update((tp, result.error) for tp, result in zip(data, results, strict=True))
        for topic, index in partitions:
            if topic == self.offsets_topic:
                errors[(topic, index)] = await self.complete_offsets(
                    index, producer_id, producer_epoch, coordinator_epoch, commit
                )
        return errors
