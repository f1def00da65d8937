"""__transaction_state records as golden bytes of Kafka's TransactionLogKey.json / TransactionLogValue.json."""

from __future__ import annotations

import struct

import pytest
from odradek.broker.txn.state import TransactionState
from odradek.broker.txn.transaction_log import (
    TransactionLogFormatError,
    TransactionLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)

S = TransactionState


def test_key_is_version_0_and_the_transactional_id() -> None:
    assert encode_key("tx-1") == b"\x00\x00" + b"\x00\x04tx-1"
    assert decode_key(b"\x00\x00\x00\x04tx-1") == "tx-1"
    with pytest.raises(TransactionLogFormatError):
        decode_key(b"\x00\x01\x00\x01x")


def _v0(pid: int, epoch: int, timeout: int, status: int, partitions: bytes, last: int, start: int) -> bytes:
    """TransactionLogValue v0 laid out field by field from the schema."""
    return struct.pack(">hqhib", 0, pid, epoch, timeout, status) + partitions + struct.pack(">qq", last, start)


ONGOING = TransactionLogValue(
    1000, 2, 60_000, S.ONGOING, (("t", (0, 1)), ("u", (3,))), 1_700_000_000_123, 1_700_000_000_000
)
ONGOING_BYTES = _v0(
    1000,
    2,
    60_000,
    1,
    struct.pack(">i", 2)
    + struct.pack(">h", 1) + b"t" + struct.pack(">iii", 2, 0, 1)
    + struct.pack(">h", 1) + b"u" + struct.pack(">ii", 1, 3),
    1_700_000_000_123,
    1_700_000_000_000,
)  # fmt: skip


def test_value_v0_golden_bytes() -> None:
    assert encode_value(ONGOING) == ONGOING_BYTES
    assert decode_value(ONGOING_BYTES) == ONGOING


def test_an_empty_transaction_writes_a_null_partition_list_and_complete_ones_an_empty_list() -> None:
    empty = TransactionLogValue(7, 0, 30_000, S.EMPTY, (), 5, -1)
    assert encode_value(empty) == _v0(7, 0, 30_000, 0, struct.pack(">i", -1), 5, -1)
    assert decode_value(encode_value(empty)) == empty
    done = TransactionLogValue(7, 0, 30_000, S.COMPLETE_COMMIT, (), 6, 5)
    assert encode_value(done) == _v0(7, 0, 30_000, 4, struct.pack(">i", 0), 6, 5)


def test_value_v1_flexible_with_tagged_fields_is_read() -> None:
    data = (
        struct.pack(">hqhib", 1, 1000, 2, 60_000, 2)
        + bytes([2, 2]) + b"t" + bytes([2]) + struct.pack(">i", 0) + bytes([0])  # compact array, string, [int32], tags
        + struct.pack(">qq", 11, 10)
        + bytes([3])  # three tagged fields
        + bytes([0, 8]) + struct.pack(">q", 999)  # PreviousProducerId
        + bytes([1, 8]) + struct.pack(">q", 1001)  # NextProducerId
        + bytes([2, 2]) + struct.pack(">h", 2)  # ClientTransactionVersion
    )  # fmt: skip
    value = decode_value(data)
    assert value == TransactionLogValue(1000, 2, 60_000, S.PREPARE_COMMIT, (("t", (0,)),), 11, 10, 999, 1001, 2)
    assert encode_value(value, version=1) == data


@pytest.mark.parametrize("data", [b"", b"\x00\x05", ONGOING_BYTES[:-3], _v0(1, 0, 1, 9, b"\x00\x00\x00\x00", 0, 0)])
def test_unreadable_values_raise_the_format_error(data: bytes) -> None:
    with pytest.raises(TransactionLogFormatError):
        decode_value(data)
