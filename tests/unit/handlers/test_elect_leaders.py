"""ElectLeaders (key 43) on one in-process broker, which is its own controller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import elect_leaders_request as el


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("elect")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def results(response: Any) -> dict[tuple[str, int], int]:
    return {
        (topic.topic, p.partition_id): p.error_code
        for topic in response.replica_election_results
        for p in topic.partition_result
    }


def test_elections_on_one_broker(client: BrokerClient) -> None:
    created = client.call(
        ct.CreateTopicsRequest(
            topics=[ct.CreatableTopic(name="el", num_partitions=2, replication_factor=1)], timeout_ms=10_000
        ),
        5,
    )
    assert created.topics[0].error_code == ErrorCode.NONE
    wanted = [el.TopicPartitions(topic="el", partitions=[0, 1, 7]), el.TopicPartitions(topic="nope", partitions=[0])]
    for version, election_type in ((0, 0), (1, 0), (2, 0), (2, 1)):
        response = client.call(
            el.ElectLeadersRequest(election_type=election_type, topic_partitions=wanted, timeout_ms=5000), version
        )
        assert response.error_code == ErrorCode.NONE
        assert results(response) == {
            ("el", 0): ErrorCode.ELECTION_NOT_NEEDED,  # its preferred (only) replica leads
            ("el", 1): ErrorCode.ELECTION_NOT_NEEDED,
            ("el", 7): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        }, (version, election_type)
    everything = client.call(el.ElectLeadersRequest(election_type=0, topic_partitions=None), 2)
    assert (everything.error_code, results(everything)) == (ErrorCode.NONE, {}), "only partitions needing one"
    bad = client.call(el.ElectLeadersRequest(election_type=9, topic_partitions=wanted[:1]), 2)
    assert bad.error_code == ErrorCode.INVALID_REQUEST
    assert set(results(bad).values()) == {ErrorCode.INVALID_REQUEST}
