"""MirrorMaker 2's metrics under the names Strimzi's JMX exporter rules give them, on a Prometheus endpoint.

Kafka's MirrorSourceMetrics and MirrorCheckpointMetrics (MBeans `kafka.connect.mirror:type=MirrorSourceConnector,
target=B,topic=<remote topic>,partition=p` and `type=MirrorCheckpointConnector,source=A,target=B,group=g,topic=t,
partition=p`), named as Strimzi's `kafka_connect_mirror_source_connector_$attribute` and
`kafka_connect_mirror_checkpoint_connector_$attribute` rules write them (dashes to underscores).

Source connector, prefix `kafka_connect_mirror_source_connector_`, labels `destination` (target alias), `topic`
(the remote topic, `A.orders`), `partition`:

| metric | meaning |
|---|---|
| `record_count` | records the target acknowledged |
| `record_rate` | of those, per second over the window |
| `byte_count`, `byte_rate` | value bytes of the records polled, and per second |
| `record_age_ms` (+ `_min`, `_max`, `_avg`) | poll time - record timestamp |
| `replication_latency_ms` (+ `_min`, `_max`, `_avg`) | target's ack time - record timestamp |

Checkpoint connector, prefix `kafka_connect_mirror_checkpoint_connector_`, labels `source`, `target`, `group`,
`topic` (remote), `partition`: `checkpoint_latency_ms` (+ `_min`, `_max`, `_avg`), the target's ack time of a
checkpoint record - its timestamp.

The value without a suffix is the last one recorded. Windows are Kafka's defaults: two samples of 30 s
(`metrics.sample.window.ms`, `metrics.num.samples`); a rate is the window's total over its elapsed time, counted as
at least one full sample (30 s), as Kafka's Rate does. A partition appears once a record of it was seen.

The tasks record on their hot paths without a lock (a few attribute updates under the GIL); a scrape may see a record
half counted, never a torn value. Served (Connect's `odradek.connect.runtime.metrics.serve`) on mm2.properties'
`metrics.port` (0, the default, turns it off) at `metrics.host`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["MirrorCheckpointMetrics", "MirrorCollector", "MirrorSourceMetrics", "WindowedStat"]

SAMPLE_WINDOW_S = 30.0
SAMPLES = 2
_SOURCE = "kafka_connect_mirror_source_connector_"
_CHECKPOINT = "kafka_connect_mirror_checkpoint_connector_"


@dataclass(slots=True)
class _Sample:
    start: float
    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")


@dataclass(slots=True)
class WindowedStat:
    """Kafka's SampledStat over `SAMPLES` samples of `SAMPLE_WINDOW_S`: count, sum, min, max and the last value."""

    clock: Callable[[], float] = time.monotonic
    samples: list[_Sample] = field(default_factory=list)
    last: float = 0.0
    cumulative: float = 0.0  # sum of every value recorded
    recorded: int = 0  # number of values recorded

    def record(self, value: float) -> None:
        now = self.clock()
        samples = self.samples
        if not samples or now - samples[-1].start >= SAMPLE_WINDOW_S:
            # A new sample; the oldest beyond the window goes (a new list: a scrape may be iterating the old one).
            self.samples = samples = [*samples[-(SAMPLES - 1) :], _Sample(now)]
        current = samples[-1]
        current.count += 1
        current.total += value
        if value < current.low:
            current.low = value
        if value > current.high:
            current.high = value
        self.last = value
        self.cumulative += value
        self.recorded += 1

    def _live(self) -> list[_Sample]:
        now = self.clock()
        return [s for s in self.samples if now - s.start < SAMPLES * SAMPLE_WINDOW_S]

    def window(self) -> tuple[int, float, float, float]:
        """(count, sum, min, max) of the live samples; min and max are NaN when nothing was recorded in them."""
        live = self._live()
        count = sum(s.count for s in live)
        if not count:
            return 0, 0.0, float("nan"), float("nan")
        return count, sum(s.total for s in live), min(s.low for s in live), max(s.high for s in live)

    def rate(self, of_total: bool) -> float:
        """Per second over the live samples: of the values' sum (`of_total`) or of their number."""
        live = self._live()
        if not live:
            return 0.0
        elapsed = max(self.clock() - live[0].start, (SAMPLES - 1) * SAMPLE_WINDOW_S)
        return sum(s.total if of_total else s.count for s in live) / elapsed


@dataclass(slots=True)
class _SourcePartition:
    records: WindowedStat  # one per acknowledged record
    latency: WindowedStat  # replication latency (ms) of the acknowledged records that have a timestamp
    ages: WindowedStat
    value_bytes: WindowedStat


class MirrorSourceMetrics:
    """Per remote topic-partition of one MirrorSourceTask (Kafka's MirrorSourceMetrics)."""

    def __init__(self, target: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.clock = clock
        self.partitions: dict[tuple[str, int], _SourcePartition] = {}

    def _partition(self, topic: str, partition: int) -> _SourcePartition:
        found = self.partitions.get((topic, partition))
        if found is None:
            c = self.clock
            found = _SourcePartition(WindowedStat(c), WindowedStat(c), WindowedStat(c), WindowedStat(c))
            self.partitions = {**self.partitions, (topic, partition): found}  # copied: scrapes iterate it
        return found

    def polled(self, topic: str, partition: int, age_ms: float | None, value_bytes: int) -> None:
        """A record read from the source (`age_ms` None: it has no timestamp)."""
        state = self._partition(topic, partition)
        if age_ms is not None:
            state.ages.record(age_ms)
        state.value_bytes.record(value_bytes)

    def replicated(self, topic: str, partition: int, latency_ms: float | None) -> None:
        """A record the target acknowledged (`latency_ms` None: it has no timestamp)."""
        state = self._partition(topic, partition)
        state.records.record(1)
        if latency_ms is not None:
            state.latency.record(latency_ms)


class MirrorCheckpointMetrics:
    """Checkpoint latency per group and partition of one MirrorCheckpointTask (Kafka's MirrorCheckpointMetrics)."""

    def __init__(self, source: str, target: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.target, self.clock = source, target, clock
        self.latencies: dict[tuple[str, str, int], WindowedStat] = {}

    def checkpointed(self, group: str, topic: str, partition: int, latency_ms: float) -> None:
        stat = self.latencies.get((group, topic, partition))
        if stat is None:
            stat = WindowedStat(self.clock)
            self.latencies = {**self.latencies, (group, topic, partition): stat}
        stat.record(latency_ms)


def _gauges(prefix: str, name: str, labels: list[str]) -> dict[str, GaugeMetricFamily]:
    return {
        suffix: GaugeMetricFamily(f"{prefix}{name}{suffix}", f"{name}{suffix}", labels=labels)
        for suffix in ("", "_min", "_max", "_avg")
    }


def _add_stat(families: dict[str, GaugeMetricFamily], labels: list[str], stat: WindowedStat) -> None:
    count, total, low, high = stat.window()
    families[""].add_metric(labels, stat.last)
    families["_min"].add_metric(labels, low)
    families["_max"].add_metric(labels, high)
    families["_avg"].add_metric(labels, total / count if count else float("nan"))


class MirrorCollector(Collector):
    """Collects, at scrape time, the metrics of the Mirror tasks `tasks()` returns (any other task is ignored)."""

    def __init__(self, tasks: Callable[[], Iterable[Any]]) -> None:
        self._tasks = tasks

    def collect(self) -> Iterator[Metric]:
        source_labels = ["destination", "topic", "partition"]
        count = GaugeMetricFamily(_SOURCE + "record_count", "Records replicated", labels=source_labels)
        rate = GaugeMetricFamily(_SOURCE + "record_rate", "Records replicated per second", labels=source_labels)
        byte_count = GaugeMetricFamily(_SOURCE + "byte_count", "Value bytes replicated", labels=source_labels)
        byte_rate = GaugeMetricFamily(_SOURCE + "byte_rate", "Value bytes per second", labels=source_labels)
        ages = _gauges(_SOURCE, "record_age_ms", source_labels)
        latency = _gauges(_SOURCE, "replication_latency_ms", source_labels)
        checkpoint_labels = ["source", "target", "group", "topic", "partition"]
        checkpoint = _gauges(_CHECKPOINT, "checkpoint_latency_ms", checkpoint_labels)
        for task in self._tasks():
            metrics = getattr(task, "metrics", None)
            if isinstance(metrics, MirrorSourceMetrics):
                for (topic, partition), state in sorted(metrics.partitions.items()):
                    labels = [metrics.target, topic, str(partition)]
                    count.add_metric(labels, state.records.recorded)
                    rate.add_metric(labels, state.records.rate(of_total=False))
                    byte_count.add_metric(labels, state.value_bytes.cumulative)
                    byte_rate.add_metric(labels, state.value_bytes.rate(of_total=True))
                    _add_stat(ages, labels, state.ages)
                    _add_stat(latency, labels, state.latency)
            elif isinstance(metrics, MirrorCheckpointMetrics):
                for (group, topic, partition), stat in sorted(metrics.latencies.items()):
                    _add_stat(checkpoint, [metrics.source, metrics.target, group, topic, str(partition)], stat)
        yield from (count, rate, byte_count, byte_rate, *ages.values(), *latency.values(), *checkpoint.values())
