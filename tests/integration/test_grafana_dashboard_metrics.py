"""The chart's Grafana dashboard (charts/odradek-operator/dashboards/odradek-kafka.json) against a real broker: every
metric name that a panel's or a variable's PromQL selects is in the broker's /metrics scrape (after traffic: a
topic, records, a consumer group that committed), and every panel expression, with the dashboard's variables set
to "All", returns series when Debian's Prometheus scrapes that broker. A panel querying a metric the broker does
not export fails here, naming the panel.

Metric names are taken from the expressions by `metric_names` (a small PromQL reader: string literals, label
matchers, ranges and grouping clauses removed, then every identifier that is not a function, an aggregation or a
keyword); its own cases are below."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from it_support import BrokerProcess, ck_create_topic, ck_produce, scrape_samples
from prometheus_support import PrometheusProcess, prometheus_available

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DASHBOARD = Path(__file__).resolve().parents[2] / "charts" / "odradek-operator" / "dashboards" / "odradek-kafka.json"
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Grafana's variables as "All" would send them (allValue ".*") and its interval macros as a fixed range
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
ALL = ".*"
CONSUMED = 5
GROUP_TIMEOUT_S = 30.0


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = GROUPING.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name, rest = match.group(), text[match.end() :]
        if name in KEYWORDS or re.match(r"\s*\(", rest):
            continue  # a keyword, or a function or aggregation being called
        names.add(name)
    return names


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
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression with the variables set to All) of every target of every panel."""
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            found.append((str(panel["title"]), substitute(str(target["expr"]), board)))
    return found


def variable_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(variable name, the metric selector of its `label_values(selector, label)` query)."""
    found = []
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        assert match, f"variable {variable['name']}: not a label_values query: {query}"
        found.append((str(variable["name"]), substitute(match.group(1), board)))
    return found


def substitute(expr: str, board: dict[str, Any]) -> str:
    for macro, value in VARIABLES.items():
        expr = expr.replace(macro, value)
    for variable in board["templating"]["list"]:
        expr = expr.replace("${" + variable["name"] + "}", ALL).replace("$" + variable["name"], ALL)
    assert "$" not in expr, f"an unknown variable in {expr}"
    return expr


def test_the_dashboard_queries_something_everywhere() -> None:
    board = dashboard()
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert all(p.get("targets") for p in panels), "a panel without a query"
    assert all(metric_names(expr) for _, expr in panel_queries(board)), "an expression selecting no metric"
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
    board = dashboard()
    missing = [
        f"{where}: {name}"
        for where, expr in panel_queries(board) + variable_queries(board)
        for name in sorted(metric_names(expr))
        if name not in scraped
    ]
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
