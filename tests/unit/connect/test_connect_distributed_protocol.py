"""The Connect group protocol formats, compared with bytes laid out by hand from Kafka's schemas
(ConnectProtocol v0, IncrementalCooperativeConnectProtocol v1/v2)."""

from __future__ import annotations

import struct

import pytest
from odradek.connect.distributed.protocol import (
    ConnectAssignment,
    ConnectProtocolCompatibility,
    WorkerState,
    deserialize_assignment,
    deserialize_metadata,
    serialize_assignment,
    serialize_metadata,
)
from odradek.connect.runtime.states import ConnectorTaskId


def s(text: str) -> bytes:
    return struct.pack(">h", len(text)) + text.encode()


def test_v0_metadata_bytes() -> None:
    data = serialize_metadata(WorkerState("http://w1:8083/", 7), 0)
    assert data == struct.pack(">h", 0) + s("http://w1:8083/") + struct.pack(">q", 7)
    assert deserialize_metadata(data) == WorkerState("http://w1:8083/", 7)


def test_v1_metadata_without_assignment_has_null_allocation() -> None:
    data = serialize_metadata(WorkerState("u", -1), 1)
    assert data == struct.pack(">h", 1) + s("u") + struct.pack(">q", -1) + struct.pack(">i", -1)
    assert deserialize_metadata(data) == WorkerState("u", -1, None)


def test_v0_assignment_bytes_connector_is_task_minus_one() -> None:
    assignment = ConnectAssignment(0, "m1", "http://l/", 42, ("c",), (ConnectorTaskId("c", 0), ConnectorTaskId("c", 1)))
    expected = (
        struct.pack(">hh", 0, 0)
        + s("m1")
        + s("http://l/")
        + struct.pack(">q", 42)
        + struct.pack(">i", 1)
        + s("c")
        + struct.pack(">iiii", 3, -1, 0, 1)
    )
    assert serialize_assignment(assignment, 0) == expected
    assert deserialize_assignment(expected) == assignment


def test_v2_assignment_with_revocations_and_delay_round_trips_inside_metadata() -> None:
    assignment = ConnectAssignment(
        0, "m1", "http://l/", 3, (), (ConnectorTaskId("a", 2),), ("b",), (ConnectorTaskId("b", 0),), 1500
    )
    data = serialize_assignment(assignment, 2)
    tail = struct.pack(">i", 1) + s("b") + struct.pack(">iii", 2, -1, 0) + struct.pack(">i", 1500)
    assert data.endswith(tail)
    assert data[:2] == struct.pack(">h", 2)
    assert deserialize_assignment(data) == assignment
    meta = serialize_metadata(WorkerState("u", 3, assignment), 2)
    assert meta.endswith(struct.pack(">i", len(data)) + data)
    assert deserialize_metadata(meta) == WorkerState("u", 3, assignment)


def test_v1_assignment_missing_trailing_fields_defaults() -> None:
    v0_body = serialize_assignment(ConnectAssignment(0, "m", "u", 1), 0)[2:]
    data = struct.pack(">h", 1) + v0_body  # a v1 header without revoked / delay: tolerated, as Kafka
    assert deserialize_assignment(data) == ConnectAssignment(0, "m", "u", 1)


def test_protocol_names_and_offers() -> None:
    assert ConnectProtocolCompatibility.of_setting("eager").wire_name == "default"
    assert [p.wire_name for p in ConnectProtocolCompatibility.SESSIONED.offered()] == [
        "sessioned",
        "compatible",
        "default",
    ]
    assert [p.wire_name for p in ConnectProtocolCompatibility.EAGER.offered()] == ["default"]
    with pytest.raises(ValueError):
        ConnectProtocolCompatibility.of_setting("fancy")
