"""kafka_exporter's topic and consumer-group series, read back from the text exposition as Prometheus parses it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from odradek.broker.metrics.broker import BrokerMetrics, PartitionStats
from odradek.broker.metrics.consumer_lag import GroupOffsets, partition_lag
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def stats(
    topic: str, partition: int, hw: int, start: int = 0, leader: bool = True, leo: int | None = None
) -> PartitionStats:
    return PartitionStats(topic, partition, leader, 100, start, hw if leo is None else leo, hw)


def scrape(metrics: BrokerMetrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def only(samples: Samples, name: str) -> dict[Labels, float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def gtp(group: str, topic: str, partition: int) -> Labels:
    return (("consumergroup", group), ("partition", str(partition)), ("topic", topic))


def gt(group: str, topic: str) -> Labels:
    return (("consumergroup", group), ("topic", topic))


def tp(topic: str, partition: int) -> Labels:
    return (("partition", str(partition)), ("topic", topic))


PARTITIONS = [
    stats("orders", 0, hw=100, start=10, leo=105),  # LEO beyond the HW: the HW is what consumers can reach
    stats("orders", 1, hw=50),
    stats("orders", 2, hw=7),
    stats("__consumer_offsets", 0, hw=3),
    stats("payments", 0, hw=20, start=5),
]


@pytest.fixture
def metrics() -> BrokerMetrics:
    m = BrokerMetrics()
    m.watch_partitions(lambda: list(PARTITIONS))
    return m


def test_topic_series(metrics: BrokerMetrics) -> None:
    samples = scrape(metrics)
    assert only(samples, "kafka_topic_partitions") == {
        (("topic", "orders"),): 3,
        (("topic", "__consumer_offsets"),): 1,  # internal topics stay: kafka_exporter shows them too
        (("topic", "payments"),): 1,
    }
    assert only(samples, "kafka_topic_partition_current_offset") == {
        tp("orders", 0): 100,
        tp("orders", 1): 50,
        tp("orders", 2): 7,
        tp("__consumer_offsets", 0): 3,
        tp("payments", 0): 20,
    }
    oldest = only(samples, "kafka_topic_partition_oldest_offset")
    assert oldest[tp("orders", 0)] == 10
    assert oldest[tp("payments", 0)] == 5
    assert oldest[tp("orders", 1)] == 0


def test_topic_series_report_only_partitions_led_here() -> None:
    m = BrokerMetrics()
    m.watch_partitions(lambda: [stats("t", 0, hw=4), stats("t", 1, hw=9, leader=False)])
    samples = scrape(m)
    assert only(samples, "kafka_topic_partitions") == {(("topic", "t"),): 1}
    assert only(samples, "kafka_topic_partition_current_offset") == {tp("t", 0): 4}
    assert only(samples, "kafka_topic_partition_oldest_offset") == {tp("t", 0): 0}


def test_no_group_source_means_no_group_series(metrics: BrokerMetrics) -> None:
    assert not [name for name, _ in scrape(metrics) if name.startswith("kafka_consumergroup")]


def test_committed_offsets_and_lag(metrics: BrokerMetrics) -> None:
    group = GroupOffsets("billing", 2, {("orders", 0): 60, ("orders", 1): 50, ("payments", 0): 5})
    metrics.watch_groups(lambda: [group])
    samples = scrape(metrics)
    assert only(samples, "kafka_consumergroup_members") == {(("consumergroup", "billing"),): 2}
    assert only(samples, "kafka_consumergroup_current_offset") == {
        gtp("billing", "orders", 0): 60,
        gtp("billing", "orders", 1): 50,
        gtp("billing", "payments", 0): 5,
    }
    assert only(samples, "kafka_consumergroup_current_offset_sum") == {
        gt("billing", "orders"): 110,
        gt("billing", "payments"): 5,
    }
    # Only committed partitions appear: orders-2 has no entry in the group's offsets, so no series at all.
    assert only(samples, "kafka_consumergroup_lag") == {
        gtp("billing", "orders", 0): 40,  # HW 100, not LEO 105
        gtp("billing", "orders", 1): 0,
        gtp("billing", "payments", 0): 15,
    }
    assert only(samples, "kafka_consumergroup_lag_sum") == {gt("billing", "orders"): 40, gt("billing", "payments"): 15}


def test_uncommitted_partition_reports_lag_minus_one(metrics: BrokerMetrics) -> None:
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, {("orders", 0): 90, ("orders", 2): -1})])
    samples = scrape(metrics)
    assert only(samples, "kafka_consumergroup_lag") == {gtp("g", "orders", 0): 10, gtp("g", "orders", 2): -1}
    assert only(samples, "kafka_consumergroup_current_offset")[gtp("g", "orders", 2)] == -1
    # The -1 counts in neither sum.
    assert only(samples, "kafka_consumergroup_lag_sum") == {gt("g", "orders"): 10}
    assert only(samples, "kafka_consumergroup_current_offset_sum") == {gt("g", "orders"): 90}


def test_topic_without_any_commit_is_left_out(metrics: BrokerMetrics) -> None:
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, {("orders", 0): -1, ("orders", 1): -1, ("payments", 0): 3})])
    samples = scrape(metrics)
    assert set(only(samples, "kafka_consumergroup_lag")) == {gtp("g", "payments", 0)}
    assert set(only(samples, "kafka_consumergroup_current_offset_sum")) == {gt("g", "payments")}


def test_negative_lag_is_clamped_to_zero(metrics: BrokerMetrics) -> None:
    # A commit beyond the local high watermark (a follower's HW trailing, or a truncated log).
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, {("orders", 2): 9})])
    samples = scrape(metrics)
    assert only(samples, "kafka_consumergroup_lag") == {gtp("g", "orders", 2): 0}
    assert only(samples, "kafka_consumergroup_lag_sum") == {gt("g", "orders"): 0}
    assert only(samples, "kafka_consumergroup_current_offset") == {gtp("g", "orders", 2): 9}


def test_lag_needs_the_partition(metrics: BrokerMetrics) -> None:
    # "gone" was deleted after the commit; orders-7 never existed. The commits are reported, the lag is not.
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, {("gone", 0): 4, ("orders", 0): 100, ("orders", 7): 3})])
    samples = scrape(metrics)
    assert only(samples, "kafka_consumergroup_current_offset") == {
        gtp("g", "gone", 0): 4,
        gtp("g", "orders", 0): 100,
        gtp("g", "orders", 7): 3,
    }
    assert only(samples, "kafka_consumergroup_lag") == {gtp("g", "orders", 0): 0}
    assert only(samples, "kafka_consumergroup_lag_sum") == {gt("g", "orders"): 0}
    assert only(samples, "kafka_consumergroup_current_offset_sum") == {gt("g", "gone"): 4, gt("g", "orders"): 103}


def test_lag_uses_a_follower_replica_high_watermark() -> None:
    m = BrokerMetrics()
    m.watch_partitions(lambda: [stats("t", 0, hw=30, leader=False)])
    m.watch_groups(lambda: [GroupOffsets("g", 0, {("t", 0): 10})])
    samples = scrape(m)
    assert only(samples, "kafka_consumergroup_lag") == {gtp("g", "t", 0): 20}
    assert "kafka_topic_partition_current_offset" not in {name for name, _ in samples}


def test_members_and_empty_groups(metrics: BrokerMetrics) -> None:
    metrics.watch_groups(
        lambda: [
            GroupOffsets("joining", 3, {}),  # members, nothing committed yet: members only
            GroupOffsets("dead", 0, {}),  # neither: skipped
            GroupOffsets("idle", 0, {("orders", 1): 45}),  # no members, commits kept: lag still matters
        ]
    )
    samples = scrape(metrics)
    assert only(samples, "kafka_consumergroup_members") == {
        (("consumergroup", "joining"),): 3,
        (("consumergroup", "idle"),): 0,
    }
    assert only(samples, "kafka_consumergroup_lag") == {gtp("idle", "orders", 1): 5}
    assert not [labels for _, labels in samples if ("consumergroup", "dead") in labels]


def test_internal_topic_commits_are_kept(metrics: BrokerMetrics) -> None:
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, {("__consumer_offsets", 0): 1})])
    assert only(scrape(metrics), "kafka_consumergroup_lag") == {gtp("g", "__consumer_offsets", 0): 2}


def test_source_is_read_at_every_scrape(metrics: BrokerMetrics) -> None:
    committed = {("orders", 0): 0}
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, dict(committed))])
    assert only(scrape(metrics), "kafka_consumergroup_lag")[gtp("g", "orders", 0)] == 100
    committed[("orders", 0)] = 75
    assert only(scrape(metrics), "kafka_consumergroup_lag")[gtp("g", "orders", 0)] == 25


def test_groups_may_be_watched_before_partitions() -> None:
    m = BrokerMetrics()
    m.watch_groups(lambda: [GroupOffsets("g", 1, {("t", 0): 1})])
    assert only(scrape(m), "kafka_consumergroup_lag") == {}
    m.watch_partitions(lambda: [stats("t", 0, hw=6)])
    assert only(scrape(m), "kafka_consumergroup_lag") == {gtp("g", "t", 0): 5}


def test_duplicate_group_is_reported_once(metrics: BrokerMetrics) -> None:
    metrics.watch_groups(lambda: [GroupOffsets("g", 1, {("orders", 0): 1}), GroupOffsets("g", 2, {})])
    samples = scrape(metrics)  # scrape() fails on a duplicate series
    assert only(samples, "kafka_consumergroup_members") == {(("consumergroup", "g"),): 1}


def test_failing_group_source_keeps_the_rest(metrics: BrokerMetrics, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Iterator[GroupOffsets]:
        raise RuntimeError("dictionary changed size during iteration")
        yield  # pragma: no cover

    metrics.watch_groups(broken)
    samples = scrape(metrics)
    assert only(samples, "kafka_topic_partitions")
    assert not [name for name, _ in samples if name.startswith("kafka_consumergroup")]
    assert "consumer-group metrics source failed" in caplog.text


def test_watching_groups_twice_is_refused(metrics: BrokerMetrics) -> None:
    source: list[GroupOffsets] = []

    def groups() -> Iterable[GroupOffsets]:
        return source

    metrics.watch_groups(groups)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        metrics.watch_groups(groups)


@pytest.mark.parametrize(
    ("committed", "hw", "lag"),
    [(0, 0, 0), (3, 10, 7), (10, 10, 0), (12, 10, 0), (-1, 10, -1), (-1, None, None), (5, None, None)],
)
def test_partition_lag(committed: int, hw: int | None, lag: int | None) -> None:
    assert partition_lag(committed, hw) == lag


def test_transaction_coordinator_series_carry_kafkas_names() -> None:
    from odradek.broker.metrics.transactions import TransactionCoordinatorStats

    metrics = BrokerMetrics()
    metrics.watch_transactions(lambda: TransactionCoordinatorStats((4.0, 8.0), 2, 1, {"Ongoing": 3}))
    samples = scrape(metrics)
    assert samples[("kafka_server_transaction_coordinator_metrics_partition_load_time_max", ())] == 8.0
    assert samples[("kafka_server_transaction_coordinator_metrics_partition_load_time_avg", ())] == 6.0
    channel = "kafka_coordinator_transaction_transactionmarkerchannelmanager"
    assert samples[(f"{channel}_unknowndestinationqueuesize", ())] == 2
    assert samples[(f"{channel}_logappendretryqueuesize", ())] == 1
    assert samples[("odradek_transaction_coordinator_transactional_ids", (("state", "Ongoing"),))] == 3
