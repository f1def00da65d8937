"""The replica fetcher's client (`replication/leader_end_point.RemoteLeaderEndPoint`) against a real broker in this
process: ApiVersions negotiation, Fetch at the highest common version (v16: topics by id) and OffsetForLeaderEpoch
encoded with the broker's own codecs, the leader's refusals, and reconnecting after a close."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import produce_request as pr
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.api import FetchIsolation, FetchParams, FetchPartition
from odradek.broker.replication.leader_end_point import (
    BrokerEndPoint,
    EpochRequest,
    FetchedPartition,
    FetchRequestData,
    RemoteLeaderEndPoint,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("replica-client")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


async def sessionless(endpoint: RemoteLeaderEndPoint, params: FetchParams, part: FetchPartition) -> FetchedPartition:
    answer = await endpoint.fetch(params, FetchRequestData.sessionless([part]))
    if answer.error is not ErrorCode.NONE:
        return FetchedPartition(answer.error)
    assert list(answer.partitions) == [(part.topic, part.partition)] and answer.session_id == 0
    return answer.partitions[(part.topic, part.partition)]


def test_fetch_and_epochs_through_the_inter_broker_client(broker: InProcessBroker, client: BrokerClient) -> None:
    name = unique("repl-client")
    topic = ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)
    (created,) = client.call(ct.CreateTopicsRequest(topics=[topic], timeout_ms=5000), 7).topics
    assert created.error_code == ErrorCode.NONE
    records = build_batch([(b"k%d" % i, b"v", (), 1_700_000_000_000) for i in range(3)])
    data = [pr.TopicProduceData(name=name, partition_data=[pr.PartitionProduceData(index=0, records=records)])]
    produced = client.call(pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=data), 9)
    assert produced.responses[0].partition_responses[0].error_code == ErrorCode.NONE
    topic_ids = {name: created.topic_id}

    async def scenario() -> None:
        source = BrokerEndPoint(1, "127.0.0.1", broker.port)
        endpoint = RemoteLeaderEndPoint(source, 7, 10_000, topic_ids.get)
        consumer = FetchParams(-1, 0, 1, 1 << 20, FetchIsolation.HIGH_WATERMARK)
        try:
            fetched = await sessionless(endpoint, consumer, FetchPartition(name, 0, 0, 1 << 20))
            assert endpoint._sender._version(1, (4, 16)) == 16  # topics named by id on the wire
            assert (fetched.error, fetched.high_watermark, fetched.log_start_offset) == (ErrorCode.NONE, 3, 0)
            assert len(fetched.records) == len(records) and fetched.records[61:] == records[61:]
            (epoch,) = await endpoint.fetch_epoch_end_offsets([EpochRequest(name, 0, -1, 0)])
            assert (epoch.error, epoch.leader_epoch, epoch.end_offset) == (ErrorCode.NONE, 0, 3)
            follower = FetchParams(7, 0, 1, 1 << 20, FetchIsolation.LOG_END)
            refused = await sessionless(endpoint, follower, FetchPartition(name, 0, 0, 1 << 20))
            assert refused.error is ErrorCode.NOT_LEADER_OR_FOLLOWER  # broker 7 is no replica
            future = await sessionless(endpoint, consumer, FetchPartition(name, 0, 0, 1 << 20, 5))
            assert future.error is ErrorCode.UNKNOWN_LEADER_EPOCH
            await endpoint.close()
            again = await sessionless(endpoint, consumer, FetchPartition(name, 0, 3, 1 << 20))
            assert (again.error, again.records) == (ErrorCode.NONE, b"")  # reconnected
        finally:
            await endpoint.close()
        nowhere = RemoteLeaderEndPoint(BrokerEndPoint(2, "127.0.0.1", free_port()), 7, 2_000, topic_ids.get)
        with pytest.raises(OSError):
            await sessionless(nowhere, consumer, FetchPartition(name, 0, 0, 1 << 20))
        assert uuid.UUID(int=0) != created.topic_id

    asyncio.run(scenario())
