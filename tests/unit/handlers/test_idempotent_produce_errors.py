"""Idempotent producers on the wire, on an in-process single-broker cluster: InitProducerId (new ids, KIP-360's
bump answered with a new id, INVALID_REQUEST, the transactional path without a coordinator), Produce's answers
to duplicates (NONE with the original offsets, nothing appended), gaps and old epochs (Kafka's codes), and
DescribeProducers. Batches are built with kafka-python's builder (a test oracle, not broker code)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import describe_producers_request as dp
from odradek.broker.protocol.messages import init_producer_id_request as ip
from odradek.broker.protocol.messages import list_offsets_request as lo
from odradek.broker.protocol.messages import produce_request as pr


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("idempotence")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def batch(producer_id: int, epoch: int, sequence: int, count: int = 1) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=False, producer_id=producer_id, producer_epoch=epoch,
        base_sequence=sequence, batch_size=1 << 20,
    )  # fmt: skip
    for offset in range(count):
        builder.append(offset, timestamp=1_700_000_000_000, key=b"k", value=b"v%d" % offset, headers=[])
    return bytes(builder.build())


def new_topic(client: BrokerClient) -> str:
    name = unique("idem")
    topic = ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)
    (result,) = client.call(ct.CreateTopicsRequest(topics=[topic], timeout_ms=5000), 7).topics
    assert result.error_code == ErrorCode.NONE, result.error_message
    return name


def produce(client: BrokerClient, name: str, records: bytes) -> Any:
    request = pr.ProduceRequest(
        acks=-1,
        timeout_ms=5000,
        topic_data=[pr.TopicProduceData(name=name, partition_data=[pr.PartitionProduceData(index=0, records=records)])],
    )
    (topic,) = client.call(request, 9).responses
    (partition,) = topic.partition_responses
    return partition


def log_end(client: BrokerClient, name: str) -> int:
    part = lo.ListOffsetsPartition(partition_index=0, timestamp=-1)
    request = lo.ListOffsetsRequest(replica_id=-1, topics=[lo.ListOffsetsTopic(name=name, partitions=[part])])
    (topic,) = client.call(request, 7).topics
    return int(topic.partitions[0].offset)


def init(client: BrokerClient, version: int = 4, **fields: Any) -> Any:
    return client.call(ip.InitProducerIdRequest(transaction_timeout_ms=60_000, **fields), version)


def test_every_init_gets_a_new_producer_id_with_epoch_0(client: BrokerClient) -> None:
    answers = [init(client, version) for version in range(6)]
    assert all(a.error_code == ErrorCode.NONE and a.producer_epoch == 0 for a in answers)
    ids = [a.producer_id for a in answers]
    assert len(set(ids)) == len(ids) and all(i >= 0 for i in ids)


def test_kip_360_bump_of_a_non_transactional_producer_is_a_new_id(client: BrokerClient) -> None:
    first = init(client)
    bumped = init(client, producer_id=first.producer_id, producer_epoch=first.producer_epoch)
    assert bumped.error_code == ErrorCode.NONE
    assert (bumped.producer_epoch, bumped.producer_id != first.producer_id) == (0, True)


@pytest.mark.parametrize(("producer_id", "producer_epoch"), [(5, -1), (-1, 3)])
def test_half_given_producer_id_and_epoch_is_invalid_request(
    client: BrokerClient, producer_id: int, producer_epoch: int
) -> None:
    answer = init(client, producer_id=producer_id, producer_epoch=producer_epoch)
    assert (answer.error_code, answer.producer_id, answer.producer_epoch) == (ErrorCode.INVALID_REQUEST, -1, -1)


def test_transactional_init_before_the_transaction_log_exists(client: BrokerClient) -> None:
    """A transactional id goes to the transaction coordinator; before __transaction_state exists (FindCoordinator
    key type 1 creates it) the answer is COORDINATOR_NOT_AVAILABLE, as the group coordinator answers before
    __consumer_offsets exists: clients find the coordinator and retry."""
    assert init(client, transactional_id="").error_code == ErrorCode.INVALID_REQUEST
    assert init(client, transactional_id="tx-1").error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE


def test_a_retried_batch_gets_its_original_offsets_and_is_not_appended(client: BrokerClient) -> None:
    name = new_topic(client)
    pid = init(client).producer_id
    first = produce(client, name, batch(pid, 0, 0, 3))
    second = produce(client, name, batch(pid, 0, 3, 2))
    assert (first.error_code, first.base_offset, second.base_offset) == (ErrorCode.NONE, 0, 3)
    again = produce(client, name, batch(pid, 0, 0, 3))  # a retry of one of the last five batches
    assert (again.error_code, again.base_offset) == (ErrorCode.NONE, 0)
    # Kafka's UnifiedLog sets the duplicate's log append time to the original batch's max timestamp.
    assert (first.log_append_time_ms, again.log_append_time_ms) == (-1, 1_700_000_000_000)
    assert log_end(client, name) == 5


def test_gaps_and_old_epochs_get_kafkas_codes_and_append_nothing(client: BrokerClient) -> None:
    name = new_topic(client)
    pid = init(client).producer_id
    assert produce(client, name, batch(pid, 1, 0, 2)).error_code == ErrorCode.NONE
    assert produce(client, name, batch(pid, 1, 5)).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(client, name, batch(pid, 0, 2)).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert produce(client, name, batch(pid, 2, 7)).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log_end(client, name) == 2
    assert produce(client, name, batch(pid, 2, 0)).base_offset == 2  # a bumped epoch starts at 0


def test_describe_producers(client: BrokerClient) -> None:
    name = new_topic(client)
    pid = init(client).producer_id
    produce(client, name, batch(pid, 0, 0, 4))
    request = dp.DescribeProducersRequest(
        topics=[
            dp.TopicRequest(name=name, partition_indexes=[0, 7]),
            dp.TopicRequest(name="nope", partition_indexes=[0]),
        ]
    )
    (topic, missing) = client.call(request, 0).topics
    (ok, absent) = topic.partitions
    assert (ok.error_code, absent.error_code) == (ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    (state,) = ok.active_producers
    assert (state.producer_id, state.producer_epoch, state.last_sequence) == (pid, 0, 3)
    assert (state.last_timestamp, state.coordinator_epoch, state.current_txn_start_offset) == (
        1_700_000_000_000,
        -1,
        -1,
    )
    assert missing.partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
