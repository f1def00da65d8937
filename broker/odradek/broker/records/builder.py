"""Write RecordBatch v2 batches: new ones, transaction markers, rebuilt (recompressed or compacted) ones.

The layout is the one in ``records.batch`` (61-byte header) and ``records.record`` (varint records). The
builder computes the CRC-32C over bytes [21, end) last, after every other field is in place. Like Kafka's
``MemoryRecordsBuilder``, baseTimestamp is the first record's timestamp and maxTimestamp the largest one, or
the log append time for a LogAppendTime batch. ``set_max_timestamp`` rewrites maxTimestamp and the
timestamp-type attribute of a stored batch in place and recomputes its CRC (LogAppendTime topics).

The broker's own writes (coordinator records, transaction markers) are built as a `BuiltBatch`
(`build_coordinator_batch`, `build_control_batch`): bytes this process wrote once, CRC included, that an append
by a coordinator takes as they are (Kafka's coordinators append the MemoryRecords they built with
AppendOrigin.COORDINATOR, which LogValidator does not check as a client's).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import crc32c
from odradek.broker.protocol.primitives import I16, I64, U32, w_varint, w_varlong
from odradek.broker.records.batch import (
    _HEADER,  # one definition of the header layout
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CONTROL_MASK,
    CRC_OFFSET,
    CURRENT_MAGIC,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAX_TIMESTAMP_OFFSET,
    NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_ID,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
)
from odradek.broker.records.compression import compress
from odradek.broker.records.record import Header, Record, control_key, txn_marker_value

RecordInput = tuple[bytes | None, bytes | None, Sequence[Header], int]
"""(key, value, headers, timestamp) of one record to write."""

_Entry = tuple[bytes | None, bytes | None, Sequence[Header], int, int]


class BuiltBatch(bytes):
    """One RecordBatch v2 built by this module for the broker's own writes: a valid header (magic 2,
    lastOffsetDelta + 1 = recordCount >= 1, maxTimestamp the largest record timestamp, CreateTime), records
    numbered 0..n-1, every record with a key, uncompressed, and the CRC-32C computed over the final bytes (the
    base offset and partition leader epoch, which the CRC does not cover, are stamped by the append).

    Only `build_coordinator_batch` and `build_control_batch` make one, so holding a BuiltBatch proves where the
    bytes came from: a client's records (a memoryview of its request) never are one, and are validated in full."""

    __slots__ = ()


def build_batch(
    records: Sequence[RecordInput],
    base_offset: int = 0,
    codec: int = 0,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    timestamp_type_log_append: bool = False,
    log_append_time_ms: int = NO_TIMESTAMP,
    level: int | None = None,
) -> bytes:
    """One batch holding `records` at consecutive offsets from `base_offset`."""
    entries: list[_Entry] = [
        (key, value, headers, timestamp, delta) for delta, (key, value, headers, timestamp) in enumerate(records)
    ]
    attributes = _attributes(codec, transactional, control, timestamp_type_log_append)
    fields = _Fields(base_offset, partition_leader_epoch, attributes, producer_id, producer_epoch, base_sequence)
    return _encode(entries, fields, len(entries) - 1, log_append_time_ms, level)


def build_coordinator_batch(
    records: Sequence[tuple[bytes, bytes | None]],
    timestamp: int,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    transactional: bool = False,
) -> BuiltBatch:
    """A coordinator's (key, value) records (value None: a tombstone) as one uncompressed CreateTime batch, every
    record at `timestamp`; with `transactional`, a batch of that producer id and epoch with base sequence 0 (as
    Kafka's group coordinator writes TxnOffsetCommit). Byte for byte what `build_batch` gives for the same input.

    Raises ValueError for no records or a record without a key (a compacted internal topic refuses those)."""
    if not records:
        raise ValueError("a coordinator batch holds at least one record")
    entries: list[_Entry] = []
    for delta, (key, value) in enumerate(records):
        if key is None:
            raise ValueError("a coordinator record has a key")
        entries.append((key, value, (), timestamp, delta))
    attributes = _attributes(0, transactional, False, False)
    fields = _Fields(
        0,
        NO_PARTITION_LEADER_EPOCH,
        attributes,
        producer_id,
        producer_epoch,
        0 if transactional else -1,
    )
    return BuiltBatch(_encode(entries, fields, len(entries) - 1, NO_TIMESTAMP, None))


def build_control_batch(
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int = 0,
    base_offset: int = 0,
    timestamp: int = NO_TIMESTAMP,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> BuiltBatch:
    """A transaction marker: a transactional control batch with one COMMIT (1) or ABORT (0) record."""
    key = control_key(1 if commit else 0)
    record: RecordInput = (key, txn_marker_value(coordinator_epoch), (), timestamp)
    return BuiltBatch(
        build_batch(
            [record],
            base_offset=base_offset,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            transactional=True,
            control=True,
            partition_leader_epoch=partition_leader_epoch,
        )
    )


def rebuild_batch(
    header: BatchHeader,
    records: Iterable[Record],
    codec: int,
    level: int | None = None,
    *,
    attributes: int | None = None,
    base_timestamp: int | None = None,
) -> bytes:
    """Rewrite a batch with `codec`, keeping its offsets, lastOffsetDelta, producer fields and flags.

    `records` may be a subset of the batch's records (compaction); an empty subset gives an empty batch that
    still covers the original offset range, as Kafka keeps for producer state. `attributes` (its codec bits
    are replaced by `codec`) and `base_timestamp` override the header's: the cleaner sets or clears the delete
    horizon (attribute bit 6, baseTimestamp = horizon, KIP-534). Otherwise baseTimestamp is the first
    record's timestamp.
    """
    entries: list[_Entry] = [(r.key, r.value, r.headers, r.timestamp, r.offset - header.base_offset) for r in records]
    kept_attributes = header.attributes if attributes is None else attributes
    fields = _Fields(
        header.base_offset,
        header.partition_leader_epoch,
        (kept_attributes & ~COMPRESSION_MASK) | codec,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
    )
    log_append = header.max_timestamp if header.is_log_append_time else NO_TIMESTAMP
    if not entries:
        fields.attributes &= ~COMPRESSION_MASK  # an empty batch is written uncompressed, as Kafka's writeEmptyHeader
        return _encode_empty(header, fields)
    return _encode(entries, fields, header.last_offset_delta, log_append, level, base_timestamp)


def set_max_timestamp(buf: bytearray | memoryview, header: BatchHeader, log_append: bool, timestamp: int) -> None:
    """Rewrite maxTimestamp and the timestamp-type bit in place, then the CRC (it covers both)."""
    attributes = header.attributes | TIMESTAMP_TYPE_MASK if log_append else header.attributes & ~TIMESTAMP_TYPE_MASK
    I16.pack_into(buf, header.position + ATTRIBUTES_OFFSET, attributes)
    I64.pack_into(buf, header.position + MAX_TIMESTAMP_OFFSET, timestamp)
    view = memoryview(buf)[header.position + ATTRIBUTES_OFFSET : header.position + header.size]
    U32.pack_into(buf, header.position + CRC_OFFSET, crc32c.crc32c(view))


class _Fields:
    """Header fields that do not depend on the records."""

    __slots__ = (
        "attributes",
        "base_offset",
        "base_sequence",
        "leader_epoch",
        "producer_epoch",
        "producer_id",
    )

    def __init__(
        self,
        base_offset: int,
        leader_epoch: int,
        attributes: int,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
    ) -> None:
        self.base_offset = base_offset
        self.leader_epoch = leader_epoch
        self.attributes = attributes
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.base_sequence = base_sequence


def _attributes(codec: int, transactional: bool, control: bool, log_append: bool) -> int:
    attributes = codec & COMPRESSION_MASK
    if log_append:
        attributes |= TIMESTAMP_TYPE_MASK
    if transactional:
        attributes |= TRANSACTIONAL_MASK
    if control:
        attributes |= CONTROL_MASK
    return attributes


def _encode(
    entries: list[_Entry],
    fields: _Fields,
    last_offset_delta: int,
    log_append_time: int,
    level: int | None,
    base_timestamp: int | None = None,
) -> bytes:
    if base_timestamp is None:
        base_timestamp = entries[0][3] if entries else NO_TIMESTAMP
    body = bytearray()
    max_timestamp = NO_TIMESTAMP
    for key, value, headers, timestamp, offset_delta in entries:
        _append_record(body, key, value, headers, timestamp - base_timestamp, offset_delta)
        max_timestamp = max(max_timestamp, timestamp)
    if fields.attributes & TIMESTAMP_TYPE_MASK and log_append_time != NO_TIMESTAMP:
        max_timestamp = log_append_time
    section = compress(fields.attributes & COMPRESSION_MASK, body, level)
    return _assemble(fields, last_offset_delta, base_timestamp, max_timestamp, len(entries), section)


def _encode_empty(header: BatchHeader, fields: _Fields) -> bytes:
    return _assemble(fields, header.last_offset_delta, header.base_timestamp, header.max_timestamp, 0, b"")


def _assemble(
    fields: _Fields,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    count: int,
    section: bytes,
) -> bytes:
    out = bytearray(HEADER_SIZE + len(section))
    _HEADER.pack_into(
        out,
        0,
        fields.base_offset,
        len(out) - LOG_OVERHEAD,
        fields.leader_epoch,
        CURRENT_MAGIC,
        0,
        fields.attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        fields.producer_id,
        fields.producer_epoch,
        fields.base_sequence,
        count,
    )
    out[HEADER_SIZE:] = section
    U32.pack_into(out, CRC_OFFSET, crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def _append_record(
    out: bytearray,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header],
    timestamp_delta: int,
    offset_delta: int,
) -> None:
    body = bytearray(b"\x00")
    w_varlong(body, timestamp_delta)
    w_varint(body, offset_delta)
    _nullable(body, key)
    _nullable(body, value)
    w_varint(body, len(headers))
    for header_key, header_value in headers:
        _nullable(body, header_key.encode())
        _nullable(body, header_value)
    w_varint(out, len(body))
    out += body


def _nullable(out: bytearray, data: bytes | None) -> None:
    """A record's key, value or header value: varint length (-1 for null) then the bytes."""
    if data is None:
        out.append(1)  # zigzag(-1)
        return
    w_varint(out, len(data))
    out += data
