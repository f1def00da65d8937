"""A coordinator's internal topic seen as a record log: append (key, value) records with acks=all and read
every record back (used by the group coordinator over `__consumer_offsets`; structurally its CoordinatorLog).

Appends build one uncompressed RecordBatch v2 with CreateTime = now and go through `ReplicaManager.produce`
with acks=all and origin COORDINATOR (validation, leader epoch, high watermark, then the wait for the ISR for
at most `timeout_ms`, `offsets.commit.timeout.ms`), as a client's produce does. Reads walk the partition from
its log start offset to its log end offset, skipping control batches: a coordinator loads when its broker
becomes leader, whose log is then the partition's (Kafka's loader reads to the log end too); a new leader's HW
may still be below records the old leader had committed, until its followers fetch again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from odradek.broker.log.log import OffsetOutOfRange
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import iter_batches
from odradek.broker.records.builder import build_batch
from odradek.broker.records.record import iter_records
from odradek.broker.replication.api import AppendOrigin, ProduceEntry
from odradek.broker.replication.partition import PartitionError
from odradek.broker.replication.replica_fetcher import complete_batches
from odradek.broker.replication.replica_manager import ReplicaManager

READ_CHUNK = 4 * 1024 * 1024
MAX_DECOMPRESSED = 256 * 1024 * 1024


class PartitionRecordLog:
    def __init__(self, manager: ReplicaManager, topic: str, timeout_ms: Callable[[], int]) -> None:
        self.manager = manager
        self.topic = topic
        self.timeout_ms = timeout_ms

    async def append(self, partition: int, records: Sequence[tuple[bytes, bytes | None]]) -> tuple[ErrorCode, int]:
        now = self.manager.time.wall_ms()
        batch = build_batch([(key, value, (), now) for key, value in records])
        entry = ProduceEntry(self.topic, partition, batch)
        (result,) = await self.manager.produce([entry], -1, self.timeout_ms(), AppendOrigin.COORDINATOR)
        return result.error, result.last_offset

    def read(self, partition: int) -> Iterator[tuple[int, bytes | None, bytes | None]]:
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
            complete = len(complete_batches(data))
            if complete == 0:
                return
            for header in iter_batches(memoryview(data)[:complete]):
                if header.next_offset <= offset:
                    continue
                if not header.is_control:
                    for record in iter_records(data, header, MAX_DECOMPRESSED):
                        if record.offset >= offset:
                            yield record.offset, record.key, record.value
                offset = header.next_offset
