"""Error mapping of the transaction APIs (AddPartitionsToTxn 24, AddOffsetsToTxn 25, EndTxn 26, WriteTxnMarkers
27, TxnOffsetCommit 28, DescribeTransactions 65, ListTransactions 66) as a client sees it on the wire, on an
in-process single-broker cluster, without a producer id (InitProducerId is the idempotence part): Kafka's codes
from KafkaApis and TransactionCoordinator for unknown ids, unknown topics and old request versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import add_offsets_to_txn_request as ao
from odradek.broker.protocol.messages import add_partitions_to_txn_request as ap
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import describe_transactions_request as dt
from odradek.broker.protocol.messages import end_txn_request as et
from odradek.broker.protocol.messages import find_coordinator_request as fc
from odradek.broker.protocol.messages import list_transactions_request as lt
from odradek.broker.protocol.messages import txn_offset_commit_request as toc
from odradek.broker.protocol.messages import write_txn_markers_request as wm

E = ErrorCode


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("txn")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


@pytest.fixture(scope="module")
def topic(broker: InProcessBroker) -> str:
    """A one-partition topic, and __transaction_state created (and loaded) through FindCoordinator key type 1."""
    client = BrokerClient(broker.port)
    try:
        name = unique("txn")
        created = client.call(
            ct.CreateTopicsRequest(
                topics=[ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)], timeout_ms=5000
            ),
            7,
        )
        assert created.topics[0].error_code == E.NONE
        for _ in range(100):  # bounded: the coordinator may still be loading its partition
            (found,) = client.call(fc.FindCoordinatorRequest(key_type=1, coordinator_keys=["tx"]), 4).coordinators
            if found.error_code == E.NONE and end_txn(client, "tx", version=3) != E.COORDINATOR_LOAD_IN_PROGRESS:
                break
        assert found.error_code == E.NONE
        return name
    finally:
        client.close()


def end_txn(client: BrokerClient, transactional_id: str, version: int = 3, **fields: object) -> int:
    request = et.EndTxnRequest(transactional_id=transactional_id, producer_id=1, producer_epoch=0, committed=True)
    for key, value in fields.items():
        setattr(request, key, value)
    return int(client.call(request, version).error_code)


def test_end_txn_for_an_unknown_id_is_invalid_producer_id_mapping(client: BrokerClient, topic: str) -> None:
    assert end_txn(client, "tx") == E.INVALID_PRODUCER_ID_MAPPING


def test_add_partitions_refuses_unknown_topics_and_attempts_nothing(client: BrokerClient, topic: str) -> None:
    request = ap.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="tx",
        v3_and_below_producer_id=1,
        v3_and_below_producer_epoch=0,
        v3_and_below_topics=[
            ap.AddPartitionsToTxnTopic(name=topic, partitions=[0, 5]),
            ap.AddPartitionsToTxnTopic(name="no-such-topic", partitions=[0]),
        ],
    )
    response = client.call(request, 3)
    errors = {
        (t.name, p.partition_index): p.partition_error_code
        for t in response.results_by_topic_v3_and_below
        for p in t.results_by_partition
    }
    assert errors == {
        (topic, 0): E.OPERATION_NOT_ATTEMPTED,
        (topic, 5): E.UNKNOWN_TOPIC_OR_PARTITION,
        ("no-such-topic", 0): E.UNKNOWN_TOPIC_OR_PARTITION,
    }
    request.v3_and_below_topics = [ap.AddPartitionsToTxnTopic(name=topic, partitions=[0])]
    ((result,),) = [t.results_by_partition for t in client.call(request, 3).results_by_topic_v3_and_below]
    assert result.partition_error_code == E.INVALID_PRODUCER_ID_MAPPING


def test_add_offsets_and_txn_offset_commit_without_a_transaction(client: BrokerClient, topic: str) -> None:
    add = ao.AddOffsetsToTxnRequest(transactional_id="tx", producer_id=1, producer_epoch=0, group_id="g")
    assert client.call(add, 3).error_code == E.INVALID_PRODUCER_ID_MAPPING
    commit = toc.TxnOffsetCommitRequest(
        transactional_id="tx",
        group_id="g",
        producer_id=1,
        producer_epoch=0,
        topics=[
            toc.TxnOffsetCommitRequestTopic(
                name="no-such-topic", partitions=[toc.TxnOffsetCommitRequestPartition(partition_index=0)]
            )
        ],
    )
    ((result,),) = [t.partitions for t in client.call(commit, 3).topics]
    assert result.error_code == E.UNKNOWN_TOPIC_OR_PARTITION


def test_write_txn_markers_for_unknown_partitions(client: BrokerClient, topic: str) -> None:
    marker = wm.WritableTxnMarker(
        producer_id=1,
        producer_epoch=0,
        transaction_result=False,
        topics=[wm.WritableTxnMarkerTopic(name="no-such-topic", partition_indexes=[0])],
    )
    ((result,),) = [t.partitions for t in client.call(wm.WriteTxnMarkersRequest(markers=[marker]), 1).markers[0].topics]
    assert result.error_code == E.UNKNOWN_TOPIC_OR_PARTITION


def test_describe_and_list_transactions(client: BrokerClient, topic: str) -> None:
    (state,) = client.call(dt.DescribeTransactionsRequest(transactional_ids=["tx"]), 0).transaction_states
    assert state.error_code == E.TRANSACTIONAL_ID_NOT_FOUND
    listed = client.call(lt.ListTransactionsRequest(state_filters=["Ongoing", "Bogus"]), 1)
    assert (listed.error_code, listed.unknown_state_filters, listed.transaction_states) == (E.NONE, ["Bogus"], [])
