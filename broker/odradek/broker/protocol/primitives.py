"""Kafka wire primitives: a bounds-checked reader over a memoryview, and bytearray writers.

Wire formats (all integers big-endian):

- ``int8/int16/int32/int64``, ``uint16/uint32``, ``float64`` (IEEE 754 double), ``boolean`` (one byte,
  non-zero is true); ``uuid`` is 16 raw bytes.
- ``unsigned varint``: 7 bits per byte, low group first, high bit set on all but the last byte; at most
  5 bytes (32 bits). ``varint``/``varlong`` are zigzag-encoded signed values of at most 5/10 bytes.
- legacy ``string``: int16 length then UTF-8 bytes; -1 is null (only for nullable strings).
- legacy ``bytes``: int32 length then raw bytes; -1 is null. Legacy arrays: int32 count, -1 is null.
- compact string/bytes/array (flexible versions): unsigned varint N, where N = length + 1 and 0 is null.
- tagged-field section (flexible versions): uvarint count, then per field uvarint tag, uvarint size, data.

Every length is checked against the remaining bytes before any slice or allocation; any violation raises
:class:`~odradek.broker.protocol.errors.ProtocolError`. Byte fields decode to zero-copy ``memoryview`` slices
of the input buffer.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

from odradek.broker.protocol.errors import ProtocolError

I8 = struct.Struct(">b")
I16 = struct.Struct(">h")
I32 = struct.Struct(">i")
I64 = struct.Struct(">q")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
F64 = struct.Struct(">d")
UUID_ZERO = uuid.UUID(int=0)

_MAX_U32 = 0xFFFFFFFF


class Reader:
    """A cursor over a read-only buffer; ``pos`` is the next byte to read, ``end`` the exclusive limit."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: memoryview | bytes | bytearray, pos: int = 0, end: int | None = None) -> None:
        mv = buf if isinstance(buf, memoryview) else memoryview(buf)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        self.buf = mv
        self.pos = pos
        self.end = len(mv) if end is None else end
        if not 0 <= pos <= self.end <= len(mv):
            raise ProtocolError("reader bounds outside buffer")

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> int:
        """Reserve ``n`` bytes; return their start offset."""
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise ProtocolError(f"need {n} bytes at offset {pos}, {self.end - pos} left")
        self.pos = pos + n
        return pos

    def skip(self, n: int) -> None:
        self._need(n)

    def unpack(self, s: struct.Struct) -> tuple[Any, ...]:
        """Unpack a precompiled fixed-size struct (several fields at once)."""
        return s.unpack_from(self.buf, self._need(s.size))

    # fixed-width
    def int8(self) -> int:
        return int(I8.unpack_from(self.buf, self._need(1))[0])

    def int16(self) -> int:
        return int(I16.unpack_from(self.buf, self._need(2))[0])

    def int32(self) -> int:
        return int(I32.unpack_from(self.buf, self._need(4))[0])

    def int64(self) -> int:
        return int(I64.unpack_from(self.buf, self._need(8))[0])

    def uint16(self) -> int:
        return int(U16.unpack_from(self.buf, self._need(2))[0])

    def uint32(self) -> int:
        return int(U32.unpack_from(self.buf, self._need(4))[0])

    def float64(self) -> float:
        return float(F64.unpack_from(self.buf, self._need(8))[0])

    def boolean(self) -> bool:
        return self.buf[self._need(1)] != 0

    def uuid(self) -> uuid.UUID:
        pos = self._need(16)
        return uuid.UUID(bytes=bytes(self.buf[pos : pos + 16]))

    # varints (the one implementation is `read_uvarint` below; the one-byte case is inlined for speed)
    def uvarint(self) -> int:
        """Unsigned varint, at most 5 bytes and 32 bits."""
        pos = self.pos
        if pos < self.end:
            b = self.buf[pos]
            if b < 0x80:
                self.pos = pos + 1
                return int(b)
        v, self.pos = read_uvarint(self.buf, pos, self.end)
        return v

    def varint(self) -> int:
        """Zigzag signed varint (int32)."""
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def varlong(self) -> int:
        """Zigzag signed varlong (int64), at most 10 bytes."""
        v, self.pos = read_varlong(self.buf, self.pos, self.end)
        return v

    # strings
    def _text(self, n: int) -> str:
        pos = self._need(n)
        try:
            return str(self.buf[pos : pos + n], "utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in string") from exc

    def string(self) -> str:
        n = self.int16()
        if n < 0:
            raise ProtocolError("null or negative length for non-nullable string")
        return self._text(n)

    def nullable_string(self) -> str | None:
        n = self.int16()
        if n == -1:
            return None
        if n < 0:
            raise ProtocolError("negative string length")
        return self._text(n)

    def compact_string(self) -> str:
        n = self.uvarint() - 1
        if n < 0:
            raise ProtocolError("null for non-nullable compact string")
        return self._text(n)

    def compact_nullable_string(self) -> str | None:
        n = self.uvarint() - 1
        if n < 0:
            return None
        return self._text(n)

    # bytes (zero copy)
    def _slice(self, n: int) -> memoryview:
        pos = self._need(n)
        return self.buf[pos : pos + n]

    def bytes_(self) -> memoryview:
        n = self.int32()
        if n < 0:
            raise ProtocolError("null or negative length for non-nullable bytes")
        return self._slice(n)

    def nullable_bytes(self) -> memoryview | None:
        n = self.int32()
        if n == -1:
            return None
        if n < 0:
            raise ProtocolError("negative bytes length")
        return self._slice(n)

    def compact_bytes(self) -> memoryview:
        n = self.uvarint() - 1
        if n < 0:
            raise ProtocolError("null for non-nullable compact bytes")
        return self._slice(n)

    def compact_nullable_bytes(self) -> memoryview | None:
        n = self.uvarint() - 1
        if n < 0:
            return None
        return self._slice(n)

    # arrays: the count is bounded by the bytes left (every element takes at least min_size bytes)
    def _count(self, n: int, min_size: int) -> int:
        if n * min_size > self.end - self.pos:
            raise ProtocolError(f"array of {n} elements cannot fit in {self.end - self.pos} bytes")
        return n

    def array_len(self, min_size: int = 1) -> int:
        n = self.int32()
        if n < 0:
            raise ProtocolError("null or negative count for non-nullable array")
        return self._count(n, min_size)

    def nullable_array_len(self, min_size: int = 1) -> int:
        """Legacy array count; -1 means null."""
        n = self.int32()
        if n == -1:
            return -1
        if n < 0:
            raise ProtocolError("negative array count")
        return self._count(n, min_size)

    def compact_array_len(self, min_size: int = 1) -> int:
        n = self.uvarint() - 1
        if n < 0:
            raise ProtocolError("null for non-nullable compact array")
        return self._count(n, min_size)

    def compact_nullable_array_len(self, min_size: int = 1) -> int:
        """Compact array count; -1 means null."""
        n = self.uvarint() - 1
        if n < 0:
            return -1
        return self._count(n, min_size)

    def fixed_array(self, s: struct.Struct, n: int) -> list[Any]:
        """``n`` elements of one fixed-size struct type (int32 arrays and the like)."""
        size = s.size * n
        pos = self._need(size)
        return [t[0] for t in s.iter_unpack(self.buf[pos : pos + size])]

    # tagged fields
    def tag_header(self) -> tuple[int, int]:
        """Read one tag's (tag, end offset) and check that its size fits."""
        tag = self.uvarint()
        size = self.uvarint()
        if size > self.end - self.pos:
            raise ProtocolError("tagged field larger than the remaining bytes")
        return tag, self.pos + size

    def skip_tagged_fields(self) -> None:
        """Skip a whole tagged-field section (no known tags at this point)."""
        for _ in range(self.uvarint()):
            _, end = self.tag_header()
            self.pos = end

    def tag_end(self, end: int) -> None:
        """Check that a known tagged field consumed exactly its declared size."""
        if self.pos != end:
            raise ProtocolError("tagged field size mismatch")


# ---------------------------------------------------------------------------------------------- varints
# The only varint code of the broker: protocol (compact lengths, tagged fields), records (record fields) and
# log (dump-log) all call these. `buf` is anything indexable by int giving bytes (bytes, bytearray, memoryview).


def read_uvarint(buf: memoryview | bytes | bytearray, pos: int, end: int, max_bytes: int = 5) -> tuple[int, int]:
    """Unsigned varint at `pos` (before `end`) -> (value, next position).

    At most `max_bytes` bytes (5 for a varint, 10 for a varlong) and 32 (resp. 64) bits, as Kafka's
    ByteUtils.readUnsignedVarint/readVarlong; otherwise ProtocolError."""
    result = 0
    shift = 0
    for i in range(pos, min(end, pos + max_bytes)):
        b = buf[i]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >> (32 if max_bytes <= 5 else 64):
                raise ProtocolError("varint exceeds 32 bits" if max_bytes <= 5 else "varlong exceeds 64 bits")
            return result, i + 1
        shift += 7
    if end - pos < max_bytes:
        raise ProtocolError("truncated varint")
    raise ProtocolError(f"varint longer than {max_bytes} bytes")


def read_varint(buf: memoryview | bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """Zigzag signed varint (int32, at most 5 bytes) at `pos` -> (value, next position)."""
    b = buf[pos] if pos < end else 0x80
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    v, pos = read_uvarint(buf, pos, end)
    return (v >> 1) ^ -(v & 1), pos


def read_varlong(buf: memoryview | bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """Zigzag signed varlong (int64, at most 10 bytes) at `pos` -> (value, next position)."""
    b = buf[pos] if pos < end else 0x80
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    v, pos = read_uvarint(buf, pos, end, 10)
    return (v >> 1) ^ -(v & 1), pos


# ---------------------------------------------------------------------------------------------- writers


def w_uvarint(w: bytearray, v: int) -> None:
    """Unsigned varint (v must be in 0 .. 2**32-1; callers pass lengths and counts)."""
    if 0 <= v < 0x80:
        w.append(v)
        return
    if v < 0 or v > _MAX_U32:
        raise ProtocolError("unsigned varint out of range")
    while v >= 0x80:
        w.append((v & 0x7F) | 0x80)
        v >>= 7
    w.append(v)


def w_uvarlong(w: bytearray, v: int) -> None:
    while v >= 0x80:
        w.append((v & 0x7F) | 0x80)
        v >>= 7
    w.append(v)


def w_varint(w: bytearray, v: int) -> None:
    w_uvarint(w, ((v << 1) ^ (v >> 31)) & _MAX_U32)


def w_varlong(w: bytearray, v: int) -> None:
    w_uvarlong(w, ((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)


def w_string(w: bytearray, s: str | None) -> None:
    if s is None:
        raise ProtocolError("null for non-nullable string")
    b = s.encode()
    w += I16.pack(len(b))
    w += b


def w_nullable_string(w: bytearray, s: str | None) -> None:
    if s is None:
        w += b"\xff\xff"
        return
    b = s.encode()
    w += I16.pack(len(b))
    w += b


def w_compact_string(w: bytearray, s: str | None) -> None:
    if s is None:
        raise ProtocolError("null for non-nullable compact string")
    b = s.encode()
    w_uvarint(w, len(b) + 1)
    w += b


def w_compact_nullable_string(w: bytearray, s: str | None) -> None:
    if s is None:
        w.append(0)
        return
    b = s.encode()
    w_uvarint(w, len(b) + 1)
    w += b


def w_bytes(w: bytearray, b: bytes | memoryview | None) -> None:
    if b is None:
        raise ProtocolError("null for non-nullable bytes")
    w += I32.pack(len(b))
    w += b


def w_nullable_bytes(w: bytearray, b: bytes | memoryview | None) -> None:
    if b is None:
        w += b"\xff\xff\xff\xff"
        return
    w += I32.pack(len(b))
    w += b


def w_compact_bytes(w: bytearray, b: bytes | memoryview | None) -> None:
    if b is None:
        raise ProtocolError("null for non-nullable compact bytes")
    w_uvarint(w, len(b) + 1)
    w += b


def w_compact_nullable_bytes(w: bytearray, b: bytes | memoryview | None) -> None:
    if b is None:
        w.append(0)
        return
    w_uvarint(w, len(b) + 1)
    w += b


def w_array_len(w: bytearray, n: int) -> None:
    w += I32.pack(n)


def w_compact_array_len(w: bytearray, n: int) -> None:
    """Compact array count; pass -1 for null."""
    w_uvarint(w, n + 1)


def w_tagged_fields(w: bytearray, fields: list[tuple[int, bytearray]]) -> None:
    """Write a tagged-field section from (tag, encoded value) pairs in ascending tag order."""
    w_uvarint(w, len(fields))
    for tag, data in fields:
        w_uvarint(w, tag)
        w_uvarint(w, len(data))
        w += data
