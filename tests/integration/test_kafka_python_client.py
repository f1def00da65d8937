"""kafka-python 3.0.12 against one broker process: producer (every codec), consumer (assign), admin client.

Producers keep kafka-python 3's default, idempotence (InitProducerId, sequence numbers).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from it_support import BrokerProcess, ck_create_topic, ck_watermarks, wait_for
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
TIMEOUT_S = 15


@pytest.fixture
def admin(broker: BrokerProcess) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        yield client
    finally:
        client.close()


def _producer(broker: BrokerProcess, **config: Any) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        request_timeout_ms=10_000,
        **config,
    )


def _consume(broker: BrokerProcess, topic: str, partition: int, count: int) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, group_id=None)
    out: list[Any] = []
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(records)
    finally:
        consumer.close()
    assert len(out) == count, f"read {len(out)} of {count}"
    return out


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_producer_every_codec_consumer_assign(broker: BrokerProcess, topic: str, codec: str | None) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    producer = _producer(broker, compression_type=codec, linger_ms=10, acks="all")
    base_ts = int(time.time() * 1000) - 10_000
    sent = [
        (f"k{i}".encode(), f"value-{i}".encode() * (1 + i % 5), [("h", str(i).encode())], base_ts + i)
        for i in range(150)
    ]
    try:
        futures = [
            producer.send(topic, value=v, key=k, headers=h, partition=1, timestamp_ms=ts) for k, v, h, ts in sent
        ]
        producer.flush(timeout=TIMEOUT_S)
        offsets = [f.get(timeout=TIMEOUT_S).offset for f in futures]
    finally:
        producer.close(timeout=5)
    assert offsets == list(range(150))

    got = _consume(broker, topic, 1, 150)
    assert [r.offset for r in got] == list(range(150))
    for rec, (k, v, h, ts) in zip(got, sent, strict=True):
        assert (rec.key, rec.value, list(rec.headers), rec.timestamp) == (k, v, h, ts)
    assert ck_watermarks(broker.bootstrap, topic, 1) == (0, 150)
    assert ck_watermarks(broker.bootstrap, topic, 0) == (0, 0)


def test_admin_topics_configs_partitions_records(broker: BrokerProcess, topic: str, admin: KafkaAdminClient) -> None:
    created = admin.create_topics(
        {topic: {"num_partitions": 2, "replication_factor": 1, "configs": {"retention.ms": "5000000"}}},
        timeout_ms=10_000,
    )
    [result] = created["topics"]
    assert (result["name"], result["error_code"], result["num_partitions"]) == (topic, 0, 2)
    assert topic in admin.list_topics()
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=10_000)

    [described] = admin.describe_topics([topic])
    assert described["error_code"] == 0
    assert sorted(p["partition_index"] for p in described["partitions"]) == [0, 1]
    assert all(p["leader_id"] == 1 and p["replica_nodes"] == [1] for p in described["partitions"])

    configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True)
    retention = configs["topic"][topic]["retention.ms"]
    assert retention["value"] == "5000000" and retention["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert retention["synonyms"][0] == {"name": "retention.ms", "value": "5000000", "source": "DYNAMIC_TOPIC_CONFIG"}
    broker_cfg = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all")
    assert broker_cfg["broker"]["1"]["listeners"]["value"] == f"PLAINTEXT://127.0.0.1:{broker.port}"

    admin.create_partitions({topic: 4})
    wait_for(lambda: len(admin.describe_topics([topic])[0]["partitions"]) == 4, timeout=TIMEOUT_S, what="4 partitions")

    producer = _producer(broker)
    try:
        futures = [producer.send(topic, value=f"r{i}".encode(), partition=3) for i in range(8)]
        producer.flush(timeout=TIMEOUT_S)
        assert [f.get(timeout=TIMEOUT_S).offset for f in futures] == list(range(8))
    finally:
        producer.close(timeout=5)

    deleted = admin.delete_records({TopicPartition(topic, 3): 5}, timeout_ms=10_000)
    assert deleted[TopicPartition(topic, 3)]["low_watermark"] == 5
    assert deleted[TopicPartition(topic, 3)]["error_code"] == 0
    assert ck_watermarks(broker.bootstrap, topic, 3) == (5, 8)
    assert [r.value for r in _consume(broker, topic, 3, 3)] == [b"r5", b"r6", b"r7"]

    result = admin.delete_topics([topic], timeout_ms=10_000)
    assert [t["error_code"] for t in result["topics"]] == [0]
    wait_for(lambda: topic not in admin.list_topics(), timeout=TIMEOUT_S, what=f"{topic} deleted")


def test_describe_cluster(broker: BrokerProcess, admin: KafkaAdminClient) -> None:
    cluster = admin.describe_cluster()
    assert cluster["controller_id"] == 1
    assert cluster["cluster_id"]
    assert [(b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [(1, "127.0.0.1", broker.port)]
