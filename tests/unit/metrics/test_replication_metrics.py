"""Replication metrics under Kafka's names (ReplicaManager gauges and meters, ReplicaFetcherManager MaxLag, the
active controller count), read back from the text exposition as Prometheus parses it."""

from __future__ import annotations

from collections.abc import Iterable

from odradek.broker.metrics.broker import BrokerMetrics, PartitionStats
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: BrokerMetrics) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def part(
    index: int, *, leader: bool = True, replicas: int = 3, isr: int = 3, min_isr: int = 2, offline: bool = False
) -> PartitionStats:
    return PartitionStats(
        "t",
        index,
        leader,
        0,
        0,
        10,
        10,
        replicas=replicas,
        isr=isr,
        min_insync_replicas=min_isr,
        offline=offline,
    )


def gauges(partitions: Iterable[PartitionStats]) -> dict[str, float]:
    metrics = BrokerMetrics()
    stats = list(partitions)
    metrics.watch_partitions(lambda: stats)
    samples = scrape(metrics)
    return {name.removeprefix("kafka_server_replicamanager_"): v for (name, labels), v in samples.items() if not labels}


def test_replica_manager_gauges_count_led_partitions_by_isr_state() -> None:
    values = gauges(
        [
            part(0),  # healthy: ISR = replicas
            part(1, isr=2),  # under-replicated, at min ISR
            part(2, isr=1),  # under-replicated, under min ISR
            part(3, leader=False, isr=1),  # followers never count: the leader reports the partition
            part(4, leader=False, offline=True),
            part(5, replicas=1, isr=1, min_isr=2),  # min ISR capped at RF 1: at min ISR, not under
        ]
    )
    assert values["partitioncount"] == 6
    assert values["leadercount"] == 4
    assert values["underreplicatedpartitions"] == 2
    assert values["underminisrpartitioncount"] == 1
    assert values["atminisrpartitioncount"] == 2
    assert values["offlinereplicacount"] == 1


def test_partition_stats_defaults_describe_a_single_in_sync_replica() -> None:
    stats = PartitionStats("t", 0, True, 0, 0, 0, 0)
    assert (stats.replicas, stats.isr, stats.min_insync_replicas, stats.offline) == (1, 1, 1, False)
    assert stats.at_min_isr and not stats.under_min_isr


def test_isr_meters_are_counters_exported_as_totals() -> None:
    metrics = BrokerMetrics()
    metrics.isr_shrink()
    metrics.isr_shrink(2)
    metrics.isr_expand()
    metrics.isr_update_failed()
    samples = scrape(metrics)
    assert samples[("kafka_server_replicamanager_isrshrinks_total", ())] == 3
    assert samples[("kafka_server_replicamanager_isrexpands_total", ())] == 1
    assert samples[("kafka_server_replicamanager_failedisrupdates_total", ())] == 1


def test_fetcher_max_lag_is_the_largest_lag_of_the_followed_partitions() -> None:
    metrics = BrokerMetrics()
    key = ("kafka_server_replicafetchermanager_maxlag", (("clientId", "Replica"),))
    assert scrape(metrics)[key] == 0, "nothing followed: no lag"
    metrics.fetcher_lag("a", 0, 5)
    metrics.fetcher_lag("a", 1, 40)
    metrics.fetcher_lag("b", 0, -3)  # a fetch offset ahead of a stale HW is no lag
    assert scrape(metrics)[key] == 40
    metrics.fetcher_lag("a", 1, 2)  # caught up: the latest report replaces the earlier one
    assert scrape(metrics)[key] == 5
    metrics.fetcher_lag_removed("a", 0)
    metrics.fetcher_lag_removed("zz", 9)  # unknown: ignored
    assert scrape(metrics)[key] == 2
    metrics.fetcher_lag_removed("a", 1)
    assert scrape(metrics)[key] == 0, "only the negative report is left"
