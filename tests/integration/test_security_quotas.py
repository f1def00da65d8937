"""Client quotas end to end on a SASL_PLAINTEXT listener: a producer_byte_rate quota on a SCRAM user throttles
confluent-kafka and kafka-python producers (throughput near the quota, throttle time reported by the clients), and
other users are not throttled; a consumer_byte_rate quota throttles a consumer. Quotas are set with
AlterClientQuotas on the internal PLAINTEXT listener. Bounds are generous: the machine is shared."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from it_support import ck_create_topic, raw_call, raw_connect, unique_topic
from odradek.broker.protocol.messages import alter_client_quotas_request as acq
from security_support import SecureBroker, sasl_overrides

pytestmark = pytest.mark.integration

QUOTA = 100_000  # bytes per second
RUN_S = 12.0
VALUE = b"x" * 10_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    proc = SecureBroker(tmp_path_factory.mktemp("quotas"), "SASL_PLAINTEXT", sasl_overrides())
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def set_quota(broker: SecureBroker, entity: list[tuple[str, str | None]], key: str, value: float | None) -> None:
    request = acq.AlterClientQuotasRequest(
        entries=[
            acq.EntryData(
                entity=[acq.EntityData(entity_type=t, entity_name=n) for t, n in entity],
                ops=[acq.OpData(key=key, value=value or 0.0, remove=value is None)],
            )
        ]
    )
    with raw_connect(broker.internal_port) as sock:
        response = raw_call(sock, 49, 1, request)
    assert [e.error_code for e in response.entries] == [0]


def scram(user: str, password: str) -> dict[str, Any]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": user,
        "sasl.password": password,
    }


def produce_for(
    broker: SecureBroker, topic: str, seconds: float, extra: dict[str, Any]
) -> tuple[int, float, list[int]]:
    """Produce VALUE records for `seconds`, then flush; returns (bytes acknowledged, elapsed s including the flush,
    throttle times seen)."""
    throttles: list[int] = []
    acked = [0]

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acked[0] += len(msg.value())

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "linger.ms": 5,
            "queue.buffering.max.kbytes": 512,
            "throttle_cb": lambda event: throttles.append(int(event.throttle_time * 1000)),
            **extra,
        }
    )
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            producer.produce(topic, VALUE, on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    return acked[0], time.monotonic() - started, throttles


def test_a_producer_byte_rate_quota_on_a_user_throttles_confluent_kafka(broker: SecureBroker) -> None:
    topic = unique_topic("quota")
    ck_create_topic(broker.internal, topic)
    set_quota(broker, [("user", "alice")], "producer_byte_rate", QUOTA)
    try:
        sent, elapsed, throttles = produce_for(broker, topic, RUN_S, scram("alice", "alice-secret"))
    finally:
        set_quota(broker, [("user", "alice")], "producer_byte_rate", None)
    # Kafka measures the first windows as ten full seconds: up to about QUOTA * (elapsed + 10) may pass (a 12 s run
    # acknowledged about QUOTA * elapsed, flush included, on a loaded machine); the bound is generous on top of that,
    # and the lower one says the producer was slowed, not stopped.
    assert sent <= QUOTA * (elapsed + 11) * 1.5, (sent, elapsed)
    assert sent >= QUOTA * elapsed * 0.3, (sent, elapsed)
    assert throttles and max(throttles) > 0, throttles


def test_another_user_is_not_throttled_by_alices_quota(broker: SecureBroker) -> None:
    topic = unique_topic("quota-free")
    ck_create_topic(broker.internal, topic)
    set_quota(broker, [("user", "alice")], "producer_byte_rate", QUOTA)
    try:
        admin_sent, _, admin_throttles = produce_for(
            broker, topic, 4.0, {**scram("admin", "admin-secret"), "sasl.mechanism": "SCRAM-SHA-512"}
        )
    finally:
        set_quota(broker, [("user", "alice")], "producer_byte_rate", None)
    assert admin_throttles == []
    assert admin_sent > QUOTA * 15, admin_sent  # far above alice's quota: 4 s unthrottled


def test_kafka_python_reports_the_produce_throttle_time(broker: SecureBroker, caplog: pytest.LogCaptureFixture) -> None:
    from kafka import KafkaProducer

    caplog.set_level(logging.WARNING, logger="kafka")

    topic = unique_topic("quota-kp")
    ck_create_topic(broker.internal, topic)
    set_quota(broker, [("user", "alice"), ("client-id", "kp")], "producer_byte_rate", QUOTA)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        client_id="kp",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_plain_username="alice",
        sasl_plain_password="alice-secret",
        linger_ms=5,
    )
    try:
        started = time.monotonic()
        futures = []
        while time.monotonic() - started < 8.0:
            futures.append(producer.send(topic, VALUE))
            if len(futures) > 200:
                futures.pop(0).get(timeout=60)
        producer.flush(60)
        # kafka-python reports a response's throttle_time_ms as "ProduceResponse throttled by broker (N ms)"
        throttled = [r.getMessage() for r in caplog.records if "ProduceResponse throttled by broker" in r.getMessage()]
        assert throttled, [r.getMessage() for r in caplog.records][:20]
    finally:
        producer.close(10)
        set_quota(broker, [("user", "alice"), ("client-id", "kp")], "producer_byte_rate", None)


def test_a_consumer_byte_rate_quota_throttles_a_consumer(broker: SecureBroker) -> None:
    topic = unique_topic("quota-fetch")
    ck_create_topic(broker.internal, topic)
    producer = Producer({"bootstrap.servers": broker.internal})
    total = 3_000_000
    for _ in range(total // len(VALUE)):
        producer.produce(topic, VALUE)
        producer.poll(0)
    producer.flush(30)
    set_quota(broker, [("client-id", None)], "consumer_byte_rate", QUOTA)  # every client id, by client id
    throttles: list[int] = []
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": unique_topic("g"),
            "auto.offset.reset": "earliest",
            "throttle_cb": lambda event: throttles.append(int(event.throttle_time * 1000)),
            **scram("alice", "alice-secret"),
        }
    )
    try:
        consumer.subscribe([topic])
        received = 0
        started = time.monotonic()
        while time.monotonic() - started < 8.0:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                received += len(message.value())
        elapsed = time.monotonic() - started
    finally:
        consumer.close()
        set_quota(broker, [("client-id", None)], "consumer_byte_rate", None)
    # A fetch takes at most the quota over all windows (11 * QUOTA), then waits out its throttle.
    assert received <= QUOTA * (elapsed + 11) * 1.5, (received, elapsed)
    assert received > 0
    assert throttles and max(throttles) > 0, throttles
