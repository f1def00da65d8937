"""Consumer lag and topic offsets under danielqsj/kafka_exporter's names, computed at scrape time.

Users chart and alert on these names already (`kafka_consumergroup_lag > 1000` in Strimzi's rules), so the broker
serves them itself and no exporter has to poll it. All series are gauges.

Topic series, from the partitions this broker leads (so each partition is reported once across a cluster; sum
over the brokers' `instance` label for cluster-wide values, e.g. `sum by (topic) (kafka_topic_partitions)`):
- `kafka_topic_partitions{topic}`: partitions of the topic led here.
- `kafka_topic_partition_current_offset{topic,partition}`: the high watermark (ListOffsets latest).
- `kafka_topic_partition_oldest_offset{topic,partition}`: the log start offset (ListOffsets earliest).

Consumer-group series, from the groups this broker coordinates (`GroupOffsets`), joined with the high watermark
of the local replica of each partition:
- `kafka_consumergroup_members{consumergroup}`.
- `kafka_consumergroup_current_offset{consumergroup,topic,partition}`: the committed offset, -1 for a partition
  without one.
- `kafka_consumergroup_current_offset_sum{consumergroup,topic}`: sum of the committed offsets (those >= 0).
- `kafka_consumergroup_lag{consumergroup,topic,partition}`: high watermark minus committed offset, clamped at 0
  (a follower's high watermark can trail a commit); -1 for a partition without a committed offset.
- `kafka_consumergroup_lag_sum{consumergroup,topic}`: sum of the lags >= 0.

As in kafka_exporter: a group with neither members nor offsets is left out, and so is a topic on which the group
has no committed offset (all its partitions at -1). Where kafka_exporter would not see a partition because it is
not in the metadata (its topic was deleted), or this broker has no replica of it, there is no high watermark and
so no `lag` for that partition (and no `lag_sum` for a topic with no such partition); `current_offset` is still
reported, since the commit still exists.

Both sources are called from the metrics HTTP server's thread, not the event loop: they must return snapshots
(copied containers of immutable values) and must not touch asyncio objects. A group source that raises costs
that scrape its consumer-group series (logged), not the rest of /metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from odradek.broker.metrics.broker import PartitionStats

log = logging.getLogger(__name__)

NO_OFFSET = -1
"""OffsetFetch's committed offset for a partition with none, and kafka_exporter's lag for it."""

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class GroupOffsets:
    """One consumer group as its coordinator sees it: live member count and committed offsets."""

    group: str
    members: int
    offsets: Mapping[tuple[str, int], int]  # (topic, partition) -> committed offset


def _family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _topic_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    tp = ["topic", "partition"]
    return (
        _family("kafka_topic_partitions", "Number of partitions for this topic (led by this broker)", ["topic"]),
        _family("kafka_topic_partition_current_offset", "Current offset (high watermark) of a partition", tp),
        _family("kafka_topic_partition_oldest_offset", "Oldest offset (log start offset) of a partition", tp),
    )


class TopicOffsetsCollector(Collector):
    """`kafka_topic_partitions` and the partitions' current and oldest offsets, for the partitions led here."""

    def __init__(self, partitions: Callable[[], Iterable[PartitionStats]]) -> None:
        self.partitions = partitions

    def describe(self) -> Iterator[Metric]:
        yield from _topic_families()

    def collect(self) -> Iterator[Metric]:
        count, current, oldest = _topic_families()
        per_topic: dict[str, int] = {}
        for s in sorted((s for s in self.partitions() if s.is_leader), key=lambda s: (s.topic, s.partition)):
            per_topic[s.topic] = per_topic.get(s.topic, 0) + 1
            current.add_metric([s.topic, str(s.partition)], s.high_watermark)
            oldest.add_metric([s.topic, str(s.partition)], s.log_start_offset)
        for topic, n in per_topic.items():
            count.add_metric([topic], n)
        yield count
        yield current
        yield oldest


@dataclass(slots=True)
class _GroupFamilies:
    members: GaugeMetricFamily
    current: GaugeMetricFamily
    current_sum: GaugeMetricFamily
    lag: GaugeMetricFamily
    lag_sum: GaugeMetricFamily

    @classmethod
    def empty(cls) -> _GroupFamilies:
        gtp = ["consumergroup", "topic", "partition"]
        gt = ["consumergroup", "topic"]
        prefix = "kafka_consumergroup"
        return cls(
            _family(f"{prefix}_members", "Amount of members in a consumer group", ["consumergroup"]),
            _family(f"{prefix}_current_offset", "Current offset of a consumer group at topic/partition", gtp),
            _family(f"{prefix}_current_offset_sum", "Current offset of a consumer group at topic, all partitions", gt),
            _family(f"{prefix}_lag", "Current approximate lag of a consumer group at topic/partition", gtp),
            _family(f"{prefix}_lag_sum", "Current approximate lag of a consumer group at topic, all partitions", gt),
        )

    def all(self) -> tuple[GaugeMetricFamily, ...]:
        return (self.members, self.current, self.current_sum, self.lag, self.lag_sum)

    def add_group(self, group: GroupOffsets, high_watermarks: Mapping[TopicPartition, int]) -> None:
        self.members.add_metric([group.group], group.members)
        by_topic: dict[str, list[tuple[int, int]]] = {}
        for (topic, partition), offset in sorted(group.offsets.items()):
            by_topic.setdefault(topic, []).append((partition, offset))
        for topic, partitions in by_topic.items():
            if any(offset >= 0 for _, offset in partitions):
                self._add_topic(group.group, topic, partitions, high_watermarks)

    def _add_topic(
        self, group: str, topic: str, partitions: list[tuple[int, int]], high_watermarks: Mapping[TopicPartition, int]
    ) -> None:
        lags: list[int] = []
        for partition, offset in partitions:
            labels = [group, topic, str(partition)]
            self.current.add_metric(labels, offset)
            lag = partition_lag(offset, high_watermarks.get((topic, partition)))
            if lag is not None:
                self.lag.add_metric(labels, lag)
                lags.append(lag)
        self.current_sum.add_metric([group, topic], sum(offset for _, offset in partitions if offset >= 0))
        if lags:
            self.lag_sum.add_metric([group, topic], sum(lag for lag in lags if lag >= 0))


def partition_lag(committed: int, high_watermark: int | None) -> int | None:
    """kafka_exporter's lag: None without a high watermark, -1 without a commit, else HW - committed (>= 0)."""
    if high_watermark is None:
        return None
    if committed < 0:
        return NO_OFFSET
    return max(0, high_watermark - committed)


class ConsumerGroupCollector(Collector):
    """The `kafka_consumergroup_*` series: committed offsets from `groups`, high watermarks from `partitions`."""

    def __init__(
        self, partitions: Callable[[], Iterable[PartitionStats]], groups: Callable[[], Iterable[GroupOffsets]]
    ) -> None:
        self.partitions = partitions
        self.groups = groups

    def describe(self) -> Iterator[Metric]:
        yield from _GroupFamilies.empty().all()

    def collect(self) -> Iterator[Metric]:
        try:
            groups = list(self.groups())
        except Exception:
            log.exception("consumer-group metrics source failed; kafka_consumergroup_* left out of this scrape")
            return
        high_watermarks = {(s.topic, s.partition): s.high_watermark for s in self.partitions()}
        families = _GroupFamilies.empty()
        seen: set[str] = set()
        for group in sorted(groups, key=lambda g: g.group):
            if group.group in seen or (group.members == 0 and not group.offsets):
                continue
            seen.add(group.group)
            families.add_group(group, high_watermarks)
        yield from families.all()
