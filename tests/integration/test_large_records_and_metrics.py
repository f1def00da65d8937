"""Large records (topic max.message.bytes raised) and the Prometheus endpoint, against one broker process."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_produce, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MIB = 1024 * 1024


def _produce_one(bootstrap: str, topic: str, value: bytes, **extra: Any) -> tuple[Any, int]:
    result: list[tuple[Any, int]] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "message.max.bytes": 20 * MIB,
            "compression.type": "none",
            "message.timeout.ms": 20_000,
            "retries": 0,
            **extra,
        }
    )
    producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: result.append((err, msg.offset())))
    assert producer.flush(30) == 0
    assert len(result) == 1
    return result[0]


def test_five_mib_record_round_trips(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, config={"max.message.bytes": str(8 * MIB)})
    value = os.urandom(5 * MIB)
    err, offset = _produce_one(broker.bootstrap, topic, value)
    assert err is None and offset == 0
    ck_produce(broker.bootstrap, topic, [b"after"])
    # Default consumer limits (max.partition.fetch.bytes 1 MiB): the first batch is returned even if larger.
    got = ck_consume(broker.bootstrap, topic, 2, timeout=30)
    assert len(got[0].value()) == len(value)
    assert hashlib.sha256(got[0].value()).digest() == hashlib.sha256(value).digest()
    assert (got[1].offset(), got[1].value()) == (1, b"after")


def test_oversized_record_gets_message_too_large(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, config={"max.message.bytes": str(2 * MIB)})
    err, _ = _produce_one(broker.bootstrap, topic, os.urandom(3 * MIB))
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err  # broker error 10
    assert not err.retriable()
    # The partition is untouched and still usable.
    assert ck_produce(broker.bootstrap, topic, [b"ok"]) == [(0, 0, b"ok")]


def test_default_max_message_bytes_rejects_two_mib(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    err, _ = _produce_one(broker.bootstrap, topic, os.urandom(2 * MIB))
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err


# -- metrics -------------------------------------------------------------------------------------------


def _scrape(broker: BrokerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_endpoint(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    n = 37
    ck_produce(broker.bootstrap, topic, [f"m{i}".encode() * 10 for i in range(n)])
    ck_consume(broker.bootstrap, topic, n)

    def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = _scrape(broker)
        out_key = ("kafka_server_brokertopicmetrics_bytesout_total", (("topic", topic),))
        return samples if samples.get(out_key, 0) > 0 else None

    samples = wait_for(scraped, timeout=10, what="bytesout for the topic")
    topic_label = (("topic", topic),)
    assert samples[("kafka_server_brokertopicmetrics_messagesin_total", topic_label)] == n
    assert samples[("kafka_server_brokertopicmetrics_bytesin_total", topic_label)] > 10 * n
    assert samples[("kafka_server_brokertopicmetrics_bytesout_total", topic_label)] > 10 * n
    p99 = samples[("kafka_network_requestmetrics_totaltimems", (("quantile", "0.99"), ("request", "Produce")))]
    assert p99 >= 0
    size = samples[("kafka_log_log_size", (("partition", "0"), ("topic", topic)))]
    assert size > 10 * n
    assert samples[("kafka_log_log_size", (("partition", "1"), ("topic", topic)))] == 0
    assert samples[("kafka_log_log_logendoffset", (("partition", "0"), ("topic", topic)))] == n
    assert samples[("kafka_server_replicamanager_partitioncount", ())] >= 2
