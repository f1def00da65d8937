"""Bad input over raw sockets (../shared/notes/reliability.md section 3.4; issue 2 section 9).

Each case gets its own broker (`socket.request.max.bytes` = 1 MiB) holding a few acknowledged records. After the
bad input: the offending connection got the right answer or was closed, the process is alive, a fresh
connection completes an ApiVersions round trip, confluent-kafka still produces and consumes, the records
acknowledged before are still there, and the broker log holds no traceback or ERROR line. The cases at the end are
regressions for what fuzzing found (test_fuzz_live.py, tests/fuzz).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

import crc32c
import pytest
from it_support import (
    BrokerProcess,
    api_versions_roundtrip,
    ck_consume,
    ck_create_topic,
    ck_produce,
    is_closed,
    parse_api_versions_v0,
    raw_call,
    raw_connect,
    recv_frame,
    request_frame,
)
from odradek.broker.protocol import headers
from odradek.broker.protocol.messages import fetch_request, produce_response
from odradek.broker.protocol.messages.create_partitions_request import CreatePartitionsRequest, CreatePartitionsTopic
from odradek.broker.protocol.messages.create_topics_request import CreatableTopic, CreateTopicsRequest
from odradek.broker.protocol.messages.fetch_request import FetchPartition, FetchRequest, FetchTopic
from odradek.broker.protocol.messages.list_offsets_request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from odradek.broker.protocol.messages.metadata_request import MetadataRequest, MetadataRequestTopic
from odradek.broker.protocol.messages.produce_request import PartitionProduceData, ProduceRequest, TopicProduceData
from odradek.broker.protocol.primitives import Reader
from odradek.broker.records.builder import build_batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

MAX_REQUEST = 1024 * 1024
TOPIC = "victim"
BEFORE = [f"before-{i}".encode() for i in range(20)]
PRODUCE = 0


@pytest.fixture
def victim(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    broker = broker_factory({"socket.request.max.bytes": str(MAX_REQUEST)})
    ck_create_topic(broker.bootstrap, TOPIC)
    assert [off for _, off, _ in ck_produce(broker.bootstrap, TOPIC, BEFORE)] == list(range(len(BEFORE)))
    return broker


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_healthy(broker: BrokerProcess) -> None:
    assert broker.alive(), f"broker died:\n{broker.tail()}"
    apis = api_versions_roundtrip(broker.port)
    assert any(key == 0 for key, _, _ in apis)
    got = ck_consume(broker.bootstrap, TOPIC, len(BEFORE))
    assert [m.value() for m in got] == BEFORE
    n = len(BEFORE)
    acked = ck_produce(broker.bootstrap, TOPIC, [b"after"])
    assert acked[0][1] >= n
    assert [m.value() for m in ck_consume(broker.bootstrap, TOPIC, 1, offset=acked[0][1])] == [b"after"]
    assert broker.alive()
    assert_log_clean(broker)


def _produce_request(records: bytes) -> ProduceRequest:
    return ProduceRequest(
        acks=-1,
        timeout_ms=10_000,
        topic_data=[TopicProduceData(name=TOPIC, partition_data=[PartitionProduceData(index=0, records=records)])],
    )


def _partition_error(response: Any) -> int:
    [topic] = response.responses
    [part] = topic.partition_responses
    return int(part.error_code)


def _legacy_message_set(magic: int) -> bytes:
    """One message of the pre-0.11 format (magic 0 or 1), uncompressed, at offset 0."""
    body = struct.pack(">bb", magic, 0)
    if magic == 1:
        body += struct.pack(">q", int(time.time() * 1000))
    body += struct.pack(">i", -1)  # null key
    value = b"legacy"
    body += struct.pack(">i", len(value)) + value
    message = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", 0, len(message)) + message


# -- framing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MAX_REQUEST + 1, 64 * 1024 * 1024, 2**31 - 1], ids=["max+1", "64MiB", "2GiB"])
def test_oversized_frame_closes_without_reading_body(victim: BrokerProcess, size: int) -> None:
    rss_before = _rss_kib(victim.pid)
    with raw_connect(victim.port) as sock:
        # Only the size prefix and a header are sent: the broker must close without waiting for the body.
        sock.sendall(struct.pack(">i", size) + struct.pack(">hhi", 3, 12, 1))
        start = time.monotonic()
        assert is_closed(sock, timeout=10), "connection left open after an oversized size prefix"
        assert time.monotonic() - start < 5
    assert _rss_kib(victim.pid) - rss_before < 32 * 1024, "broker memory grew after an oversized size prefix"
    assert_healthy(victim)


def test_negative_size_closes(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        sock.sendall(struct.pack(">i", -5) + b"\x00" * 8)
        assert is_closed(sock)
    assert_healthy(victim)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_eight_random_bytes(victim: BrokerProcess, seed: int) -> None:
    garbage = random.Random(seed).randbytes(8)
    with raw_connect(victim.port) as sock:
        sock.sendall(garbage)
        sock.shutdown(socket.SHUT_WR)  # if the prefix announced more bytes, the broker now sees EOF
        assert is_closed(sock), f"connection still open after {garbage.hex()} and EOF"
    assert_healthy(victim)


def test_tiny_frame_shorter_than_a_header_closes(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        sock.sendall(struct.pack(">i", 3) + b"\x00\x12\x00")
        assert is_closed(sock)
    assert_healthy(victim)


def test_truncated_frame_then_close(victim: BrokerProcess) -> None:
    frame = request_frame(3, 12, 5, b"\x00" * 200, flexible=True)
    with raw_connect(victim.port) as sock:
        sock.sendall(frame[:40])
    # And one that stops inside the size prefix.
    with raw_connect(victim.port) as sock:
        sock.sendall(frame[:2])
    assert_healthy(victim)


# -- protocol state ------------------------------------------------------------------------------------


def test_unknown_api_key_closes(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        sock.sendall(request_frame(999, 0, 1, b""))
        assert is_closed(sock)
    assert_healthy(victim)


def test_unknown_metadata_version_closes(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        sock.sendall(request_frame(3, 99, 1, b"\x00\x00\x00\x00"))
        assert is_closed(sock)
    assert_healthy(victim)


def test_api_versions_unknown_version_gets_v0_fallback(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        # A client newer than the broker sends ApiVersions v99 with a flexible (v2) header.
        sock.sendall(request_frame(18, 99, 42, b"\x00", flexible=True))
        frame = recv_frame(sock)
        assert frame is not None, "closed instead of answering UNSUPPORTED_VERSION"
        apis = parse_api_versions_v0(frame, 42, expect_error=35)
        assert apis, "UNSUPPORTED_VERSION answer lists no APIs"
        assert next((k, lo) for k, lo, _ in apis if k == 18) == (18, 0)
        # The same connection stays usable with a supported version.
        sock.sendall(request_frame(18, 0, 43, b""))
        frame = recv_frame(sock)
        assert frame is not None
        parse_api_versions_v0(frame, 43, expect_error=0)
    assert_healthy(victim)


def test_trailing_bytes_after_request_body(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        # ApiVersions v0 has an empty body; garbage after it is INVALID_REQUEST or a close, never a crash.
        sock.sendall(request_frame(18, 0, 9, b"\xde\xad\xbe\xef"))
        frame = recv_frame(sock)
        if frame is not None:
            corr, error = struct.unpack_from(">ih", frame, 0)
            assert corr == 9 and error in (0, 42)
    assert_healthy(victim)


# -- record batches ------------------------------------------------------------------------------------


def test_produce_corrupt_crc_gets_corrupt_message(victim: BrokerProcess) -> None:
    batch = bytearray(build_batch([(b"k", b"corrupt-me", [], int(time.time() * 1000))]))
    batch[-1] ^= 0x55  # inside the CRC-32C range [21, end)
    with raw_connect(victim.port) as sock:
        response = raw_call(sock, PRODUCE, 9, _produce_request(bytes(batch)))
        assert response is not None, "connection closed instead of CORRUPT_MESSAGE"
        assert _partition_error(response) == 2  # CORRUPT_MESSAGE
        # A good batch on the same connection is accepted after the rejected one.
        good = build_batch([(b"k", b"fine", [], int(time.time() * 1000))])
        response = raw_call(sock, PRODUCE, 9, _produce_request(good), correlation_id=2)
        assert _partition_error(response) == 0
        fine_offset = response.responses[0].partition_responses[0].base_offset
    assert fine_offset == len(BEFORE)
    assert [m.value() for m in ck_consume(victim.bootstrap, TOPIC, 1, offset=fine_offset)] == [b"fine"]
    assert_healthy(victim)


def test_produce_truncated_batch(victim: BrokerProcess) -> None:
    batch = build_batch([(None, b"x" * 100, [], int(time.time() * 1000))])
    with raw_connect(victim.port) as sock:
        response = raw_call(sock, PRODUCE, 9, _produce_request(batch[:-10]))
        if response is not None:  # Kafka answers CORRUPT_MESSAGE (2) or INVALID_RECORD (87)
            assert _partition_error(response) in (2, 87)
    assert_healthy(victim)


def test_produce_magic_1_gets_an_error(victim: BrokerProcess) -> None:
    with raw_connect(victim.port) as sock:
        response = raw_call(sock, PRODUCE, 9, _produce_request(_legacy_message_set(1)))
        assert response is not None, "connection closed instead of an error code"
        # UNSUPPORTED_FOR_MESSAGE_FORMAT (43), INVALID_RECORD (87) or CORRUPT_MESSAGE (2) are what Kafka answers.
        assert _partition_error(response) in (43, 87, 2)
    assert_healthy(victim)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_produce_v0_to_v2_message_sets_are_appended(victim: BrokerProcess, version: int) -> None:
    """Old clients are served as Kafka 3.9 served them (issue 15): the MessageSet is stored as a v2 batch."""
    name = TOPIC.encode()
    message_set = _legacy_message_set(1 if version else 0)
    body = struct.pack(">hii", -1, 10_000, 1) + struct.pack(">h", len(name)) + name
    body += struct.pack(">ii", 1, 0) + struct.pack(">i", len(message_set)) + message_set
    with raw_connect(victim.port) as sock:
        sock.sendall(request_frame(PRODUCE, version, 3, body))
        frame = recv_frame(sock)
        assert frame is not None, f"Produce v{version} closed the connection"
        reader = Reader(memoryview(frame))
        assert reader.int32() == 3
        response = produce_response.decode(reader, version)
    [topic] = response.responses
    [part] = topic.partition_responses
    assert part.error_code == 0
    assert [m.value() for m in ck_consume(victim.bootstrap, TOPIC, 1, offset=part.base_offset)] == [b"legacy"]
    assert_healthy(victim)


def test_many_bad_connections_at_once(victim: BrokerProcess) -> None:
    socks = [raw_connect(victim.port) for _ in range(50)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(random.Random(i).randbytes(3 + i % 40))
        for sock in socks:
            sock.shutdown(socket.SHUT_WR)
        for sock in socks:
            assert is_closed(sock, timeout=10)
    finally:
        for sock in socks:
            sock.close()
    assert_healthy(victim)


# -- found by fuzzing (tests/integration/test_fuzz_live.py, tests/fuzz) ------------------------------------------


def assert_log_clean(broker: BrokerProcess) -> None:
    text = broker.output()
    for marker in ("Traceback", "Task exception was never retrieved", " ERROR "):
        assert marker not in text, f"{marker!r} in the broker log:\n{broker.tail()}"


def _list_offsets(timestamp: int) -> ListOffsetsRequest:
    partition = ListOffsetsPartition(partition_index=0, timestamp=timestamp)
    return ListOffsetsRequest(topics=[ListOffsetsTopic(name=TOPIC, partitions=[partition])])


@pytest.mark.parametrize("timestamp", [-34, -7, -(2**63)])
def test_list_offsets_unknown_negative_timestamp_is_a_search(victim: BrokerProcess, timestamp: int) -> None:
    """Kafka searches any target other than -1..-5 like a timestamp (UnifiedLog.fetchOffsetByTimestamp): every
    record's timestamp is above a negative one, so the answer is the first record. The broker raised ValueError and
    closed the connection."""
    with raw_connect(victim.port) as sock:
        response = raw_call(sock, 2, 7, _list_offsets(timestamp))
        assert response is not None, "connection closed"
        [part] = response.topics[0].partitions
        assert (part.error_code, part.offset) == (0, 0)
        assert part.timestamp > 0
        assert raw_call(sock, 2, 7, _list_offsets(-1), correlation_id=2).topics[0].partitions[0].offset == len(BEFORE)
    assert_log_clean(victim)
    assert_healthy(victim)


def _fetch(offset: int, partition_max_bytes: int) -> FetchRequest:
    partition = FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=partition_max_bytes)
    topics = [FetchTopic(topic=TOPIC, partitions=[partition])]
    return FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, topics=topics)


def test_fetch_negative_partition_max_bytes(victim: BrokerProcess) -> None:
    """Kafka's LogSegment.read throws IllegalArgumentException for a negative size when there is data to read,
    answered as UNKNOWN_SERVER_ERROR for the partition; an empty read is answered normally. The broker raised
    ValueError and closed the connection."""
    with raw_connect(victim.port) as sock:
        response = raw_call(sock, 1, 11, _fetch(0, -5))
        assert response is not None, "connection closed"
        assert response.responses[0].partitions[0].error_code == -1
        response = raw_call(sock, 1, 11, _fetch(len(BEFORE), -5), correlation_id=2)
        [part] = response.responses[0].partitions
        assert (part.error_code, part.high_watermark) == (0, len(BEFORE))
        assert not part.records
    assert_log_clean(victim)
    assert_healthy(victim)


def test_create_topics_partition_cap(victim: BrokerProcess) -> None:
    """Kafka's controller refuses a CreateTopics asking for more than 10,000 partitions in all (POLICY_VIOLATION for
    every topic). The broker tried to create 32,767 partitions: minutes with the event loop held, a descriptor each."""
    huge = CreateTopicsRequest(topics=[CreatableTopic(name="huge", num_partitions=2**15 - 1, replication_factor=1)])
    split = CreateTopicsRequest(
        topics=[
            CreatableTopic(name="half-a", num_partitions=5_000, replication_factor=1),
            CreatableTopic(name="half-b", num_partitions=5_001, replication_factor=1),
        ]
    )
    with raw_connect(victim.port) as sock:
        start = time.monotonic()
        for i, request in enumerate((huge, split)):
            response = raw_call(sock, 19, 5, request, correlation_id=i + 1)
            assert [(t.error_code, t.error_message) for t in response.topics] == [
                (44, "Excessively large number of partitions per request.")
            ] * len(request.topics)
        assert time.monotonic() - start < 5
        metadata = raw_call(sock, 3, 1, MetadataRequest(topics=None), correlation_id=9)
        assert {t.name for t in metadata.topics} & {"huge", "half-a", "half-b"} == set()
    assert_log_clean(victim)
    assert_healthy(victim)


def test_create_partitions_cap(victim: BrokerProcess) -> None:
    """More than 10,000 new partitions in one CreatePartitions: POLICY_VIOLATION, as Kafka's controller (its
    MAX_RECORDS_PER_USER_OP); the topic keeps its one partition."""
    request = CreatePartitionsRequest(topics=[CreatePartitionsTopic(name=TOPIC, count=2**15 - 1)], timeout_ms=5000)
    with raw_connect(victim.port) as sock:
        response = raw_call(sock, 37, 2, request)
        assert [(r.error_code, r.error_message) for r in response.results] == [
            (44, "Unable to perform excessively large batch operation.")
        ]
        metadata = raw_call(sock, 3, 1, MetadataRequest(topics=[MetadataRequestTopic(name=TOPIC)]), correlation_id=2)
        assert len(metadata.topics[0].partitions) == 1
    assert_log_clean(victim)
    assert_healthy(victim)


def test_closed_connection_releases_its_socket_during_a_long_poll(victim: BrokerProcess) -> None:
    """A client sends a Fetch that may wait 24 days and goes away: the broker closes its side at once, as Kafka's
    selector does, instead of holding the descriptor until the wait ends (20 such clients held 20 descriptors)."""
    pid = victim.pid
    before = len(os.listdir(f"/proc/{pid}/fd"))
    request = _fetch(0, 1 << 20)
    request.max_wait_ms, request.min_bytes = 2**31 - 1, 2**30
    payload = bytearray()
    header = headers.RequestHeader(1, 11, 1, "parked")
    headers.encode_request_header(payload, header, headers.request_header_version(1, 11))
    fetch_request.encode(payload, request, 11)
    for _ in range(20):
        with raw_connect(victim.port) as sock:
            sock.sendall(struct.pack(">i", len(payload)) + payload)
            time.sleep(0.02)
    deadline = time.monotonic() + 5
    while len(os.listdir(f"/proc/{pid}/fd")) > before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(os.listdir(f"/proc/{pid}/fd")) <= before + 2, "sockets of closed connections still open"
    assert_log_clean(victim)
    assert_healthy(victim)


def test_log_append_time_batch_with_a_huge_record_count(broker_factory: Callable[..., BrokerProcess]) -> None:
    """A ~100-byte batch claiming 2**31 - 1 records, with the LogAppendTime attribute, to a LogAppendTime topic: the
    validator built one error per claimed record (gigabytes). Kafka iterates the records first, so the batch is
    refused as malformed (INVALID_RECORD) and the broker stays up. (tests/fuzz/fuzz_record_batch.py found it.)"""
    broker = broker_factory({"log.message.timestamp.type": "LogAppendTime"})
    ck_create_topic(broker.bootstrap, TOPIC)
    batch = bytearray(build_batch([(b"k", b"v", [], int(time.time() * 1000))], timestamp_type_log_append=True))
    struct.pack_into(">i", batch, 23, 2**31 - 2)  # lastOffsetDelta + 1 == recordCount, as a client must send
    struct.pack_into(">i", batch, 57, 2**31 - 1)
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    rss = _rss_kib(broker.pid)
    with raw_connect(broker.port) as sock:
        response = raw_call(sock, PRODUCE, 9, _produce_request(bytes(batch)))
        assert response is not None, "connection closed"
        assert _partition_error(response) in (2, 87)
    assert _rss_kib(broker.pid) - rss < 64 * 1024
    assert broker.alive()
    assert_log_clean(broker)
