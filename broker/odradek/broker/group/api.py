"""What the group coordinator takes and answers, as the handlers see it: requests, results, and the mapping of
__consumer_offsets write errors to the errors clients get (Kafka's GroupCoordinatorService error translation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from odradek.broker.protocol.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A JoinGroup as the coordinator sees it (v0's rebalance timeout is its session timeout)."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    require_known_member_id: bool = True
    supports_skip_assignment: bool = False

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]


@dataclass(slots=True)
class JoinMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(slots=True)
class JoinResult:
    error: ErrorCode
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: list[JoinMember] = field(default_factory=list)


@dataclass(slots=True)
class SyncResult:
    error: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(slots=True)
class LeaveMember:
    member_id: str
    group_instance_id: str | None


@dataclass(slots=True)
class MemberDescription:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(slots=True)
class GroupDescription:
    group_id: str
    error: ErrorCode
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberDescription]


@dataclass(slots=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: str
    group_type: str = "classic"  # ListGroups v5: "classic" or "consumer" (KIP-848)


@dataclass(slots=True)
class OffsetCommitEntry:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    expire_timestamp: int = -1
    commit_timestamp: int = -1  # OffsetCommit v1's per-partition timestamp; -1: the coordinator's clock


_WRITE_ERRORS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.REQUEST_TIMED_OUT: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_COORDINATOR,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
}
_COMMIT_SIZE_ERRORS = {ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE}


def commit_error(error: ErrorCode) -> ErrorCode:
    if error in _COMMIT_SIZE_ERRORS:
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE
    return _WRITE_ERRORS.get(error, ErrorCode.UNKNOWN_SERVER_ERROR)


def group_write_error(error: ErrorCode) -> ErrorCode:
    if error in _COMMIT_SIZE_ERRORS:
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return _WRITE_ERRORS.get(error, ErrorCode.UNKNOWN_SERVER_ERROR)
