"""confluent-kafka (librdkafka) against one broker process: producer, consumer (assign mode), AdminClient.

One broker per module (fixture `broker`); every test uses its own topic(s). Each client call has a timeout.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)
from it_support import (
    CLIENT_TIMEOUT_S,
    BrokerProcess,
    ck_admin,
    ck_consume,
    ck_create_topic,
    ck_produce,
    ck_watermarks,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = CLIENT_TIMEOUT_S
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
ACKS = ["0", "1", "all"]


def _describe(admin: Any, restype: ResourceType, name: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(restype, name)
    configs: dict[str, ConfigEntry] = admin.describe_configs([resource], request_timeout=T)[resource].result(timeout=T)
    return configs


def _topic_names(admin: Any) -> set[str]:
    return set(admin.list_topics(timeout=T).topics)


# -- producer and consumer ------------------------------------------------------------------------------


@pytest.mark.parametrize("acks", ACKS)
@pytest.mark.parametrize("codec", CODECS)
def test_produce_every_codec_and_acks_round_trips(broker: BrokerProcess, topic: str, codec: str, acks: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    n = 200
    base_ts = int(time.time() * 1000) - 60_000
    sent = [
        (
            f"key-{i}".encode() if i % 7 else None,
            (f"value-{i}-" + "x" * (i % 50)).encode(),
            [("h1", f"hv{i}".encode()), ("h2", b"")] if i % 3 == 0 else None,
            base_ts + i,
        )
        for i in range(n)
    ]
    delivered: list[tuple[Any, int]] = []

    def on_delivery(err: Any, msg: Any) -> None:
        delivered.append((err, msg.offset()))

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "compression.type": codec,
            "acks": acks,
            "linger.ms": 20,
            "enable.idempotence": False,
        }
    )
    for key, value, headers, ts in sent:
        producer.produce(
            topic, value=value, key=key, headers=headers, timestamp=ts, partition=0, on_delivery=on_delivery
        )
        producer.poll(0)
    assert producer.flush(T) == 0
    assert len(delivered) == n
    assert all(err is None for err, _ in delivered), [err for err, _ in delivered if err is not None][:3]
    if acks != "0":  # with acks=0 the client never learns offsets
        assert sorted(off for _, off in delivered) == list(range(n))

    got = ck_consume(broker.bootstrap, topic, n)
    assert [m.offset() for m in got] == list(range(n))
    for msg, (key, value, headers, ts) in zip(got, sent, strict=True):
        assert msg.key() == key
        assert msg.value() == value
        assert (msg.headers() or None) == headers
        assert msg.timestamp() == (1, ts)  # TIMESTAMP_CREATE_TIME
    assert ck_watermarks(broker.bootstrap, topic) == (0, n)


def test_consumer_assign_reads_each_partition_in_order(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    expected: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for i in range(300):
        p = (i * 7) % 3
        value = f"{p}:{i}".encode()
        expected[p].append(value)
        producer.produce(topic, value=value, partition=p)
    assert producer.flush(T) == 0

    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False}
    )
    got: dict[int, list[tuple[int, bytes]]] = {0: [], 1: [], 2: []}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
        deadline = time.monotonic() + T
        while sum(map(len, got.values())) < 300 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got[msg.partition()].append((msg.offset(), msg.value()))
    finally:
        consumer.close()
    for p in range(3):
        assert [o for o, _ in got[p]] == list(range(len(expected[p])))
        assert [v for _, v in got[p]] == expected[p]


def test_produce_to_unknown_partition_fails(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 3000})
    producer.produce(topic, value=b"x", partition=5, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(T)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() in (KafkaError._UNKNOWN_PARTITION, KafkaError._MSG_TIMED_OUT)


# -- AdminClient: topics -------------------------------------------------------------------------------


def test_create_topics_with_configs_and_validate_only(broker: BrokerProcess, topic: str) -> None:
    admin = ck_admin(broker.bootstrap)
    with_cfg, validated = f"{topic}-cfg", f"{topic}-val"

    new = NewTopic(
        with_cfg,
        num_partitions=2,
        replication_factor=1,
        config={"retention.ms": "3600000", "cleanup.policy": "compact"},
    )
    admin.create_topics([new], request_timeout=T)[with_cfg].result(timeout=T)

    meta = admin.list_topics(timeout=T)
    assert sorted(meta.topics[with_cfg].partitions) == [0, 1]
    for p in meta.topics[with_cfg].partitions.values():
        assert p.leader == 1 and list(p.replicas) == [1] and list(p.isrs) == [1]
    assert meta.brokers[1].host == "127.0.0.1" and meta.brokers[1].port == broker.port

    configs = _describe(admin, ResourceType.TOPIC, with_cfg)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "compact"

    admin.create_topics([NewTopic(validated, 4, 1)], validate_only=True, request_timeout=T)[validated].result(timeout=T)
    assert validated not in _topic_names(admin)
    assert not broker.partition_dir(validated, 0).exists()

    with pytest.raises(KafkaException) as dup:
        admin.create_topics([NewTopic(with_cfg, 1, 1)], request_timeout=T)[with_cfg].result(timeout=T)
    assert dup.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    with pytest.raises(KafkaException) as bad:
        admin.create_topics([NewTopic(f"{topic}-bad", 1, 1, config={"no.such.config": "1"})], request_timeout=T)[
            f"{topic}-bad"
        ].result(timeout=T)
    assert bad.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_create_topics_with_replica_assignment(broker: BrokerProcess, topic: str) -> None:
    admin = ck_admin(broker.bootstrap)
    # librdkafka puts -1/-1 on the wire when replica_assignment is given (num_partitions is checked locally).
    new = NewTopic(topic, num_partitions=3, replication_factor=-1, replica_assignment=[[1], [1], [1]])
    admin.create_topics([new], request_timeout=T)[topic].result(timeout=T)
    meta = admin.list_topics(timeout=T)
    assert sorted(meta.topics[topic].partitions) == [0, 1, 2]
    for p in meta.topics[topic].partitions.values():
        assert p.leader == 1 and list(p.replicas) == [1]

    bad = NewTopic(f"{topic}-bad", num_partitions=1, replication_factor=-1, replica_assignment=[[7]])
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([bad], request_timeout=T)[f"{topic}-bad"].result(timeout=T)
    assert exc.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT


def test_describe_configs_topic_synonyms_and_broker(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, config={"retention.ms": "7200000"})
    admin = ck_admin(broker.bootstrap)
    configs = _describe(admin, ResourceType.TOPIC, topic)
    retention = configs["retention.ms"]
    assert retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and not retention.is_default
    names = list(retention.synonyms)
    assert names[0] == "retention.ms", names
    assert retention.synonyms["retention.ms"].value == "7200000"
    assert any(n.startswith("log.retention.") for n in names), names
    segment = configs["segment.bytes"]
    assert segment.source in (ConfigSource.DEFAULT_CONFIG.value, ConfigSource.STATIC_BROKER_CONFIG.value)
    assert "log.segment.bytes" in segment.synonyms
    assert configs["max.message.bytes"].value is not None

    broker_cfg = _describe(admin, ResourceType.BROKER, "1")
    assert broker_cfg["num.partitions"].value == "1"
    assert broker_cfg["auto.create.topics.enable"].value == "true"
    assert broker_cfg["log.dirs"].value == str(broker.log_dir)

    missing = ConfigResource(ResourceType.TOPIC, f"{topic}-missing")
    with pytest.raises(KafkaException) as exc:
        admin.describe_configs([missing], request_timeout=T)[missing].result(timeout=T)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_incremental_alter_and_alter_configs(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    admin = ck_admin(broker.bootstrap)
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "123456", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ],
    )
    admin.incremental_alter_configs([resource], request_timeout=T)[resource].result(timeout=T)
    configs = _describe(admin, ResourceType.TOPIC, topic)
    assert configs["retention.ms"].value == "123456"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["segment.bytes"].value == "1048576"

    delete = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("segment.bytes", None, incremental_operation=AlterConfigOpType.DELETE)],
    )
    admin.incremental_alter_configs([delete], request_timeout=T)[delete].result(timeout=T)
    configs = _describe(admin, ResourceType.TOPIC, topic)
    assert configs["segment.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.ms"].value == "123456"

    # AlterConfigs replaces the whole set: retention.ms goes back to its default.
    legacy = ConfigResource(ResourceType.TOPIC, topic, set_config={"cleanup.policy": "compact"})
    with pytest.warns(DeprecationWarning):  # deprecated in the client, still a Kafka API
        futures = admin.alter_configs([legacy], request_timeout=T)
    futures[legacy].result(timeout=T)
    configs = _describe(admin, ResourceType.TOPIC, topic)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["cleanup.policy"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    bad = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("retention.ms", "not-a-number", incremental_operation=AlterConfigOpType.SET)],
    )
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([bad], request_timeout=T)[bad].result(timeout=T)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_create_partitions(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    admin = ck_admin(broker.bootstrap)
    admin.create_partitions([NewPartitions(topic, 3)], request_timeout=T)[topic].result(timeout=T)
    wait_for(lambda: len(admin.list_topics(topic, timeout=T).topics[topic].partitions) == 3, what="3 partitions")
    acked = ck_produce(broker.bootstrap, topic, [b"p2"], partition=2)
    assert acked == [(2, 0, b"p2")]
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 1, partition=2)] == [b"p2"]
    with pytest.raises(KafkaException) as exc:
        admin.create_partitions([NewPartitions(topic, 2)], request_timeout=T)[topic].result(timeout=T)
    assert exc.value.args[0].code() == KafkaError.INVALID_PARTITIONS


def test_delete_records_moves_log_start(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [f"r{i}".encode() for i in range(10)])
    admin = ck_admin(broker.bootstrap)
    result = admin.delete_records([TopicPartition(topic, 0, 4)], request_timeout=T)
    [fut] = result.values()
    assert fut.result(timeout=T).low_watermark == 4

    assert ck_watermarks(broker.bootstrap, topic) == (4, 10)
    listed = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()}, request_timeout=T)
    [info] = [f.result(timeout=T) for f in listed.values()]
    assert info.offset == 4

    # auto.offset.reset=earliest: reading from 0 resets to the new start.
    got = ck_consume(broker.bootstrap, topic, 6, offset=0, extra={"auto.offset.reset": "earliest"})
    assert [m.offset() for m in got] == list(range(4, 10))
    assert got[0].value() == b"r4"

    # auto.offset.reset=error: the OFFSET_OUT_OF_RANGE reaches the application.
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "error",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + T
        error = None
        while error is None and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is not None, f"unexpected record at offset {msg.offset()}"
                error = msg.error()
    finally:
        consumer.close()
    assert error is not None
    assert error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), error
    assert "out of range" in error.str().lower() or error.code() == KafkaError.OFFSET_OUT_OF_RANGE

    # Beyond the high watermark is refused.
    fut = admin.delete_records([TopicPartition(topic, 0, 11)], request_timeout=T)
    with pytest.raises(KafkaException) as exc:
        next(iter(fut.values())).result(timeout=T)
    assert exc.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_delete_topics(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    ck_produce(broker.bootstrap, topic, [b"a"])
    admin = ck_admin(broker.bootstrap)
    assert topic in _topic_names(admin)
    admin.delete_topics([topic], request_timeout=T)[topic].result(timeout=T)
    wait_for(lambda: topic not in _topic_names(admin), what=f"{topic} gone from metadata")
    wait_for(lambda: not broker.partition_dir(topic, 0).exists(), timeout=30, what="partition dir removed/renamed")
    with pytest.raises(KafkaException) as exc:
        admin.delete_topics([topic], request_timeout=T)[topic].result(timeout=T)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


# -- offsets -------------------------------------------------------------------------------------------


def test_list_offsets_earliest_latest_timestamp_max(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    base = int(time.time() * 1000) - 3_600_000
    # Timestamps rise by 1 s per record except offset 6, which carries the maximum.
    stamps = [base + i * 1000 for i in range(10)]
    stamps[6] = base + 50_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i, ts in enumerate(stamps):
        producer.produce(topic, value=f"v{i}".encode(), partition=0, timestamp=ts)
        assert producer.flush(T) == 0  # one batch per record so the time index has an entry each

    assert ck_watermarks(broker.bootstrap, topic) == (0, 10)

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}"})
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base + 3500)], timeout=T)
        assert found[0].offset == 4
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base)], timeout=T)
        assert found[0].offset == 0
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base + 10_000_000)], timeout=T)
        assert found[0].offset == -1  # no such record: end
    finally:
        consumer.close()

    admin = ck_admin(broker.bootstrap)
    tp = TopicPartition(topic, 0)

    def listed(spec: OffsetSpec) -> Any:
        return next(iter(admin.list_offsets({tp: spec}, request_timeout=T).values())).result(timeout=T)

    assert listed(OffsetSpec.earliest()).offset == 0
    assert listed(OffsetSpec.latest()).offset == 10
    by_time = listed(OffsetSpec.for_timestamp(base + 3500))
    assert by_time.offset == 4 and by_time.timestamp == base + 4000
    top = listed(OffsetSpec.max_timestamp())
    assert top.offset == 6 and top.timestamp == base + 50_000
