"""Kafka's ReplicationQuotaManager: the byte rate of replication traffic of throttled replicas, one per side
(`LeaderReplication`: what this broker serves to followers, `FollowerReplication`: what it fetches as follower).

- The rate is a `rate.SimpleRate` over `replication.quota.window.num` samples of
  `replication.quota.window.size.seconds` (defaults 11 and 1), as Kafka's sensor; `update_quota(bound)` sets the
  bound in bytes/s (`leader.replication.throttled.rate` / `follower.replication.throttled.rate`, dynamic broker
  configs; unset: unbounded, Kafka's Long.MaxValue), keeping what was measured.
- `is_quota_exceeded()`: the rate measured now is above the bound (Kafka's Quota.upperBound: value <= bound is
  acceptable).
- Throttled replicas per topic (`mark_throttled`, `remove_throttle`): a set of partition numbers, or every
  partition (`ALL_REPLICAS`). `parse_throttled_partitions` reads a topic's `*.replication.throttled.replicas`
  value for one broker as Kafka's TopicConfigHandler does: `*` every partition, else the partitions of the
  `partition:broker` entries naming this broker, "" none.
- Thread safety: used on the event loop only; `byte_rate()` (the metrics thread) reads a float, no structure.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Final

from odradek.broker.quota.rate import MetricConfig, SimpleRate
from odradek.broker.utils.time import Time

ALL_REPLICAS: Final = None  # mark_throttled's partitions: every partition of the topic (Kafka's AllReplicas, "*")
LEADER_REPLICATION = "LeaderReplication"
FOLLOWER_REPLICATION = "FollowerReplication"
LEADER_THROTTLED_REPLICAS = "leader.replication.throttled.replicas"
FOLLOWER_THROTTLED_REPLICAS = "follower.replication.throttled.replicas"
LEADER_THROTTLED_RATE = "leader.replication.throttled.rate"
FOLLOWER_THROTTLED_RATE = "follower.replication.throttled.rate"
UNBOUNDED_RATE = 2**63 - 1  # Kafka's QuotaBytesPerSecondDefault (Long.MaxValue)


class ReplicationQuotaManager:
    """One side's throttle (implements `replication.replica_quota.ReplicaQuota`)."""

    def __init__(self, group: str, time: Time, config: MetricConfig) -> None:
        self.group = group  # LeaderReplication or FollowerReplication: the metric's group
        self._time = time
        self._rate = SimpleRate(config)
        self._bound = math.inf
        self._throttled: dict[str, frozenset[int] | None] = {}  # topic -> partitions (None: all)

    @property
    def upper_bound(self) -> float:
        return self._bound

    def update_quota(self, bound: float) -> None:
        """The rate in bytes/s (at or above UNBOUNDED_RATE: unbounded)."""
        self._bound = math.inf if bound >= UNBOUNDED_RATE else float(bound)

    def is_quota_exceeded(self) -> bool:
        if self._bound == math.inf:
            return False
        return self._rate.measure(self._time.monotonic_ms()) > self._bound

    def is_throttled(self, topic: str, partition: int) -> bool:
        if topic not in self._throttled:
            return False
        partitions = self._throttled[topic]
        return partitions is ALL_REPLICAS or partition in partitions

    def record(self, value: float) -> None:
        if value:
            self._rate.record(value, self._time.monotonic_ms())

    def byte_rate(self) -> float:
        """The measured rate, bytes/s (Kafka's `kafka.server:type=<group>,name=byte-rate`)."""
        return self._rate.measure(self._time.monotonic_ms())

    def mark_throttled(self, topic: str, partitions: Collection[int] | None) -> None:
        self._throttled[topic] = None if partitions is ALL_REPLICAS else frozenset(partitions)

    def remove_throttle(self, topic: str) -> None:
        self._throttled.pop(topic, None)

    def retain_topics(self, topics: Collection[str]) -> None:
        for topic in [t for t in self._throttled if t not in topics]:
            del self._throttled[topic]

    def update_topic(self, topic: str, configs: Mapping[str, str], key: str, broker_id: int) -> None:
        """Apply topic `key`'s value from the topic's configs (absent or empty: no throttle), as Kafka's
        TopicConfigHandler.updateThrottledList."""
        value = configs.get(key, "").strip()
        if not value:
            self.remove_throttle(topic)
        else:
            self.mark_throttled(topic, parse_throttled_partitions(value, broker_id))


def parse_throttled_partitions(value: str, broker_id: int) -> frozenset[int] | None:
    """`*` -> every partition (None); `0:1,1:2` -> the partitions whose entry names `broker_id`; entries that do
    not parse are skipped (the value was validated when it was written)."""
    text = value.strip()
    if text == "*":
        return ALL_REPLICAS
    partitions = set()
    for entry in text.split(","):
        fields = entry.strip().split(":")
        valid = len(fields) == 2 and fields[0].strip().isdigit() and fields[1].strip().isdigit()
        if valid and int(fields[1]) == broker_id:
            partitions.add(int(fields[0]))
    return frozenset(partitions)


class ReplicationQuotaManagers:
    """The leader and follower throttles of one broker (Kafka's QuotaManagers.leader / .follower)."""

    def __init__(self, broker_id: int, time: Time, samples: int = 11, window_seconds: int = 1) -> None:
        config = MetricConfig(samples, window_seconds * 1000)
        self.broker_id = broker_id
        self.leader = ReplicationQuotaManager(LEADER_REPLICATION, time, config)
        self.follower = ReplicationQuotaManager(FOLLOWER_REPLICATION, time, config)

    def update_rates(self, leader_rate: int | None, follower_rate: int | None) -> None:
        """The dynamic broker rates in force (None: unset, unbounded)."""
        self.leader.update_quota(UNBOUNDED_RATE if leader_rate is None else leader_rate)
        self.follower.update_quota(UNBOUNDED_RATE if follower_rate is None else follower_rate)

    def update_topic(self, topic: str, configs: Mapping[str, str] | None) -> None:
        """A topic's throttled replica lists (None: the topic is gone)."""
        if configs is None:
            self.leader.remove_throttle(topic)
            self.follower.remove_throttle(topic)
            return
        self.leader.update_topic(topic, configs, LEADER_THROTTLED_REPLICAS, self.broker_id)
        self.follower.update_topic(topic, configs, FOLLOWER_THROTTLED_REPLICAS, self.broker_id)

    def retain_topics(self, topics: Collection[str]) -> None:
        """Forget the throttles of topics not in `topics` (the topics that exist)."""
        for manager in (self.leader, self.follower):
            manager.retain_topics(topics)

    def byte_rates(self) -> list[tuple[str, float]]:
        """(group, bytes/s) of both sides, for the metrics."""
        return [(self.leader.group, self.leader.byte_rate()), (self.follower.group, self.follower.byte_rate())]
