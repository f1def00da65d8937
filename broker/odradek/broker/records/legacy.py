"""Message formats v0 and v1 (magic 0 and 1 MessageSets): parsed and converted to RecordBatch v2 on produce,
and made from v2 batches for fetches of clients that cannot read magic 2 (down-conversion).

A MessageSet is a sequence of entries, each (Kafka's ``LegacyRecord``)::

    offset       int64
    messageSize  int32    bytes of the message after this field
    crc          uint32   CRC-32 (zlib's, not CRC-32C) of the bytes from magic to the end of the message
    magic        int8     0 or 1
    attributes   int8     bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4), bit 3 (magic 1) LogAppendTime
    timestamp    int64    magic 1 only
    key          bytes    int32 length, -1 = null
    value        bytes    int32 length, -1 = null

A compressed message (a *wrapper*) holds a whole inner MessageSet, compressed, as its value. Inner offsets of a
magic 1 wrapper are relative (KIP-31): the wrapper carries the absolute offset of the last inner message, so an
inner message's offset is ``wrapper.offset - last.relative + inner.relative``; inner offsets of a magic 0 wrapper
are absolute. A LogAppendTime magic 1 wrapper gives its timestamp to every inner message. Magic 0 has no
timestamp: converted records get NO_TIMESTAMP (-1), as Kafka's LogValidator gives them.

Conversion to v2 (Kafka's ``LogValidator.convertAndAssignOffsetsNonCompressed`` and the compressed path): every
(inner) message becomes one record of a single v2 batch (no producer id, no headers), compressed with the
codec of the first wrapper (uncompressed input stays uncompressed); the log validator then treats it as any
producer's v2 batch (offsets, topic compression, timestamps, compaction keys). The CRC-32 of every message,
wrapper and inner, is checked first; the LZ4 frame header checksum of a magic 0 wrapper is not (KAFKA-3160: Kafka
before 0.10 and librdkafka compute it over the frame magic too, and Kafka's broker ignores it for magic 0).

Down-conversion (Kafka's ``RecordsUtil.downConvert``, made lazily by ``LazyDownConversion`` as Kafka's
``LazyDownConversionRecords``): each v2 batch becomes a MessageSet of the target magic, with the batch's codec
(a compressed batch: one wrapper; zstd, which magic 0/1 cannot carry, and lz4 to magic 0, whose pre-KIP-57
frame Kafka writes, are written uncompressed); control batches are dropped; record headers are dropped (magic
0/1 have none); magic 0 loses the timestamps.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from odradek.broker.records.batch import (
    CORRUPT_MESSAGE,
    INVALID_RECORD,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    NO_TIMESTAMP,
    InvalidRecordBatch,
    batch_size_at,
    read_header,
)
from odradek.broker.records.builder import RecordInput, build_batch
from odradek.broker.records.compression import GZIP, LZ4, NONE, SNAPPY, compress, decompress
from odradek.broker.records.record import STORED_MAX_DECOMPRESSED, iter_records

MAGIC_V0 = 0
MAGIC_V1 = 1
CODEC_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
LEGACY_CODECS = frozenset({NONE, GZIP, SNAPPY, LZ4})

_ENTRY = struct.Struct(">qiIbb")  # offset, messageSize, crc, magic, attributes
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_CRC_START = 16  # offset(8) + messageSize(4) + crc(4): the CRC covers magic onwards
MIN_MESSAGE_SIZE_V0 = 14  # crc 4, magic 1, attributes 1, key length 4, value length 4
MIN_MESSAGE_SIZE_V1 = 22  # v0 + timestamp 8
MIN_OVERFLOW_ENTRY = 12  # offset + size of the filler entry a down-converted response ends with


@dataclass(frozen=True, slots=True)
class LegacyMessage:
    """One message of a MessageSet, with the offset as written (relative inside a magic 1 wrapper)."""

    offset: int
    magic: int
    attributes: int
    timestamp: int  # NO_TIMESTAMP for magic 0
    key: bytes | None
    value: bytes | None

    @property
    def codec(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def is_log_append_time(self) -> bool:
        return self.magic == MAGIC_V1 and bool(self.attributes & TIMESTAMP_TYPE_MASK)


def magic_of(buf: bytes | bytearray | memoryview) -> int | None:
    """The magic byte of the first entry (the same position in a MessageSet and a RecordBatch), or None."""
    return buf[MAGIC_OFFSET] if len(buf) > MAGIC_OFFSET else None


def is_legacy(buf: bytes | bytearray | memoryview) -> bool:
    magic = magic_of(buf)
    return magic is not None and magic < 2


def iter_messages(buf: bytes | bytearray | memoryview, allow_partial: bool = False) -> Iterator[LegacyMessage]:
    """The top-level messages of a MessageSet, each CRC-checked. A set must end at a message boundary unless
    `allow_partial` (a fetched slice may end inside a message)."""
    view = memoryview(buf)
    position = 0
    while position < len(view):
        if len(view) - position < LOG_OVERHEAD + MIN_MESSAGE_SIZE_V0:
            if allow_partial:
                return
            raise InvalidRecordBatch(CORRUPT_MESSAGE, f"message set truncated at position {position}")
        offset, size, crc, magic, attributes = _ENTRY.unpack_from(view, position)
        end = position + LOG_OVERHEAD + size
        if end > len(view):
            if allow_partial:
                return
            raise InvalidRecordBatch(CORRUPT_MESSAGE, f"message at position {position} is truncated")
        yield _read_message(view, position, end, offset, size, crc, magic, attributes)
        position = end


def _read_message(
    view: memoryview, position: int, end: int, offset: int, size: int, crc: int, magic: int, attributes: int
) -> LegacyMessage:
    if magic not in (MAGIC_V0, MAGIC_V1):
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"message at position {position} has magic {magic}")
    if size < (MIN_MESSAGE_SIZE_V0 if magic == MAGIC_V0 else MIN_MESSAGE_SIZE_V1):
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"message at position {position} is too small ({size} bytes)")
    if zlib.crc32(view[position + _CRC_START : end]) != crc:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"message at position {position} fails its CRC-32")
    at = position + _CRC_START + 2
    timestamp = NO_TIMESTAMP
    if magic == MAGIC_V1:
        (timestamp,) = _I64.unpack_from(view, at)
        at += 8
    key, at = _read_bytes(view, at, end)
    value, at = _read_bytes(view, at, end)
    if at != end:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"message at position {position} has {end - at} trailing bytes")
    return LegacyMessage(offset, magic, attributes, timestamp, key, value)


def _read_bytes(view: memoryview, at: int, end: int) -> tuple[bytes | None, int]:
    if end - at < 4:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, "message key or value length truncated")
    (length,) = _I32.unpack_from(view, at)
    at += 4
    if length < 0:
        return None, at
    if at + length > end:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, "message key or value overruns the message")
    return bytes(view[at : at + length]), at + length


def deep_messages(
    buf: bytes | bytearray | memoryview, max_decompressed: int = STORED_MAX_DECOMPRESSED
) -> Iterator[tuple[LegacyMessage, int]]:
    """Every message of a MessageSet with wrappers expanded, each with the codec of its wrapper (NONE for a
    top-level message): absolute offsets, inherited LogAppendTime timestamps. Nested wrappers and inner
    messages of another magic than their wrapper are refused (Kafka's LogValidator: INVALID_RECORD). The frame
    header checksum of a magic 0 lz4 wrapper is not checked, as Kafka does not check it
    (`fix_lz4_header_checksum`)."""
    for message in iter_messages(buf):
        if message.codec == NONE:
            yield message, NONE
            continue
        if message.codec not in LEGACY_CODECS:
            raise InvalidRecordBatch(INVALID_RECORD, f"compression codec {message.codec} in a legacy message")
        value = message.value or b""
        if message.codec == LZ4 and message.magic == MAGIC_V0:
            value = fix_lz4_header_checksum(value)
        inner = list(iter_messages(decompress(message.codec, value, max_decompressed)))
        if not inner:
            raise InvalidRecordBatch(INVALID_RECORD, "compressed outer message has no inner messages")
        for expanded in _expand(message, inner):
            yield expanded, message.codec


_LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"
_XXH_PRIME_1 = 2654435761
_XXH_PRIME_2 = 2246822519
_XXH_PRIME_3 = 3266489917
_XXH_PRIME_4 = 668265263
_XXH_PRIME_5 = 374761393
_U32 = 0xFFFFFFFF


def fix_lz4_header_checksum(frame: bytes) -> bytes:
    """An LZ4 frame of a magic 0 message with its header checksum recomputed. Kafka before 0.10 (KAFKA-3160)
    computed it over the frame magic as well, and librdkafka still writes it so for message format v0; Kafka's
    broker ignores it for magic 0. Layout: magic (4) | FLG | BD | [content size (8) if FLG bit 3] |
    [dictionary id (4) if FLG bit 0] | HC = (xxHash32(FLG .. before HC) >> 8) & 0xFF."""
    if len(frame) < 7 or frame[:4] != _LZ4_FRAME_MAGIC:
        return frame  # not an LZ4 frame: the decoder reports it
    flags = frame[4]
    at = 6 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0)
    if len(frame) <= at:
        return frame
    checksum = (xxh32(frame[4:at]) >> 8) & 0xFF
    return frame[:at] + bytes([checksum]) + frame[at + 1 :]


def xxh32(data: bytes, seed: int = 0) -> int:
    """xxHash32 of fewer than 16 bytes (an LZ4 frame descriptor is at most 14): the specification's short path."""
    if len(data) >= 16:
        raise ValueError("xxh32 here covers inputs shorter than 16 bytes only")
    h = (seed + _XXH_PRIME_5 + len(data)) & _U32
    at = 0
    while at + 4 <= len(data):
        h = (h + int.from_bytes(data[at : at + 4], "little") * _XXH_PRIME_3) & _U32
        h = (_rotl(h, 17) * _XXH_PRIME_4) & _U32
        at += 4
    for byte in data[at:]:
        h = (h + byte * _XXH_PRIME_5) & _U32
        h = (_rotl(h, 11) * _XXH_PRIME_1) & _U32
    h ^= h >> 15
    h = (h * _XXH_PRIME_2) & _U32
    h ^= h >> 13
    h = (h * _XXH_PRIME_3) & _U32
    return h ^ (h >> 16)


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _U32


def _expand(wrapper: LegacyMessage, inner: Sequence[LegacyMessage]) -> Iterator[LegacyMessage]:
    shift = wrapper.offset - inner[-1].offset if wrapper.magic == MAGIC_V1 else 0
    for message in inner:
        if message.codec != NONE:
            raise InvalidRecordBatch(INVALID_RECORD, "compressed message inside a compressed message")
        if message.magic != wrapper.magic:
            raise InvalidRecordBatch(INVALID_RECORD, "inner message magic differs from its wrapper's")
        timestamp = wrapper.timestamp if wrapper.is_log_append_time else message.timestamp
        yield LegacyMessage(
            message.offset + shift, message.magic, message.attributes, timestamp, message.key, message.value
        )


def to_record_batch(buf: bytes | bytearray | memoryview, max_decompressed: int = STORED_MAX_DECOMPRESSED) -> bytes:
    """The MessageSet `buf` (magic 0 or 1) as one RecordBatch v2 at base offset 0 (the log assigns offsets),
    compressed with the codec of its first message. Raises InvalidRecordBatch on a bad message."""
    messages = list(deep_messages(buf, max_decompressed))
    if not messages:
        raise InvalidRecordBatch(INVALID_RECORD, "empty message set")
    records: list[RecordInput] = [(m.key, m.value, (), m.timestamp) for m, _ in messages]
    return build_batch(records, codec=messages[0][1])


def append_message(
    out: bytearray,
    offset: int,
    magic: int,
    attributes: int,
    timestamp: int,
    key: bytes | None,
    value: bytes | None,
) -> None:
    """Append one MessageSet entry with its CRC-32."""
    body = bytearray(struct.pack(">bb", magic, attributes))
    if magic == MAGIC_V1:
        body += _I64.pack(timestamp)
    for data in (key, value):
        if data is None:
            body += _I32.pack(-1)
        else:
            body += _I32.pack(len(data))
            body += data
    out += struct.pack(">qiI", offset, len(body) + 4, zlib.crc32(body))
    out += body


def down_convert_batch(buf: bytes | bytearray | memoryview, position: int, magic: int) -> tuple[bytes, int]:
    """The v2 batch at `position` of `buf` as a MessageSet of `magic` (0 or 1), and the number of records in it.
    A control batch converts to nothing."""
    header = read_header(buf, position)
    if header.is_control:
        return b"", 0
    records = list(iter_records(buf, header))
    if not records:
        return b"", 0
    codec = header.compression
    log_append = header.is_log_append_time and magic == MAGIC_V1
    ts_attribute = TIMESTAMP_TYPE_MASK if log_append else 0
    out = bytearray()
    if codec not in LEGACY_CODECS or codec == NONE or (codec == LZ4 and magic == MAGIC_V0):
        for record in records:
            append_message(out, record.offset, magic, ts_attribute, record.timestamp, record.key, record.value)
        return bytes(out), len(records)
    inner = bytearray()
    first = records[0].offset
    for record in records:
        relative = record.offset - first if magic == MAGIC_V1 else record.offset
        append_message(inner, relative, magic, ts_attribute, record.timestamp, record.key, record.value)
    last = records[-1]
    timestamp = header.max_timestamp if magic == MAGIC_V1 else NO_TIMESTAMP
    append_message(out, last.offset, magic, codec | ts_attribute, timestamp, None, compress(codec, inner))
    return bytes(out), len(records)


Read = Callable[[int, int], bytes]
"""read(position, size) -> up to `size` bytes of the source at `position` (os.pread of a segment file)."""


class LazyDownConversion:
    """Kafka's LazyDownConversionRecords: v2 batches read from a file slice and converted one batch at a time,
    while the response is sent, so that memory holds one batch and its conversion, never the whole slice.

    The response's length prefix must be known before the first byte goes out, so `size` is promised up front:
    the slice's size, or the first converted batch's if that is larger (converted now, so a single batch always
    goes out whole). `pieces()` then yields exactly `size` bytes: converted batches, the last one cut where the
    promise ends (the client drops a partial message, as it does at the end of any fetch, and fetches again
    from there), then, if the conversions came out smaller, a filler entry (offset -1, a size past the end),
    which clients take for a partial message and ignore. `converted` counts the records converted so far (the
    FetchMessageConversions metric)."""

    __slots__ = ("_first", "_magic", "_position", "_read", "_slice_end", "converted", "size")

    def __init__(self, read: Read, position: int, size: int, magic: int) -> None:
        self._read = read
        self._magic = magic
        self._slice_end = position + size
        self.converted = 0
        first = self._next_batch(position)
        self._first: tuple[bytes, int, int] | None = first
        self.size = max(size, len(first[0]) if first is not None else 0)
        self._position = position

    def _next_batch(self, position: int) -> tuple[bytes, int, int] | None:
        """(converted bytes, records, position after the batch) of the next batch that is whole in the slice."""
        while self._slice_end - position >= LOG_OVERHEAD:
            size = batch_size_at(self._read(position, LOG_OVERHEAD), 0)
            if size is None or position + size > self._slice_end:
                return None
            data = self._read(position, size)
            if len(data) < size:
                return None
            converted, count = down_convert_batch(data, 0, self._magic)
            if converted:
                return converted, count, position + size
            position += size  # a control batch: nothing to send
        return None

    def pieces(self) -> Iterator[bytes]:
        remaining = self.size
        batch = self._first
        self._first = None
        while batch is not None and remaining > 0:
            data, count, after = batch
            piece = data[:remaining]
            remaining -= len(piece)
            self.converted += count
            yield piece
            batch = self._next_batch(after) if remaining > 0 else None
        if remaining > 0:
            yield overflow_entry(remaining)


def overflow_entry(remaining: int) -> bytes:
    """`remaining` bytes that a client reads as the start of a message too long to be there (Kafka's
    LazyDownConversionRecordsSend fills the rest of the promised size the same way)."""
    entry = bytearray(remaining)
    if remaining >= MIN_OVERFLOW_ENTRY:
        struct.pack_into(">qi", entry, 0, -1, remaining + 1)
    return bytes(entry)
