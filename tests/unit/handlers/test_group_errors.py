"""Error mapping of the group APIs (FindCoordinator 10, JoinGroup 11, Heartbeat 12, LeaveGroup 13, SyncGroup 14,
DescribeGroups 15, ListGroups 16, DeleteGroups 42, OffsetCommit 8, OffsetFetch 9, OffsetDelete 47) as a client
sees it on the wire, on an in-process single-broker cluster. Codes as Kafka's GroupCoordinator (classic protocol)
and KafkaApis answer them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import delete_groups_request as dg
from odradek.broker.protocol.messages import describe_groups_request as dsg
from odradek.broker.protocol.messages import find_coordinator_request as fc
from odradek.broker.protocol.messages import heartbeat_request as hb
from odradek.broker.protocol.messages import join_group_request as jg
from odradek.broker.protocol.messages import leave_group_request as lg
from odradek.broker.protocol.messages import list_groups_request as lsg
from odradek.broker.protocol.messages import offset_commit_request as oc
from odradek.broker.protocol.messages import offset_delete_request as od
from odradek.broker.protocol.messages import offset_fetch_request as of
from odradek.broker.protocol.messages import sync_group_request as sg

# The group coordinator answers COORDINATOR_NOT_AVAILABLE while __consumer_offsets does not exist (Kafka 4 answers
# NOT_COORDINATOR for an unloaded partition; both send the client back to FindCoordinator).
EARLY = ErrorCode.COORDINATOR_NOT_AVAILABLE
PROTOCOLS = [jg.JoinGroupRequestProtocol(name="range", metadata=b"\0\0\0\0\0\0\0\0")]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("groups")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


@pytest.fixture(scope="module")
def topic(broker: InProcessBroker) -> str:
    """A one-partition topic, and __consumer_offsets created through FindCoordinator."""
    client = BrokerClient(broker.port)
    try:
        name = unique("offsets-for")
        created = client.call(
            ct.CreateTopicsRequest(
                topics=[ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)], timeout_ms=5000
            ),
            7,
        )
        assert created.topics[0].error_code == ErrorCode.NONE
        assert find(client, "warm-up") == ErrorCode.NONE
        return name
    finally:
        client.close()


def find(client: BrokerClient, key: str, key_type: int = 0) -> int:
    for _ in range(50):  # bounded: the coordinator may still be loading its partition
        (found,) = client.call(fc.FindCoordinatorRequest(key_type=key_type, coordinator_keys=[key]), 4).coordinators
        if found.error_code != ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return int(found.error_code)
    return int(found.error_code)


def join(client: BrokerClient, group: str, member_id: str = "", session_ms: int = 10_000, **extra: object) -> object:
    request = jg.JoinGroupRequest(
        group_id=group,
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=10_000,
        member_id=member_id,
        protocol_type=str(extra.get("protocol_type", "consumer")),
        protocols=extra.get("protocols", PROTOCOLS),  # type: ignore[arg-type]
    )
    return client.call(request, 9)


def stable_member(client: BrokerClient, group: str) -> tuple[str, int]:
    """Join `group` as its only member and sync: (member id, generation)."""
    first = join(client, group)
    assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED  # type: ignore[attr-defined]
    member_id = first.member_id  # type: ignore[attr-defined]
    joined = join(client, group, member_id)
    assert joined.error_code == ErrorCode.NONE, joined  # type: ignore[attr-defined]
    generation = joined.generation_id  # type: ignore[attr-defined]
    synced = client.call(
        sg.SyncGroupRequest(
            group_id=group,
            generation_id=generation,
            member_id=member_id,
            protocol_type="consumer",
            protocol_name="range",
            assignments=[sg.SyncGroupRequestAssignment(member_id=member_id, assignment=b"")],
        ),
        5,
    )
    assert synced.error_code == ErrorCode.NONE
    return member_id, generation


# FindCoordinator


def test_find_coordinator_errors(client: BrokerClient, topic: str) -> None:
    assert find(client, "some-group") == ErrorCode.NONE
    assert find(client, "some-txn", key_type=1) == ErrorCode.NONE  # __transaction_state is created on first use
    assert find(client, "x", key_type=7) == ErrorCode.INVALID_REQUEST


def test_find_coordinator_legacy_version_carries_the_error_at_the_top(client: BrokerClient, topic: str) -> None:
    response = client.call(fc.FindCoordinatorRequest(key="g", key_type=7), 3)
    assert response.error_code == ErrorCode.INVALID_REQUEST
    response = client.call(fc.FindCoordinatorRequest(key="g", key_type=0), 3)
    assert (response.error_code, response.node_id) == (ErrorCode.NONE, 1)


# JoinGroup


def test_join_group_errors(client: BrokerClient, topic: str) -> None:
    group = unique("join")
    assert join(client, "").error_code == ErrorCode.INVALID_GROUP_ID  # type: ignore[attr-defined]
    assert join(client, group, session_ms=1).error_code == ErrorCode.INVALID_SESSION_TIMEOUT  # type: ignore[attr-defined]
    assert join(client, group, session_ms=10**9).error_code == ErrorCode.INVALID_SESSION_TIMEOUT  # type: ignore[attr-defined]
    empty = join(client, group, protocols=[])
    assert empty.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL  # type: ignore[attr-defined]
    assert join(client, group, protocol_type="").error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL  # type: ignore[attr-defined]
    first = join(client, group)
    assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED  # type: ignore[attr-defined]
    assert first.member_id  # type: ignore[attr-defined]
    unknown = join(client, unique("join-unknown"), member_id="not-a-member")
    assert unknown.error_code == ErrorCode.UNKNOWN_MEMBER_ID  # type: ignore[attr-defined]


def test_join_group_with_another_protocol_type_is_inconsistent(client: BrokerClient, topic: str) -> None:
    group = unique("join-type")
    stable_member(client, group)
    other = join(client, group, protocol_type="connect")
    assert other.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL  # type: ignore[attr-defined]


# Heartbeat, SyncGroup, LeaveGroup


def test_heartbeat_errors(client: BrokerClient, topic: str) -> None:
    group = unique("hb")
    member_id, generation = stable_member(client, group)

    def beat(group_id: str, generation_id: int, member: str) -> int:
        request = hb.HeartbeatRequest(group_id=group_id, generation_id=generation_id, member_id=member)
        return int(client.call(request, 4).error_code)

    assert beat(group, generation, member_id) == ErrorCode.NONE
    assert beat(group, generation + 1, member_id) == ErrorCode.ILLEGAL_GENERATION
    assert beat(group, generation, "stranger") == ErrorCode.UNKNOWN_MEMBER_ID
    assert beat("", generation, member_id) == ErrorCode.INVALID_GROUP_ID
    assert beat(unique("no-group"), 1, "m") == ErrorCode.UNKNOWN_MEMBER_ID


def test_heartbeat_during_a_rebalance_is_rebalance_in_progress(
    broker: InProcessBroker, client: BrokerClient, topic: str
) -> None:
    group = unique("hb-rebalance")
    member_id, generation = stable_member(client, group)
    newcomer = BrokerClient(broker.port)
    try:
        first = join(newcomer, group)
        assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED  # type: ignore[attr-defined]
        # The second join parks until the old member rejoins; send it without waiting for its answer.
        body = bytearray()
        jg.encode(
            body,
            jg.JoinGroupRequest(
                group_id=group,
                session_timeout_ms=10_000,
                rebalance_timeout_ms=10_000,
                member_id=first.member_id,  # type: ignore[attr-defined]
                protocol_type="consumer",
                protocols=PROTOCOLS,
            ),
            9,
        )
        newcomer.send_nowait(11, 9, bytes(body))
        code = ErrorCode.NONE
        for _ in range(100):  # bounded: until the coordinator has seen the newcomer's join
            code = client.call(
                hb.HeartbeatRequest(group_id=group, generation_id=generation, member_id=member_id), 4
            ).error_code
            if code != ErrorCode.NONE:
                break
        assert code == ErrorCode.REBALANCE_IN_PROGRESS
        # Kafka accepts commits while a rebalance is prepared (consumers commit in onPartitionsRevoked before they
        # rejoin); only CompletingRebalance answers REBALANCE_IN_PROGRESS (next test).
        assert commit(client, group, topic, generation=generation, member=member_id) == ErrorCode.NONE
    finally:
        newcomer.close()


def test_sync_group_errors(client: BrokerClient, topic: str) -> None:
    group = unique("sync")
    member_id, generation = stable_member(client, group)

    def sync(group_id: str, generation_id: int, member: str, protocol_type: str = "consumer") -> int:
        request = sg.SyncGroupRequest(
            group_id=group_id,
            generation_id=generation_id,
            member_id=member,
            protocol_type=protocol_type,
            protocol_name="range",
        )
        return int(client.call(request, 5).error_code)

    assert sync(group, generation + 1, member_id) == ErrorCode.ILLEGAL_GENERATION
    assert sync(group, generation, "stranger") == ErrorCode.UNKNOWN_MEMBER_ID
    assert sync(group, generation, member_id, protocol_type="connect") == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert sync("", generation, member_id) == ErrorCode.INVALID_GROUP_ID
    assert sync(unique("no-group"), 1, "m") == ErrorCode.UNKNOWN_MEMBER_ID


def test_sync_group_v5_without_protocol_type_or_name_is_inconsistent(client: BrokerClient, topic: str) -> None:
    """KafkaApis.handleSyncGroupRequest: from v5 both must be set, checked before the group is looked at."""
    group = unique("sync-v5")
    member_id, generation = stable_member(client, group)
    for protocol_type, protocol_name in [(None, "range"), ("consumer", None)]:
        request = sg.SyncGroupRequest(
            group_id=group,
            generation_id=generation,
            member_id=member_id,
            protocol_type=protocol_type,
            protocol_name=protocol_name,
        )
        assert client.call(request, 5).error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    old = sg.SyncGroupRequest(group_id=group, generation_id=generation, member_id=member_id)
    assert client.call(old, 4).error_code == ErrorCode.NONE  # v4 has neither field


def test_leave_group_errors(client: BrokerClient, topic: str) -> None:
    group = unique("leave")
    member_id, _ = stable_member(client, group)
    request = lg.LeaveGroupRequest(
        group_id=group, members=[lg.MemberIdentity(member_id="stranger"), lg.MemberIdentity(member_id=member_id)]
    )
    response = client.call(request, 5)
    assert response.error_code == ErrorCode.NONE
    assert [m.error_code for m in response.members] == [ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.NONE]
    assert (
        client.call(lg.LeaveGroupRequest(group_id=group, member_id=member_id), 2).error_code
        == ErrorCode.UNKNOWN_MEMBER_ID
    )
    assert client.call(lg.LeaveGroupRequest(group_id="", member_id="m"), 2).error_code == ErrorCode.INVALID_GROUP_ID


# DescribeGroups, ListGroups, DeleteGroups


def test_describe_groups_unknown_group_by_version(client: BrokerClient, topic: str) -> None:
    missing = unique("nobody")
    (old,) = client.call(dsg.DescribeGroupsRequest(groups=[missing]), 5).groups
    assert (old.error_code, old.group_state) == (ErrorCode.NONE, "Dead")  # before v6: a dead group, no error
    (new,) = client.call(dsg.DescribeGroupsRequest(groups=[missing]), 6).groups
    assert new.error_code == ErrorCode.GROUP_ID_NOT_FOUND
    # "" is a valid group id for DescribeGroups, DeleteGroups, OffsetCommit and OffsetFetch (Kafka's
    # GroupCoordinator.isValidGroupId, kept for old clients), and INVALID_GROUP_ID for every other group API.
    (empty,) = client.call(dsg.DescribeGroupsRequest(groups=[""]), 6).groups
    assert empty.error_code == ErrorCode.GROUP_ID_NOT_FOUND


def test_list_groups_answers_none_and_lists_a_stable_group(client: BrokerClient, topic: str) -> None:
    group = unique("listed")
    stable_member(client, group)
    response = client.call(lsg.ListGroupsRequest(states_filter=["Stable"]), 5)
    assert response.error_code == ErrorCode.NONE
    assert group in [g.group_id for g in response.groups]
    empty = client.call(lsg.ListGroupsRequest(states_filter=["Dead"]), 5)
    assert group not in [g.group_id for g in empty.groups]


def test_list_groups_filters(client: BrokerClient, topic: str) -> None:
    """v4 states and v5 types filters (KIP-518, KIP-848): a filter naming no known state, or only group types
    other than classic, lists nothing; states match case-insensitively, as Kafka's."""
    group = unique("filtered")
    stable_member(client, group)

    def listed(version: int, states: list[str], types: list[str]) -> list[str]:
        response = client.call(lsg.ListGroupsRequest(states_filter=states, types_filter=types), version)
        assert response.error_code == ErrorCode.NONE
        return [g.group_id for g in response.groups]

    assert group in listed(5, [], ["classic"])
    assert group not in listed(5, [], ["consumer"])
    assert listed(5, ["NoSuchState"], []) == []
    assert group in listed(5, ["stable"], [])
    assert group in listed(3, [], [])


def test_delete_groups_errors(client: BrokerClient, topic: str) -> None:
    busy = unique("busy")
    stable_member(client, busy)
    missing = unique("missing")
    response = client.call(dg.DeleteGroupsRequest(groups_names=[busy, missing, ""]), 2)
    assert [(r.group_id, r.error_code) for r in response.results] == [
        (busy, ErrorCode.NON_EMPTY_GROUP),
        (missing, ErrorCode.GROUP_ID_NOT_FOUND),
        ("", ErrorCode.GROUP_ID_NOT_FOUND),  # "" is a valid id here (isValidGroupId)
    ]


# OffsetCommit, OffsetFetch, OffsetDelete


def commit(
    client: BrokerClient,
    group: str,
    topic: str,
    partition: int = 0,
    generation: int = -1,
    member: str = "",
    metadata: str = "",
    version: int = 8,
) -> int:
    request = oc.OffsetCommitRequest(
        group_id=group,
        generation_id_or_member_epoch=generation,
        member_id=member,
        topics=[
            oc.OffsetCommitRequestTopic(
                name=topic,
                partitions=[
                    oc.OffsetCommitRequestPartition(
                        partition_index=partition, committed_offset=5, committed_metadata=metadata
                    )
                ],
            )
        ],
    )
    (result,) = client.call(request, version).topics
    return int(result.partitions[0].error_code)


def test_offset_commit_errors(client: BrokerClient, topic: str) -> None:
    simple = unique("simple")
    assert commit(client, simple, topic) == ErrorCode.NONE  # generation -1: a simple (standalone) consumer
    assert commit(client, simple, unique("no-topic")) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert commit(client, simple, topic, partition=3) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert commit(client, simple, topic, metadata="m" * 5000) == ErrorCode.OFFSET_METADATA_TOO_LARGE
    assert commit(client, "", topic) == ErrorCode.NONE  # "" is a valid id for OffsetCommit (isValidGroupId)
    group = unique("members")
    member_id, generation = stable_member(client, group)
    assert commit(client, group, topic, generation=generation, member=member_id) == ErrorCode.NONE
    assert commit(client, group, topic, generation=generation + 1, member=member_id) == ErrorCode.ILLEGAL_GENERATION
    assert commit(client, group, topic, generation=generation, member="stranger") == ErrorCode.UNKNOWN_MEMBER_ID


def test_offset_commit_with_a_generation_for_an_unknown_group_depends_on_the_version(
    client: BrokerClient, topic: str
) -> None:
    """Kafka: ILLEGAL_GENERATION before v9, GROUP_ID_NOT_FOUND from v9 (KIP-848)."""
    assert commit(client, unique("ghost"), topic, generation=3, member="m", version=8) == ErrorCode.ILLEGAL_GENERATION
    assert commit(client, unique("ghost"), topic, generation=3, member="m", version=9) == ErrorCode.GROUP_ID_NOT_FOUND


def test_offset_fetch_errors(client: BrokerClient, topic: str) -> None:
    group = unique("fetch")
    assert commit(client, group, topic) == ErrorCode.NONE
    request = of.OffsetFetchRequest(
        groups=[
            of.OffsetFetchRequestGroup(
                group_id=group, topics=[of.OffsetFetchRequestTopics(name=topic, partition_indexes=[0])]
            )
        ]
    )
    (found,) = client.call(request, 8).groups
    assert found.error_code == ErrorCode.NONE
    assert [(p.committed_offset, p.error_code) for p in found.topics[0].partitions] == [(5, ErrorCode.NONE)]
    empty_id = of.OffsetFetchRequest(groups=[of.OffsetFetchRequestGroup(group_id="", topics=None)])
    (empty,) = client.call(empty_id, 8).groups
    assert empty.error_code == ErrorCode.NONE  # "" is a valid id for OffsetFetch (isValidGroupId)
    unknown = of.OffsetFetchRequest(
        group_id=unique("never"), topics=[of.OffsetFetchRequestTopic(name=topic, partition_indexes=[0])]
    )
    (part,) = client.call(unknown, 7).topics[0].partitions
    assert (part.committed_offset, part.error_code) == (-1, ErrorCode.NONE)


def test_offset_delete_errors(client: BrokerClient, topic: str) -> None:
    def delete(group: str, topic_name: str) -> tuple[int, list[int]]:
        request = od.OffsetDeleteRequest(
            group_id=group,
            topics=[
                od.OffsetDeleteRequestTopic(
                    name=topic_name, partitions=[od.OffsetDeleteRequestPartition(partition_index=0)]
                )
            ],
        )
        response = client.call(request, 0)
        return int(response.error_code), [int(p.error_code) for t in response.topics for p in t.partitions]

    assert delete(unique("missing"), topic)[0] == ErrorCode.GROUP_ID_NOT_FOUND
    assert delete("", topic)[0] == ErrorCode.INVALID_GROUP_ID
    simple = unique("simple-del")
    assert commit(client, simple, topic) == ErrorCode.NONE
    assert delete(simple, topic) == (ErrorCode.NONE, [ErrorCode.NONE])
    assert delete(simple, unique("no-topic")) == (ErrorCode.NONE, [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION])


# Before __consumer_offsets exists no partition of it is led here: every group API answers as Kafka does for a
# group whose coordinator is elsewhere or not elected (clients then look the coordinator up again).


def test_group_apis_before_the_offsets_topic_exists(tmp_path: Path) -> None:
    fresh = InProcessBroker(tmp_path)
    client = BrokerClient(fresh.port)
    try:
        group = unique("early")
        assert join(client, group, "m").error_code == EARLY  # type: ignore[attr-defined]
        beat = client.call(hb.HeartbeatRequest(group_id=group, generation_id=1, member_id="m"), 4)
        assert beat.error_code == EARLY
        synced = client.call(
            sg.SyncGroupRequest(
                group_id=group, generation_id=1, member_id="m", protocol_type="consumer", protocol_name="range"
            ),
            5,
        )
        assert synced.error_code == EARLY
        left = client.call(lg.LeaveGroupRequest(group_id=group, member_id="m"), 2)
        assert left.error_code == EARLY
        (described,) = client.call(dsg.DescribeGroupsRequest(groups=[group]), 5).groups
        assert described.error_code == EARLY
        fetch_v1 = of.OffsetFetchRequest(
            group_id=group, topics=[of.OffsetFetchRequestTopic(name="t", partition_indexes=[0])]
        )
        (old,) = client.call(fetch_v1, 1).topics[0].partitions
        assert old.error_code == EARLY  # before v2 the group error is carried by every partition
        fetched = client.call(fetch_v1, 7)
        assert fetched.error_code == EARLY
        (deleted,) = client.call(dg.DeleteGroupsRequest(groups_names=[group]), 2).results
        assert deleted.error_code == EARLY
    finally:
        client.close()
        fresh.stop()


def test_join_group_beyond_group_max_size(tmp_path: Path) -> None:
    small = InProcessBroker(tmp_path, {"group.max.size": "1"})
    client = BrokerClient(small.port)
    try:
        assert find(client, "warm-up") == ErrorCode.NONE
        group = unique("full")
        stable_member(client, group)
        other = BrokerClient(small.port)
        try:
            first = join(other, group)
            code = first.error_code  # type: ignore[attr-defined]
            if code == ErrorCode.MEMBER_ID_REQUIRED:
                code = join(other, group, first.member_id).error_code  # type: ignore[attr-defined]
            assert code == ErrorCode.GROUP_MAX_SIZE_REACHED
        finally:
            other.close()
        (emptied,) = client.call(dg.DeleteGroupsRequest(groups_names=[group]), 2).results
        assert emptied.error_code == ErrorCode.NON_EMPTY_GROUP
    finally:
        client.close()
        small.stop()


def test_delete_groups_of_an_empty_group_succeeds(client: BrokerClient, topic: str) -> None:
    group = unique("emptied")
    member_id, _ = stable_member(client, group)
    assert client.call(lg.LeaveGroupRequest(group_id=group, member_id=member_id), 2).error_code == ErrorCode.NONE
    (deleted,) = client.call(dg.DeleteGroupsRequest(groups_names=[group]), 2).results
    assert deleted.error_code == ErrorCode.NONE
    (gone,) = client.call(dg.DeleteGroupsRequest(groups_names=[group]), 2).results
    assert gone.error_code == ErrorCode.GROUP_ID_NOT_FOUND


def test_offset_commit_between_join_and_sync_is_rebalance_in_progress(client: BrokerClient, topic: str) -> None:
    """ClassicGroup.validateOffsetCommit: a valid member and generation, but the group awaits the leader's
    SyncGroup (CompletingRebalance)."""
    group = unique("completing")
    first = join(client, group)
    member_id = first.member_id  # type: ignore[attr-defined]
    joined = join(client, group, member_id)
    assert joined.error_code == ErrorCode.NONE  # type: ignore[attr-defined]
    generation = joined.generation_id  # type: ignore[attr-defined]
    assert commit(client, group, topic, generation=generation, member=member_id) == ErrorCode.REBALANCE_IN_PROGRESS
