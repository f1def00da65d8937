"""The values that `ReplicaManager.produce` and `ReplicaManager.fetch` take and return (immutable, protocol-neutral).

Produce: `ProduceEntry` per partition in, one `ProduceResult` per entry out (same order), already final: an
acks=all produce returns only after its wait (Kafka's ReplicaManager.appendRecords with its DelayedProduce).
`AppendOrigin` says who appends (Kafka's AppendOrigin): clients are validated strictly (no control batches, base
offset 0); coordinators write their own batches; replication is the replica fetcher's (a later issue).

Fetch: `FetchParams` for the request, `FetchPartition` per partition in, one `FetchResult` per partition out.
`FetchIsolation` bounds what is visible (Kafka's FetchIsolation): a follower reads to the log end offset, a
consumer to the high watermark, a read_committed consumer to the last stable offset. A result's records are a
`FileRecords` slice (descriptor, position, size of the segment file): the codec writes it as a file region, the
server sends it with sendfile; nothing here copies record data.
"""

from __future__ import annotations

import enum
import os
import uuid
from dataclasses import dataclass

from odradek.broker.protocol.errors import ErrorCode

TopicPartition = tuple[str, int]

CONSUMER_REPLICA_ID = -1
READ_COMMITTED = 1  # the Fetch/ListOffsets isolation_level of read_committed


class AppendOrigin(enum.Enum):
    CLIENT = "client"
    COORDINATOR = "coordinator"
    REPLICATION = "replication"


@dataclass(frozen=True, slots=True)
class ProduceEntry:
    """One partition's records of a produce (a single RecordBatch v2 from a client)."""

    topic: str
    partition: int
    records: bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class ProducerFields:
    """The producer fields of a produce entry's (first) record batch header: what authorization and the
    transaction checks decide from (Kafka's ProduceRequest.hasTransactionalRecords, CVE-2018-17196)."""

    producer_id: int
    producer_epoch: int
    transactional: bool


_ATTRIBUTES_AT, _PRODUCER_ID_AT, _PRODUCER_EPOCH_AT, _HEADER_SIZE = 21, 43, 51, 61
_TRANSACTIONAL_FLAG = 0x10


def producer_fields(records: bytes | bytearray | memoryview) -> ProducerFields | None:
    """The RecordBatch v2 header fields of the first batch of `records` (None if too short to hold a header).

    Header layout: baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32,
    attributes int16 (bit 4: transactional) at byte 21, ..., producerId int64 at 43, producerEpoch int16 at 51."""
    if len(records) < _HEADER_SIZE:
        return None
    data = bytes(records[:_HEADER_SIZE])
    attributes = int.from_bytes(data[_ATTRIBUTES_AT : _ATTRIBUTES_AT + 2], "big", signed=True)
    producer_id = int.from_bytes(data[_PRODUCER_ID_AT : _PRODUCER_ID_AT + 8], "big", signed=True)
    epoch = int.from_bytes(data[_PRODUCER_EPOCH_AT : _PRODUCER_EPOCH_AT + 2], "big", signed=True)
    return ProducerFields(producer_id, epoch, bool(attributes & _TRANSACTIONAL_FLAG))


@dataclass(frozen=True, slots=True)
class ProduceResult:
    """`base_offset`/`last_offset`: the offsets the append got (-1 when it failed); `record_errors` are
    (batch index, message) pairs; `message` is the v8+ error message."""

    error: ErrorCode = ErrorCode.NONE
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    record_errors: tuple[tuple[int, str], ...] = ()
    message: str | None = None
    last_offset: int = -1


class FetchIsolation(enum.Enum):
    LOG_END = "log_end"
    HIGH_WATERMARK = "high_watermark"
    TXN_COMMITTED = "txn_committed"

    @classmethod
    def of(cls, replica_id: int, isolation_level: int) -> FetchIsolation:
        """Kafka's rule: replicas read to the log end, read_committed consumers to the LSO, others to the HW."""
        if replica_id >= 0:
            return cls.LOG_END
        return cls.TXN_COMMITTED if isolation_level == READ_COMMITTED else cls.HIGH_WATERMARK


@dataclass(frozen=True, slots=True)
class FetchParams:
    """The request-wide part of a fetch. `max_bytes` bounds the whole response (the first partition with data
    gets at least one batch, KIP-74); the fetch waits at most `max_wait_ms` for `min_bytes`."""

    replica_id: int
    max_wait_ms: int
    min_bytes: int
    max_bytes: int
    isolation: FetchIsolation

    @property
    def is_from_follower(self) -> bool:
        return self.replica_id >= 0


NO_TOPIC_ID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class FetchPartition:
    """One partition of a fetch. `topic_id` is the topic's id when the fetch names topics by id (Fetch v13+; the
    fetch session keys its partitions by it), else NO_TOPIC_ID; `topic` is "" for an id this broker does not know."""

    topic: str
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    topic_id: uuid.UUID = NO_TOPIC_ID


@dataclass(frozen=True, slots=True)
class FileRecords:
    """Bytes [position, position + size) of an open segment file (`fd` belongs to the segment: a sender dups it).
    Satisfies `protocol.frames.Region`. May end inside a batch, as Kafka's fetch slices do."""

    fd: int
    position: int
    size: int

    def read_bytes(self) -> bytes:
        return os.pread(self.fd, self.size, self.position)


@dataclass(frozen=True, slots=True)
class FetchResult:
    error: ErrorCode = ErrorCode.NONE
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: FileRecords | None = None  # None: nothing to send
    # READ_COMMITTED only: (producer id, first offset) of the aborted transactions overlapping the records read
    aborted_transactions: tuple[tuple[int, int], ...] | None = None

    @property
    def size(self) -> int:
        return self.records.size if self.records is not None else 0
