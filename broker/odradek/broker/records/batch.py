"""RecordBatch v2 (magic 2) headers: parse, check, stamp.

On-disk and on-wire layout, big-endian, 61 bytes of header then the records section::

    offset  size  field
    0       8     baseOffset
    8       4     batchLength            (bytes after this field: total size = batchLength + 12)
    12      4     partitionLeaderEpoch
    16      1     magic                  (2)
    17      4     crc                    (CRC-32C, Castagnoli, of bytes [21, end))
    21      2     attributes             (bits 0-2 codec, 3 timestampType, 4 transactional, 5 control,
                                          6 delete horizon)
    23      4     lastOffsetDelta
    27      8     baseTimestamp
    35      8     maxTimestamp
    43      8     producerId
    51      2     producerEpoch
    53      4     baseSequence
    57      4     recordCount
    61      ...   records (compressed as a whole when codec != 0)

The CRC covers neither baseOffset, batchLength, partitionLeaderEpoch nor magic, so the broker assigns offsets and
stamps the leader epoch without recomputing it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import crc32c
from odradek.broker.protocol.primitives import I32, I64

HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: bytes not counted by batchLength
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD  # 49
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35
CURRENT_MAGIC = 2

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_TIMESTAMP = -1  # RecordBatch.NO_TIMESTAMP: also "no timestamp yet" in the time index and in offsets

_HEADER = struct.Struct(">qiibIhiqqqhii")
_OFFSET_AND_LENGTH = struct.Struct(">qi")


class InvalidRecordBatch(Exception):
    """A batch that must not be stored. `error_code` is Kafka's (2 CORRUPT_MESSAGE, 87 INVALID_RECORD, ...)."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


# Kafka error codes raised by the storage layers (records, log), as ints: these layers do not import the protocol
# package's ErrorCode (tests/unit/records/test_records_error_codes.py checks that the values agree).
CORRUPT_MESSAGE = 2
MESSAGE_TOO_LARGE = 10
INVALID_TIMESTAMP = 32
UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
INVALID_RECORD = 87


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The fixed 61-byte header of one batch; `position` is where the batch starts in the buffer it came from."""

    position: int
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id != NO_PRODUCER_ID

    @property
    def last_sequence(self) -> int:
        """The sequence of the last record (-1 without a base sequence); sequences wrap at 2**31 - 1."""
        return sequence_at(self.base_sequence, self.last_offset_delta)


def sequence_at(base_sequence: int, offset_delta: int) -> int:
    """The sequence of the record `offset_delta` after the one holding `base_sequence` (Kafka's
    DefaultRecordBatch.incrementSequence: wraps from 2**31 - 1 to 0); -1 stays -1."""
    if base_sequence == NO_SEQUENCE:
        return NO_SEQUENCE
    return (base_sequence + offset_delta) % (1 << 31)


def read_header(
    buf: memoryview | bytes | bytearray, position: int = 0, *, file_position: int | None = None
) -> BatchHeader:
    """Parse the header at `position`. Checks only that 61 bytes are there and that the magic is 2.

    `file_position`: the `position` to record instead (a header read from a chunk of a file)."""
    if len(buf) - position < HEADER_SIZE:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"batch header truncated at position {position}")
    fields = _HEADER.unpack_from(buf, position)
    if fields[3] != CURRENT_MAGIC:
        raise InvalidRecordBatch(
            UNSUPPORTED_FOR_MESSAGE_FORMAT, f"record batch magic {fields[3]} is not supported (only 2)"
        )
    return BatchHeader(position if file_position is None else file_position, *fields)


def batch_size_at(buf: memoryview | bytes | bytearray, position: int) -> int | None:
    """Total size of the batch starting at `position` if its length field is readable and sane, else None."""
    if len(buf) - position < LOG_OVERHEAD:
        return None
    length: int = _OFFSET_AND_LENGTH.unpack_from(buf, position)[1]
    if length < MIN_BATCH_LENGTH:
        return None
    return length + LOG_OVERHEAD


def complete_prefix_length(buf: memoryview | bytes | bytearray) -> int:
    """Length of the whole batches at the start of `buf` (a read or a fetch slice may end inside a batch)."""
    position = 0
    while True:
        size = batch_size_at(buf, position)
        if size is None or position + size > len(buf):
            return position
        position += size


def compute_crc(buf: memoryview | bytes | bytearray, header: BatchHeader) -> int:
    start = header.position + ATTRIBUTES_OFFSET
    end = header.position + header.size
    view = memoryview(buf)[start:end]
    return int(crc32c.crc32c(view))


def iter_batches(buf: memoryview | bytes | bytearray, verify_crc: bool = True) -> Iterator[BatchHeader]:
    """Walk a buffer of consecutive batches, validating length, magic, CRC and record count bounds.

    Raises InvalidRecordBatch on the first bad batch; a buffer must end exactly at a batch boundary.
    """
    position = 0
    end = len(buf)
    while position < end:
        size = batch_size_at(buf, position)
        if size is None or position + size > end:
            raise InvalidRecordBatch(CORRUPT_MESSAGE, f"record batch at position {position} has a bad length")
        header = read_header(buf, position)
        if header.record_count < 0 or header.last_offset_delta < 0:
            raise InvalidRecordBatch(INVALID_RECORD, "record batch has a negative record count or offset delta")
        if verify_crc and compute_crc(buf, header) != header.crc:
            raise InvalidRecordBatch(CORRUPT_MESSAGE, f"record batch at position {position} fails its CRC-32C")
        yield header
        position += size


def stamp(buf: bytearray | memoryview, header: BatchHeader, base_offset: int, leader_epoch: int) -> None:
    """Write baseOffset and partitionLeaderEpoch in place; the CRC stays valid (it does not cover them)."""
    I64.pack_into(buf, header.position, base_offset)
    I32.pack_into(buf, header.position + PARTITION_LEADER_EPOCH_OFFSET, leader_epoch)
