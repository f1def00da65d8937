"""The chart's operator dashboard (charts/odradek-operator/dashboards/odradek-operator.json) against the operator's
own metrics: reconciles run through `telemetry.reconciliation` as the handlers run them (one Ready, one NotReady,
one paused, one raising) and a TLS cluster's CA expiry published as its reconcile does, then the registry the
operator's /metrics endpoint serves is rendered in Prometheus' text format; every metric any panel or variable
queries must be in it. Every expression of both dashboards (the brokers' is checked against a real broker in
tests/integration/test_grafana_dashboard_metrics.py) must also parse for `promtool check rules`."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dashboard_support
import pytest
import yaml
from odradek.operator import telemetry
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

NAMESPACE = "dashboard-check"
PROMTOOL = shutil.which("promtool")


@pytest.fixture
def reconciled() -> Iterator[set[str]]:
    """The sample names the operator's registry serves after a few reconciles of this test's namespace."""
    statuses = {
        "ready": {"conditions": [{"type": "Ready", "status": "True"}]},
        "failed": {"conditions": [{"type": "Ready", "status": "False", "reason": "KafkaError"}]},
        "paused": {"conditions": [{"type": "ReconciliationPaused", "status": "True"}]},
    }
    for name, status in statuses.items():
        with telemetry.reconciliation("KafkaTopic", NAMESPACE, name) as done:
            done.status = status
    with pytest.raises(RuntimeError), telemetry.reconciliation("KafkaCluster", NAMESPACE, "c1"):
        raise RuntimeError("a handler's exception")
    telemetry.certificate_expiration(NAMESPACE, "c1", "cluster-ca", datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    text = generate_latest(telemetry.REGISTRY).decode()
    try:
        yield {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    finally:
        for name in statuses:
            telemetry.forget("KafkaTopic", NAMESPACE, name)
        telemetry.forget("KafkaCluster", NAMESPACE, "c1")


def test_every_operator_dashboard_metric_is_served_by_the_operator(reconciled: set[str]) -> None:
    board = dashboard_support.dashboard("odradek-operator.json")
    dashboard_support.check_structure(board)
    assert {name for name, _ in dashboard_support.variable_queries(board)} == {"namespace", "kind"}
    assert dashboard_support.missing_metrics(board, reconciled) == []


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (tools/install-test-deps.sh)")
@pytest.mark.parametrize("name", ["odradek-kafka.json", "odradek-operator.json"])
def test_every_dashboard_expression_parses(name: str, tmp_path: Path) -> None:
    board = dashboard_support.dashboard(name)
    queries = dashboard_support.panel_queries(board) + dashboard_support.variable_queries(board)
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
