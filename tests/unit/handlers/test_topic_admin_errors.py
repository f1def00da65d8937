"""Error mapping of the topic admin APIs (CreateTopics 19, DeleteTopics 20, CreatePartitions 37, DeleteRecords 21,
Metadata 3) as a client sees it on the wire, on an in-process single-broker cluster. Codes as Kafka's KafkaApis,
ControllerApis and ReplicationControlManager answer them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_partitions_request as cp
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import delete_records_request as dr
from odradek.broker.protocol.messages import delete_topics_request as dt
from odradek.broker.protocol.messages import metadata_request as md


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("topic-admin")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def create(
    client: BrokerClient,
    name: str,
    partitions: int = 1,
    factor: int = 1,
    configs: dict[str, str | None] | None = None,
    assignments: dict[int, list[int]] | None = None,
    validate_only: bool = False,
    version: int = 7,
) -> tuple[int, str | None]:
    topic = ct.CreatableTopic(
        name=name,
        num_partitions=partitions,
        replication_factor=factor,
        configs=[ct.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()],
        assignments=[
            ct.CreatableReplicaAssignment(partition_index=p, broker_ids=b) for p, b in (assignments or {}).items()
        ],
    )
    response = client.call(
        ct.CreateTopicsRequest(topics=[topic], timeout_ms=5000, validate_only=validate_only), version
    )
    (result,) = response.topics
    assert result.name == name
    return result.error_code, result.error_message


# CreateTopics


def test_create_topics_success_then_topic_already_exists(client: BrokerClient) -> None:
    name = unique("exists")
    assert create(client, name) == (ErrorCode.NONE, None)
    code, message = create(client, name)
    assert code == ErrorCode.TOPIC_ALREADY_EXISTS
    assert message is not None and name in message


@pytest.mark.parametrize("partitions", [0, -2])
def test_create_topics_invalid_partitions(client: BrokerClient, partitions: int) -> None:
    assert create(client, unique("parts"), partitions=partitions)[0] == ErrorCode.INVALID_PARTITIONS


@pytest.mark.parametrize("factor", [0, 2])
def test_create_topics_invalid_replication_factor(client: BrokerClient, factor: int) -> None:
    """0 is never valid; 2 is more than the one registered broker."""
    assert create(client, unique("rf"), factor=factor)[0] == ErrorCode.INVALID_REPLICATION_FACTOR


@pytest.mark.parametrize("name", ["", ".", "..", "bad/name", "x" * 250])
def test_create_topics_invalid_topic_name(client: BrokerClient, name: str) -> None:
    assert create(client, name)[0] == ErrorCode.INVALID_TOPIC_EXCEPTION


@pytest.mark.parametrize("configs", [{"cleanup.policy": "shred"}, {"retention.ms": "soon"}, {"no.such.config": "1"}])
def test_create_topics_invalid_config(client: BrokerClient, configs: dict[str, str | None]) -> None:
    assert create(client, unique("cfg"), configs=configs)[0] == ErrorCode.INVALID_CONFIG


def test_create_topics_assignments_with_partition_count_is_invalid_request(client: BrokerClient) -> None:
    assert create(client, unique("both"), partitions=1, factor=-1, assignments={0: [1]})[0] == ErrorCode.INVALID_REQUEST


def test_create_topics_assignment_to_an_unknown_broker_is_invalid_replica_assignment(client: BrokerClient) -> None:
    code = create(client, unique("assign"), partitions=-1, factor=-1, assignments={0: [7]})[0]
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_create_topics_duplicate_name_in_one_request_is_invalid_request_for_both(client: BrokerClient) -> None:
    name = unique("dup")
    topic = ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)
    response = client.call(ct.CreateTopicsRequest(topics=[topic, topic], timeout_ms=5000), 7)
    assert [t.error_code for t in response.topics] == [ErrorCode.INVALID_REQUEST] * 2
    assert create(client, name) == (ErrorCode.NONE, None)  # and nothing was created


def test_create_topics_too_many_partitions_in_one_request_is_policy_violation(client: BrokerClient) -> None:
    names = [unique("huge"), unique("small")]
    topics = [
        ct.CreatableTopic(name=names[0], num_partitions=10_000, replication_factor=1),
        ct.CreatableTopic(name=names[1], num_partitions=1, replication_factor=1),
    ]
    response = client.call(ct.CreateTopicsRequest(topics=topics, timeout_ms=5000), 7)
    assert [t.error_code for t in response.topics] == [ErrorCode.POLICY_VIOLATION] * 2


def test_create_topics_validate_only_reports_errors_and_creates_nothing(client: BrokerClient) -> None:
    name = unique("dry")
    assert create(client, name, partitions=0, validate_only=True)[0] == ErrorCode.INVALID_PARTITIONS
    assert create(client, name, validate_only=True) == (ErrorCode.NONE, None)
    assert create(client, name) == (ErrorCode.NONE, None)


# DeleteTopics


def test_delete_topics_unknown_name_and_unknown_id(client: BrokerClient) -> None:
    missing = unique("missing")
    by_name = client.call(dt.DeleteTopicsRequest(topic_names=[missing], timeout_ms=5000), 5)
    assert [(r.name, r.error_code) for r in by_name.responses] == [(missing, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
    by_id = client.call(dt.DeleteTopicsRequest(topics=[dt.DeleteTopicState(topic_id=uuid.uuid4())], timeout_ms=5000), 6)
    assert [r.error_code for r in by_id.responses] == [ErrorCode.UNKNOWN_TOPIC_ID]


def test_delete_topics_success_then_unknown(client: BrokerClient) -> None:
    name = unique("gone")
    assert create(client, name) == (ErrorCode.NONE, None)
    first = client.call(dt.DeleteTopicsRequest(topic_names=[name], timeout_ms=5000), 5)
    assert [r.error_code for r in first.responses] == [ErrorCode.NONE]
    again = client.call(dt.DeleteTopicsRequest(topic_names=[name], timeout_ms=5000), 5)
    assert [r.error_code for r in again.responses] == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]


def test_delete_topics_disabled(tmp_path: Path) -> None:
    broker = InProcessBroker(tmp_path, {"delete.topic.enable": "false"})
    try:
        client = BrokerClient(broker.port)
        try:
            name = unique("kept")
            assert create(client, name) == (ErrorCode.NONE, None)
            response = client.call(dt.DeleteTopicsRequest(topic_names=[name], timeout_ms=5000), 5)
            assert [r.error_code for r in response.responses] == [ErrorCode.TOPIC_DELETION_DISABLED]
        finally:
            client.close()
    finally:
        broker.stop()


# CreatePartitions


def create_partitions(client: BrokerClient, name: str, count: int, assignments: list[list[int]] | None = None) -> int:
    topic = cp.CreatePartitionsTopic(
        name=name,
        count=count,
        assignments=None if assignments is None else [cp.CreatePartitionsAssignment(broker_ids=b) for b in assignments],
    )
    response = client.call(cp.CreatePartitionsRequest(topics=[topic], timeout_ms=5000), 3)
    (result,) = response.results
    assert result.name == name
    return int(result.error_code)


def test_create_partitions_errors(client: BrokerClient) -> None:
    name = unique("grow")
    assert create(client, name, partitions=2) == (ErrorCode.NONE, None)
    assert create_partitions(client, unique("nope"), 3) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert create_partitions(client, name, 2) == ErrorCode.INVALID_PARTITIONS  # not an increase
    assert create_partitions(client, name, 1) == ErrorCode.INVALID_PARTITIONS  # a decrease
    assert create_partitions(client, name, 3, [[9]]) == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert create_partitions(client, name, 3) == ErrorCode.NONE


def test_create_partitions_duplicate_topic_is_invalid_request(client: BrokerClient) -> None:
    name = unique("dupgrow")
    assert create(client, name) == (ErrorCode.NONE, None)
    topic = cp.CreatePartitionsTopic(name=name, count=2, assignments=None)
    response = client.call(cp.CreatePartitionsRequest(topics=[topic, topic], timeout_ms=5000), 3)
    assert [r.error_code for r in response.results] == [ErrorCode.INVALID_REQUEST] * 2


def test_create_partitions_too_many_is_policy_violation(client: BrokerClient) -> None:
    name = unique("toomany")
    assert create(client, name) == (ErrorCode.NONE, None)
    assert create_partitions(client, name, 100_000) == ErrorCode.POLICY_VIOLATION


# DeleteRecords


def delete_records(client: BrokerClient, name: str, partition: int, offset: int) -> int:
    request = dr.DeleteRecordsRequest(
        topics=[
            dr.DeleteRecordsTopic(
                name=name, partitions=[dr.DeleteRecordsPartition(partition_index=partition, offset=offset)]
            )
        ],
        timeout_ms=5000,
    )
    (topic,) = client.call(request, 2).topics
    (result,) = topic.partitions
    return int(result.error_code)


def test_delete_records_errors(client: BrokerClient) -> None:
    name = unique("trim")
    assert create(client, name) == (ErrorCode.NONE, None)
    assert delete_records(client, unique("nope"), 0, 0) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert delete_records(client, name, 5, 0) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert delete_records(client, name, 0, 10) == ErrorCode.OFFSET_OUT_OF_RANGE  # above the high watermark (0)
    assert delete_records(client, name, 0, -1) == ErrorCode.NONE  # -1: up to the high watermark
    assert delete_records(client, name, 0, 0) == ErrorCode.NONE


# Metadata


def test_metadata_unknown_topic_without_auto_creation(client: BrokerClient) -> None:
    missing = unique("unknown")
    request = md.MetadataRequest(topics=[md.MetadataRequestTopic(name=missing)], allow_auto_topic_creation=False)
    (topic,) = client.call(request, 12).topics
    assert (topic.name, topic.error_code) == (missing, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


def test_metadata_unknown_topic_id(client: BrokerClient) -> None:
    request = md.MetadataRequest(
        topics=[md.MetadataRequestTopic(topic_id=uuid.uuid4())], allow_auto_topic_creation=False
    )
    (topic,) = client.call(request, 12).topics
    assert topic.error_code == ErrorCode.UNKNOWN_TOPIC_ID


def test_metadata_invalid_topic_name_is_not_auto_created(client: BrokerClient) -> None:
    request = md.MetadataRequest(topics=[md.MetadataRequestTopic(name="bad/name")], allow_auto_topic_creation=True)
    (topic,) = client.call(request, 12).topics
    assert topic.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_metadata_auto_creation_answers_leader_not_available_then_the_topic(client: BrokerClient) -> None:
    name = unique("auto")
    request = md.MetadataRequest(topics=[md.MetadataRequestTopic(name=name)], allow_auto_topic_creation=True)
    (first,) = client.call(request, 12).topics
    assert first.error_code in (ErrorCode.LEADER_NOT_AVAILABLE, ErrorCode.NONE)
    for _ in range(100):  # bounded: the log is created in a worker thread
        (topic,) = client.call(request, 12).topics
        if topic.error_code == ErrorCode.NONE:
            break
    assert topic.error_code == ErrorCode.NONE
    assert [p.error_code for p in topic.partitions] == [ErrorCode.NONE]
