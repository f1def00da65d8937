"""Consumer-group lag as users chart it: Debian's Prometheus scrapes the broker and PromQL returns the lag
(kafka_exporter's kafka_consumergroup_* names) of a group that committed part of what was produced."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition
from it_support import BrokerProcess, ck_create_topic, ck_produce
from prometheus_support import PrometheusProcess, prometheus_available, values_by

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not prometheus_available(), reason="prometheus not installed (Debian package prometheus)"),
]

PRODUCED = {0: 10, 1: 6}
COMMITTED = {0: 4, 1: 1}
GROUP = "lag-group"


def test_consumer_group_lag_through_promql(
    broker_factory: Callable[..., BrokerProcess], prometheus_factory: Callable[..., PrometheusProcess], topic: str
) -> None:
    broker = broker_factory({"group.initial.rebalance.delay.ms": "0"}, metrics=True)
    prometheus = prometheus_factory([f"127.0.0.1:{broker.metrics_port}"])
    ck_create_topic(broker.bootstrap, topic, partitions=len(PRODUCED))
    for partition, count in PRODUCED.items():
        ck_produce(broker.bootstrap, topic, [b"x"] * count, partition=partition)

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    assigned: list[int] = []
    consumer.subscribe([topic], on_assign=lambda _c, parts: assigned.extend(p.partition for p in parts))
    try:
        deadline = time.monotonic() + 30
        while sorted(assigned) != sorted(PRODUCED) and time.monotonic() < deadline:
            consumer.poll(0.2)
        assert sorted(assigned) == sorted(PRODUCED)
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in COMMITTED.items()], asynchronous=False)
        prometheus.wait_until_up()
        sel = f'consumergroup="{GROUP}",topic="{topic}"'
        expected_lag = {p: PRODUCED[p] - COMMITTED[p] for p in PRODUCED}
        assert prometheus.wait_for_value(f"kafka_consumergroup_lag_sum{{{sel}}}", sum(expected_lag.values())) == 11
        lag = prometheus.query(f"kafka_consumergroup_lag{{{sel}}}")
        assert values_by(lag, "partition") == {(str(p),): float(v) for p, v in expected_lag.items()}
        current = prometheus.query(f"kafka_consumergroup_current_offset{{{sel}}}")
        assert values_by(current, "partition") == {(str(p),): float(v) for p, v in COMMITTED.items()}
        members = prometheus.query(f'kafka_consumergroup_members{{consumergroup="{GROUP}"}}')
        assert values_by(members, "consumergroup") == {(GROUP,): 1.0}
        # The query dashboards use: total lag per group and topic.
        summed = prometheus.query(f"sum by (consumergroup, topic) (kafka_consumergroup_lag{{{sel}}})")
        assert values_by(summed, "consumergroup", "topic") == {(GROUP, topic): 11.0}
    finally:
        consumer.close()
