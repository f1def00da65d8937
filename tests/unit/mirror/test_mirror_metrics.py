"""MirrorMaker 2's metrics without clusters: what MirrorSourceTask and MirrorCheckpointTask record per record, the
windowed min/max/avg and rates (fake clock), and the names and labels a Prometheus scrape sees."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from odradek.mirror.checkpoint import MirrorCheckpointTask
from odradek.mirror.config import MirrorConfig
from odradek.mirror.formats import Checkpoint
from odradek.mirror.metrics import SAMPLE_WINDOW_S, MirrorCollector, WindowedStat
from odradek.mirror.source import MirrorSourceTask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

BASE = {"source.cluster.alias": "A", "target.cluster.alias": "B", "offset.lag.max": "3"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Ack:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


class Message:
    def __init__(self, offset: int, timestamp_ms: int, value: bytes) -> None:
        self._o, self._ts, self._v = offset, timestamp_ms, value

    def topic(self) -> str:
        return "orders"

    def partition(self) -> int:
        return 1

    def offset(self) -> int:
        return self._o

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return self._v

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def error(self) -> None:
        return None


class Consumer:
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages

    def poll(self, timeout: float) -> Message | None:
        return self.messages.pop(0) if self.messages else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        out, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return out


def scrape(tasks: list[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(MirrorCollector(lambda: tasks))
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_windowed_stat_min_max_avg_and_rate_over_two_samples() -> None:
    clock = Clock()
    stat = WindowedStat(clock)
    assert stat.window()[0] == 0 and math.isnan(stat.window()[2]) and stat.rate(of_total=False) == 0.0
    for value in (5.0, 1.0, 9.0):
        stat.record(value)
    assert stat.window() == (3, 15.0, 1.0, 9.0) and stat.last == 9.0
    # A rate counts at least one full sample of elapsed time, as Kafka's Rate does.
    assert stat.rate(of_total=False) == pytest.approx(3 / SAMPLE_WINDOW_S)
    assert stat.rate(of_total=True) == pytest.approx(15 / SAMPLE_WINDOW_S)
    clock.now += SAMPLE_WINDOW_S + 1  # a second sample
    stat.record(20.0)
    assert stat.window() == (4, 35.0, 1.0, 20.0)
    assert stat.rate(of_total=False) == pytest.approx(4 / (SAMPLE_WINDOW_S + 1))
    clock.now += SAMPLE_WINDOW_S  # a third: the first sample leaves the window
    stat.record(2.0)
    assert stat.window() == (2, 22.0, 2.0, 20.0) and len(stat.samples) == 2  # older samples are dropped
    clock.now += 3 * SAMPLE_WINDOW_S  # nothing recorded for a whole window
    assert stat.window()[0] == 0 and stat.rate(of_total=True) == 0.0
    assert (stat.recorded, stat.cumulative) == (5, 37.0)  # counts since start stay


def test_source_task_records_age_bytes_count_and_replication_latency() -> None:
    task = MirrorSourceTask()
    task.mirror = MirrorConfig.parse(BASE)
    now_ms = int(time.time() * 1000)
    task.consumer = Consumer([Message(0, now_ms - 4000, b"x" * 10), Message(1, now_ms - 2000, b"y" * 30)])
    records = task.poll() or []
    assert len(records) == 2
    task.commit_record(records[0], Ack(50))
    task.commit_record(records[1], None)  # not sent (dropped): not counted as replicated
    labels = (("destination", "B"), ("partition", "1"), ("topic", "A.orders"))
    metrics = scrape([task, object()])  # tasks of other connectors are ignored
    prefix = "kafka_connect_mirror_source_connector_"
    assert metrics[(prefix + "record_count", labels)] == 1
    assert metrics[(prefix + "byte_count", labels)] == 40
    assert metrics[(prefix + "byte_rate", labels)] == pytest.approx(40 / SAMPLE_WINDOW_S)
    assert metrics[(prefix + "record_rate", labels)] == pytest.approx(1 / SAMPLE_WINDOW_S)
    assert 3990 <= metrics[(prefix + "replication_latency_ms", labels)] < 4000 + 60_000
    assert (
        metrics[(prefix + "replication_latency_ms_max", labels)] == metrics[(prefix + "replication_latency_ms", labels)]
    )
    assert 3990 <= metrics[(prefix + "record_age_ms_max", labels)] < 4000 + 60_000
    assert 1990 <= metrics[(prefix + "record_age_ms_min", labels)] < 2000 + 60_000
    assert metrics[(prefix + "record_age_ms_avg", labels)] == pytest.approx(
        (metrics[(prefix + "record_age_ms_max", labels)] + metrics[(prefix + "record_age_ms_min", labels)]) / 2
    )


def test_checkpoint_task_records_checkpoint_latency_on_ack() -> None:
    task = MirrorCheckpointTask()
    task.mirror = MirrorConfig.parse(BASE)
    checkpoint = Checkpoint("billing", "A.orders", 2, 10, 7, "")
    from odradek.connect.api.data import OPTIONAL_BYTES_SCHEMA
    from odradek.connect.api.records import SourceRecord

    record = SourceRecord(
        topic="A.checkpoints.internal",
        kafka_partition=0,
        key_schema=OPTIONAL_BYTES_SCHEMA,
        key=checkpoint.record_key(),
        value_schema=OPTIONAL_BYTES_SCHEMA,
        value=checkpoint.record_value(),
        timestamp=int(time.time() * 1000) - 250,
        source_partition=checkpoint.connect_partition(),
        source_offset={"offset": 0},
    )
    task.commit_record(record, None)  # not acknowledged: nothing
    assert not [k for k in scrape([task]) if k[0].startswith("kafka_connect_mirror_checkpoint")]
    task.commit_record(record, Ack(3))
    labels = (("group", "billing"), ("partition", "2"), ("source", "A"), ("target", "B"), ("topic", "A.orders"))
    latency = scrape([task])[("kafka_connect_mirror_checkpoint_connector_checkpoint_latency_ms", labels)]
    assert 240 <= latency < 250 + 60_000
