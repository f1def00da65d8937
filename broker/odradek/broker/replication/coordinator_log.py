"""A coordinator's internal topic seen as a record log: append (key, value) records with acks=all and read
every record back (used by the group coordinator over `__consumer_offsets`; structurally its CoordinatorLog).

Appends build one uncompressed RecordBatch v2 with CreateTime = now (`build_coordinator_batch`: a `BuiltBatch`,
its CRC computed once) and go through `ReplicaManager.produce` with acks=all and origin COORDINATOR: the batch is
checked against the topic's configuration only (not decoded or re-checksummed), then leader epoch, high
watermark and the wait for the ISR for at most `timeout_ms` (`offsets.commit.timeout.ms`), as a client's
produce does. A transactional append (Kafka's
TxnOffsetCommit) stamps the batch with the producer id and epoch and the transactional flag, base sequence 0 as
Kafka's group coordinator does (a COORDINATOR append checks the epoch only); a marker is the control batch of
`build_control_batch`, the one WriteTxnMarkers writes to data partitions. Reads walk the partition from its log
start offset to its log end offset: every record with its batch's producer and transactional flag, and every
marker (a control batch's COMMIT/ABORT record) as a `LogEntry` with `control` set. The log end, not the high
watermark: a coordinator loads when its broker becomes leader, whose log is then the partition's (Kafka's loader
reads to the log end too); a new leader's HW may still be below records the old leader had committed, until its
followers fetch again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence

from odradek.broker.coordinator.runtime import AppendOutcome, LogEntry, TxnProducer
from odradek.broker.log.log import OffsetOutOfRange
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import complete_prefix_length, iter_batches
from odradek.broker.records.builder import BuiltBatch, build_control_batch, build_coordinator_batch
from odradek.broker.records.record import ABORT, COMMIT, iter_records, read_control_record
from odradek.broker.replication.api import AppendOrigin, ProduceEntry, ProduceResult
from odradek.broker.replication.partition import PartitionError
from odradek.broker.replication.replica_manager import ReplicaManager

READ_CHUNK = 4 * 1024 * 1024
MAX_DECOMPRESSED = 256 * 1024 * 1024


class PartitionRecordLog:
    def __init__(self, manager: ReplicaManager, topic: str, timeout_ms: Callable[[], int]) -> None:
        self.manager = manager
        self.topic = topic
        self.timeout_ms = timeout_ms

    async def append(
        self, partition: int, records: Sequence[tuple[bytes, bytes | None]], producer: TxnProducer | None = None
    ) -> tuple[ErrorCode, int]:
        result = self.append_nowait(partition, records, producer)
        return result if isinstance(result, tuple) else await result

    async def append_marker(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> tuple[ErrorCode, int]:
        result = self.append_marker_nowait(partition, producer_id, producer_epoch, coordinator_epoch, commit)
        return result if isinstance(result, tuple) else await result

    def append_nowait(
        self, partition: int, records: Sequence[tuple[bytes, bytes | None]], producer: TxnProducer | None = None
    ) -> AppendOutcome:
        """`append` without a coroutine (the coordinator runtime's flush): appended now; (error, last offset) at
        once when final (one replica: always), else a future of it."""
        now = self.manager.time.wall_ms()
        if producer is None:
            batch = build_coordinator_batch(records, now)
        else:
            batch = build_coordinator_batch(
                records, now, producer.producer_id, producer.producer_epoch, transactional=True
            )
        return self._produce(partition, batch)

    def append_marker_nowait(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> AppendOutcome:
        now = self.manager.time.wall_ms()
        return self._produce(
            partition, build_control_batch(commit, producer_id, producer_epoch, coordinator_epoch, 0, now)
        )

    def _produce(self, partition: int, batch: BuiltBatch) -> AppendOutcome:
        entry = ProduceEntry(self.topic, partition, batch)
        results = self.manager.produce_nowait([entry], -1, self.timeout_ms(), AppendOrigin.COORDINATOR)
        if isinstance(results, list):
            return results[0].error, results[0].last_offset
        outcome: asyncio.Future[tuple[ErrorCode, int]] = asyncio.get_running_loop().create_future()
        results.add_done_callback(lambda done: _first_result(done, outcome))
        return outcome

    def read(self, partition: int) -> Iterator[LogEntry]:
        try:
            p = self.manager.get_partition(self.topic, partition)
        except PartitionError:
            return
        offset, end = p.log_start_offset, p.log_end_offset
        while offset < end:
            try:
                data = p.log.read(offset, READ_CHUNK, end, min_one_message=True).read_bytes()
            except OffsetOutOfRange:
                return
            complete = complete_prefix_length(data)
            if complete == 0:
                return
            for header in iter_batches(memoryview(data)[:complete]):
                if header.next_offset <= offset:
                    continue
                pid, epoch, txn = header.producer_id, header.producer_epoch, header.is_transactional
                if header.is_control:
                    marker = read_control_record(data, header)
                    if marker is not None and marker.type in (ABORT, COMMIT) and header.base_offset >= offset:
                        yield LogEntry(header.base_offset, None, None, pid, epoch, True, marker.type == COMMIT)
                else:
                    for record in iter_records(data, header, MAX_DECOMPRESSED):
                        if record.offset >= offset:
                            yield LogEntry(record.offset, record.key, record.value, pid, epoch, txn)
                offset = header.next_offset


def _first_result(done: asyncio.Future[list[ProduceResult]], outcome: asyncio.Future[tuple[ErrorCode, int]]) -> None:
    if outcome.done():
        return
    if done.cancelled():
        outcome.cancel()
    elif (exc := done.exception()) is not None:
        outcome.set_exception(exc)
    else:
        result = done.result()[0]
        outcome.set_result((result.error, result.last_offset))
