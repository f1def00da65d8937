"""Authorization in the handlers: with an authorizer that denies some (operation, resource) pairs, each API answers
Kafka's error for what was denied (TOPIC_, GROUP_, CLUSTER_AUTHORIZATION_FAILED, Metadata's hiding of topics) and
leaves the allowed resources alone; a denied request never reaches the coordinator, controller or logs.

The broker services are fakes (an image built by hand, a coordinator and a replica manager that record their
calls): what is tested is the mapping, not the group or log logic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from odradek.broker.auth.authorizer import (
    CLUSTER_NAME,
    AclOperation,
    Action,
    AuthorizableRequestContext,
    AuthorizationResult,
    ResourceType,
)
from odradek.broker.config.broker import build
from odradek.broker.handlers import (
    alter_configs,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_groups,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sync_group,
)
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.dispatch import Encoded
from odradek.broker.metadata.departed_brokers import DepartedBrokers
from odradek.broker.metadata.image import BrokerImage, Endpoint, MetadataImage, PartitionImage, TopicImage
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.headers import RequestHeader
from odradek.broker.protocol.messages import alter_configs_request as alter_req
from odradek.broker.protocol.messages import create_partitions_request as cp_req
from odradek.broker.protocol.messages import create_topics_request as ct_req
from odradek.broker.protocol.messages import delete_records_request as dr_req
from odradek.broker.protocol.messages import delete_topics_request as dt_req
from odradek.broker.protocol.messages import describe_configs_request as dc_req
from odradek.broker.protocol.messages import fetch_request as f_req
from odradek.broker.protocol.messages import fetch_response as f_resp
from odradek.broker.protocol.messages import incremental_alter_configs_request as inc_req
from odradek.broker.protocol.messages import list_offsets_request as lo_req
from odradek.broker.protocol.messages import metadata_request as md_req
from odradek.broker.protocol.messages import offset_commit_request as oc_req
from odradek.broker.protocol.messages import offset_delete_request as od_req
from odradek.broker.protocol.messages import offset_fetch_request as of_req
from odradek.broker.protocol.messages import offset_for_leader_epoch_request as ofle_req
from odradek.broker.protocol.messages import produce_request as p_req
from odradek.broker.protocol.messages.delete_groups_request import DeleteGroupsRequest
from odradek.broker.protocol.messages.describe_cluster_request import DescribeClusterRequest
from odradek.broker.protocol.messages.describe_groups_request import DescribeGroupsRequest
from odradek.broker.protocol.messages.find_coordinator_request import FindCoordinatorRequest
from odradek.broker.protocol.messages.heartbeat_request import HeartbeatRequest
from odradek.broker.protocol.messages.join_group_request import JoinGroupRequest
from odradek.broker.protocol.messages.leave_group_request import LeaveGroupRequest
from odradek.broker.protocol.messages.list_groups_request import ListGroupsRequest
from odradek.broker.protocol.messages.sync_group_request import SyncGroupRequest
from odradek.broker.protocol.primitives import Reader
from odradek.broker.quota.manager import QuotaManagers
from odradek.broker.replication.api import FetchResult, ProduceResult
from odradek.broker.replication.fetch_session import FetchManager, FetchSessionCache
from odradek.broker.utils.time import MockTime

T, G, C = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
Denial = tuple[AclOperation, ResourceType, str]


@dataclass
class DenySome:
    """Denies the listed (operation, type, name) triples, allows everything else, and records every action."""

    denied: set[Denial]
    asked: list[Action] = field(default_factory=list)

    def authorize(self, context: AuthorizableRequestContext, actions: Sequence[Action]) -> list[AuthorizationResult]:
        self.asked += actions
        return [
            AuthorizationResult.DENIED
            if (a.operation, a.resource.resource_type, a.resource.name) in self.denied
            else AuthorizationResult.ALLOWED
            for a in actions
        ]


class Tripwire:
    """A coordinator, replica manager or controller that records calls and answers neutral values."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return ANSWERS[name](*args, **kwargs)

        return call


async def _async(value: Any) -> Any:
    return value


ANSWERS: dict[str, Any] = {
    "fetch_offsets": lambda group, parts, *member: (
        ErrorCode.NONE,
        [(t, p, None) for t, p in parts] if parts is not None else [("a", 0, None), ("b", 0, None)],
    ),
    "commit_offsets": lambda group, gen, member, instance, entries, _: _async([ErrorCode.NONE] * len(entries)),
    "delete_offsets": lambda group, parts: _async((ErrorCode.NONE, [ErrorCode.NONE] * len(parts))),
    "delete_groups": lambda groups: _async([ErrorCode.NONE] * len(groups)),
    "list_groups": lambda states, consumer_states=None: [
        SimpleNamespace(group_id=g, protocol_type="consumer", state="Stable", group_type="classic")
        for g in ("g1", "g2")
    ],
    "describe_group": lambda group: SimpleNamespace(
        error=ErrorCode.NONE, state="Empty", protocol_type="consumer", protocol="", members=[]
    ),
    "partition_for": lambda group: 0,
    "list_offset": lambda *args: (5, -1, 0),
    "delete_records": lambda *args: 3,
    "end_offset_for_epoch": lambda *args: (0, 7),
    "create_topic": lambda *args: _async(TOPICS["new"]),
    "delete_topic": lambda name: _async(None),
    "create_partitions": lambda *args: _async(None),
    "produce": lambda entries, *args: _async([ProduceResult(ErrorCode.NONE, 4, last_offset=4) for _ in entries]),
    "fetch": lambda params, wanted: _async([FetchResult(ErrorCode.NONE, 9, 9, 0) for _ in wanted]),
}


def _partition(topic: str) -> PartitionImage:
    return PartitionImage(topic, 0, (1,), 1, 0, (1,))


TOPICS: dict[str, TopicImage] = {
    name: TopicImage(name, str(uuid.uuid4()), 1, {}, {0: _partition(name)})
    for name in ("a", "b", "new", "__consumer_offsets")
}
BROKER = BrokerImage(
    1,
    "10.0.0.1",
    9092,
    None,
    (Endpoint("CLIENT", "client.example", 19092), Endpoint("INTERNAL", "internal.example", 29092)),
)


def services(denied: set[Denial], topics: tuple[str, ...] = ("a", "b", "__consumer_offsets")) -> Any:
    image = MetadataImage(1, "cluster", {1: BROKER}, {t: TOPICS[t] for t in topics})
    tripwire = Tripwire()

    async def sync_replicas(timeout_s: float) -> bool:
        return True

    return SimpleNamespace(
        node_id=1,
        controller_id=1,
        config=build([]),
        metadata=SimpleNamespace(image=image),
        authorizer=DenySome(denied),
        group_coordinator=tripwire,
        replica_manager=SimpleNamespace(
            has_pending=False,
            fetch_manager=FetchManager(MockTime(), FetchSessionCache(1000, 120_000)),
            **{n: getattr(tripwire, n) for n in ANSWERS},
        ),
        controller=tripwire,
        calls=tripwire.calls,
        sync_replicas=sync_replicas,
        now_ms=lambda: 0,
        metrics=SimpleNamespace(fetched=lambda *args: None, fetch_failed=lambda *args: None),
        quotas=QuotaManagers(MockTime()),
        departed_brokers=DepartedBrokers(MockTime()),
    )


def context(svc: Any, api_key: int, version: int, listener: str = "CLIENT") -> RequestContext:
    return RequestContext(RequestHeader(api_key, version, 7, "client"), "10.1.1.1", 1, listener, svc)


def run(result: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(result, 10))


# --- topics -----------------------------------------------------------------------------------------------------


def test_metadata_hides_undescribable_topics_when_asked_for_all() -> None:
    svc = services({(AclOperation.DESCRIBE, T, "b")})
    response = run(metadata.handle(md_req.MetadataRequest(topics=None), context(svc, 3, 12)))
    assert [t.name for t in response.topics] == ["__consumer_offsets", "a"]


def test_metadata_refuses_named_undescribable_topics_existing_or_not() -> None:
    svc = services({(AclOperation.DESCRIBE, T, "b"), (AclOperation.DESCRIBE, T, "ghost")})
    wanted = [md_req.MetadataRequestTopic(name=n) for n in ("a", "b", "ghost")]
    request = md_req.MetadataRequest(topics=wanted, allow_auto_topic_creation=False)
    response = run(metadata.handle(request, context(svc, 3, 12)))
    assert [(t.name, t.error_code) for t in response.topics] == [
        ("a", ErrorCode.NONE),
        ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        ("ghost", ErrorCode.TOPIC_AUTHORIZATION_FAILED),  # not UNKNOWN_TOPIC_OR_PARTITION: no name leaks
    ]


def test_metadata_by_topic_id_denied_hides_the_name() -> None:
    svc = services({(AclOperation.DESCRIBE, T, "b")})
    topic_id = uuid.UUID(TOPICS["b"].topic_id)
    request = md_req.MetadataRequest(topics=[md_req.MetadataRequestTopic(topic_id=topic_id, name=None)])
    (topic,) = run(metadata.handle(request, context(svc, 3, 12))).topics
    assert (topic.name, topic.topic_id, topic.error_code) == (None, topic_id, ErrorCode.TOPIC_AUTHORIZATION_FAILED)


def test_metadata_auto_creation_needs_create_on_cluster_or_topic() -> None:
    denied = {(AclOperation.CREATE, C, CLUSTER_NAME), (AclOperation.CREATE, T, "new")}
    svc = services(denied)
    request = md_req.MetadataRequest(topics=[md_req.MetadataRequestTopic(name="new")], allow_auto_topic_creation=True)
    (topic,) = run(metadata.handle(request, context(svc, 3, 12))).topics
    assert (topic.name, topic.error_code) == ("new", ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    assert not svc.calls  # nothing created
    svc = services({(AclOperation.CREATE, C, CLUSTER_NAME)})  # CREATE on the topic is enough
    (topic,) = run(metadata.handle(request, context(svc, 3, 12))).topics
    assert topic.error_code == ErrorCode.NONE and [c[0] for c in svc.calls] == ["create_topic"]


def test_metadata_authorized_operations_are_the_allowed_bits() -> None:
    svc = services({(AclOperation.WRITE, T, "a"), (AclOperation.ALTER, C, CLUSTER_NAME)})
    request = md_req.MetadataRequest(
        topics=[md_req.MetadataRequestTopic(name="a")],
        include_cluster_authorized_operations=True,
        include_topic_authorized_operations=True,
    )
    response = run(metadata.handle(request, context(svc, 3, 10)))
    topic_bits = {3, 5, 6, 7, 8, 10, 11}  # READ CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS, no WRITE
    assert response.topics[0].topic_authorized_operations == sum(1 << b for b in topic_bits)
    cluster_bits = {
        5,
        9,
        10,
        11,
        12,
        8,
    }  # CREATE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE DESCRIBE
    assert response.cluster_authorized_operations == sum(1 << b for b in cluster_bits)


def test_create_topics_needs_create_on_cluster_or_on_the_topic() -> None:
    denied = {(AclOperation.CREATE, C, CLUSTER_NAME), (AclOperation.CREATE, T, "x")}
    svc = services(denied)
    request = ct_req.CreateTopicsRequest(
        topics=[
            ct_req.CreatableTopic(name="x", num_partitions=1, replication_factor=1),
            ct_req.CreatableTopic(name="new", num_partitions=1, replication_factor=1),
        ]
    )
    results = run(create_topics.handle(request, context(svc, 19, 7))).topics
    assert [(r.name, r.error_code, r.error_message) for r in results] == [
        ("x", ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed."),
        ("new", ErrorCode.NONE, None),
    ]
    assert [c[1][0] for c in svc.calls if c[0] == "create_topic"] == ["new"]
    cluster_first = [a for a in svc.authorizer.asked if a.operation is AclOperation.CREATE]
    assert cluster_first[0].resource.resource_type is C and not cluster_first[0].log_if_denied


def test_create_topics_without_describe_configs_gives_no_configs() -> None:
    svc = services({(AclOperation.DESCRIBE_CONFIGS, T, "new")})
    request = ct_req.CreateTopicsRequest(topics=[ct_req.CreatableTopic(name="new", num_partitions=1)])
    (result,) = run(create_topics.handle(request, context(svc, 19, 7))).topics
    assert (result.error_code, result.topic_config_error_code) == (
        ErrorCode.NONE,
        ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    )
    assert result.configs == [] and result.num_partitions == -1


def test_delete_topics_needs_delete_and_by_id_describe() -> None:
    svc = services({(AclOperation.DELETE, T, "a"), (AclOperation.DESCRIBE, T, "b")})
    b_id = uuid.UUID(TOPICS["b"].topic_id)
    request = dt_req.DeleteTopicsRequest(
        topics=[dt_req.DeleteTopicState(name="a"), dt_req.DeleteTopicState(topic_id=b_id)]
    )
    results = run(delete_topics.handle(request, context(svc, 20, 6))).responses
    assert [(r.name, r.error_code) for r in results] == [
        ("a", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        (None, ErrorCode.TOPIC_AUTHORIZATION_FAILED),  # by id without DESCRIBE: the name is not revealed
    ]
    assert not svc.calls


def test_delete_records_needs_delete_on_the_topic() -> None:
    svc = services({(AclOperation.DELETE, T, "a")})
    request = dr_req.DeleteRecordsRequest(
        topics=[
            dr_req.DeleteRecordsTopic(name=n, partitions=[dr_req.DeleteRecordsPartition(partition_index=0, offset=3)])
            for n in ("a", "b")
        ]
    )
    topics = run(delete_records.handle(request, context(svc, 21, 2))).topics
    assert [(t.name, t.partitions[0].error_code, t.partitions[0].low_watermark) for t in topics] == [
        ("a", ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1),
        ("b", ErrorCode.NONE, 3),
    ]


def test_list_offsets_needs_describe_on_the_topic() -> None:
    svc = services({(AclOperation.DESCRIBE, T, "b")})
    request = lo_req.ListOffsetsRequest(
        topics=[
            lo_req.ListOffsetsTopic(name=n, partitions=[lo_req.ListOffsetsPartition(partition_index=0, timestamp=-1)])
            for n in ("a", "b")
        ]
    )
    topics = run(list_offsets.handle(request, context(svc, 2, 8))).topics
    assert [(t.name, t.partitions[0].error_code, t.partitions[0].offset) for t in topics] == [
        ("a", ErrorCode.NONE, 5),
        ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1),
    ]


def test_produce_needs_write_on_the_topic_and_never_appends_denied_ones() -> None:
    svc = services({(AclOperation.WRITE, T, "b")})
    request = p_req.ProduceRequest(
        acks=-1,
        timeout_ms=1000,
        topic_data=[
            p_req.TopicProduceData(name=n, partition_data=[p_req.PartitionProduceData(index=0, records=b"x")])
            for n in ("b", "a")
        ],
    )
    topics = run(produce.handle(request, context(svc, 0, 9))).responses
    assert [(t.name, t.partition_responses[0].error_code, t.partition_responses[0].base_offset) for t in topics] == [
        ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1),
        ("a", ErrorCode.NONE, 4),
    ]
    (_, (entries, *_)) = next(call for call in svc.calls if call[0] == "produce")
    assert [entry.topic for entry in entries] == ["a"]


def _fetch(svc: Any, replica_id: int) -> list[tuple[str, ErrorCode]]:
    request = f_req.FetchRequest(
        replica_id=replica_id,
        max_wait_ms=0,
        topics=[
            f_req.FetchTopic(topic=n, partitions=[f_req.FetchPartition(partition=0, partition_max_bytes=1024)])
            for n in ("a", "b")
        ],
    )
    encoded = run(fetch.handle(request, context(svc, 1, 12)))
    assert isinstance(encoded, Encoded)
    body = b"".join(bytes(chunk) for chunk in encoded.chunks)  # no file regions: the fake fetch returns no records
    response = f_resp.decode(Reader(memoryview(body)), 12)
    return [(t.topic, p.error_code) for t in response.responses for p in t.partitions]


def test_fetch_by_a_consumer_needs_read_on_the_topic() -> None:
    svc = services({(AclOperation.READ, T, "b")})
    assert _fetch(svc, -1) == [("a", ErrorCode.NONE), ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED)]
    (_, (params, wanted)) = next(call for call in svc.calls if call[0] == "fetch")
    assert [w.topic for w in wanted] == ["a"] and params.replica_id == -1


def test_fetch_by_a_follower_needs_cluster_action_and_then_reads_any_topic() -> None:
    svc = services({(AclOperation.READ, T, "b"), (AclOperation.CLUSTER_ACTION, C, CLUSTER_NAME)})
    assert _fetch(svc, 2) == [("a", ErrorCode.TOPIC_AUTHORIZATION_FAILED), ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED)]
    assert all(not wanted for name, (_, wanted) in svc.calls if name == "fetch")  # nothing read
    svc = services({(AclOperation.READ, T, "b")})  # READ is not what a follower needs
    assert _fetch(svc, 2) == [("a", ErrorCode.NONE), ("b", ErrorCode.NONE)]


def test_offset_for_leader_epoch_cluster_action_or_describe() -> None:
    request = ofle_req.OffsetForLeaderEpochRequest(
        topics=[
            ofle_req.OffsetForLeaderTopic(topic=n, partitions=[ofle_req.OffsetForLeaderPartition(partition=0)])
            for n in ("a", "b")
        ]
    )
    svc = services({(AclOperation.CLUSTER_ACTION, C, CLUSTER_NAME), (AclOperation.DESCRIBE, T, "a")})
    topics = run(offset_for_leader_epoch.handle(request, context(svc, 23, 4))).topics
    assert [t.partitions[0].error_code for t in topics] == [ErrorCode.TOPIC_AUTHORIZATION_FAILED, ErrorCode.NONE]
    svc = services({(AclOperation.DESCRIBE, T, "a")})  # a follower (CLUSTER_ACTION) may read every topic's epochs
    topics = run(offset_for_leader_epoch.handle(request, context(svc, 23, 4))).topics
    assert [t.partitions[0].error_code for t in topics] == [ErrorCode.NONE, ErrorCode.NONE]


def test_create_partitions_needs_alter_on_the_topic() -> None:
    svc = services({(AclOperation.ALTER, T, "a")})
    request = cp_req.CreatePartitionsRequest(topics=[cp_req.CreatePartitionsTopic(name=n, count=2) for n in ("a", "b")])
    results = run(create_partitions.handle(request, context(svc, 37, 3))).results
    assert [(r.name, r.error_code) for r in results] == [
        ("a", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        ("b", ErrorCode.NONE),
    ]
    assert [c[1][0] for c in svc.calls] == ["b"]


# --- configs ----------------------------------------------------------------------------------------------------

BROKER_RES, TOPIC_RES = 4, 2


def test_describe_configs_on_cluster_and_topic() -> None:
    svc = services({(AclOperation.DESCRIBE_CONFIGS, C, CLUSTER_NAME), (AclOperation.DESCRIBE_CONFIGS, T, "a")})
    request = dc_req.DescribeConfigsRequest(
        resources=[
            dc_req.DescribeConfigsResource(resource_type=BROKER_RES, resource_name="1"),
            dc_req.DescribeConfigsResource(resource_type=TOPIC_RES, resource_name="a"),
        ]
    )
    results = run(describe_configs.handle(request, context(svc, 32, 4))).results
    assert [(r.error_code, r.error_message, r.configs) for r in results] == [
        (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.", []),
        (ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed.", []),
    ]


@pytest.mark.parametrize("incremental", [False, True])
def test_alter_configs_need_alter_configs(incremental: bool) -> None:
    svc = services({(AclOperation.ALTER_CONFIGS, C, CLUSTER_NAME), (AclOperation.ALTER_CONFIGS, T, "a")})
    module: Any = inc_req if incremental else alter_req
    resources = [
        module.AlterConfigsResource(resource_type=BROKER_RES, resource_name="1", configs=[]),
        module.AlterConfigsResource(resource_type=TOPIC_RES, resource_name="a", configs=[]),
    ]
    if incremental:
        responses = run(
            incremental_alter_configs.handle(
                inc_req.IncrementalAlterConfigsRequest(resources=resources), context(svc, 44, 1)
            )
        ).responses
    else:
        responses = run(
            alter_configs.handle(alter_req.AlterConfigsRequest(resources=resources), context(svc, 33, 2))
        ).responses
    assert [(r.error_code, r.error_message) for r in responses] == [
        (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None),
        (ErrorCode.TOPIC_AUTHORIZATION_FAILED, None),
    ]
    assert not svc.calls


# --- groups -----------------------------------------------------------------------------------------------------


def test_offset_commit_group_read_then_topic_read() -> None:
    def request(group: str) -> oc_req.OffsetCommitRequest:
        return oc_req.OffsetCommitRequest(
            group_id=group,
            generation_id_or_member_epoch=-1,
            topics=[
                oc_req.OffsetCommitRequestTopic(
                    name=n, partitions=[oc_req.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)]
                )
                for n in ("a", "b", "ghost")
            ],
        )

    svc = services({(AclOperation.READ, G, "denied"), (AclOperation.READ, T, "b")})
    topics = run(offset_commit.handle(request("denied"), context(svc, 8, 9))).topics
    assert {t.partitions[0].error_code for t in topics} == {ErrorCode.GROUP_AUTHORIZATION_FAILED}
    assert not svc.calls
    topics = run(offset_commit.handle(request("g"), context(svc, 8, 9))).topics
    assert [t.partitions[0].error_code for t in topics] == [
        ErrorCode.NONE,
        ErrorCode.TOPIC_AUTHORIZATION_FAILED,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ]
    assert [[e.topic for e in c[1][4]] for c in svc.calls] == [["a"]]


@pytest.mark.parametrize("version", [1, 7, 8])
def test_offset_fetch_group_describe_then_topic_describe(version: int) -> None:
    svc = services({(AclOperation.DESCRIBE, G, "denied"), (AclOperation.DESCRIBE, T, "b")})

    def fetch(group: str, named: bool) -> tuple[int, list[tuple[str, int]]]:
        topics = [of_req.OffsetFetchRequestTopic(name=n, partition_indexes=[0]) for n in ("a", "b")] if named else None
        if version >= 8:
            groups_topics = (
                [of_req.OffsetFetchRequestTopics(name=n, partition_indexes=[0]) for n in ("a", "b")] if named else None
            )
            request = of_req.OffsetFetchRequest(
                groups=[of_req.OffsetFetchRequestGroup(group_id=group, topics=groups_topics)]
            )
            (answer,) = run(offset_fetch.handle(request, context(svc, 9, version))).groups
        else:
            answer = run(
                offset_fetch.handle(of_req.OffsetFetchRequest(group_id=group, topics=topics), context(svc, 9, version))
            )
        return answer.error_code, [(t.name, p.error_code) for t in answer.topics for p in t.partitions]

    error, partitions = fetch("denied", named=True)
    if version == 1:  # v0-1 carry the group's error in every partition
        assert partitions == [("a", ErrorCode.GROUP_AUTHORIZATION_FAILED), ("b", ErrorCode.GROUP_AUTHORIZATION_FAILED)]
    else:
        assert (error, partitions) == (ErrorCode.GROUP_AUTHORIZATION_FAILED, [])
    assert not svc.calls
    assert fetch("g", named=True)[1] == [("a", ErrorCode.NONE), ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED)]
    if version >= 2:
        assert fetch("g", named=False)[1] == [("a", ErrorCode.NONE)]  # all topics: the undescribable one left out


def test_offset_delete_group_delete_then_topic_read() -> None:
    svc = services({(AclOperation.DELETE, G, "denied"), (AclOperation.READ, T, "b")})

    def request(group: str) -> od_req.OffsetDeleteRequest:
        return od_req.OffsetDeleteRequest(
            group_id=group,
            topics=[
                od_req.OffsetDeleteRequestTopic(
                    name=n, partitions=[od_req.OffsetDeleteRequestPartition(partition_index=0)]
                )
                for n in ("a", "b")
            ],
        )

    assert (
        run(offset_delete.handle(request("denied"), context(svc, 47, 0))).error_code
        == ErrorCode.GROUP_AUTHORIZATION_FAILED
    )
    assert not svc.calls
    topics = run(offset_delete.handle(request("g"), context(svc, 47, 0))).topics
    assert [t.partitions[0].error_code for t in topics] == [ErrorCode.NONE, ErrorCode.TOPIC_AUTHORIZATION_FAILED]
    assert svc.calls == [("delete_offsets", ("g", [("a", 0)]))]


def test_membership_apis_need_read_on_the_group() -> None:
    svc = services({(AclOperation.READ, G, "denied")})
    denied = ErrorCode.GROUP_AUTHORIZATION_FAILED
    join = JoinGroupRequest(group_id="denied", session_timeout_ms=10_000, protocol_type="consumer")
    assert run(join_group.handle(join, context(svc, 11, 9))).error_code == denied
    sync = SyncGroupRequest(group_id="denied", protocol_type="consumer", protocol_name="range")
    assert run(sync_group.handle(sync, context(svc, 14, 5))).error_code == denied
    assert run(heartbeat.handle(HeartbeatRequest(group_id="denied"), context(svc, 12, 4))).error_code == denied
    assert run(leave_group.handle(LeaveGroupRequest(group_id="denied"), context(svc, 13, 5))).error_code == denied
    assert not svc.calls


def test_describe_groups_needs_describe_and_reports_allowed_operations() -> None:
    svc = services({(AclOperation.DESCRIBE, G, "denied"), (AclOperation.DELETE, G, "g")})
    request = DescribeGroupsRequest(groups=["denied", "g"], include_authorized_operations=True)
    groups = run(describe_groups.handle(request, context(svc, 15, 5))).groups
    assert [(g.group_id, g.error_code) for g in groups] == [
        ("denied", ErrorCode.GROUP_AUTHORIZATION_FAILED),
        ("g", ErrorCode.NONE),
    ]
    assert groups[1].authorized_operations == (1 << 3) | (1 << 8)  # READ, DESCRIBE; not DELETE
    assert [c[1] for c in svc.calls] == [("g",)]


def test_list_groups_filters_without_cluster_describe() -> None:
    svc = services({(AclOperation.DESCRIBE, G, "g2")})
    assert [g.group_id for g in run(list_groups.handle(ListGroupsRequest(), context(svc, 16, 4))).groups] == [
        "g1",
        "g2",
    ]
    svc = services({(AclOperation.DESCRIBE, C, CLUSTER_NAME), (AclOperation.DESCRIBE, G, "g2")})
    assert [g.group_id for g in run(list_groups.handle(ListGroupsRequest(), context(svc, 16, 4))).groups] == ["g1"]


def test_delete_groups_needs_delete_on_each_group() -> None:
    svc = services({(AclOperation.DELETE, G, "denied")})
    results = run(delete_groups.handle(DeleteGroupsRequest(groups_names=["denied", "g"]), context(svc, 42, 2))).results
    assert [(r.group_id, r.error_code) for r in results] == [
        ("denied", ErrorCode.GROUP_AUTHORIZATION_FAILED),
        ("g", ErrorCode.NONE),
    ]
    assert svc.calls == [("delete_groups", (["g"],))]


def test_find_coordinator_needs_describe_on_the_group_or_transactional_id() -> None:
    svc = services({(AclOperation.DESCRIBE, G, "denied"), (AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, "tx")})
    request = FindCoordinatorRequest(key_type=0, coordinator_keys=["denied", "g"])
    coordinators = run(find_coordinator.handle(request, context(svc, 10, 4))).coordinators
    assert [(c.key, c.error_code, c.host, c.port) for c in coordinators] == [
        ("denied", ErrorCode.GROUP_AUTHORIZATION_FAILED, "", -1),
        ("g", ErrorCode.NONE, "client.example", 19092),
    ]
    request = FindCoordinatorRequest(key_type=1, coordinator_keys=["tx"])
    (coordinator,) = run(find_coordinator.handle(request, context(svc, 10, 4))).coordinators
    assert coordinator.error_code == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_describe_cluster_authorized_operations_zero_without_describe() -> None:
    request = DescribeClusterRequest(include_cluster_authorized_operations=True)
    svc = services({(AclOperation.DESCRIBE, C, CLUSTER_NAME)})
    assert run(describe_cluster.handle(request, context(svc, 60, 1))).cluster_authorized_operations == 0
    svc = services({(AclOperation.ALTER, C, CLUSTER_NAME)})
    bits = {5, 9, 10, 11, 12, 8}
    assert run(describe_cluster.handle(request, context(svc, 60, 1))).cluster_authorized_operations == sum(
        1 << b for b in bits
    )
    not_asked = run(describe_cluster.handle(DescribeClusterRequest(), context(svc, 60, 1)))
    assert not_asked.cluster_authorized_operations == -(2**31)
