"""The versions Kafka 3.9 served and Kafka 4.0 removed (KIP-896), as an old client sees them on the wire: Produce
v0-2 with message formats v0/v1 (kafka-python's legacy encoder writes them), Fetch v0-3 down-converted to the
magic the client reads, ListOffsets v0, OffsetCommit v0-1, OffsetFetch v0, and the v0 admin forms."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import delete_topics_request as dt
from odradek.broker.protocol.messages import describe_configs_request as dcq
from odradek.broker.protocol.messages import fetch_request as fr
from odradek.broker.protocol.messages import find_coordinator_request as fc
from odradek.broker.protocol.messages import list_offsets_request as lo
from odradek.broker.protocol.messages import metadata_request as md
from odradek.broker.protocol.messages import offset_commit_request as oc
from odradek.broker.protocol.messages import offset_fetch_request as of
from odradek.broker.protocol.messages import produce_request as pr
from test_partition_data_errors import batch

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatch
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecords

GZIP = 1


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("old-clients")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def message_set(magic: int, values: list[bytes], codec: int = 0, timestamp: int = 1_600_000_000_000) -> bytes:
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for offset, value in enumerate(values):
        builder.append(offset, timestamp + offset if magic else None, b"key", value)
    return bytes(builder.build())


def new_topic(client: BrokerClient, version: int = 0) -> str:
    name = unique("old")
    topic = ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)
    (result,) = client.call(ct.CreateTopicsRequest(topics=[topic], timeout_ms=5000), version).topics
    assert result.error_code == ErrorCode.NONE
    return name


def produce(client: BrokerClient, name: str, records: bytes, version: int) -> Any:
    request = pr.ProduceRequest(
        acks=1,
        timeout_ms=5000,
        topic_data=[pr.TopicProduceData(name=name, partition_data=[pr.PartitionProduceData(index=0, records=records)])],
    )
    (topic,) = client.call(request, version).responses
    (result,) = topic.partition_responses
    return result


def fetch(client: BrokerClient, name: str, version: int, offset: int = 0, max_bytes: int = 1 << 20) -> Any:
    request = fr.FetchRequest(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=max_bytes,
        topics=[
            fr.FetchTopic(
                topic=name,
                partitions=[fr.FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=max_bytes)],
            )
        ],
    )
    (topic,) = client.call(request, version).responses
    (partition,) = topic.partitions
    assert partition.error_code == ErrorCode.NONE
    return partition


def read_legacy(records: bytes) -> list[tuple[int, int, int | None, bytes | None]]:
    """(magic, offset, timestamp, value) of each message, as kafka-python's consumer reads a fetch response."""
    out = []
    memory = MemoryRecords(records)
    while (entry := memory.next_batch()) is not None:
        out += [(entry.magic, m.offset, m.timestamp, m.value) for m in entry]
    return out


def read_v2(records: bytes) -> list[tuple[int, int, bytes | None]]:
    out = []
    memory = MemoryRecords(records)
    while (entry := memory.next_batch()) is not None:
        assert isinstance(entry, DefaultRecordBatch)
        out += [(m.offset, m.timestamp, m.value) for m in entry]
    return out


@pytest.mark.parametrize(("version", "magic", "codec"), [(0, 0, 0), (1, 0, GZIP), (2, 1, 0), (2, 1, GZIP)])
def test_produce_v0_to_v2_message_sets_are_stored_as_record_batch_v2(
    broker: InProcessBroker, client: BrokerClient, version: int, magic: int, codec: int
) -> None:
    name = new_topic(client)
    first = produce(client, name, message_set(magic, [b"a", b"b", b"c"], codec), version)
    assert (first.error_code, first.base_offset) == (ErrorCode.NONE, 0)
    second = produce(client, name, message_set(magic, [b"d"], codec), version)
    assert (second.error_code, second.base_offset) == (ErrorCode.NONE, 3)
    stored = read_v2(bytes(fetch(client, name, 11).records))
    expected_ts = [1_600_000_000_000 + i if magic else -1 for i in (0, 1, 2, 0)]
    assert stored == [(i, ts, v) for i, ts, v in zip(range(4), expected_ts, [b"a", b"b", b"c", b"d"], strict=True)]
    assert conversions(broker, "producemessageconversions", name) == 4


def conversions(broker: InProcessBroker, metric: str, topic: str) -> float:
    value = broker._broker.metrics.registry.get_sample_value(
        f"kafka_server_brokertopicmetrics_{metric}_total", {"topic": topic}
    )
    return 0.0 if value is None else value


def test_a_corrupt_message_set_fails_its_partition_with_corrupt_message(client: BrokerClient) -> None:
    name = new_topic(client)
    data = bytearray(message_set(1, [b"a"]))
    data[-1] ^= 0xFF
    assert produce(client, name, bytes(data), 2).error_code == ErrorCode.CORRUPT_MESSAGE
    assert read_v2(bytes(fetch(client, name, 11).records)) == []


@pytest.mark.parametrize(("version", "magic"), [(0, 0), (1, 0), (2, 1), (3, 1)])
def test_fetch_v0_to_v3_down_converts_to_the_magic_the_client_reads(
    broker: InProcessBroker, client: BrokerClient, version: int, magic: int
) -> None:
    name = new_topic(client)
    assert produce(client, name, batch(3, value=b"x"), 9).error_code == ErrorCode.NONE
    assert produce(client, name, batch(2, value=b"y"), 9).error_code == ErrorCode.NONE
    assert fetch(client, name, version).high_watermark == 5
    timestamp = 1_700_000_000_000 if magic else None  # kafka-python reads magic 0's missing timestamp as None
    assert fetch_all(client, name, version) == [(magic, i, timestamp, b"x" if i < 3 else b"y") for i in range(5)]
    assert [m[1] for m in read_legacy(bytes(fetch(client, name, version, offset=3).records))] == [3, 4]
    fetch(client, name, 11)  # v2 to a client that reads it: nothing converted
    assert conversions(broker, "fetchmessageconversions", name) >= 5 + 2


def fetch_all(client: BrokerClient, name: str, version: int) -> list[tuple[int, int, int | None, bytes | None]]:
    """Every message from offset 0, fetching again after the last whole one, as a consumer does when a
    down-converted response was cut inside a message (the conversion grew larger than the slice)."""
    seen: list[tuple[int, int, int | None, bytes | None]] = []
    offset = 0
    for _ in range(20):  # bounded
        got = [m for m in read_legacy(bytes(fetch(client, name, version, offset=offset).records)) if m[1] >= offset]
        if not got:
            return seen
        seen += got
        offset = got[-1][1] + 1
    return seen


def test_down_converted_records_larger_than_the_slice_are_cut_and_fetched_again(client: BrokerClient) -> None:
    name = new_topic(client)
    for _ in range(3):  # 3 batches of 40 tiny records: each grows in magic 1 (34 bytes of overhead per message)
        assert produce(client, name, batch(40, key=None, value=b"v"), 9).error_code == ErrorCode.NONE
    first = read_legacy(bytes(fetch(client, name, 2).records))
    assert [m[1] for m in first][:40] == list(range(40))  # the first batch always whole
    assert len(first) < 120  # cut: the conversion is larger than the slice it was made from
    assert [m[1] for m in fetch_all(client, name, 2)] == list(range(120))


def test_list_offsets_v0_answers_old_style_offsets(client: BrokerClient) -> None:
    name = new_topic(client)
    assert produce(client, name, message_set(1, [b"a", b"b"]), 2).error_code == ErrorCode.NONE

    def offsets(timestamp: int, max_num: int = 1) -> list[int]:
        request = lo.ListOffsetsRequest(
            replica_id=-1,
            topics=[
                lo.ListOffsetsTopic(
                    name=name,
                    partitions=[
                        lo.ListOffsetsPartition(partition_index=0, timestamp=timestamp, max_num_offsets=max_num)
                    ],
                )
            ],
        )
        (topic,) = client.call(request, 0).topics
        (partition,) = topic.partitions
        assert partition.error_code == ErrorCode.NONE
        return list(partition.old_style_offsets)

    assert offsets(-1) == [2]
    assert offsets(-2) == [0]
    assert offsets(-1, max_num=0) == []


@pytest.mark.parametrize("version", [0, 1])
def test_offset_commit_v0_and_v1_are_stored_and_read_by_offset_fetch_v0(
    broker: InProcessBroker, client: BrokerClient, version: int
) -> None:
    name = new_topic(client)
    group = unique("old-group")
    for _ in range(100):  # bounded: FindCoordinator v0 creates __consumer_offsets, which then loads
        found = client.call(fc.FindCoordinatorRequest(key=group), 0)
        if found.error_code == ErrorCode.NONE:
            break
        time.sleep(0.05)
    assert found.error_code == ErrorCode.NONE
    partition = oc.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=42, commit_timestamp=1_234_567, committed_metadata="m"
    )
    request = oc.OffsetCommitRequest(
        group_id=group, topics=[oc.OffsetCommitRequestTopic(name=name, partitions=[partition])]
    )
    (topic,) = client.call(request, version).topics
    assert topic.partitions[0].error_code == ErrorCode.NONE
    _, stored = broker._broker.group_coordinator.fetch_offsets(group, [(name, 0)])
    ((_, _, value),) = stored
    assert value is not None
    # v1's commit timestamp is the commit time (v0 has none: the coordinator's clock)
    assert (value.commit_timestamp == 1_234_567) == (version == 1)
    for fetch_version in (0, 1, 8):
        if fetch_version < 8:
            got = client.call(
                of.OffsetFetchRequest(
                    group_id=group, topics=[of.OffsetFetchRequestTopic(name=name, partition_indexes=[0])]
                ),
                fetch_version,
            ).topics
        else:
            response = client.call(
                of.OffsetFetchRequest(
                    groups=[
                        of.OffsetFetchRequestGroup(
                            group_id=group, topics=[of.OffsetFetchRequestTopics(name=name, partition_indexes=[0])]
                        )
                    ]
                ),
                8,
            )
            got = response.groups[0].topics
        (row,) = got[0].partitions
        assert (row.committed_offset, row.metadata, row.error_code) == (42, "m", ErrorCode.NONE)


def test_v0_admin_forms(client: BrokerClient) -> None:
    name = new_topic(client, version=0)
    (meta,) = client.call(md.MetadataRequest(topics=[md.MetadataRequestTopic(name=name)]), 0).topics
    assert meta.error_code == ErrorCode.NONE and len(meta.partitions) == 1
    resource = dcq.DescribeConfigsResource(resource_type=2, resource_name=name, configuration_keys=["cleanup.policy"])
    (result,) = client.call(dcq.DescribeConfigsRequest(resources=[resource]), 0).results
    (entry,) = result.configs
    assert (entry.name, entry.value, entry.is_default) == ("cleanup.policy", "delete", True)
    (deleted,) = client.call(dt.DeleteTopicsRequest(topic_names=[name], timeout_ms=5000), 0).responses
    assert deleted.error_code == ErrorCode.NONE


def test_v0_of_acl_offset_for_leader_epoch_and_write_txn_markers_decode_and_answer(client: BrokerClient) -> None:
    """Advertised from v0 before their codecs had v0 (a v0 request closed the connection); now generated."""
    from odradek.broker.protocol.messages import describe_acls_request as da
    from odradek.broker.protocol.messages import offset_for_leader_epoch_request as ole
    from odradek.broker.protocol.messages import write_txn_markers_request as wtm

    acls = client.call(da.DescribeAclsRequest(resource_type_filter=1, operation=1, permission_type=1), 0)
    assert acls.error_code == ErrorCode.SECURITY_DISABLED  # no authorizer: what Kafka answers
    name = new_topic(client)
    request = ole.OffsetForLeaderEpochRequest(
        topics=[
            ole.OffsetForLeaderTopic(topic=name, partitions=[ole.OffsetForLeaderPartition(partition=0, leader_epoch=0)])
        ]
    )
    (topic,) = client.call(request, 0).topics
    assert topic.partitions[0].error_code == ErrorCode.NONE
    assert client.call(wtm.WriteTxnMarkersRequest(markers=[]), 0).markers == []
