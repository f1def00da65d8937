"""Kafka's byte layouts of OffsetSync, Checkpoint and Heartbeat (connect/mirror-client and connect/mirror sources):
STRING = int16 length + UTF-8, ints big-endian, a version int16 (0) ahead of checkpoint and heartbeat values."""

from __future__ import annotations

import pytest
from odradek.mirror.formats import Checkpoint, FormatError, Heartbeat, OffsetSync


def test_offset_sync_golden_bytes() -> None:
    sync = OffsetSync("orders", 3, 100, 42)
    assert sync.record_key() == b"\x00\x06orders" + b"\x00\x00\x00\x03"
    assert sync.record_value() == (100).to_bytes(8, "big") + (42).to_bytes(8, "big")
    assert OffsetSync.deserialize(sync.record_key(), sync.record_value()) == sync


def test_checkpoint_golden_bytes() -> None:
    cp = Checkpoint("g1", "A.orders", 0, 7, 5, "meta")
    assert cp.record_key() == b"\x00\x02g1" + b"\x00\x08A.orders" + b"\x00\x00\x00\x00"
    assert cp.record_value() == b"\x00\x00" + (7).to_bytes(8, "big") + (5).to_bytes(8, "big") + b"\x00\x04meta"
    assert Checkpoint.deserialize(cp.record_key(), cp.record_value()) == cp


def test_heartbeat_golden_bytes() -> None:
    hb = Heartbeat("A", "B", 1_700_000_000_000)
    assert hb.record_key() == b"\x00\x01A\x00\x01B"
    assert hb.record_value() == b"\x00\x00" + (1_700_000_000_000).to_bytes(8, "big")
    assert Heartbeat.deserialize(hb.record_key(), hb.record_value()) == hb


def test_negative_offsets_are_twos_complement() -> None:
    assert OffsetSync("t", 0, -1, -1).record_value() == b"\xff" * 16


def test_unicode_string_length_is_in_bytes() -> None:
    assert OffsetSync("é", 0, 0, 0).record_key()[:2] == b"\x00\x02"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"\x00\x01A\x00\x01B", b"\x00\x01" + b"\x00" * 8),  # version 1 is unknown
        (b"\x00\x05A", b"\x00\x00" + b"\x00" * 8),  # key shorter than its length says
        (b"\x00\x01A\x00\x01B", b"\x00\x00\x00"),  # value cut short
    ],
)
def test_malformed_heartbeats_raise(key: bytes, value: bytes) -> None:
    with pytest.raises(FormatError):
        Heartbeat.deserialize(key, value)
