"""Debian's Prometheus scraping one broker's /metrics, asserted through PromQL (what dashboards and alerts see)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from it_support import BrokerProcess, ck_create_topic, ck_produce
from prometheus_support import PrometheusProcess, prometheus_available, sample_value, values_by

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not prometheus_available(), reason="prometheus not installed (Debian package prometheus)"),
]

PER_PARTITION = {0: 11, 1: 7, 2: 5}
N = sum(PER_PARTITION.values())


def test_produced_records_through_promql(
    broker_factory: Callable[..., BrokerProcess], prometheus_factory: Callable[..., PrometheusProcess], topic: str
) -> None:
    broker = broker_factory(metrics=True)
    target = f"127.0.0.1:{broker.metrics_port}"
    prometheus = prometheus_factory([target])
    prometheus.wait_until_up()

    ck_create_topic(broker.bootstrap, topic, partitions=len(PER_PARTITION))
    for partition, count in PER_PARTITION.items():
        ck_produce(broker.bootstrap, topic, [f"{partition}-{i}".encode() for i in range(count)], partition=partition)

    sel = f'topic="{topic}"'
    assert prometheus.wait_for_value(f"kafka_server_brokertopicmetrics_messagesin_total{{{sel}}}", N) == N
    assert prometheus.wait_for_value(f"sum(kafka_topic_partition_current_offset{{{sel}}})", N) == N

    # The series as Prometheus stored them: labels from the broker plus job and instance from the scrape.
    current = prometheus.query(f"kafka_topic_partition_current_offset{{{sel}}}")
    assert values_by(current, "partition") == {(str(p),): float(c) for p, c in PER_PARTITION.items()}
    assert {(item["metric"]["job"], item["metric"]["instance"]) for item in current} == {("odradek", target)}
    assert values_by(prometheus.query(f"kafka_topic_partitions{{{sel}}}"), "topic") == {(topic,): len(PER_PARTITION)}
    oldest = prometheus.query(f"kafka_topic_partition_oldest_offset{{{sel}}}")
    assert values_by(oldest, "partition") == {(str(p),): 0.0 for p in PER_PARTITION}
    # The broker-wide row (topic="") is the one without a topic label to PromQL; it counts this topic's records too.
    [total] = prometheus.wait_for(
        'kafka_server_brokertopicmetrics_messagesin_total{topic=""}', lambda r: len(r) == 1 and sample_value(r[0]) >= N
    )
    assert "topic" not in total["metric"]
