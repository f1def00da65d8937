"""The records of `__transaction_state`, in Apache Kafka's binary formats (TransactionLogKey.json and
TransactionLogValue.json of the transaction-coordinator module), so that Kafka's tools can read the topic.

Key (TransactionLogKey v0, not flexible): `version int16 = 0`, `transactionalId string`.
Value (TransactionLogValue), `version int16` then:
- v0: `producerId int64`, `producerEpoch int16`, `transactionTimeoutMs int32`, `transactionStatus int8` (the
  TransactionState id), `transactionPartitions [topic string, partitionIds [int32]]` (nullable: -1),
  `transactionLastUpdateTimestampMs int64`, `transactionStartTimestampMs int64`;
- v1 (flexible): the same fields with compact strings and arrays and a tagged-field section after each partition
  entry and at the end, holding `PreviousProducerId int64` (tag 0, default -1), `NextProducerId int64` (tag 1,
  default -1), `ClientTransactionVersion int16` (tag 2, default 0).
A null value is a tombstone: the transactional id expired (state Dead). Odradek writes v0 (what Kafka writes for
transactions version 0 and 1) and reads both.

The partition of a transactional id is Kafka's `abs(transactionalId.hashCode) % transaction.state.log.num.partitions`
(the hash is injected: the same Java String.hashCode as groups use).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.primitives import Reader, w_compact_string, w_string, w_uvarint
from odradek.broker.txn.state import TransactionState

TRANSACTION_STATE_TOPIC = "__transaction_state"

KEY_VERSION = 0
VALUE_VERSION = 0

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_VALUE_HEAD = struct.Struct(">qhib")


class TransactionLogFormatError(ValueError):
    """A key or value of __transaction_state that cannot be read."""


@dataclass(frozen=True, slots=True)
class TransactionLogValue:
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    state: TransactionState
    partitions: tuple[tuple[str, tuple[int, ...]], ...] = field(default_factory=tuple)
    last_update_timestamp_ms: int = -1
    start_timestamp_ms: int = -1
    previous_producer_id: int = -1
    next_producer_id: int = -1
    client_transaction_version: int = 0


def encode_key(transactional_id: str) -> bytes:
    out = bytearray(_I16.pack(KEY_VERSION))
    w_string(out, transactional_id)
    return bytes(out)


def decode_key(data: bytes | memoryview) -> str:
    try:
        r = Reader(data)
        version = r.int16()
        if version != KEY_VERSION:
            raise TransactionLogFormatError(f"unknown TransactionLogKey version {version}")
        return r.string()
    except ProtocolError as exc:
        raise TransactionLogFormatError(f"bad TransactionLogKey: {exc}") from None


def encode_value(value: TransactionLogValue, version: int = VALUE_VERSION) -> bytes:
    """TransactionLogValue v0 (default) or v1 (tests write v1 to check it is read)."""
    if version not in (0, 1):
        raise ValueError(f"TransactionLogValue version {version}")
    flexible = version == 1
    out = bytearray(_I16.pack(version))
    out += _VALUE_HEAD.pack(value.producer_id, value.producer_epoch, value.transaction_timeout_ms, value.state.id)
    # Kafka writes a null partition list for Empty (TransactionLog.valueToBytes), an empty one otherwise.
    partitions = value.partitions
    null = value.state is TransactionState.EMPTY
    if flexible:
        w_uvarint(out, 0 if null else len(partitions) + 1)
    else:
        out += _I32.pack(-1 if null else len(partitions))
    for topic, indexes in partitions:
        if flexible:
            w_compact_string(out, topic)
            w_uvarint(out, len(indexes) + 1)
        else:
            w_string(out, topic)
            out += _I32.pack(len(indexes))
        for index in indexes:
            out += _I32.pack(index)
        if flexible:
            out.append(0)
    out += _I64.pack(value.last_update_timestamp_ms)
    out += _I64.pack(value.start_timestamp_ms)
    if flexible:
        tags: list[tuple[int, bytes]] = []
        if value.previous_producer_id != -1:
            tags.append((0, _I64.pack(value.previous_producer_id)))
        if value.next_producer_id != -1:
            tags.append((1, _I64.pack(value.next_producer_id)))
        if value.client_transaction_version != 0:
            tags.append((2, _I16.pack(value.client_transaction_version)))
        w_uvarint(out, len(tags))
        for tag, payload in tags:
            w_uvarint(out, tag)
            w_uvarint(out, len(payload))
            out += payload
    return bytes(out)


def decode_value(data: bytes | memoryview) -> TransactionLogValue:
    try:
        r = Reader(data)
        version = r.int16()
        if version not in (0, 1):
            raise TransactionLogFormatError(f"unknown TransactionLogValue version {version}")
        flexible = version == 1
        producer_id = r.int64()
        epoch = r.int16()
        timeout = r.int32()
        status = r.int8()
        count = r.compact_nullable_array_len() if flexible else r.nullable_array_len()
        partitions = []
        for _ in range(max(count, 0)):
            topic = r.compact_string() if flexible else r.string()
            n = r.compact_array_len() if flexible else r.array_len()
            indexes = tuple(r.int32() for _ in range(max(n, 0)))
            if flexible:
                r.skip_tagged_fields()
            partitions.append((topic, indexes))
        last_update = r.int64()
        start = r.int64()
        previous, following, client_version = -1, -1, 0
        if flexible:
            for _ in range(r.uvarint()):
                tag, end = r.tag_header()
                if tag == 0:
                    previous = r.int64()
                elif tag == 1:
                    following = r.int64()
                elif tag == 2:
                    client_version = r.int16()
                r.pos = end
        state = TransactionState.from_id(status)
    except (ProtocolError, ValueError) as exc:
        if isinstance(exc, TransactionLogFormatError):
            raise
        raise TransactionLogFormatError(f"bad TransactionLogValue: {exc}") from None
    return TransactionLogValue(
        producer_id, epoch, timeout, state, tuple(partitions), last_update, start, previous, following, client_version
    )
