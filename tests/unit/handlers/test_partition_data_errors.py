"""Error mapping of the partition data APIs (Produce 0, Fetch 1, ListOffsets 2, OffsetForLeaderEpoch 23) as a
client sees it on the wire, on an in-process single-broker cluster. Codes as Kafka's ReplicaManager, Partition and
LogValidator answer them. Record batches are built with kafka-python's builder (a test oracle, not broker code)."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import fetch_request as fr
from odradek.broker.protocol.messages import list_offsets_request as lo
from odradek.broker.protocol.messages import metadata_request as md
from odradek.broker.protocol.messages import offset_for_leader_epoch_request as ofle
from odradek.broker.protocol.messages import produce_request as pr

PRODUCE_KEY = 0
EARLIEST, LATEST = -2, -1


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("partition-data")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def batch(count: int = 1, key: bytes | None = b"k", value: bytes = b"v", transactional: bool = False) -> bytes:
    """One uncompressed v2 batch of `count` records (`transactional`: of producer 1000, epoch 0)."""
    with warnings.catch_warnings():  # kafka-python's import uses importlib.resources' deprecated read_text
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=transactional, producer_id=1000 if transactional else -1,
        producer_epoch=0 if transactional else -1, base_sequence=0 if transactional else -1, batch_size=1 << 20,
    )  # fmt: skip
    for offset in range(count):
        builder.append(offset, timestamp=1_700_000_000_000, key=key, value=value, headers=[])
    return bytes(builder.build())


def new_topic(client: BrokerClient, configs: dict[str, str] | None = None) -> str:
    name = unique("data")
    topic = ct.CreatableTopic(
        name=name,
        num_partitions=1,
        replication_factor=1,
        configs=[ct.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()],
    )
    (result,) = client.call(ct.CreateTopicsRequest(topics=[topic], timeout_ms=5000), 7).topics
    assert result.error_code == ErrorCode.NONE, result.error_message
    return name


def produce_request(
    name: str, records: bytes | None, partition: int = 0, acks: int = -1, transactional_id: str | None = None
) -> pr.ProduceRequest:
    return pr.ProduceRequest(
        transactional_id=transactional_id,
        acks=acks,
        timeout_ms=5000,
        topic_data=[
            pr.TopicProduceData(name=name, partition_data=[pr.PartitionProduceData(index=partition, records=records)])
        ],
    )


def produce(client: BrokerClient, name: str, records: bytes | None, **kwargs: Any) -> Any:
    (topic,) = client.call(produce_request(name, records, **kwargs), 9).responses
    (result,) = topic.partition_responses
    return result


def topic_id(client: BrokerClient, name: str) -> uuid.UUID:
    (topic,) = client.call(md.MetadataRequest(topics=[md.MetadataRequestTopic(name=name)]), 12).topics
    assert topic.error_code == ErrorCode.NONE
    return uuid.UUID(str(topic.topic_id))


# Produce


def test_produce_success_and_unknown_topic_or_partition(client: BrokerClient) -> None:
    name = new_topic(client)
    ok = produce(client, name, batch(3))
    assert (ok.error_code, ok.base_offset) == (ErrorCode.NONE, 0)
    assert produce(client, unique("nope"), batch()).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert produce(client, name, batch(), partition=4).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("acks", [2, -2])
def test_produce_invalid_acks_is_invalid_required_acks(client: BrokerClient, acks: int) -> None:
    """Kafka's ReplicaManager.appendRecords: acks other than -1, 0, 1 -> INVALID_REQUIRED_ACKS, nothing appended."""
    name = new_topic(client)
    assert produce(client, name, batch(), acks=acks).error_code == ErrorCode.INVALID_REQUIRED_ACKS
    assert list_offset(client, name, -1).offset == 0  # latest: nothing was appended


def test_produce_without_records_is_invalid_record(client: BrokerClient) -> None:
    name = new_topic(client)
    assert produce(client, name, None).error_code == ErrorCode.INVALID_RECORD
    assert produce(client, name, b"").error_code == ErrorCode.INVALID_RECORD


def test_produce_corrupt_batch(client: BrokerClient) -> None:
    name = new_topic(client)
    good = bytearray(batch())
    good[-1] ^= 0xFF  # the CRC-32C covers the records: a flipped byte fails it
    assert produce(client, name, bytes(good)).error_code == ErrorCode.CORRUPT_MESSAGE
    assert produce(client, name, batch()[:30]).error_code == ErrorCode.CORRUPT_MESSAGE  # truncated header


def test_produce_old_magic_is_invalid_record(client: BrokerClient) -> None:
    name = new_topic(client)
    records = bytearray(batch())
    records[16] = 1  # magic byte
    assert produce(client, name, bytes(records)).error_code in (ErrorCode.INVALID_RECORD, ErrorCode.CORRUPT_MESSAGE)


def test_produce_larger_than_max_message_bytes(client: BrokerClient) -> None:
    name = new_topic(client, {"max.message.bytes": "1000"})
    assert produce(client, name, batch(value=b"x" * 2000)).error_code == ErrorCode.MESSAGE_TOO_LARGE
    assert produce(client, name, batch(value=b"x" * 10)).error_code == ErrorCode.NONE


def test_produce_null_key_on_a_compacted_topic_is_invalid_record(client: BrokerClient) -> None:
    name = new_topic(client, {"cleanup.policy": "compact"})
    result = produce(client, name, batch(key=None))
    assert result.error_code == ErrorCode.INVALID_RECORD
    assert [e.batch_index for e in result.record_errors] == [0]
    assert produce(client, name, batch(key=b"k")).error_code == ErrorCode.NONE


def test_produce_acks_all_below_min_insync_replicas_is_not_enough_replicas(client: BrokerClient) -> None:
    name = new_topic(client, {"min.insync.replicas": "2"})
    assert produce(client, name, batch(), acks=-1).error_code == ErrorCode.NOT_ENOUGH_REPLICAS
    assert produce(client, name, batch(), acks=1).error_code == ErrorCode.NONE  # acks=1 does not need the ISR


def test_produce_with_a_transactional_id_is_judged_by_its_batches(client: BrokerClient) -> None:
    # Kafka decides from the batch headers (CVE-2018-17196): a non-transactional batch is appended as usual, a
    # transactional one for a partition outside any ongoing transaction is INVALID_TXN_STATE (KIP-890 part 1).
    name = new_topic(client)
    assert produce(client, name, batch(), transactional_id="txn").error_code == ErrorCode.NONE
    result = produce(client, name, batch(transactional=True), transactional_id="txn")
    assert result.error_code == ErrorCode.INVALID_TXN_STATE


def test_produce_acks_zero_sends_no_response_and_the_connection_goes_on(client: BrokerClient) -> None:
    name = new_topic(client)
    body = bytearray()
    pr.encode(body, produce_request(name, batch(), acks=0), 9)
    client.send_nowait(PRODUCE_KEY, 9, bytes(body))
    # The next response on this connection answers the next request, not the acks=0 one.
    assert produce(client, name, batch()).base_offset == 1


# Fetch


def fetch_request(name: str, offset: int = 0, epoch: int = -1, tid: uuid.UUID | None = None, **kwargs: Any) -> Any:
    return fr.FetchRequest(
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        topics=[
            fr.FetchTopic(
                topic=name,
                topic_id=tid or uuid.UUID(int=0),
                partitions=[
                    fr.FetchPartition(
                        partition=0, current_leader_epoch=epoch, fetch_offset=offset, partition_max_bytes=1 << 20
                    )
                ],
            )
        ],
        **kwargs,
    )


def fetch_error(client: BrokerClient, request: Any, version: int) -> int:
    response = client.call(request, version)
    assert response.error_code == ErrorCode.NONE
    (topic,) = response.responses
    (partition,) = topic.partitions
    return int(partition.error_code)


def test_fetch_errors_by_name(client: BrokerClient) -> None:
    name = new_topic(client)
    assert produce(client, name, batch(2)).error_code == ErrorCode.NONE
    assert fetch_error(client, fetch_request(name), 12) == ErrorCode.NONE
    assert fetch_error(client, fetch_request(unique("nope")), 12) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert fetch_error(client, fetch_request(name, offset=10), 12) == ErrorCode.OFFSET_OUT_OF_RANGE
    assert fetch_error(client, fetch_request(name, offset=-5), 12) == ErrorCode.OFFSET_OUT_OF_RANGE
    assert fetch_error(client, fetch_request(name, offset=2), 12) == ErrorCode.NONE  # the log end: empty, no error


def test_fetch_leader_epoch_checks(client: BrokerClient) -> None:
    """current_leader_epoch above the leader's: UNKNOWN_LEADER_EPOCH; equal, or -1 (no check): served.
    FENCED_LEADER_EPOCH (an epoch below the leader's) needs a leader change, which a single broker never makes
    (its partitions keep epoch 0, across restarts too), so it cannot be reached on this wire."""
    name = new_topic(client)
    assert fetch_error(client, fetch_request(name, epoch=0), 12) == ErrorCode.NONE
    assert fetch_error(client, fetch_request(name, epoch=5), 12) == ErrorCode.UNKNOWN_LEADER_EPOCH
    assert fetch_error(client, fetch_request(name, epoch=-1), 12) == ErrorCode.NONE


def test_fetch_by_topic_id(client: BrokerClient) -> None:
    name = new_topic(client)
    assert fetch_error(client, fetch_request("", tid=topic_id(client, name)), 13) == ErrorCode.NONE
    assert fetch_error(client, fetch_request("", tid=uuid.uuid4()), 13) == ErrorCode.UNKNOWN_TOPIC_ID


def test_fetch_with_a_session_is_fetch_session_id_not_found(client: BrokerClient) -> None:
    """An incremental fetch naming a session the broker does not hold (KIP-227) is answered at the top level."""
    name = new_topic(client)
    for kwargs in ({"session_id": 7, "session_epoch": 1}, {"session_id": 0, "session_epoch": 3}):
        response = client.call(fetch_request(name, **kwargs), 12)
        assert (response.error_code, response.session_id) == (ErrorCode.FETCH_SESSION_ID_NOT_FOUND, 0)
    full = client.call(fetch_request(name, session_id=0, session_epoch=-1), 12)
    assert full.error_code == ErrorCode.NONE


# ListOffsets


def list_offset(client: BrokerClient, name: str, timestamp: int, epoch: int = -1, version: int = 7) -> Any:
    request = lo.ListOffsetsRequest(
        replica_id=-1,
        topics=[
            lo.ListOffsetsTopic(
                name=name,
                partitions=[
                    lo.ListOffsetsPartition(partition_index=0, timestamp=timestamp, current_leader_epoch=epoch)
                ],
            )
        ],
    )
    (topic,) = client.call(request, version).topics
    (partition,) = topic.partitions
    return partition


def test_list_offsets_errors(client: BrokerClient) -> None:
    name = new_topic(client)
    assert produce(client, name, batch(4)).error_code == ErrorCode.NONE
    latest = list_offset(client, name, LATEST)
    assert (latest.error_code, latest.offset) == (ErrorCode.NONE, 4)
    assert list_offset(client, unique("nope"), LATEST).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert list_offset(client, name, LATEST, epoch=9).error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
    assert list_offset(client, name, EARLIEST, epoch=0).error_code == ErrorCode.NONE


def test_list_offsets_v1_without_a_match_answers_offset_and_timestamp_minus_one(client: BrokerClient) -> None:
    name = new_topic(client)
    assert produce(client, name, batch(1)).error_code == ErrorCode.NONE
    later = list_offset(client, name, 1_900_000_000_000, version=1)
    assert (later.error_code, later.offset, later.timestamp) == (ErrorCode.NONE, -1, -1)


# OffsetForLeaderEpoch


def end_offset(client: BrokerClient, name: str, leader_epoch: int, current: int = -1, partition: int = 0) -> Any:
    request = ofle.OffsetForLeaderEpochRequest(
        replica_id=-1,
        topics=[
            ofle.OffsetForLeaderTopic(
                topic=name,
                partitions=[
                    ofle.OffsetForLeaderPartition(
                        partition=partition, current_leader_epoch=current, leader_epoch=leader_epoch
                    )
                ],
            )
        ],
    )
    (topic,) = client.call(request, 4).topics
    (result,) = topic.partitions
    return result


def test_offset_for_leader_epoch_errors(client: BrokerClient) -> None:
    name = new_topic(client)
    assert produce(client, name, batch(3)).error_code == ErrorCode.NONE
    found = end_offset(client, name, 0)
    assert (found.error_code, found.leader_epoch, found.end_offset) == (ErrorCode.NONE, 0, 3)
    assert end_offset(client, unique("nope"), 0).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert end_offset(client, name, 0, partition=2).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert end_offset(client, name, 0, current=3).error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
    above = end_offset(client, name, 7)
    assert (above.error_code, above.leader_epoch, above.end_offset) == (ErrorCode.NONE, -1, -1)


# Fetch: the response-wide max_bytes (KIP-74)


def test_fetch_max_bytes_bounds_the_whole_response_not_each_partition(client: BrokerClient) -> None:
    """Kafka's ReplicaManager.readFromLog: partitions are read in request order from one budget of max_bytes;
    the first partition with data gets a whole batch even if it is larger (so a consumer always progresses), the
    next ones what is left, nothing once the budget is spent. Ignoring max_bytes per partition would return every
    batch (issue 8: that mutation passed the whole suite before)."""
    name = unique("budget")
    topic = ct.CreatableTopic(name=name, num_partitions=3, replication_factor=1)
    (created,) = client.call(ct.CreateTopicsRequest(topics=[topic], timeout_ms=5000), 7).topics
    assert created.error_code == ErrorCode.NONE
    size = 0
    for partition in range(3):
        records = batch(value=b"x" * 1000)
        size = len(records)
        assert produce(client, name, records, partition=partition).error_code == ErrorCode.NONE

    def fetched(max_bytes: int) -> list[int]:
        request = fr.FetchRequest(
            max_wait_ms=0,
            min_bytes=0,
            max_bytes=max_bytes,
            topics=[
                fr.FetchTopic(
                    topic=name,
                    partitions=[
                        fr.FetchPartition(partition=p, fetch_offset=0, partition_max_bytes=1 << 20) for p in range(3)
                    ],
                )
            ],
        )
        response = client.call(request, 12)
        (topic_response,) = response.responses
        assert [p.error_code for p in topic_response.partitions] == [ErrorCode.NONE] * 3
        return [len(p.records or b"") for p in topic_response.partitions]

    assert fetched(10 * size) == [size, size, size]
    # The third partition gets what is left of the budget: a truncated batch, as Kafka's LogSegment.read slices
    # the file at maxSize (clients drop a partial last batch and fetch it again).
    assert fetched(2 * size + size // 2) == [size, size, size // 2]
    assert fetched(2 * size) == [size, size, 0]
    assert fetched(size // 2) == [size, 0, 0]  # the first batch is returned whole, over the limit


def test_fetch_partition_max_bytes_still_returns_a_first_batch(client: BrokerClient) -> None:
    name = new_topic(client)
    records = batch(value=b"y" * 500)
    assert produce(client, name, records).error_code == ErrorCode.NONE
    request = fr.FetchRequest(
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        topics=[fr.FetchTopic(topic=name, partitions=[fr.FetchPartition(partition=0, partition_max_bytes=10)])],
    )
    (topic_response,) = client.call(request, 12).responses
    assert [len(p.records or b"") for p in topic_response.partitions] == [len(records)]
