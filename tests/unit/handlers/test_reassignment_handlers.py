"""AlterPartitionReassignments 45, ListPartitionReassignments 46 and DescribeLogDirs 35 on the wire (in-process
single broker, which is also the controller): per-partition errors, an empty list, and the log dir description at
v0 and v4."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import alter_partition_reassignments_request as apr
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import describe_log_dirs_request as dld
from odradek.broker.protocol.messages import list_partition_reassignments_request as lpr


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("reassign")) / "data")
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def create(client: BrokerClient, name: str) -> None:
    request = ct.CreateTopicsRequest(topics=[ct.CreatableTopic(name=name, num_partitions=2, replication_factor=1)])
    assert client.call(request, 5).topics[0].error_code == ErrorCode.NONE


def test_alter_partition_reassignments_errors(client: BrokerClient) -> None:
    create(client, "moving")
    request = apr.AlterPartitionReassignmentsRequest(
        topics=[
            apr.ReassignableTopic(
                name="moving",
                partitions=[
                    apr.ReassignablePartition(partition_index=0, replicas=[1]),  # already there: nothing to do
                    apr.ReassignablePartition(partition_index=1, replicas=[1, 2]),  # 2 is not registered
                    apr.ReassignablePartition(partition_index=7, replicas=[1]),
                ],
            ),
            apr.ReassignableTopic(name="nope", partitions=[apr.ReassignablePartition(partition_index=0, replicas=[1])]),
        ]
    )
    for version in (0, 1):
        response = client.call(request, version)
        assert response.error_code == ErrorCode.NONE
        got = [(t.name, p.partition_index, p.error_code) for t in response.responses for p in t.partitions]
        assert got == [
            ("moving", 0, ErrorCode.NONE),
            ("moving", 1, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
            ("moving", 7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
            ("nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        ]
    cancel = apr.AlterPartitionReassignmentsRequest(
        topics=[
            apr.ReassignableTopic(
                name="moving", partitions=[apr.ReassignablePartition(partition_index=1, replicas=None)]
            )
        ]
    )
    assert client.call(cancel, 0).responses[0].partitions[0].error_code == ErrorCode.NO_REASSIGNMENT_IN_PROGRESS
    refused = apr.AlterPartitionReassignmentsRequest(
        allow_replication_factor_change=False,
        topics=[
            apr.ReassignableTopic(
                name="moving", partitions=[apr.ReassignablePartition(partition_index=0, replicas=[1, 1])]
            )
        ],
    )
    assert client.call(refused, 1).responses[0].partitions[0].error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_list_partition_reassignments_leaves_out_what_is_not_moving(client: BrokerClient) -> None:
    create(client, "still")
    everything = client.call(lpr.ListPartitionReassignmentsRequest(topics=None), 0)
    assert (everything.error_code, everything.topics) == (ErrorCode.NONE, [])
    named = lpr.ListPartitionReassignmentsRequest(
        topics=[lpr.ListPartitionReassignmentsTopics(name="still", partition_indexes=[0, 9]),
                lpr.ListPartitionReassignmentsTopics(name="nope", partition_indexes=[0])]
    )  # fmt: skip
    assert client.call(named, 0).topics == []


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_describe_log_dirs(broker: InProcessBroker, client: BrokerClient, version: int) -> None:
    create(client, f"dirs{version}")
    deadline = time.monotonic() + 10
    while True:  # the topic's logs are created just after CreateTopics answers
        response = client.call(dld.DescribeLogDirsRequest(topics=None), version)
        (result,) = response.results
        names = {t.name for t in result.topics}
        if f"dirs{version}" in names or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert result.error_code == ErrorCode.NONE
    assert Path(result.log_dir).name == "data"
    topic = next(t for t in result.topics if t.name == f"dirs{version}")
    assert sorted(p.partition_index for p in topic.partitions) == [0, 1]
    assert all(p.offset_lag == 0 and not p.is_future_key and p.partition_size == 0 for p in topic.partitions)
    if version >= 4:
        assert 0 < result.usable_bytes <= result.total_bytes
    one = dld.DescribeLogDirsRequest(topics=[dld.DescribableLogDirTopic(topic=f"dirs{version}", partitions=[1, 5])])
    (only,) = client.call(one, version).results
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in only.topics] == [(f"dirs{version}", [1])]
