"""The one varint implementation (protocol/primitives.py), used by the protocol codecs, the records layer and the
log: golden bytes (protobuf/Kafka ByteUtils encodings) and Hypothesis round trips against a plain oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.primitives import (
    Reader,
    read_uvarint,
    read_varint,
    read_varlong,
    w_uvarint,
    w_varint,
    w_varlong,
)
from odradek.broker.records.batch import INVALID_RECORD, InvalidRecordBatch, read_header
from odradek.broker.records.builder import build_batch
from odradek.broker.records.record import iter_records

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
UINT32 = st.integers(0, 2**32 - 1)


def oracle_unsigned(value: int) -> bytes:
    """LEB128, written out independently of the implementation."""
    out = []
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def oracle_zigzag(value: int, bits: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def written(writer, value: int) -> bytes:  # type: ignore[no-untyped-def]
    out = bytearray()
    writer(out, value)
    return bytes(out)


GOLDEN_VARINT = [
    (0, "00"),
    (-1, "01"),
    (1, "02"),
    (63, "7e"),
    (-64, "7f"),
    (64, "8001"),
    (-65, "8101"),
    (2**31 - 1, "feffffff0f"),
    (-(2**31), "ffffffff0f"),
]
GOLDEN_UVARINT = [(0, "00"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**32 - 1, "ffffffff0f")]
GOLDEN_VARLONG = [(0, "00"), (-1, "01"), (2**63 - 1, "feffffffffffffffff01"), (-(2**63), "ffffffffffffffffff01")]


@pytest.mark.parametrize(("value", "hex_bytes"), GOLDEN_VARINT)
def test_varint_golden(value: int, hex_bytes: str) -> None:
    data = bytes.fromhex(hex_bytes)
    assert written(w_varint, value) == data
    assert read_varint(data, 0, len(data)) == (value, len(data))
    assert Reader(data).varint() == value


@pytest.mark.parametrize(("value", "hex_bytes"), GOLDEN_UVARINT)
def test_uvarint_golden(value: int, hex_bytes: str) -> None:
    data = bytes.fromhex(hex_bytes)
    assert written(w_uvarint, value) == data
    assert read_uvarint(data, 0, len(data)) == (value, len(data))


@pytest.mark.parametrize(("value", "hex_bytes"), GOLDEN_VARLONG)
def test_varlong_golden(value: int, hex_bytes: str) -> None:
    data = bytes.fromhex(hex_bytes)
    assert written(w_varlong, value) == data
    assert read_varlong(data, 0, len(data)) == (value, len(data))
    assert Reader(data).varlong() == value


@given(INT32, st.binary(max_size=3))
def test_varint_matches_the_oracle(value: int, trailer: bytes) -> None:
    data = written(w_varint, value)
    assert data == oracle_unsigned(oracle_zigzag(value, 32))
    buf = b"\xaa" + data + trailer
    assert read_varint(buf, 1, len(buf)) == (value, 1 + len(data))


@given(INT64)
def test_varlong_matches_the_oracle(value: int) -> None:
    data = written(w_varlong, value)
    assert data == oracle_unsigned(oracle_zigzag(value, 64))
    assert read_varlong(data, 0, len(data)) == (value, len(data))


@given(UINT32)
def test_uvarint_matches_the_oracle(value: int) -> None:
    data = written(w_uvarint, value)
    assert data == oracle_unsigned(value)
    assert read_uvarint(data, 0, len(data)) == (value, len(data))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", b"\xff\xff\xff\xff", b"\x80\x80\x80\x80\x80\x01", b"\xff\xff\xff\xff\x1f"],
    ids=["empty", "truncated", "truncated-4", "six-bytes", "33-bits"],
)
def test_bad_varints_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_varint(data, 0, len(data))


def test_the_end_bound_is_respected() -> None:
    data = written(w_varint, 300)
    with pytest.raises(ProtocolError):
        read_varint(data, 0, 1)


@given(st.lists(st.tuples(st.none() | st.binary(max_size=200), st.integers(-(2**40), 2**40)), min_size=1, max_size=5))
def test_records_encode_fields_with_the_same_varints(entries: list[tuple[bytes | None, int]]) -> None:
    batch = build_batch([(key, b"v", (), ts) for key, ts in entries])
    decoded = list(iter_records(batch, read_header(batch)))
    assert [(r.key, r.timestamp) for r in decoded] == entries


def test_a_bad_varint_in_a_record_is_invalid_record() -> None:
    batch = bytearray(build_batch([(b"k", b"v", (), 0)]))
    batch[61:] = b"\xff" * (len(batch) - 61)  # the records section: an overlong length varint
    with pytest.raises(InvalidRecordBatch) as raised:
        list(iter_records(batch, read_header(batch)))
    assert raised.value.error_code == INVALID_RECORD
