"""Kafka's ReplicationQuotaManager on a MockTime: the SimpleRate (measured over at least one window, not ten), the
upper bound, the throttled replica lists (`*`, `partition:broker` entries for this broker) and the two sides."""

from __future__ import annotations

import math

import pytest
from odradek.broker.quota.rate import MetricConfig, SimpleRate
from odradek.broker.quota.replication_quota_manager import (
    ALL_REPLICAS,
    UNBOUNDED_RATE,
    ReplicationQuotaManager,
    ReplicationQuotaManagers,
    parse_throttled_partitions,
)
from odradek.broker.utils.time import MockTime


def test_a_simple_rate_counts_a_first_burst_over_one_window() -> None:
    rate = SimpleRate(MetricConfig(11, 1000))
    rate.record(500, 0)
    assert rate.window_size_ms(0) == 1000  # Rate would say 10 000 (ten full windows)
    assert rate.measure(0) == pytest.approx(500.0)
    assert rate.measure(400) == pytest.approx(500.0)  # still one window
    assert rate.measure(4000) == pytest.approx(125.0)  # then the elapsed time: 500 B over 4 s


def test_a_simple_rate_forgets_samples_after_all_windows() -> None:
    rate = SimpleRate(MetricConfig(11, 1000))
    rate.record(1000, 0)
    rate.record(1000, 5000)
    assert rate.measure(5000) == pytest.approx(2000 / 5.0)
    # at 11 000 ms the sample of t=0 is 11 s old (obsolete): 1000 B from 5000 over 6 s
    assert rate.measure(11_000) == pytest.approx(1000 / 6.0)
    assert rate.measure(16_000) == 0.0


def test_the_quota_is_exceeded_only_above_its_bound() -> None:
    time = MockTime()
    quota = ReplicationQuotaManager("LeaderReplication", time, MetricConfig(11, 1000))
    quota.record(10_000)
    assert not quota.is_quota_exceeded()  # unbounded by default (Kafka's Long.MaxValue)
    assert quota.upper_bound == math.inf
    quota.update_quota(10_000)
    assert not quota.is_quota_exceeded()  # 10 000 B/s is acceptable (value <= bound)
    quota.record(1)
    assert quota.is_quota_exceeded()
    time.advance(1500)
    assert not quota.is_quota_exceeded()  # 10 001 B over 1.5 s
    quota.update_quota(UNBOUNDED_RATE)
    assert quota.upper_bound == math.inf


def test_throttled_lists_name_this_brokers_partitions() -> None:
    assert parse_throttled_partitions("*", 1) is ALL_REPLICAS
    assert parse_throttled_partitions("0:1,1:2,2:1", 1) == frozenset({0, 2})
    assert parse_throttled_partitions(" 0:2 , 3:2", 2) == frozenset({0, 3})
    assert parse_throttled_partitions("0:2", 1) == frozenset()


def test_both_sides_follow_the_topic_configs() -> None:
    quotas = ReplicationQuotaManagers(2, MockTime())
    quotas.update_topic(
        "t", {"leader.replication.throttled.replicas": "0:1", "follower.replication.throttled.replicas": "0:2,1:2"}
    )
    assert not quotas.leader.is_throttled("t", 0)  # broker 1's leader replica, not this broker's
    assert quotas.follower.is_throttled("t", 0) and quotas.follower.is_throttled("t", 1)
    assert not quotas.follower.is_throttled("t", 2) and not quotas.follower.is_throttled("u", 0)
    quotas.update_topic("u", {"leader.replication.throttled.replicas": "*"})
    assert quotas.leader.is_throttled("u", 7)
    quotas.update_topic("t", {"follower.replication.throttled.replicas": ""})  # cleared (reassign --verify)
    assert not quotas.follower.is_throttled("t", 0)
    quotas.retain_topics(["t"])
    assert not quotas.leader.is_throttled("u", 7)
    quotas.update_rates(1000, None)
    assert quotas.leader.upper_bound == 1000 and quotas.follower.upper_bound == math.inf
    quotas.leader.record(2000)
    assert dict(quotas.byte_rates()) == {"LeaderReplication": 2000.0, "FollowerReplication": 0.0}
