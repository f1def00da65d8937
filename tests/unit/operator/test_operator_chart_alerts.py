"""The chart's PrometheusRule (prometheusRule.enabled): its spec checked by Debian's `promtool check rules`, and
`promtool test rules` unit tests feeding series through each alert: it fires when it should (after `for`) and not
otherwise. Rendered with the Helm SDK, so a broken template or expression fails here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python")

CHART = Path(__file__).resolve().parents[3] / "charts" / "odradek-operator"
PROMTOOL = shutil.which("promtool")  # Debian's prometheus package (tools/install-test-deps.sh)
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (tools/install-test-deps.sh)")


def rule(values: dict[str, Any]) -> dict[str, Any]:
    rendered = helm.Chart.load(CHART).render(values, name="odradek-operator", namespace="kafka", is_install=True)
    docs = [d for path, text in rendered.items() if not path.endswith(".txt") for d in yaml.safe_load_all(text) if d]
    [found] = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert found["apiVersion"] == "monitoring.coreos.com/v1"
    return found


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


# (series, alert, expected alerts' labels and summary at 6m): each alert fires on its series, not on the others'.
EXPIRY = 'strimzi_certificate_expiration_timestamp_ms{cluster="c",resource_namespace="k",type="cluster-ca",pod="op"}'
CASES: list[tuple[list[dict[str, str]], str, list[dict[str, str]]]] = [
    (
        [{"series": 'kafka_server_replicamanager_underreplicatedpartitions{namespace="k",pod="b0"}', "values": "2x10"}],
        "KafkaUnderReplicatedPartitions",
        [
            {
                "severity": "warning",
                "namespace": "k",
                "pod": "b0",
                "summary": "Broker b0 leads 2 under-replicated partitions",
            }
        ],
    ),
    (
        [{"series": 'kafka_server_replicamanager_underreplicatedpartitions{namespace="k",pod="b0"}', "values": "0x10"}],
        "KafkaUnderReplicatedPartitions",
        [],
    ),
    (
        [{"series": "kafka_controller_kafkacontroller_offlinepartitionscount", "values": "3x10"}],
        "KafkaOfflinePartitions",
        [{"severity": "critical", "summary": "3 partitions have no leader"}],
    ),
    (
        [{"series": "kafka_controller_kafkacontroller_offlinepartitionscount", "values": "0x10"}],
        "KafkaOfflinePartitions",
        [],
    ),
    (
        [
            {"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b0"}', "values": "0x10"},
            {"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b1"}', "values": "0x10"},
        ],
        "KafkaNoActiveController",
        [{"severity": "critical", "summary": "No broker is the active controller"}],
    ),
    ([], "KafkaNoActiveController", [{"severity": "critical", "summary": "No broker is the active controller"}]),
    (
        [
            {"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b0"}', "values": "1x10"},
            {"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b1"}', "values": "0x10"},
        ],
        "KafkaNoActiveController",
        [],
    ),
    (
        [
            {"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b0"}', "values": "1x10"},
            {"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b1"}', "values": "1x10"},
        ],
        "KafkaMoreThanOneActiveController",
        [{"severity": "critical", "summary": "2 brokers claim to be the active controller"}],
    ),
    (
        [{"series": 'kafka_controller_kafkacontroller_activecontrollercount{pod="b0"}', "values": "1x10"}],
        "KafkaMoreThanOneActiveController",
        [],
    ),
    (
        [{"series": 'kafka_consumergroup_lag_sum{consumergroup="g",topic="t",pod="b0"}', "values": "1001x10"}],
        "KafkaConsumerGroupLag",
        [{"severity": "warning", "consumergroup": "g", "topic": "t", "summary": "Group g lags 1001 records on t"}],
    ),
    (
        [{"series": 'kafka_consumergroup_lag_sum{consumergroup="g",topic="t",pod="b0"}', "values": "1000x10"}],
        "KafkaConsumerGroupLag",
        [],
    ),
    (
        [{"series": 'up{job="kafka-brokers",instance="b0:9404"}', "values": "0x10"}],
        "KafkaBrokerDown",
        [
            {
                "severity": "critical",
                "job": "kafka-brokers",
                "instance": "b0:9404",
                "summary": "Broker b0:9404 is not scraped",
            }
        ],
    ),
    ([{"series": 'up{job="kafka-brokers",instance="b0:9404"}', "values": "1x10"}], "KafkaBrokerDown", []),
    ([{"series": 'up{job="other",instance="x:1"}', "values": "0x10"}], "KafkaBrokerDown", []),
    # expiry at 29 days after the start (2505600000 ms): inside the 30 days; at 31 days (2678400000 ms): not
    (
        [{"series": EXPIRY, "values": "2505600000x10"}],
        "KafkaCertificateExpiry",
        [
            {
                "severity": "warning",
                "cluster": "c",
                "resource_namespace": "k",
                "type": "cluster-ca",
                "summary": "The cluster-ca of k/c expires in 29 days",
            }
        ],
    ),
    ([{"series": EXPIRY, "values": "2678400000x10"}], "KafkaCertificateExpiry", []),
]


def expected(labels: dict[str, str]) -> dict[str, Any]:
    """promtool's exp_alerts entry: the labels, and the summary annotation (given among them here)."""
    rest = dict(labels)
    return {"exp_labels": rest, "exp_annotations": {"summary": rest.pop("summary")}}


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    spec = rule({"prometheusRule": {"enabled": True, "for": "5m", "consumerLagThreshold": 1000}})["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": name, "exp_alerts": []},  # pending, not firing, before `for`
                {"eval_time": "6m", "alertname": name, "exp_alerts": [expected(labels) for labels in want]},
            ],
        }
        for series, name, want in CASES
    ]
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "tests": tests}))
    tested = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rule_is_off_by_default_and_takes_labels() -> None:
    rendered = helm.Chart.load(CHART).render({}, name="odradek-operator", namespace="kafka", is_install=True)
    assert "PrometheusRule" not in "".join(rendered.values())
    labels = rule({"prometheusRule": {"enabled": True, "labels": {"release": "prom"}}})["metadata"]["labels"]
    assert labels["release"] == "prom"
