"""The chart's Grafana dashboard (charts/odradek-operator/dashboards/odradek-kafka.json) against a real broker: every
metric name that a panel's or a variable's PromQL selects is in the broker's /metrics scrape (after traffic: a
topic, records, a consumer group that committed), and every panel expression, with the dashboard's variables set
to "All", returns series when Debian's Prometheus scrapes that broker. A panel querying a metric the broker does
not export fails here, naming the panel.

Metric names are taken from the expressions by tests/dashboard_support.py's `metric_names` (a small PromQL
reader); its own cases are below. The operator's dashboard is checked against the operator's registry in
tests/unit/operator/test_operator_dashboard_metrics.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import dashboard_support
import pytest
from confluent_kafka import Consumer
from dashboard_support import metric_names, panel_queries, variable_queries
from it_support import BrokerProcess, ck_create_topic, ck_produce, scrape_samples
from prometheus_support import PrometheusProcess, prometheus_available

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CONSUMED = 5
GROUP_TIMEOUT_S = 30.0


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (pod) (rate(kafka_a_total{topic="", x=~"a(b)"}[5m]))', {"kafka_a_total"}),
        ("count(a) / on (pod) group_left (x) b offset 5m > bool 0", {"a", "b"}),
        ('max by (request) (c{quantile="0.99"}) or vector(0)', {"c"}),
        ("histogram_quantile(0.99, sum by (le) (rate(d_bucket[1m:10s])))", {"d_bucket"}),
        ("sum without (instance) (e) unless f", {"e", "f"}),
        ("1 + 2.5e3", set()),
    ],
)
def test_metric_names_reads_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def dashboard() -> dict[str, Any]:
    return dashboard_support.dashboard("odradek-kafka.json")


def test_the_dashboard_queries_something_everywhere() -> None:
    board = dashboard()
    dashboard_support.check_structure(board)
    assert {name for name, _ in variable_queries(board)} == {"namespace", "pod", "topic"}


@pytest.fixture
def busy_broker(broker_factory: Callable[..., BrokerProcess], topic: str) -> Iterator[BrokerProcess]:
    """A broker with metrics on and traffic behind it: a topic of two partitions, ten records, and a consumer group
    that read five of them and committed (so the group and lag series exist)."""
    broker = broker_factory(metrics=True)
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    ck_produce(broker.bootstrap, topic, [f"r{i}".encode() for i in range(10)])
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"{topic}-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        read, deadline = 0, time.monotonic() + GROUP_TIMEOUT_S
        while read < CONSUMED and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            read += int(message is not None and message.error() is None)
        assert read >= CONSUMED, f"consumed {read} records in {GROUP_TIMEOUT_S} s"
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    yield broker


def test_every_dashboard_metric_is_in_the_broker_scrape(busy_broker: BrokerProcess) -> None:
    assert busy_broker.metrics_port is not None
    scraped = {name for name, _ in scrape_samples(busy_broker.metrics_port)}
    missing = dashboard_support.missing_metrics(dashboard(), scraped)
    assert missing == [], "metrics the broker does not export:\n" + "\n".join(missing)


@pytest.mark.skipif(not prometheus_available(), reason="prometheus not installed (Debian package prometheus)")
def test_every_panel_returns_series_from_prometheus(
    busy_broker: BrokerProcess, prometheus_factory: Callable[..., PrometheusProcess]
) -> None:
    prometheus = prometheus_factory([f"127.0.0.1:{busy_broker.metrics_port}"])
    prometheus.wait_until_up()
    # rate() needs two samples in its range: wait for the third scrape of the slowest series
    scrapes = "count_over_time(kafka_server_replicamanager_leadercount[1m])"
    prometheus.wait_for(scrapes, lambda r: len(r) == 1 and float(r[0]["value"][1]) >= 3)
    board = dashboard()
    empty = [f"{title}: {expr}" for title, expr in panel_queries(board) if not prometheus.query(expr)]
    assert empty == [], "panels with no series:\n" + "\n".join(empty)
