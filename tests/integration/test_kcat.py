"""Debian's kcat (librdkafka 2.0.2) against one broker process: metadata, produce, consume, offset query.

Every kcat run is a subprocess with a time limit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_produce

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (Debian package kcat)"),
]

KCAT_TIMEOUT_S = 30


def kcat(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, text=True, timeout=KCAT_TIMEOUT_S, check=False
    )
    assert proc.returncode == 0, f"kcat {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_metadata_listing(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    meta = json.loads(kcat("-b", broker.bootstrap, "-L", "-J", "-t", topic))
    assert meta["brokers"] == [{"id": 1, "name": f"127.0.0.1:{broker.port}"}]
    [entry] = meta["topics"]
    assert entry["topic"] == topic
    assert sorted(p["partition"] for p in entry["partitions"]) == [0, 1, 2]
    assert all(p["leader"] == 1 for p in entry["partitions"])

    text = kcat("-b", broker.bootstrap, "-L")
    assert f"broker 1 at 127.0.0.1:{broker.port}" in text
    assert f'topic "{topic}" with 3 partitions' in text


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_lines_and_consume_them_back(broker: BrokerProcess, topic: str, codec: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    lines = [f"line {i} " + "z" * (i % 17) for i in range(100)]
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec, stdin="\n".join(lines) + "\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%o %s\n")
    assert out.splitlines() == [f"{i} {line}" for i, line in enumerate(lines)]
    # Independent check with another client.
    assert [m.value().decode() for m in ck_consume(broker.bootstrap, topic, 100)] == lines


def test_keyed_produce_and_consume(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", stdin="a:1\nb:2\nc:3\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
    assert out.splitlines() == ["a=1@0", "b=2@1", "c=3@2"]


def test_query_offsets_by_timestamp(broker: BrokerProcess, topic: str) -> None:
    ck_create_topic(broker.bootstrap, topic)
    base = int(time.time() * 1000) - 600_000
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(5):
        producer.produce(topic, value=f"q{i}".encode(), partition=0, timestamp=base + i * 1000)
        assert producer.flush(10) == 0
    out = kcat("-b", broker.bootstrap, "-Q", "-t", f"{topic}:0:{base + 2500}")
    # kcat prints " <topic> [<partition>] offset <n>"
    assert f"{topic} [0] offset 3" in out, out
    out = kcat("-b", broker.bootstrap, "-Q", "-t", f"{topic}:0:{base}")
    assert f"{topic} [0] offset 0" in out, out
    ck_produce(broker.bootstrap, topic, [b"later"])  # the partition still takes writes after the queries


def test_balanced_consumer_group(broker_factory: Callable[..., BrokerProcess], topic: str) -> None:
    """kcat -G (librdkafka 2.0.2's balanced consumer): joins a group, consumes everything, commits on exit."""
    from confluent_kafka import Consumer, TopicPartition

    broker = broker_factory({"group.initial.rebalance.delay.ms": "0"})
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    for partition in (0, 1):
        ck_produce(broker.bootstrap, topic, [f"{partition}-{i}".encode() for i in range(5)], partition=partition)
    out = kcat(
        "-b",
        broker.bootstrap,
        "-G",
        "kcat-group",
        topic,
        "-o",
        "beginning",
        "-c",
        "10",
        "-f",
        "%p %o %s\\n",
        "-X",
        "enable.auto.commit=true",
        "-X",
        "auto.commit.interval.ms=100",
    )
    lines = sorted(out.split("\n")[:-1])
    assert lines == sorted(f"{p} {i} {p}-{i}" for p in (0, 1) for i in range(5))
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "kcat-group"})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    finally:
        consumer.close()
    assert [tp.offset for tp in committed] == [5, 5]
