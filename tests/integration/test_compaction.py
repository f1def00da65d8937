"""Compaction in a running broker: the cleaner thread keeps the latest value per key (cleanup.policy=compact)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from it_support import BrokerProcess, ck_create_topic, ck_produce, ck_watermarks, wait_for

pytestmark = pytest.mark.integration

KEYS = 5
ROUNDS = 40


def _produce_keyed(bootstrap: str, topic: str) -> dict[bytes, bytes]:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    latest: dict[bytes, bytes] = {}
    for i in range(KEYS * ROUNDS):
        key, value = f"k{i % KEYS}".encode(), f"v{i}".encode()
        producer.produce(topic, key=key, value=value, partition=0)
        producer.flush(10)  # one batch per record, so segments roll at the tiny segment.bytes
        latest[key] = value
    return latest


def test_compacted_topic_keeps_latest_value_per_key(broker_factory: Callable[..., BrokerProcess], topic: str) -> None:
    broker = broker_factory({"log.cleaner.backoff.ms": "300"})
    ck_create_topic(
        broker.bootstrap,
        topic,
        config={"cleanup.policy": "compact", "segment.bytes": "1000", "min.cleanable.dirty.ratio": "0.01"},
    )
    latest = _produce_keyed(broker.bootstrap, topic)
    low, high = ck_watermarks(broker.bootstrap, topic)
    assert (low, high) == (0, KEYS * ROUNDS)

    def compacted() -> list[tuple[int, bytes, bytes]] | None:
        seen = _read_all(broker.bootstrap, topic, high)
        return seen if len(seen) < KEYS * ROUNDS // 2 else None

    seen = wait_for(compacted, timeout=30, interval=0.5, what="the cleaner to compact the topic")
    offsets = [offset for offset, _, _ in seen]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), "offsets must stay increasing"
    final: dict[bytes, bytes] = {}
    for _, key, value in seen:
        final[key] = value
    assert final == latest, "the latest value of every key survives compaction"
    assert seen[-1][0] == high - 1, "the last record keeps its offset"
    # A null key is refused on a compacted topic (INVALID_RECORD, as Kafka does); keyed records still append
    # with offsets continuing after the compacted ones.
    with pytest.raises(AssertionError, match="INVALID_RECORD"):
        ck_produce(broker.bootstrap, topic, [b"no key"], extra={"linger.ms": 0})
    assert _produce_one(broker.bootstrap, topic, b"k0", b"after") == high


def _read_all(bootstrap: str, topic: str, high: int) -> list[tuple[int, bytes, bytes]]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compaction-check", "enable.auto.commit": False})
    out: list[tuple[int, bytes, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(200):
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            out.append((msg.offset(), msg.key(), msg.value()))
            if msg.offset() >= high - 1:
                break
    finally:
        consumer.close()
    return out


def _produce_one(bootstrap: str, topic: str, key: bytes, value: bytes) -> int:
    from confluent_kafka import Producer

    offsets: list[int] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    producer.produce(topic, key=key, value=value, partition=0, on_delivery=lambda e, m: offsets.append(m.offset()))
    assert producer.flush(10) == 0
    return offsets[0]
