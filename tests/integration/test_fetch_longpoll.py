"""Fetch long-poll: a waiting fetch is woken by an append, and a fetch short of min_bytes waits max_wait_ms.

Two views: raw Fetch v11 requests on a socket (exact timing of one request) and a librdkafka consumer.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from it_support import BrokerProcess, ck_create_topic, ck_produce, raw_call, raw_connect, recv_frame, request_frame
from odradek.broker.protocol.messages.fetch_request import FetchPartition, FetchRequest, FetchTopic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

FETCH = 1
VERSION = 11


def _fetch(topic: str, offset: int, max_wait_ms: int, min_bytes: int) -> FetchRequest:
    return FetchRequest(
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=50 * 1024 * 1024,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[
            FetchTopic(
                topic=topic,
                partitions=[FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1024 * 1024)],
            )
        ],
    )


def _records(response: object) -> tuple[int, int, bytes]:
    [t] = response.responses  # type: ignore[attr-defined]
    [p] = t.partitions
    return p.error_code, p.high_watermark, bytes(p.records or b"")


def test_raw_fetch_is_woken_by_produce(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    producer_done = threading.Event()

    def produce_later() -> None:
        time.sleep(1.0)  # the delay under test: the fetch must be parked by then
        ck_produce(broker.bootstrap, topic, [b"wake-up"])
        producer_done.set()

    with raw_connect(broker.port, timeout=30) as sock:
        thread = threading.Thread(target=produce_later, daemon=True)
        start = time.monotonic()
        thread.start()
        response = raw_call(sock, FETCH, VERSION, _fetch(topic, 0, max_wait_ms=15_000, min_bytes=1))
        elapsed = time.monotonic() - start
        thread.join(timeout=20)
    assert producer_done.is_set()
    assert response is not None, "connection closed"
    error, hw, records = _records(response)
    assert error == 0 and hw == 1
    assert b"wake-up" in records
    assert 0.9 <= elapsed < 3.0, f"fetch returned after {elapsed:.2f} s (record produced at 1 s, max wait 15 s)"


def test_raw_fetch_short_of_min_bytes_waits_max_wait(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [b"small"])
    with raw_connect(broker.port, timeout=30) as sock:
        start = time.monotonic()
        response = raw_call(sock, FETCH, VERSION, _fetch(topic, 0, max_wait_ms=1500, min_bytes=10 * 1024 * 1024))
        elapsed = time.monotonic() - start
        assert response is not None
        error, hw, records = _records(response)
        assert error == 0 and hw == 1 and b"small" in records
        assert 1.4 <= elapsed < 4.0, f"fetch with unmet min_bytes returned after {elapsed:.2f} s, max wait 1.5 s"

        # With min_bytes met the same fetch answers at once.
        start = time.monotonic()
        response = raw_call(sock, FETCH, VERSION, _fetch(topic, 0, max_wait_ms=10_000, min_bytes=1), 2)
        assert time.monotonic() - start < 1.0
        assert b"small" in _records(response)[2]

        # Nothing at the log end and max_wait 0: an immediate empty answer.
        start = time.monotonic()
        response = raw_call(sock, FETCH, VERSION, _fetch(topic, 1, max_wait_ms=0, min_bytes=1), 3)
        assert time.monotonic() - start < 1.0
        assert _records(response) == (0, 1, b"")


def test_consumer_long_poll_gets_record_well_before_max_wait(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "fetch.wait.max.ms": 10_000,
            "fetch.min.bytes": 1,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        assert consumer.poll(1.0) is None  # the consumer now has a fetch parked on the empty partition
        ck_produce(broker.bootstrap, topic, [b"late"])
        acked_at = time.monotonic()
        msg = None
        deadline = acked_at + 15
        while msg is None and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
        received_after = time.monotonic() - acked_at
    finally:
        consumer.close()
    assert msg is not None and msg.error() is None and msg.value() == b"late"
    assert received_after < 2.0, f"record reached the consumer {received_after:.2f} s after its ack (max wait 10 s)"


def test_pipelined_requests_answered_in_order_behind_a_parked_fetch(broker: BrokerProcess, topic: str) -> None:
    from odradek.broker.protocol.headers import RequestHeader, encode_request_header, request_header_version
    from odradek.broker.protocol.messages import fetch_request

    ck_create_topic(broker.bootstrap, topic)
    payload = bytearray()
    encode_request_header(payload, RequestHeader(FETCH, VERSION, 1, "it"), request_header_version(FETCH, VERSION))
    fetch_request.encode(payload, _fetch(topic, 0, max_wait_ms=1500, min_bytes=1), VERSION)
    frames = struct.pack(">i", len(payload)) + bytes(payload)
    for corr in range(2, 22):  # ApiVersions v0 requests behind the parked fetch, in the same send
        frames += request_frame(18, 0, corr, b"")
    with raw_connect(broker.port, timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(frames)
        first = recv_frame(sock)
        fetch_elapsed = time.monotonic() - start
        order = [struct.unpack_from(">i", first or b"\xff\xff\xff\xff")[0]]
        for _ in range(20):
            frame = recv_frame(sock)
            assert frame is not None
            order.append(struct.unpack_from(">i", frame)[0])
    assert order == list(range(1, 22)), order
    assert fetch_elapsed >= 1.4, f"fetch answered after {fetch_elapsed:.2f} s although the partition is empty"
