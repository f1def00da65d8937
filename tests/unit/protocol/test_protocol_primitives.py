"""Primitive reader/writer edge cases: overlong varints, negative and oversized lengths, illegal nulls."""

from __future__ import annotations

import uuid

import pytest
from odradek.broker.protocol.errors import ErrorCode, ProtocolError
from odradek.broker.protocol.primitives import (
    Reader,
    w_compact_array_len,
    w_compact_nullable_bytes,
    w_compact_nullable_string,
    w_compact_string,
    w_nullable_bytes,
    w_nullable_string,
    w_string,
    w_tagged_fields,
    w_uvarint,
    w_varint,
    w_varlong,
)


def enc(fn, v) -> bytes:  # type: ignore[no-untyped-def]
    w = bytearray()
    fn(w, v)
    return bytes(w)


@pytest.mark.parametrize("v", [0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**32 - 1])
def test_uvarint_roundtrip(v: int) -> None:
    data = enc(w_uvarint, v)
    r = Reader(data)
    assert r.uvarint() == v
    assert r.pos == len(data)


@pytest.mark.parametrize("v", [0, -1, 1, -64, 63, 2**31 - 1, -(2**31)])
def test_varint_zigzag(v: int) -> None:
    assert Reader(enc(w_varint, v)).varint() == v


@pytest.mark.parametrize("v", [0, -1, 2**63 - 1, -(2**63), 1234567890123])
def test_varlong_zigzag(v: int) -> None:
    data = enc(w_varlong, v)
    assert len(data) <= 10
    assert Reader(data).varlong() == v


def test_known_varint_bytes() -> None:
    assert enc(w_uvarint, 300) == b"\xac\x02"
    assert enc(w_varint, -1) == b"\x01"
    assert enc(w_varint, 1) == b"\x02"


def test_overlong_uvarint_rejected() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\x80\x80\x80\x80\x80\x01").uvarint()
    with pytest.raises(ProtocolError):  # 5 bytes but more than 32 bits
        Reader(b"\xff\xff\xff\xff\x7f").uvarint()


def test_overlong_varlong_rejected() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\x80" * 10 + b"\x01").varlong()


def test_truncated_varint() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\x80\x80").uvarint()


def test_fixed_width_truncated() -> None:
    for fn in ("int8", "int16", "int32", "int64", "uint16", "uint32", "float64", "boolean", "uuid"):
        with pytest.raises(ProtocolError):
            getattr(Reader(b""), fn)()
    with pytest.raises(ProtocolError):
        Reader(b"\x00\x00\x00").int32()


def test_uuid() -> None:
    u = uuid.uuid4()
    assert Reader(u.bytes).uuid() == u


def test_strings() -> None:
    assert Reader(enc(w_string, "héllo")).string() == "héllo"
    assert Reader(enc(w_nullable_string, None)).nullable_string() is None
    assert Reader(enc(w_compact_string, "abc")).compact_string() == "abc"
    assert Reader(enc(w_compact_nullable_string, None)).compact_nullable_string() is None
    with pytest.raises(ProtocolError):
        enc(w_string, None)


def test_null_where_not_allowed() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\xff\xff").string()
    with pytest.raises(ProtocolError):
        Reader(b"\x00").compact_string()
    with pytest.raises(ProtocolError):
        Reader(b"\xff\xff\xff\xff").bytes_()
    with pytest.raises(ProtocolError):
        Reader(b"\xff\xff\xff\xff").array_len()
    with pytest.raises(ProtocolError):
        Reader(b"\x00").compact_array_len()


def test_negative_lengths() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\xff\xfe").nullable_string()
    with pytest.raises(ProtocolError):
        Reader(b"\xff\xff\xff\xfe").nullable_bytes()
    with pytest.raises(ProtocolError):
        Reader(b"\xff\xff\xff\xfe").nullable_array_len()


def test_length_beyond_buffer() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\x00\x05abc").string()
    with pytest.raises(ProtocolError):
        Reader(b"\x7f\xff\xff\xff").bytes_()
    with pytest.raises(ProtocolError):
        Reader(b"\x7f\xff\xff\xff").array_len()
    with pytest.raises(ProtocolError):  # 1,000,000 elements cannot fit in 3 bytes
        Reader(b"\xc0\x84\x3d" + b"\x00" * 3).compact_array_len()
    with pytest.raises(ProtocolError):
        Reader(b"\x00\x00\x00\x02\x00\x00\x00\x01").array_len(min_size=4)


def test_invalid_utf8() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"\x00\x01\xff").string()


def test_bytes_are_zero_copy() -> None:
    buf = bytearray(enc(w_nullable_bytes, b"abcdef"))
    view = Reader(buf).nullable_bytes()
    assert isinstance(view, memoryview)
    assert view == b"abcdef"
    assert view.obj is buf
    assert Reader(enc(w_compact_nullable_bytes, None)).compact_nullable_bytes() is None


def test_tagged_fields() -> None:
    w = bytearray()
    w_tagged_fields(w, [(0, bytearray(b"\x01\x02")), (5, bytearray(b""))])
    w += b"Z"
    r = Reader(bytes(w))
    r.skip_tagged_fields()
    assert r.int8() == ord("Z")
    with pytest.raises(ProtocolError):  # tag claims 100 bytes
        Reader(b"\x01\x00\x64\x00").skip_tagged_fields()


def test_compact_array_len_null() -> None:
    assert Reader(enc(w_compact_array_len, -1)).compact_nullable_array_len() == -1
    assert Reader(enc(w_compact_array_len, 2) + b"\x00\x00").compact_array_len() == 2


def test_reader_bounds() -> None:
    r = Reader(b"\x00\x01\x02\x03", pos=1, end=3)
    assert r.int16() == 0x0102
    with pytest.raises(ProtocolError):
        r.int8()
    with pytest.raises(ProtocolError):
        Reader(b"ab", pos=3)


def test_error_codes() -> None:
    assert ErrorCode.UNKNOWN_SERVER_ERROR == -1
    assert ErrorCode.NONE == 0
    assert ErrorCode.NOT_LEADER_OR_FOLLOWER == 6
    assert ErrorCode.UNSUPPORTED_VERSION == 35
    assert ErrorCode.TRANSACTION_ABORTABLE == 120
    assert [int(e) for e in ErrorCode] == list(range(-1, 134))
    assert ErrorCode.from_code(9999) is ErrorCode.UNKNOWN_SERVER_ERROR
    assert ErrorCode.NOT_COORDINATOR.retriable
    assert not ErrorCode.TOPIC_AUTHORIZATION_FAILED.retriable
