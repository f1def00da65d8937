"""Bad group-coordinator input over raw sockets: Kafka's error for each, and the groups around it unharmed.

One broker for the module (`group.initial.rebalance.delay.ms` = 0, `group.max.size` = 2) holding a two-partition
topic with records. Each test forms a healthy classic group of two members over raw sockets (JoinGroup v5 with
KIP-394's MEMBER_ID_REQUIRED round trip, SyncGroup v5, OffsetCommit v8; requests encoded with the generated
codecs), sends the bad input, and then checks the healthy group: both members' heartbeats answer NONE on their
own connections (same generation, so no rebalance happened), DescribeGroups shows it Stable with both members,
its committed offsets are intact, and a confluent-kafka consumer in a group of its own still consumes and commits.

Expected errors come from Apache Kafka's classic group coordinator (the Java `GroupCoordinatorService`,
`GroupMetadataManager`, `OffsetMetadataManager` and `classic.ClassicGroup` of group-coordinator/, and the Scala
`GroupCoordinator`/`GroupMetadataManager` of core/ before it); the source is named next to each case.
"""

from __future__ import annotations

import random
import socket
import struct
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from it_support import (
    BrokerProcess,
    api_versions_roundtrip,
    ck_create_topic,
    ck_produce,
    is_closed,
    raw_connect,
    recv_frame,
    wait_for,
)
from odradek.broker.protocol.errors import ErrorCode as E
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.delete_groups_request import DeleteGroupsRequest
from odradek.broker.protocol.messages.describe_groups_request import DescribeGroupsRequest
from odradek.broker.protocol.messages.find_coordinator_request import FindCoordinatorRequest
from odradek.broker.protocol.messages.heartbeat_request import HeartbeatRequest
from odradek.broker.protocol.messages.join_group_request import JoinGroupRequest, JoinGroupRequestProtocol
from odradek.broker.protocol.messages.leave_group_request import LeaveGroupRequest, MemberIdentity
from odradek.broker.protocol.messages.offset_commit_request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from odradek.broker.protocol.messages.offset_delete_request import (
    OffsetDeleteRequest,
    OffsetDeleteRequestPartition,
    OffsetDeleteRequestTopic,
)
from odradek.broker.protocol.messages.offset_fetch_request import OffsetFetchRequest, OffsetFetchRequestTopic
from odradek.broker.protocol.messages.sync_group_request import SyncGroupRequest, SyncGroupRequestAssignment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT = 8, 9, 10, 11, 12
LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 13, 14, 15, 42, 47

TOPIC = "grp-victim"  # two partitions, subscribed by the healthy group
OTHER = "grp-other"  # one partition, not subscribed by anyone
RECORDS = {0: [f"p0-{i}".encode() for i in range(6)], 1: [f"p1-{i}".encode() for i in range(4)]}
COMMITTED = {0: (3, "m0"), 1: (2, "m1")}  # what the healthy group's members commit: partition -> (offset, metadata)
MAX_GROUP_SIZE = 2
SESSION_MS = 30_000  # within group.min/max.session.timeout.ms (6 s .. 30 min); no test outlives it
REBALANCE_MS = 30_000
PROTOCOL = "range"
OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "group.max.size": str(MAX_GROUP_SIZE)}


# -- consumer protocol payloads (opaque to the coordinator) ------------------------------------------------


def _str(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def subscription(topics: list[str]) -> bytes:
    """ConsumerProtocolSubscription v0: version, [topic], user_data (null)."""
    return struct.pack(">hi", 0, len(topics)) + b"".join(_str(t) for t in topics) + struct.pack(">i", -1)


def assignment(topic: str, partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0: version, [topic [partition]], user_data (null)."""
    body = struct.pack(">hi", 0, 1) + _str(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">i", p) for p in partitions)
    return body + struct.pack(">i", -1)


# -- raw connections ---------------------------------------------------------------------------------------


def _encode(api_key: int, version: int, correlation_id: int, message: Any) -> bytes:
    from odradek.broker.protocol.apis import request_message

    body = bytearray()
    request_message(api_key).encode(body, message, version)
    return _frame(api_key, version, correlation_id, bytes(body))


def _frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """A request frame with the right header version for (api_key, version) around an arbitrary body."""
    from odradek.broker.protocol.headers import RequestHeader, encode_request_header, request_header_version

    payload = bytearray()
    header = RequestHeader(api_key, version, correlation_id, "odradek-it")
    encode_request_header(payload, header, request_header_version(api_key, version))
    payload += body
    return struct.pack(">i", len(payload)) + payload


def _decode(api_key: int, version: int, correlation_id: int, frame: bytes) -> Any:
    from odradek.broker.protocol.apis import response_message
    from odradek.broker.protocol.headers import response_header_version
    from odradek.broker.protocol.primitives import Reader

    (corr,) = struct.unpack_from(">i", frame, 0)
    assert corr == correlation_id, f"correlation id {corr} != {correlation_id}"
    reader = Reader(frame)
    reader.pos = 4
    if response_header_version(api_key, version) >= 1:
        reader.skip_tagged_fields()
    return response_message(api_key).decode(reader, version)


class Conn:
    """One raw connection; requests may be pipelined (`send` now, `recv` later, answers in order)."""

    def __init__(self, port: int, timeout: float = 40.0) -> None:
        self.sock = raw_connect(port, timeout=timeout)
        self.correlation = 0
        self.pending: deque[tuple[int, int, int]] = deque()

    def send(self, api_key: int, version: int, message: Any) -> None:
        self.correlation += 1
        self.sock.sendall(_encode(api_key, version, self.correlation, message))
        self.pending.append((api_key, version, self.correlation))

    def recv(self) -> Any:
        api_key, version, correlation_id = self.pending.popleft()
        frame = recv_frame(self.sock)
        assert frame is not None, f"connection closed instead of answering api {api_key} v{version}"
        return _decode(api_key, version, correlation_id, frame)

    def call(self, api_key: int, version: int, message: Any) -> Any:
        self.send(api_key, version, message)
        return self.recv()

    def close(self) -> None:
        self.sock.close()


# -- requests ----------------------------------------------------------------------------------------------


def join_request(
    group_id: str,
    member_id: str = "",
    instance_id: str | None = None,
    protocols: list[tuple[str, bytes]] | None = None,
    protocol_type: str = "consumer",
    session_ms: int = SESSION_MS,
) -> JoinGroupRequest:
    if protocols is None:
        protocols = [(PROTOCOL, subscription([TOPIC]))]
    return JoinGroupRequest(
        group_id=group_id,
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=REBALANCE_MS,
        member_id=member_id,
        group_instance_id=instance_id,
        protocol_type=protocol_type,
        protocols=[JoinGroupRequestProtocol(name=name, metadata=data) for name, data in protocols],
    )


def heartbeat(conn: Conn, group_id: str, generation: int, member_id: str, instance_id: str | None = None) -> int:
    request = HeartbeatRequest(
        group_id=group_id, generation_id=generation, member_id=member_id, group_instance_id=instance_id
    )
    return int(conn.call(HEARTBEAT, 4, request).error_code)


def sync_request(
    group_id: str,
    generation: int,
    member_id: str,
    instance_id: str | None = None,
    assignments: dict[str, bytes] | None = None,
    protocol_type: str | None = "consumer",
    protocol_name: str | None = PROTOCOL,
) -> SyncGroupRequest:
    return SyncGroupRequest(
        group_id=group_id,
        generation_id=generation,
        member_id=member_id,
        group_instance_id=instance_id,
        protocol_type=protocol_type,
        protocol_name=protocol_name,
        assignments=[SyncGroupRequestAssignment(member_id=m, assignment=a) for m, a in (assignments or {}).items()],
    )


def commit_request(
    group_id: str,
    generation: int,
    member_id: str,
    offsets: dict[tuple[str, int], tuple[int, str | None]],
    instance_id: str | None = None,
) -> OffsetCommitRequest:
    topics: dict[str, list[OffsetCommitRequestPartition]] = {}
    for (topic, partition), (offset, metadata) in offsets.items():
        topics.setdefault(topic, []).append(
            OffsetCommitRequestPartition(
                partition_index=partition, committed_offset=offset, committed_metadata=metadata
            )
        )
    return OffsetCommitRequest(
        group_id=group_id,
        generation_id_or_member_epoch=generation,
        member_id=member_id,
        group_instance_id=instance_id,
        topics=[OffsetCommitRequestTopic(name=t, partitions=parts) for t, parts in topics.items()],
    )


def commit_errors(response: Any) -> dict[tuple[str, int], int]:
    return {(t.name, p.partition_index): int(p.error_code) for t in response.topics for p in t.partitions}


def fetch_offsets(port: int, group_id: str, topic: str, partitions: list[int]) -> dict[int, tuple[int, str]]:
    """OffsetFetch v7: partition -> (committed offset, metadata); -1 where nothing is committed."""
    conn = Conn(port)
    try:
        request = OffsetFetchRequest(
            group_id=group_id, topics=[OffsetFetchRequestTopic(name=topic, partition_indexes=partitions)]
        )
        response = conn.call(OFFSET_FETCH, 7, request)
    finally:
        conn.close()
    assert response.error_code == 0, f"OffsetFetch error {response.error_code}"
    out = {}
    for t in response.topics:
        for p in t.partitions:
            assert p.error_code == 0
            out[p.partition_index] = (int(p.committed_offset), p.metadata or "")
    return out


def describe(port: int, group_id: str) -> Any:
    conn = Conn(port)
    try:
        [group] = conn.call(DESCRIBE_GROUPS, 5, DescribeGroupsRequest(groups=[group_id])).groups
    finally:
        conn.close()
    return group


def offset_delete(port: int, group_id: str, partitions: list[tuple[str, int]]) -> Any:
    topics: dict[str, list[int]] = {}
    for topic, index in partitions:
        topics.setdefault(topic, []).append(index)
    request = OffsetDeleteRequest(
        group_id=group_id,
        topics=[
            OffsetDeleteRequestTopic(name=t, partitions=[OffsetDeleteRequestPartition(partition_index=i) for i in ps])
            for t, ps in topics.items()
        ],
    )
    conn = Conn(port)
    try:
        return conn.call(OFFSET_DELETE, 0, request)
    finally:
        conn.close()


def offset_delete_errors(response: Any) -> dict[tuple[str, int], int]:
    return {(t.name, p.partition_index): int(p.error_code) for t in response.topics for p in t.partitions}


# -- groups ------------------------------------------------------------------------------------------------


@dataclass
class Member:
    conn: Conn
    member_id: str
    instance_id: str | None = None


@dataclass
class Group:
    group_id: str
    generation: int
    leader: str
    members: list[Member] = field(default_factory=list)

    def member(self, member_id: str) -> Member:
        return next(m for m in self.members if m.member_id == member_id)

    @property
    def follower(self) -> Member:
        return next(m for m in self.members if m.member_id != self.leader)

    def close(self) -> None:
        for m in self.members:
            m.conn.close()


def first_join(conn: Conn, request: JoinGroupRequest, version: int = 5) -> Any:
    """JoinGroup with member id "": for a dynamic member at v4+, take MEMBER_ID_REQUIRED's id and join again. While
    the coordinator is still loading its partition (a broker just started: COORDINATOR_LOAD_IN_PROGRESS, retriable)
    the join is retried, as every client does, for at most 10 s (a CI run once joined before the load ended)."""
    deadline = time.monotonic() + 10
    response = conn.call(JOIN_GROUP, version, request)
    while response.error_code == E.COORDINATOR_LOAD_IN_PROGRESS and time.monotonic() < deadline:
        time.sleep(0.05)
        response = conn.call(JOIN_GROUP, version, request)
    if response.error_code == E.MEMBER_ID_REQUIRED and request.group_instance_id is None:
        assert response.member_id, "MEMBER_ID_REQUIRED without a member id"
        request.member_id = response.member_id
        response = conn.call(JOIN_GROUP, version, request)
    return response


def form_group(port: int, group_id: str, instance_ids: tuple[str | None, str | None] = (None, None)) -> Group:
    """Two members over raw sockets, Stable, the leader assigning partition i to member i; offsets committed."""
    a, b = Conn(port), Conn(port)
    try:
        return _form_group(port, group_id, instance_ids, a, b)
    except BaseException:
        a.close()
        b.close()
        raise


def _form_group(port: int, group_id: str, instance_ids: tuple[str | None, str | None], a: Conn, b: Conn) -> Group:
    # The first member forms generation 1 alone (the initial rebalance delay is 0).
    ra = first_join(a, join_request(group_id, instance_id=instance_ids[0]))
    assert ra.error_code == 0 and ra.generation_id == 1, ra
    ida = ra.member_id
    rs = a.call(SYNC_GROUP, 5, sync_request(group_id, 1, ida, instance_ids[0], {ida: assignment(TOPIC, [0, 1])}))
    assert rs.error_code == 0, rs
    # The second member joins (its JoinGroup waits), then the first rejoins and both get generation 2.
    req_b = join_request(group_id, instance_id=instance_ids[1])
    if instance_ids[1] is None:
        rb = b.call(JOIN_GROUP, 5, req_b)
        assert rb.error_code == E.MEMBER_ID_REQUIRED, rb
        req_b.member_id = rb.member_id
    b.send(JOIN_GROUP, 5, req_b)
    wait_for(lambda: describe(port, group_id).group_state == "PreparingRebalance", what="rebalance to start")
    a.send(JOIN_GROUP, 5, join_request(group_id, ida, instance_ids[0]))
    ra, rb = a.recv(), b.recv()
    assert ra.error_code == 0 and rb.error_code == 0, (ra, rb)
    assert ra.generation_id == rb.generation_id == 2 and ra.leader == rb.leader
    members = [Member(a, ida, instance_ids[0]), Member(b, rb.member_id, instance_ids[1])]
    group = Group(group_id, 2, ra.leader, members)
    leader = group.member(group.leader)
    follower = group.follower
    leader_response = ra if leader.conn is a else rb
    assert sorted(m.member_id for m in leader_response.members) == sorted(m.member_id for m in members)
    plan = {m.member_id: assignment(TOPIC, [i]) for i, m in enumerate(members)}
    follower.conn.send(SYNC_GROUP, 5, sync_request(group_id, 2, follower.member_id, follower.instance_id))
    leader.conn.send(SYNC_GROUP, 5, sync_request(group_id, 2, leader.member_id, leader.instance_id, plan))
    synced = {leader.member_id: leader.conn.recv(), follower.member_id: follower.conn.recv()}
    for member_id, response in synced.items():
        assert response.error_code == 0 and bytes(response.assignment) == plan[member_id], response
    for i, m in enumerate(members):
        offset, metadata = COMMITTED[i]
        request = commit_request(group_id, 2, m.member_id, {(TOPIC, i): (offset, metadata)}, m.instance_id)
        assert commit_errors(m.conn.call(OFFSET_COMMIT, 8, request)) == {(TOPIC, i): 0}
    return group


def ck_group_consume(bootstrap: str, timeout: float = 30.0) -> None:
    """A confluent-kafka consumer in a group of its own subscribes, reads every record, commits, reads back."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"real-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    expected = sorted(v for values in RECORDS.values() for v in values)
    got: list[bytes] = []
    try:
        consumer.subscribe([TOPIC])
        deadline = time.monotonic() + timeout
        while len(got) < len(expected) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, f"consumer error: {msg.error()}"
            got.append(msg.value())
        assert sorted(got) == expected, f"group consumer read {len(got)} of {len(expected)} records in {timeout} s"
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(TOPIC, p) for p in RECORDS], timeout=15)
    finally:
        consumer.close()
    assert {tp.partition: tp.offset for tp in committed} == {p: len(v) for p, v in RECORDS.items()}


def assert_group_healthy(broker: BrokerProcess, group: Group, consumer: bool = True) -> None:
    assert broker.alive(), f"broker died:\n{broker.tail()}"
    for m in group.members:
        error = heartbeat(m.conn, group.group_id, group.generation, m.member_id, m.instance_id)
        assert error == 0, f"heartbeat of {m.member_id} answered {E(error).name}"
    described = describe(broker.port, group.group_id)
    assert described.error_code == 0 and described.group_state == "Stable", described
    assert sorted(m.member_id for m in described.members) == sorted(m.member_id for m in group.members)
    committed = fetch_offsets(broker.port, group.group_id, TOPIC, [0, 1])
    assert committed == {i: COMMITTED[i] for i in (0, 1)}
    if consumer:
        ck_group_consume(broker.bootstrap)
    assert broker.alive(), f"broker died:\n{broker.tail()}"


# -- fixtures ----------------------------------------------------------------------------------------------


def _find_coordinator(port: int, key: str) -> int:
    conn = Conn(port)
    try:
        return int(conn.call(FIND_COORDINATOR, 3, FindCoordinatorRequest(key=key, key_type=0)).error_code)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path_factory.mktemp("gbroker"), overrides=OVERRIDES)
    try:
        proc.start()
        ck_create_topic(proc.bootstrap, TOPIC, partitions=2)
        ck_create_topic(proc.bootstrap, OTHER)
        for partition, values in RECORDS.items():
            ck_produce(proc.bootstrap, TOPIC, values, partition=partition)
        # The first lookup creates __consumer_offsets; wait until its partitions are led and loaded.
        wait_for(lambda: _find_coordinator(proc.port, "warm-up") == 0, timeout=30, what="a group coordinator")
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture
def healthy(gbroker: BrokerProcess) -> Iterator[Group]:
    group = form_group(gbroker.port, f"healthy-{uuid.uuid4().hex[:8]}")
    try:
        yield group
    finally:
        group.close()


def new_group_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# == 1. the healthy group itself ===========================================================================


def test_healthy_group_baseline(gbroker: BrokerProcess, healthy: Group) -> None:
    assert_group_healthy(gbroker, healthy)


# == 2. malformed protocol metadata is passed through ======================================================

MALFORMED = {
    "random-200": random.Random(7).randbytes(200),
    "truncated": b"\x00\x00\x00",  # version 0, then 1 byte of a 4-byte topic count
    "empty": b"",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_join_with_malformed_subscription_is_passed_through(gbroker: BrokerProcess, healthy: Group, name: str) -> None:
    """Kafka never parses the metadata in JoinGroup: the leader gets the bytes as sent (ClassicGroup stores the
    protocols; GroupMetadataManager.completeClassicGroupJoin hands them to the leader), DescribeGroups returns them,
    and only the subscribed-topics view (ClassicGroup.computeSubscribedTopics) gives up on them."""
    garbage = MALFORMED[name]
    group_id = new_group_id("malformed")
    conn = Conn(gbroker.port)
    try:
        joined = first_join(conn, join_request(group_id, protocols=[(PROTOCOL, garbage)]))
        assert joined.error_code == 0 and joined.leader == joined.member_id, joined
        assert [(m.member_id, bytes(m.metadata)) for m in joined.members] == [(joined.member_id, garbage)]
        opaque = random.Random(8).randbytes(33)  # the assignment is opaque too
        synced = conn.call(
            SYNC_GROUP,
            5,
            sync_request(group_id, joined.generation_id, joined.member_id, None, {joined.member_id: opaque}),
        )
        assert synced.error_code == 0 and bytes(synced.assignment) == opaque
        described = describe(gbroker.port, group_id)
        assert described.error_code == 0 and described.group_state == "Stable"
        assert [(bytes(m.member_metadata), bytes(m.member_assignment)) for m in described.members] == [
            (garbage, opaque)
        ]
        # OffsetDelete on a live consumer group whose subscriptions cannot be read.
        deleted = offset_delete(gbroker.port, group_id, [(TOPIC, 0)])
        assert deleted.error_code == 0
        if name == "random-200":
            # Whether random bytes happen to parse decides the answer; it must be one of the two, not a crash.
            assert offset_delete_errors(deleted)[(TOPIC, 0)] in (E.NONE, E.GROUP_SUBSCRIBED_TO_TOPIC)
        else:
            # Unparseable subscription of a "consumer" group = subscribed to everything, to be safe
            # (ClassicGroup.isSubscribedToTopic: subscribedTopics empty -> usesConsumerGroupProtocol()).
            assert offset_delete_errors(deleted) == {(TOPIC, 0): E.GROUP_SUBSCRIBED_TO_TOPIC}
        assert heartbeat(conn, group_id, joined.generation_id, joined.member_id) == 0
        left = conn.call(
            LEAVE_GROUP, 4, LeaveGroupRequest(group_id=group_id, members=[MemberIdentity(member_id=joined.member_id)])
        )
        assert left.error_code == 0 and [m.error_code for m in left.members] == [0]
    finally:
        conn.close()
    assert_group_healthy(gbroker, healthy)


# == 3. oversized member metadata ==========================================================================


def test_oversized_member_metadata_fails_the_leaders_sync(gbroker: BrokerProcess, healthy: Group) -> None:
    """2 MiB of subscription: the JoinGroup frame is far below socket.request.max.bytes (100 MiB) and Kafka accepts
    it, but the group metadata record written at SyncGroup exceeds __consumer_offsets' max.message.bytes (1 MiB):
    the append fails with MESSAGE_TOO_LARGE, which GroupMetadataManager.appendGroupMetadataErrorToResponseError
    (Scala: GroupMetadataManager.storeGroup) maps to UNKNOWN_SERVER_ERROR for the SyncGroup; the coordinator
    then resets the assignment and prepares a rebalance (resetAndPropagateAssignmentWithError,
    maybePrepareRebalanceOrCompleteJoin), so the member's heartbeat answers REBALANCE_IN_PROGRESS."""
    big = random.Random(3).randbytes(2 * 1024 * 1024)  # incompressible
    group_id = new_group_id("oversized")
    conn = Conn(gbroker.port)
    try:
        joined = first_join(conn, join_request(group_id, protocols=[(PROTOCOL, big)]))
        assert joined.error_code == 0 and joined.leader == joined.member_id, joined.error_code
        assert len(joined.members) == 1 and bytes(joined.members[0].metadata) == big
        mine = {joined.member_id: assignment(TOPIC, [0, 1])}
        synced = conn.call(SYNC_GROUP, 5, sync_request(group_id, joined.generation_id, joined.member_id, None, mine))
        assert synced.error_code == E.UNKNOWN_SERVER_ERROR, E(synced.error_code).name
        assert heartbeat(conn, group_id, joined.generation_id, joined.member_id) == E.REBALANCE_IN_PROGRESS
        left = conn.call(
            LEAVE_GROUP, 4, LeaveGroupRequest(group_id=group_id, members=[MemberIdentity(member_id=joined.member_id)])
        )
        assert left.error_code == 0 and [m.error_code for m in left.members] == [0]
    finally:
        conn.close()
    assert describe(gbroker.port, group_id).group_state == "Empty"
    assert_group_healthy(gbroker, healthy)


# == 4. JoinGroup validation ===============================================================================


@pytest.mark.parametrize("version", [0, 5, 9])
def test_join_empty_group_id(gbroker: BrokerProcess, healthy: Group, version: int) -> None:
    """GroupCoordinatorService.joinGroup: isGroupIdNotEmpty, else INVALID_GROUP_ID."""
    conn = Conn(gbroker.port)
    try:
        response = conn.call(JOIN_GROUP, version, join_request(""))
    finally:
        conn.close()
    assert response.error_code == E.INVALID_GROUP_ID
    assert_group_healthy(gbroker, healthy, consumer=False)


@pytest.mark.parametrize("session_ms", [0, 5999, 1_800_001, 2**31 - 1])
def test_join_session_timeout_out_of_range(gbroker: BrokerProcess, healthy: Group, session_ms: int) -> None:
    """Outside [group.min.session.timeout.ms, group.max.session.timeout.ms] = [6000, 1800000]:
    INVALID_SESSION_TIMEOUT before the group is looked at, for a new member and for a current one (which then
    keeps its place: no rebalance)."""
    conn = Conn(gbroker.port)
    try:
        fresh = conn.call(JOIN_GROUP, 5, join_request(new_group_id("session"), session_ms=session_ms))
        assert fresh.error_code == E.INVALID_SESSION_TIMEOUT
        follower = healthy.follower
        rejoin = conn.call(JOIN_GROUP, 5, join_request(healthy.group_id, follower.member_id, session_ms=session_ms))
        assert rejoin.error_code == E.INVALID_SESSION_TIMEOUT
    finally:
        conn.close()
    assert_group_healthy(gbroker, healthy)


def test_join_protocol_mismatch_with_a_one_member_group(gbroker: BrokerProcess) -> None:
    """ClassicGroup.supportsProtocols: a non-empty group needs the same protocol type and one protocol every
    member supports; an empty group needs a non-empty type and at least one protocol. Else
    INCONSISTENT_GROUP_PROTOCOL (classicGroupJoinNewMember / classicGroupJoinExistingMember)."""
    group_id = new_group_id("mismatch")
    owner = Conn(gbroker.port)
    other = Conn(gbroker.port)
    try:
        joined = first_join(owner, join_request(group_id))
        assert joined.error_code == 0
        mine = {joined.member_id: assignment(TOPIC, [0, 1])}
        assert owner.call(SYNC_GROUP, 5, sync_request(group_id, 1, joined.member_id, None, mine)).error_code == 0
        cases = [
            join_request(group_id, protocol_type="connect"),
            join_request(group_id, protocols=[("roundrobin", subscription([TOPIC]))]),
            join_request(group_id, protocols=[]),
        ]
        for request in cases:
            response = other.call(JOIN_GROUP, 5, request)
            assert response.error_code == E.INCONSISTENT_GROUP_PROTOCOL, (request, E(response.error_code).name)
        # The current member itself switching protocol type is refused the same way, without a rebalance.
        switched = join_request(group_id, joined.member_id, protocol_type="connect")
        assert owner.call(JOIN_GROUP, 5, switched).error_code == E.INCONSISTENT_GROUP_PROTOCOL
        assert heartbeat(owner, group_id, 1, joined.member_id) == 0
        # A new group needs a protocol type and a protocol.
        for request in (
            join_request(new_group_id("e"), protocol_type=""),
            join_request(new_group_id("e"), protocols=[]),
        ):
            assert other.call(JOIN_GROUP, 5, request).error_code == E.INCONSISTENT_GROUP_PROTOCOL
    finally:
        owner.close()
        other.close()


def test_join_current_member_with_other_protocol_type(gbroker: BrokerProcess, healthy: Group) -> None:
    follower = healthy.follower
    request = join_request(healthy.group_id, follower.member_id, protocol_type="connect")
    assert follower.conn.call(JOIN_GROUP, 5, request).error_code == E.INCONSISTENT_GROUP_PROTOCOL
    request = join_request(healthy.group_id, follower.member_id, protocols=[("roundrobin", subscription([TOPIC]))])
    assert follower.conn.call(JOIN_GROUP, 5, request).error_code == E.INCONSISTENT_GROUP_PROTOCOL
    assert_group_healthy(gbroker, healthy, consumer=False)


def test_join_full_group_with_other_protocol_type_gets_max_size(gbroker: BrokerProcess, healthy: Group) -> None:
    conn = Conn(gbroker.port)
    try:
        response = conn.call(JOIN_GROUP, 5, join_request(healthy.group_id, protocol_type="connect"))
    finally:
        conn.close()
    assert response.error_code == E.GROUP_MAX_SIZE_REACHED, E(response.error_code).name


@pytest.mark.parametrize("version", [4, 5, 9])
def test_join_v4_plus_without_member_id_gets_member_id_required(gbroker: BrokerProcess, version: int) -> None:
    """KIP-394 (classicGroupJoinNewDynamicMember): MEMBER_ID_REQUIRED with a generated member id, which is then
    accepted; a member id the coordinator never gave out is UNKNOWN_MEMBER_ID."""
    group_id = new_group_id("kip394")
    conn = Conn(gbroker.port)
    try:
        first = conn.call(JOIN_GROUP, version, join_request(group_id))
        assert first.error_code == E.MEMBER_ID_REQUIRED and first.member_id
        assert first.generation_id == -1 and not first.members
        made_up = conn.call(JOIN_GROUP, version, join_request(group_id, "made-up-" + first.member_id))
        assert made_up.error_code == E.UNKNOWN_MEMBER_ID
        second = conn.call(JOIN_GROUP, version, join_request(group_id, first.member_id))
        assert second.error_code == 0 and second.member_id == first.member_id and second.leader == first.member_id
        conn.call(
            LEAVE_GROUP, 4, LeaveGroupRequest(group_id=group_id, members=[MemberIdentity(member_id=first.member_id)])
        )
    finally:
        conn.close()


@pytest.mark.parametrize("instance_id", [None, "third-static"], ids=["dynamic", "static"])
def test_group_max_size_reached(gbroker: BrokerProcess, healthy: Group, instance_id: str | None) -> None:
    """group.max.size = 2 and a Stable group of 2: a third member gets GROUP_MAX_SIZE_REACHED (acceptJoiningMember)
    before anything else (no MEMBER_ID_REQUIRED), and no member id."""
    conn = Conn(gbroker.port)
    try:
        for version in (3, 5, 9) if instance_id is None else (5, 9):
            response = conn.call(JOIN_GROUP, version, join_request(healthy.group_id, instance_id=instance_id))
            assert response.error_code == E.GROUP_MAX_SIZE_REACHED, (version, E(response.error_code).name)
            assert response.member_id == ""
    finally:
        conn.close()
    assert_group_healthy(gbroker, healthy)


# == 5. unknown members, stale generations, fenced static members =========================================


def test_unknown_member_id(gbroker: BrokerProcess, healthy: Group) -> None:
    """ClassicGroup.validateMember -> UNKNOWN_MEMBER_ID for Heartbeat, SyncGroup, OffsetCommit, LeaveGroup (per member
    from v3, the response's error before)."""
    gid, gen, ghost = healthy.group_id, healthy.generation, "ghost-member"
    conn = Conn(gbroker.port)
    try:
        assert heartbeat(conn, gid, gen, ghost) == E.UNKNOWN_MEMBER_ID
        assert conn.call(SYNC_GROUP, 5, sync_request(gid, gen, ghost, None, {ghost: b"x"})).error_code == (
            E.UNKNOWN_MEMBER_ID
        )
        commit = commit_request(gid, gen, ghost, {(TOPIC, 0): (99, "ghost")})
        assert commit_errors(conn.call(OFFSET_COMMIT, 8, commit)) == {(TOPIC, 0): E.UNKNOWN_MEMBER_ID}
        left = conn.call(LEAVE_GROUP, 4, LeaveGroupRequest(group_id=gid, members=[MemberIdentity(member_id=ghost)]))
        assert left.error_code == 0 and [(m.member_id, m.error_code) for m in left.members] == [
            (ghost, E.UNKNOWN_MEMBER_ID)
        ]
        left = conn.call(LEAVE_GROUP, 1, LeaveGroupRequest(group_id=gid, member_id=ghost))
        assert left.error_code == E.UNKNOWN_MEMBER_ID
        # Removal by an instance id the group does not know (member id "").
        batch = [MemberIdentity(member_id="", group_instance_id="no-such-instance")]
        left = conn.call(LEAVE_GROUP, 4, LeaveGroupRequest(group_id=gid, members=batch))
        assert [m.error_code for m in left.members] == [E.UNKNOWN_MEMBER_ID]
        # (JoinGroup of an unknown member id is not asked here: the group is full, and Kafka's
        # acceptJoiningMember answers GROUP_MAX_SIZE_REACHED before looking at the member id.)
    finally:
        conn.close()
    assert_group_healthy(gbroker, healthy)


@pytest.mark.parametrize("delta", [-1, 1, -100])
def test_stale_generation(gbroker: BrokerProcess, healthy: Group, delta: int) -> None:
    """A current member with another generation: ILLEGAL_GENERATION for Heartbeat, SyncGroup and OffsetCommit
    (GroupMetadataManager.validateClassicGroupHeartbeat, validateSyncGroup; ClassicGroup.validateOffsetCommit);
    the offsets stay as they were."""
    m = healthy.follower
    stale = healthy.generation + delta
    gid = healthy.group_id
    assert heartbeat(m.conn, gid, stale, m.member_id) == E.ILLEGAL_GENERATION
    assert m.conn.call(SYNC_GROUP, 5, sync_request(gid, stale, m.member_id)).error_code == E.ILLEGAL_GENERATION
    index = healthy.members.index(m)
    commit = commit_request(gid, stale, m.member_id, {(TOPIC, index): (77, "stale")})
    assert commit_errors(m.conn.call(OFFSET_COMMIT, 8, commit)) == {(TOPIC, index): E.ILLEGAL_GENERATION}
    assert_group_healthy(gbroker, healthy, consumer=delta == -1)


def test_fenced_static_member(gbroker: BrokerProcess) -> None:
    """KIP-345: a static member rejoining with member id "" gets a new id while the group stays Stable (same
    protocols: no rebalance, GroupMetadataManager.updateStaticMemberThenRebalanceOrCompleteJoin); the old id is
    fenced: FENCED_INSTANCE_ID for Heartbeat, SyncGroup, OffsetCommit and LeaveGroup (ClassicGroup.validateMember).
    (Not JoinGroup: the group is full, and Kafka's acceptJoiningMember answers GROUP_MAX_SIZE_REACHED first.)"""
    group = form_group(gbroker.port, new_group_id("static"), instance_ids=(None, "inst-b"))
    try:
        static = group.members[1]
        assert static.instance_id == "inst-b" and group.leader != static.member_id
        gid, gen, old = group.group_id, group.generation, static.member_id
        replacement = Conn(gbroker.port)
        rejoined = replacement.call(JOIN_GROUP, 5, join_request(gid, "", "inst-b"))
        assert rejoined.error_code == 0 and rejoined.member_id != old
        assert rejoined.generation_id == gen and rejoined.leader == group.leader and not rejoined.members
        conn = static.conn
        assert heartbeat(conn, gid, gen, old, "inst-b") == E.FENCED_INSTANCE_ID
        assert conn.call(SYNC_GROUP, 5, sync_request(gid, gen, old, "inst-b")).error_code == E.FENCED_INSTANCE_ID
        commit = commit_request(gid, gen, old, {(TOPIC, 1): (55, "fenced")}, "inst-b")
        assert commit_errors(conn.call(OFFSET_COMMIT, 8, commit)) == {(TOPIC, 1): E.FENCED_INSTANCE_ID}
        left = conn.call(
            LEAVE_GROUP,
            4,
            LeaveGroupRequest(group_id=gid, members=[MemberIdentity(member_id=old, group_instance_id="inst-b")]),
        )
        assert [m.error_code for m in left.members] == [E.FENCED_INSTANCE_ID]
        # The old id without its instance id is simply unknown now.
        assert heartbeat(conn, gid, gen, old) == E.UNKNOWN_MEMBER_ID
        conn.close()
        group.members[1] = Member(replacement, rejoined.member_id, "inst-b")
        assert_group_healthy(gbroker, group, consumer=False)
    finally:
        group.close()


def test_static_leader_rejoin_before_v9_gets_old_leader_id(gbroker: BrokerProcess) -> None:
    group = form_group(gbroker.port, new_group_id("static-leader"), instance_ids=("inst-a", None))
    try:
        assert group.leader == group.members[0].member_id
        replacement = Conn(gbroker.port)
        try:
            rejoined = replacement.call(JOIN_GROUP, 5, join_request(group.group_id, "", "inst-a"))
        finally:
            replacement.close()
        assert rejoined.error_code == 0 and rejoined.member_id != group.leader
        assert rejoined.generation_id == group.generation and not rejoined.members
        assert rejoined.leader == group.leader, "the leader id returned should be the old one"
    finally:
        group.close()


def test_static_leader_rejoin_v9_skips_assignment(gbroker: BrokerProcess) -> None:
    """JoinGroup v9 (KIP-814): the rejoining static leader is told it leads, with the members, and to skip the
    assignment; the group stays Stable with the same generation."""
    group = form_group(gbroker.port, new_group_id("static-v9"), instance_ids=("inst-a", None))
    try:
        old = group.leader
        replacement = Conn(gbroker.port)
        rejoined = replacement.call(JOIN_GROUP, 9, join_request(group.group_id, "", "inst-a"))
        assert rejoined.error_code == 0 and rejoined.member_id != old
        assert rejoined.skip_assignment and rejoined.leader == rejoined.member_id
        assert rejoined.generation_id == group.generation and len(rejoined.members) == 2
        assert heartbeat(group.members[0].conn, group.group_id, group.generation, old, "inst-a") == (
            E.FENCED_INSTANCE_ID
        )
        group.members[0].conn.close()
        group.members[0] = Member(replacement, rejoined.member_id, "inst-a")
        group.leader = rejoined.member_id
        assert_group_healthy(gbroker, group, consumer=False)
    finally:
        group.close()


@pytest.mark.parametrize("api", ["heartbeat", "sync", "commit", "join"])
def test_current_member_with_unknown_instance_id(gbroker: BrokerProcess, healthy: Group, api: str) -> None:
    m, gid, gen = healthy.follower, healthy.group_id, healthy.generation
    bogus = "no-such-instance"
    if api == "heartbeat":
        error = heartbeat(m.conn, gid, gen, m.member_id, bogus)
    elif api == "sync":
        error = int(m.conn.call(SYNC_GROUP, 5, sync_request(gid, gen, m.member_id, bogus)).error_code)
    elif api == "commit":
        index = healthy.members.index(m)
        commit = commit_request(gid, gen, m.member_id, {(TOPIC, index): (COMMITTED[index][0], "x")}, bogus)
        error = commit_errors(m.conn.call(OFFSET_COMMIT, 8, commit))[(TOPIC, index)]
    else:
        error = int(m.conn.call(JOIN_GROUP, 5, join_request(gid, m.member_id, bogus)).error_code)
    assert error == E.UNKNOWN_MEMBER_ID, E(error).name


def test_sync_group_with_other_protocol(gbroker: BrokerProcess, healthy: Group) -> None:
    """SyncGroup v5 naming a protocol type or name the group does not use: INCONSISTENT_GROUP_PROTOCOL
    (GroupMetadataManager.validateSyncGroup)."""
    m, gid, gen = healthy.follower, healthy.group_id, healthy.generation
    for request in (
        sync_request(gid, gen, m.member_id, protocol_type="connect"),
        sync_request(gid, gen, m.member_id, protocol_name="roundrobin"),
    ):
        assert m.conn.call(SYNC_GROUP, 5, request).error_code == E.INCONSISTENT_GROUP_PROTOCOL
    assert_group_healthy(gbroker, healthy, consumer=False)


@pytest.mark.parametrize("missing", ["type", "name"])
def test_sync_group_v5_without_protocol(gbroker: BrokerProcess, healthy: Group, missing: str) -> None:
    m, gid, gen = healthy.follower, healthy.group_id, healthy.generation
    request = sync_request(gid, gen, m.member_id)
    if missing == "type":
        request.protocol_type = None
    else:
        request.protocol_name = None
    error = int(m.conn.call(SYNC_GROUP, 5, request).error_code)
    assert error == E.INCONSISTENT_GROUP_PROTOCOL, E(error).name


@pytest.mark.parametrize("api", ["heartbeat", "sync", "leave", "offset_delete"])
def test_empty_group_id_elsewhere(gbroker: BrokerProcess, api: str) -> None:
    conn = Conn(gbroker.port)
    try:
        if api == "heartbeat":
            error = heartbeat(conn, "", 1, "someone")
        elif api == "sync":
            error = int(conn.call(SYNC_GROUP, 5, sync_request("", 1, "someone")).error_code)
        elif api == "leave":
            request = LeaveGroupRequest(group_id="", members=[MemberIdentity(member_id="someone")])
            error = int(conn.call(LEAVE_GROUP, 4, request).error_code)
        else:
            error = int(offset_delete(gbroker.port, "", [(TOPIC, 0)]).error_code)
    finally:
        conn.close()
    assert error == E.INVALID_GROUP_ID, E(error).name


# == 6. OffsetCommit ========================================================================================


def test_offset_metadata_too_large_only_for_that_partition(gbroker: BrokerProcess, healthy: Group) -> None:
    """offset.metadata.max.bytes = 4096 (default): OFFSET_METADATA_TOO_LARGE for the partition over it, the other
    partitions of the request committed (OffsetMetadataManager.commitOffset: isMetadataInvalid per partition)."""
    leader = healthy.member(healthy.leader)
    gid, gen = healthy.group_id, healthy.generation
    offsets: dict[tuple[str, int], tuple[int, str | None]] = {
        (TOPIC, 0): (4, "x" * 4097),
        (TOPIC, 1): (1, "y" * 4096),  # exactly the limit is fine
        (OTHER, 0): (0, None),  # null metadata is fine
    }
    errors = commit_errors(leader.conn.call(OFFSET_COMMIT, 8, commit_request(gid, gen, leader.member_id, offsets)))
    assert errors == {(TOPIC, 0): E.OFFSET_METADATA_TOO_LARGE, (TOPIC, 1): 0, (OTHER, 0): 0}
    assert fetch_offsets(gbroker.port, gid, TOPIC, [0, 1]) == {0: COMMITTED[0], 1: (1, "y" * 4096)}
    assert fetch_offsets(gbroker.port, gid, OTHER, [0]) == {0: (0, "")}
    # Put the partition back for the health check.
    restore = commit_request(gid, gen, leader.member_id, {(TOPIC, 1): COMMITTED[1]})
    assert commit_errors(leader.conn.call(OFFSET_COMMIT, 8, restore)) == {(TOPIC, 1): 0}
    assert_group_healthy(gbroker, healthy, consumer=False)


def test_offset_metadata_limit_counts_characters(gbroker: BrokerProcess, healthy: Group) -> None:
    leader = healthy.member(healthy.leader)
    request = commit_request(healthy.group_id, healthy.generation, leader.member_id, {(OTHER, 0): (1, "\u00e9" * 2049)})
    errors = commit_errors(leader.conn.call(OFFSET_COMMIT, 8, request))
    assert errors == {(OTHER, 0): 0}, {k: E(v).name for k, v in errors.items()}


def test_offset_commit_unknown_topic(gbroker: BrokerProcess, healthy: Group) -> None:
    """KafkaApis.handleOffsetCommitRequest: partitions of topics the metadata cache does not know get
    UNKNOWN_TOPIC_OR_PARTITION; the rest of the request is committed."""
    m = healthy.members[0]
    gid, gen = healthy.group_id, healthy.generation
    offsets: dict[tuple[str, int], tuple[int, str | None]] = {("no-such-topic", 0): (5, "?"), (OTHER, 0): (2, "o")}
    errors = commit_errors(m.conn.call(OFFSET_COMMIT, 8, commit_request(gid, gen, m.member_id, offsets)))
    assert errors == {("no-such-topic", 0): E.UNKNOWN_TOPIC_OR_PARTITION, (OTHER, 0): 0}
    assert fetch_offsets(gbroker.port, gid, OTHER, [0]) == {0: (2, "o")}
    assert_group_healthy(gbroker, healthy, consumer=False)


def test_standalone_commit_into_a_live_group(gbroker: BrokerProcess, healthy: Group) -> None:
    """Generation -1 and member "" (a consumer without group management, or an admin) into a group with members:
    UNKNOWN_MEMBER_ID (ClassicGroup.validateOffsetCommit: 'offset commits are only accepted when the group is
    empty'); into an empty or unknown group the same commit is accepted."""
    conn = Conn(gbroker.port)
    try:
        for version in (2, 5, 8, 9):
            request = commit_request(healthy.group_id, -1, "", {(TOPIC, 0): (0, "standalone")})
            errors = commit_errors(conn.call(OFFSET_COMMIT, version, request))
            assert errors == {(TOPIC, 0): E.UNKNOWN_MEMBER_ID}, (version, errors)
        standalone = new_group_id("standalone")
        request = commit_request(standalone, -1, "", {(TOPIC, 0): (1, "s")})
        assert commit_errors(conn.call(OFFSET_COMMIT, 8, request)) == {(TOPIC, 0): 0}
        assert fetch_offsets(gbroker.port, standalone, TOPIC, [0]) == {0: (1, "s")}
    finally:
        conn.close()
    assert_group_healthy(gbroker, healthy, consumer=False)


def test_commit_with_generation_into_unknown_group_before_v9(gbroker: BrokerProcess) -> None:
    """OffsetMetadataManager.validateOffsetCommit: a group that does not exist, generation >= 0, version < 9:
    ILLEGAL_GENERATION ('to preserve the backward compatibility')."""
    conn = Conn(gbroker.port)
    try:
        request = commit_request(new_group_id("nogroup"), 1, "someone", {(TOPIC, 0): (1, "")})
        assert commit_errors(conn.call(OFFSET_COMMIT, 8, request)) == {(TOPIC, 0): E.ILLEGAL_GENERATION}
    finally:
        conn.close()


def test_commit_with_generation_into_unknown_group_v9(gbroker: BrokerProcess) -> None:
    conn = Conn(gbroker.port)
    try:
        request = commit_request(new_group_id("nogroup"), 1, "someone", {(TOPIC, 0): (1, "")})
        errors = commit_errors(conn.call(OFFSET_COMMIT, 9, request))
    finally:
        conn.close()
    assert errors == {(TOPIC, 0): E.GROUP_ID_NOT_FOUND}, {k: E(v).name for k, v in errors.items()}


# == 7. FindCoordinator =====================================================================================


def test_find_coordinator_transaction_keys_are_answered_by_their_coordinator(gbroker: BrokerProcess) -> None:
    """Key type 1: the leader of the id's __transaction_state partition (created on the first lookup), per key from
    v4; the group keys of the same API still work."""
    conn = Conn(gbroker.port)
    try:
        old = conn.call(FIND_COORDINATOR, 3, FindCoordinatorRequest(key="txn-1", key_type=1))
        assert old.error_code == E.NONE and old.node_id == 1
        batched = conn.call(FIND_COORDINATOR, 4, FindCoordinatorRequest(key_type=1, coordinator_keys=["t1", "t2"]))
        assert [(c.key, c.error_code, c.node_id) for c in batched.coordinators] == [
            ("t1", E.NONE, 1),
            ("t2", E.NONE, 1),
        ]
    finally:
        conn.close()


def test_find_coordinator_v4_one_entry_per_key(gbroker: BrokerProcess) -> None:
    """handleFindCoordinatorRequestV4AndAbove: one Coordinator per key, in order, keys echoed (duplicates too)."""
    keys = ["g-one", "g-two", "g-one", "g-\u00fcnicode"]
    conn = Conn(gbroker.port)
    try:
        response = conn.call(FIND_COORDINATOR, 4, FindCoordinatorRequest(key_type=0, coordinator_keys=keys))
    finally:
        conn.close()
    assert [c.key for c in response.coordinators] == keys
    for c in response.coordinators:
        assert (c.error_code, c.node_id, c.host, c.port) == (0, 1, "127.0.0.1", gbroker.port), c


def test_find_coordinator_unknown_key_type(gbroker: BrokerProcess) -> None:
    """CoordinatorType.forId throws InvalidRequestException for an unknown type; from v4 the error response gives
    INVALID_REQUEST to every key (FindCoordinatorRequest.getErrorResponse)."""
    conn = Conn(gbroker.port)
    try:
        response = conn.call(FIND_COORDINATOR, 4, FindCoordinatorRequest(key_type=7, coordinator_keys=["a", "b"]))
        assert [(c.key, c.error_code) for c in response.coordinators] == [
            ("a", E.INVALID_REQUEST),
            ("b", E.INVALID_REQUEST),
        ]
        old = conn.call(FIND_COORDINATOR, 3, FindCoordinatorRequest(key="a", key_type=7))
        assert old.error_code == E.INVALID_REQUEST
    finally:
        conn.close()


@pytest.mark.parametrize("version", [3, 4])
def test_find_coordinator_empty_group_key(gbroker: BrokerProcess, version: int) -> None:
    conn = Conn(gbroker.port)
    try:
        if version >= 4:
            response = conn.call(FIND_COORDINATOR, 4, FindCoordinatorRequest(key_type=0, coordinator_keys=["", "x"]))
            assert [c.key for c in response.coordinators] == ["", "x"]
            found = [(c.error_code, c.node_id) for c in response.coordinators]
        else:
            response = conn.call(FIND_COORDINATOR, 3, FindCoordinatorRequest(key="", key_type=0))
            found = [(response.error_code, response.node_id)]
    finally:
        conn.close()
    assert all(f == (0, 1) for f in found), found


# == 8. DeleteGroups, OffsetDelete ==========================================================================


def test_delete_groups_non_empty_and_unknown(gbroker: BrokerProcess, healthy: Group) -> None:
    """ClassicGroup.validateDeleteGroup: NON_EMPTY_GROUP while it has members; GroupMetadataManager.group():
    GROUP_ID_NOT_FOUND for a group that does not exist; one result per group of the request."""
    unknown = new_group_id("never-existed")
    conn = Conn(gbroker.port)
    try:
        response = conn.call(DELETE_GROUPS, 2, DeleteGroupsRequest(groups_names=[healthy.group_id, unknown]))
    finally:
        conn.close()
    assert {r.group_id: r.error_code for r in response.results} == {
        healthy.group_id: E.NON_EMPTY_GROUP,
        unknown: E.GROUP_ID_NOT_FOUND,
    }
    assert_group_healthy(gbroker, healthy)


def test_offset_delete_unknown_group(gbroker: BrokerProcess) -> None:
    response = offset_delete(gbroker.port, new_group_id("never-existed"), [(TOPIC, 0)])
    assert response.error_code == E.GROUP_ID_NOT_FOUND and not response.topics


def test_offset_delete_subscribed_topic_of_live_group(gbroker: BrokerProcess, healthy: Group) -> None:
    """A live consumer group: per partition GROUP_SUBSCRIBED_TO_TOPIC for a topic it subscribes to, the offsets of a
    topic it does not subscribe to deleted (OffsetMetadataManager.deleteOffsets, ClassicGroup.isSubscribedToTopic)."""
    m = healthy.members[0]
    commit = commit_request(healthy.group_id, healthy.generation, m.member_id, {(OTHER, 0): (1, "other")})
    assert commit_errors(m.conn.call(OFFSET_COMMIT, 8, commit)) == {(OTHER, 0): 0}
    response = offset_delete(gbroker.port, healthy.group_id, [(TOPIC, 0), (TOPIC, 1), (OTHER, 0)])
    assert response.error_code == 0
    assert offset_delete_errors(response) == {
        (TOPIC, 0): E.GROUP_SUBSCRIBED_TO_TOPIC,
        (TOPIC, 1): E.GROUP_SUBSCRIBED_TO_TOPIC,
        (OTHER, 0): 0,
    }
    assert fetch_offsets(gbroker.port, healthy.group_id, OTHER, [0]) == {0: (-1, "")}
    assert_group_healthy(gbroker, healthy)


# == 9. truncated and garbage JoinGroup bodies ==============================================================


def _join_v5_body(group_id: str) -> bytes:
    from odradek.broker.protocol.apis import request_message

    body = bytearray()
    request_message(JOIN_GROUP).encode(body, join_request(group_id), 5)
    return bytes(body)


def _join_prefix_v5(group_id: str) -> bytes:
    """JoinGroup v5 up to and including protocol_type (the protocols array is appended by the caller)."""
    return (
        _str(group_id)
        + struct.pack(">ii", SESSION_MS, REBALANCE_MS)
        + _str("")  # member id
        + struct.pack(">h", -1)  # group instance id: null
        + _str("consumer")
    )


def _garbage_bodies(group_id: str) -> dict[str, tuple[int, bytes]]:
    """name -> (JoinGroup version, body) that cannot be parsed."""
    good = _join_v5_body(group_id)
    return {
        "truncated-half": (5, good[: len(good) // 2]),
        "truncated-last-byte": (5, good[:-1]),
        "group-id-overruns": (5, b"\x7f\xff" + b"g" * 20),
        "null-protocols-array": (5, _join_prefix_v5(group_id) + struct.pack(">i", -1)),
        "huge-protocols-array": (5, _join_prefix_v5(group_id) + struct.pack(">i", 2**31 - 1)),
        "null-metadata": (5, _join_prefix_v5(group_id) + struct.pack(">i", 1) + _str(PROTOCOL) + struct.pack(">i", -1)),
        "metadata-overruns": (
            5,
            _join_prefix_v5(group_id) + struct.pack(">i", 1) + _str(PROTOCOL) + struct.pack(">i", 10_000) + b"x",
        ),
        "random": (5, b"\x00\x40" + random.Random(11).randbytes(40)),
        "flexible-garbage": (7, b"\x00" + random.Random(12).randbytes(30)),
    }


@pytest.mark.parametrize("name", list(_garbage_bodies("g")))
def test_garbage_join_group_body_closes_the_connection(gbroker: BrokerProcess, healthy: Group, name: str) -> None:
    """A request that does not parse closes the connection (Kafka: SocketServer.Processor closes the channel on the
    InvalidRequestException of RequestContext.parseRequest). Other connections - a bystander opened before and
    the healthy group's members - and the group named in the garbage are unaffected."""
    version, body = _garbage_bodies(healthy.group_id)[name]
    bystander = Conn(gbroker.port)
    try:
        with raw_connect(gbroker.port) as sock:
            sock.sendall(_frame(JOIN_GROUP, version, 99, body))
            assert is_closed(sock, timeout=10), f"connection left open after a {name} JoinGroup"
        assert bystander.call(18, 0, ApiVersionsRequest()).error_code == 0
    finally:
        bystander.close()
    described = describe(gbroker.port, healthy.group_id)
    assert len(described.members) == 2
    assert_group_healthy(gbroker, healthy, consumer=name == "truncated-half")


def test_join_group_frame_cut_short_then_eof(gbroker: BrokerProcess, healthy: Group) -> None:
    """The size prefix announces the whole request, the client sends part of it and shuts its side down: the
    broker drops the connection, and never treats the part as a request."""
    frame = _encode(JOIN_GROUP, 5, 1, join_request(healthy.group_id))
    with raw_connect(gbroker.port) as sock:
        sock.sendall(frame[: len(frame) - 7])
        sock.shutdown(socket.SHUT_WR)
        assert is_closed(sock, timeout=10)
    assert len(describe(gbroker.port, healthy.group_id).members) == 2
    assert api_versions_roundtrip(gbroker.port)
    assert_group_healthy(gbroker, healthy, consumer=False)
