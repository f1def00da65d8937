"""KIP-227 fetch sessions with a real client: kafka-python 3 (incremental fetch sessions on by default, Fetch v12)
consumes 16 partitions while a producer writes to them. Every record arrives exactly once and in offset order,
the client's session moved through incremental epochs (its FetchSessionHandler's metadata), and the broker held the
session (kafka_server_fetchsessioncache_* gauges). librdkafka (epoch -1: sessionless) is covered by the existing
confluent-kafka consumer tests.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from it_support import BrokerProcess, ck_create_topic, scrape_samples
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PARTITIONS = 16
COUNT = 4_000
DEADLINE_S = 90
SESSIONS = "kafka_server_fetchsessioncache_numincrementalfetchsessions"
CACHED = "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached"


def _produce(bootstrap: str, topic: str, done: threading.Event, failures: list[BaseException]) -> None:
    """COUNT records, value = its number, round-robin over the partitions, in bursts (so that the consumer's
    session sees idle partitions, partitions with data, and moving offsets)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15_000, linger_ms=5)
    try:
        for index in range(COUNT):
            producer.send(topic, value=b"%d" % index, partition=index % PARTITIONS)
            if index % 200 == 199:
                producer.flush(timeout=30)
                time.sleep(0.05)
        producer.flush(timeout=30)
    except BaseException as exc:  # reported by the test
        failures.append(exc)
    finally:
        producer.close(timeout=10)
        done.set()


def _metric(port: int, name: str) -> float:
    return scrape_samples(port).get((name, ()), -1.0)


def test_kafka_python_consumes_in_an_incremental_session_while_producing(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    broker = broker_factory(metrics=True)
    ck_create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        max_partition_fetch_bytes=2048,  # many fetches per partition: each moves the session's fetch offset
        request_timeout_ms=30_000,
    )
    done, failures = threading.Event(), []  # type: ignore[var-annotated]
    producer = threading.Thread(target=_produce, args=(broker.bootstrap, topic, done, failures), daemon=True)
    values: list[int] = []
    offsets: dict[int, list[int]] = defaultdict(list)
    epochs: set[int] = set()
    sessions_seen = 0.0
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        producer.start()
        deadline = time.monotonic() + DEADLINE_S
        while len(values) < COUNT and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                for record in records:
                    values.append(int(record.value))
                    offsets[tp.partition].append(record.offset)
            epochs.update(h.next_metadata.epoch for h in consumer._fetcher._session_handlers.values())
            sessions_seen = max(sessions_seen, _metric(broker.metrics_port, SESSIONS))
        cached = _metric(broker.metrics_port, CACHED)
    finally:
        producer.join(timeout=60)
        consumer.close()
    assert not failures, failures
    assert done.is_set()
    assert len(values) == COUNT and sorted(values) == list(range(COUNT)), "not every record exactly once"
    for partition in range(PARTITIONS):
        assert offsets[partition] == list(range(COUNT // PARTITIONS)), partition
    assert max(epochs) > 2, f"the client never went past its first incremental request (epochs {sorted(epochs)})"
    assert sessions_seen >= 1 and cached == PARTITIONS
    # Closed client: its session stays until evicted, as in Kafka (no close request is sent).
    assert _metric(broker.metrics_port, SESSIONS) >= 1
