"""The Connect group protocol's member metadata and assignments, byte for byte as Kafka's ConnectProtocol (eager,
wire name `default`, version 0) and IncrementalCooperativeConnectProtocol (`compatible` version 1, `sessioned`
version 2).

Encoding (Kafka's protocol types, big-endian): STRING = int16 length + UTF-8; NULLABLE_BYTES = int32 length (-1 for
null) + bytes; ARRAY = int32 count (-1 for null) + elements.

Member metadata (JoinGroup protocol metadata):
- v0: `version int16, url STRING, config_offset int64`;
- v1/v2: the same, then `allocation NULLABLE_BYTES` holding the member's current assignment encoded as below
  (null when it has none), so the leader learns what every member runs now.

Assignment (SyncGroup member assignment):
- v0: `version int16, error int16, leader STRING, leader_url STRING, config_offset int64,
  assignment ARRAY(connector STRING, tasks ARRAY(int32))`;
- v1/v2: the same, then `revoked ARRAY(connector STRING, tasks ARRAY(int32))` and `delay int32` (the scheduled
  rebalance delay in ms).
Within a connector entry the task id -1 (`CONNECTOR_TASK`) stands for the connector instance itself. Errors:
0 none, 1 CONFIG_MISMATCH (the member's config offset is behind the leader's: read the config topic and rejoin).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from odradek.connect.runtime.states import ConnectorTaskId

CONNECTOR_TASK = -1
ERROR_NONE = 0
ERROR_CONFIG_MISMATCH = 1


class ConnectProtocolCompatibility(enum.Enum):
    """`connect.protocol`: the value users write, the wire protocol name and the metadata version."""

    EAGER = ("eager", "default", 0)
    COMPATIBLE = ("compatible", "compatible", 1)
    SESSIONED = ("sessioned", "sessioned", 2)

    def __init__(self, setting: str, wire_name: str, version: int) -> None:
        self.setting = setting
        self.wire_name = wire_name
        self.version = version

    @classmethod
    def of_setting(cls, value: str) -> ConnectProtocolCompatibility:
        for member in cls:
            if member.setting == value.strip().lower():
                return member
        raise ValueError(f"Unknown Connect protocol {value!r}: use eager, compatible or sessioned")

    @classmethod
    def of_wire_name(cls, value: str) -> ConnectProtocolCompatibility:
        for member in cls:
            if member.wire_name == value:
                return member
        raise ValueError(f"Unknown Connect protocol name {value!r}")

    def offered(self) -> list[ConnectProtocolCompatibility]:
        """The protocols a worker offers in JoinGroup, most preferred first (it can always fall back)."""
        return [p for p in (self.SESSIONED, self.COMPATIBLE, self.EAGER) if p.version <= self.version]


@dataclass(frozen=True, slots=True)
class ConnectAssignment:
    """What one member runs (`connectors`, `tasks`) and must stop (`revoked_*`); `delay` ms of scheduled rebalance."""

    error: int = ERROR_NONE
    leader: str = ""
    leader_url: str = ""
    config_offset: int = -1
    connectors: tuple[str, ...] = ()
    tasks: tuple[ConnectorTaskId, ...] = ()
    revoked_connectors: tuple[str, ...] = ()
    revoked_tasks: tuple[ConnectorTaskId, ...] = ()
    delay: int = 0

    def is_empty(self) -> bool:
        return not (self.connectors or self.tasks or self.revoked_connectors or self.revoked_tasks)


@dataclass(frozen=True, slots=True)
class WorkerState:
    """A member's JoinGroup metadata: its REST URL, the config topic offset it has read, its current assignment."""

    url: str
    config_offset: int
    assignment: ConnectAssignment | None = field(default=None)


class SchemaException(ValueError):
    pass


# -- primitive codecs ---------------------------------------------------------------------------------------------


def _string(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">h", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SchemaException("Connect protocol data is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0])

    def string(self) -> str:
        n = self.int16()
        if n < 0:
            raise SchemaException("null STRING in Connect protocol data")
        return self.take(n).decode("utf-8")

    def done(self) -> bool:
        return self.pos >= len(self.data)


def _grouped(connectors: Iterable[str], tasks: Iterable[ConnectorTaskId]) -> bytes:
    """ARRAY of (connector, tasks): one entry per connector name, the connector itself as task -1, sorted."""
    by_connector: dict[str, list[int]] = {}
    for name in connectors:
        by_connector.setdefault(name, []).append(CONNECTOR_TASK)
    for task in tasks:
        by_connector.setdefault(task.connector, []).append(task.task)
    out = [struct.pack(">i", len(by_connector))]
    for name in sorted(by_connector):
        ids = sorted(by_connector[name])
        out.append(_string(name) + struct.pack(">i", len(ids)) + b"".join(struct.pack(">i", i) for i in ids))
    return b"".join(out)


def _read_grouped(reader: _Reader) -> tuple[tuple[str, ...], tuple[ConnectorTaskId, ...]]:
    count = reader.int32()
    connectors: list[str] = []
    tasks: list[ConnectorTaskId] = []
    for _ in range(max(count, 0)):
        name = reader.string()
        for _ in range(max(reader.int32(), 0)):
            task = reader.int32()
            if task == CONNECTOR_TASK:
                connectors.append(name)
            else:
                tasks.append(ConnectorTaskId(name, task))
    return tuple(connectors), tuple(tasks)


# -- metadata and assignments -----------------------------------------------------------------------------------


def serialize_assignment(assignment: ConnectAssignment, version: int) -> bytes:
    head = struct.pack(">hh", version, assignment.error) + _string(assignment.leader) + _string(assignment.leader_url)
    body = head + struct.pack(">q", assignment.config_offset) + _grouped(assignment.connectors, assignment.tasks)
    if version >= 1:
        body += _grouped(assignment.revoked_connectors, assignment.revoked_tasks) + struct.pack(">i", assignment.delay)
    return body


def deserialize_assignment(data: bytes) -> ConnectAssignment:
    reader = _Reader(data)
    version = reader.int16()
    if version < 0:
        raise SchemaException(f"Unsupported subscription version: {version}")
    error, leader, leader_url, offset = reader.int16(), reader.string(), reader.string(), reader.int64()
    connectors, tasks = _read_grouped(reader)
    revoked: tuple[tuple[str, ...], tuple[ConnectorTaskId, ...]] = ((), ())
    delay = 0
    # Newer versions may add fields: read what this version knows, tolerate missing trailing ones (Kafka's
    # TOLERATE_MISSING_FIELDS_WITH_DEFAULTS).
    if version >= 1 and not reader.done():
        revoked = _read_grouped(reader)
        if not reader.done():
            delay = reader.int32()
    return ConnectAssignment(error, leader, leader_url, offset, connectors, tasks, revoked[0], revoked[1], delay)


def serialize_metadata(state: WorkerState, version: int) -> bytes:
    out = struct.pack(">h", version) + _string(state.url) + struct.pack(">q", state.config_offset)
    if version >= 1:
        if state.assignment is None or state.assignment.is_empty():
            out += struct.pack(">i", -1)
        else:
            allocation = serialize_assignment(state.assignment, version)
            out += struct.pack(">i", len(allocation)) + allocation
    return out


def deserialize_metadata(data: bytes) -> WorkerState:
    reader = _Reader(data)
    version = reader.int16()
    if version < 0:
        raise SchemaException(f"Unsupported subscription version: {version}")
    url, offset = reader.string(), reader.int64()
    assignment = None
    if version >= 1 and not reader.done():
        n = reader.int32()
        if n >= 0:
            assignment = deserialize_assignment(reader.take(n))
    return WorkerState(url, offset, assignment)
