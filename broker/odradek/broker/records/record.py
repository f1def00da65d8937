"""Records inside a RecordBatch v2, and control records (transaction markers).

The records section (after the 61-byte header, decompressed as a whole when the codec is not 0) holds
``recordCount`` records, each::

    length          varint   bytes of the record after this field
    attributes      int8     unused, 0
    timestampDelta  varlong  timestamp - baseTimestamp
    offsetDelta     varint   offset - baseOffset
    keyLength       varint   -1 = null key
    key             bytes
    valueLength     varint   -1 = null value
    value           bytes
    headerCount     varint
    headers         [headerKeyLength varint, headerKey UTF-8, headerValueLength varint (-1 = null), value]

Varints are zigzag-encoded (protobuf's sint32/sint64): at most 5 bytes for varint, 10 for varlong.
In a LogAppendTime batch every record's timestamp is the batch maxTimestamp.

A control batch holds one control record::

    key    version int16 (0) | type int16 (0 ABORT, 1 COMMIT)
    value  version int16 (0) | coordinatorEpoch int32           (transaction markers)
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.primitives import read_varint, read_varlong
from odradek.broker.records.batch import (
    HEADER_SIZE,
    INVALID_RECORD,
    BatchHeader,
    InvalidRecordBatch,
)
from odradek.broker.records.compression import decompress

ABORT = 0
COMMIT = 1

STORED_MAX_DECOMPRESSED = 1 << 30
"""Sanity bound on one stored batch's decompressed records section, for the cold paths that decode batches
already in the log (compaction, timestamp search, dump-log); produce requests use the validator's bound."""

_CONTROL_KEY = struct.Struct(">hh")
_TXN_MARKER_VALUE = struct.Struct(">hi")

Header = tuple[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record, with absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    attributes: int = 0


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """A transaction marker: `type` is ABORT (0) or COMMIT (1)."""

    type: int
    version: int = 0
    coordinator_epoch: int = 0


def records_section(
    buf: bytes | bytearray | memoryview, header: BatchHeader, max_decompressed: int = STORED_MAX_DECOMPRESSED
) -> bytes:
    """The (decompressed) records section of the batch `header` describes."""
    start = header.position + HEADER_SIZE
    body = memoryview(buf)[start : header.position + header.size]
    return decompress(header.compression, body, max_decompressed)


def iter_records(
    buf: bytes | bytearray | memoryview, header: BatchHeader, max_decompressed: int = STORED_MAX_DECOMPRESSED
) -> Iterator[Record]:
    """Decode every record of one batch, checking each length against the bytes left.

    Raises InvalidRecordBatch (INVALID_RECORD, or CORRUPT_MESSAGE for undecodable compressed data) when the
    section is malformed or does not hold exactly ``recordCount`` records.
    """
    data = records_section(buf, header, max_decompressed)
    reader = _Reader(data)
    log_append = header.is_log_append_time
    for _ in range(header.record_count):
        if reader.position >= len(data):
            raise _invalid("Incorrect declared batch size, premature EOF reached")
        record = _read_record(reader, header)
        if log_append:
            record = Record(
                record.offset,
                header.max_timestamp,
                record.key,
                record.value,
                record.headers,
                record.attributes,
            )
        yield record
    if reader.position != len(data):
        raise _invalid("Incorrect declared batch size, records still remaining in file")


def parse_control_record(record: Record) -> ControlRecord:
    """Parse the key (and, for transaction markers, the value) of a control record."""
    if record.key is None or len(record.key) < _CONTROL_KEY.size:
        raise _invalid("control record has no valid key")
    version, kind = _CONTROL_KEY.unpack_from(record.key)
    if kind not in (ABORT, COMMIT):
        return ControlRecord(kind, version)
    if record.value is None or len(record.value) < _TXN_MARKER_VALUE.size:
        raise _invalid("transaction marker has no valid value")
    _, epoch = _TXN_MARKER_VALUE.unpack_from(record.value)
    return ControlRecord(kind, version, epoch)


def read_control_record(buf: bytes | bytearray | memoryview, header: BatchHeader) -> ControlRecord | None:
    """The control record of the control batch `header` describes (None if the batch holds no record)."""
    first = next(iter_records(buf, header), None)
    return None if first is None else parse_control_record(first)


def control_key(kind: int, version: int = 0) -> bytes:
    return _CONTROL_KEY.pack(version, kind)


def txn_marker_value(coordinator_epoch: int, version: int = 0) -> bytes:
    return _TXN_MARKER_VALUE.pack(version, coordinator_epoch)


def _invalid(message: str) -> InvalidRecordBatch:
    return InvalidRecordBatch(INVALID_RECORD, message)


class _Reader:
    """A cursor over a records section; every read is bounds-checked."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def varint(self) -> int:
        try:
            value, self.position = read_varint(self.data, self.position, len(self.data))
        except ProtocolError as exc:
            raise _invalid(f"bad varint in the records: {exc}") from None
        return value

    def varlong(self) -> int:
        try:
            value, self.position = read_varlong(self.data, self.position, len(self.data))
        except ProtocolError as exc:
            raise _invalid(f"bad varlong in the records: {exc}") from None
        return value

    def take(self, length: int, limit: int) -> bytes:
        if length < 0 or self.position + length > limit:
            raise _invalid(f"length {length} runs past the end of the record")
        start = self.position
        self.position = start + length
        return self.data[start : self.position]

    def nullable(self, limit: int) -> bytes | None:
        length = self.varint()
        if length == -1:
            return None
        return self.take(length, limit)


def _read_record(reader: _Reader, header: BatchHeader) -> Record:
    length = reader.varint()
    end = reader.position + length
    if length <= 0 or end > len(reader.data):
        raise _invalid(f"Invalid record size {length}")
    attributes = reader.take(1, end)[0]
    timestamp = header.base_timestamp + reader.varlong()
    offset = header.base_offset + reader.varint()
    key = reader.nullable(end)
    value = reader.nullable(end)
    count = reader.varint()
    if count < 0 or count > end - reader.position:
        raise _invalid(f"Found invalid number of record headers {count}")
    headers = tuple(_read_header(reader, end) for _ in range(count))
    if reader.position != end:
        raise _invalid(
            f"Invalid record size: expected to read {length} bytes in record payload, "
            f"but instead read {length - (end - reader.position)}"
        )
    return Record(offset, timestamp, key, value, headers, attributes)


def _read_header(reader: _Reader, end: int) -> Header:
    key_length = reader.varint()
    if key_length < 0:
        raise _invalid("Invalid negative header key size")
    try:
        key = reader.take(key_length, end).decode()
    except UnicodeDecodeError as exc:
        raise _invalid("record header key is not UTF-8") from exc
    return key, reader.nullable(end)
