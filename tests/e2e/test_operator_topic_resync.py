"""A KafkaCluster's periodic topic resync (main.topics_resync) as it runs: the operator as its own process (`kopf
run -m odradek.operator.main`, ODRADEK_RESYNC_SECONDS=3) against the fake API server and one real broker with
metrics on.

N KafkaTopics applied with kubectl become Ready; then every one of them is changed behind the operator's back
(retention.ms altered with confluent-kafka, one topic deleted). The next resyncs put each back (the configs are the
spec's again, the deleted topic exists again with its new topic id in its status), and the broker counted ONE
DescribeConfigs request per resync for all N topics (kafka_network_requestmetrics_requests_total), where a timer
per KafkaTopic cost N.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from fake_apiserver.fixture import KubeApi, eventually
from test_operator_kopf import CLUSTER, apply_crds, describe, free_port, start_broker, stop_broker

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
TOPICS = 8
RESYNC_S = 3
SPEC_RETENTION = "3600000"
READY_TIMEOUT_S = 90.0


def kafka_topic(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"odradek.io/cluster": "c1"}},
        "spec": {"partitions": 1, "replicas": 1, "config": {"retention.ms": int(SPEC_RETENTION)}},
    }


class MetricsBroker:
    def __init__(self, bootstrap: str, metrics_port: int) -> None:
        self.bootstrap = bootstrap
        self.metrics_port = metrics_port

    def requests(self, api: str) -> float:
        """Requests of `api` the broker has served (every version)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        pattern = rf'^kafka_network_requestmetrics_requests_total\{{request="{api}",version="\d+"\}} (\S+)$'
        return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


@pytest.fixture
def metrics_broker(tmp_path: Path) -> Iterator[MetricsBroker]:
    port, metrics_port = free_port(), free_port()
    overrides = {"listeners": f"PLAINTEXT://127.0.0.1:{port}", "metrics.port": str(metrics_port)}
    proc = start_broker(tmp_path, port, overrides)
    try:
        yield MetricsBroker(f"127.0.0.1:{port}", metrics_port)
    finally:
        stop_broker(proc)


class OperatorProcess:
    """The operator as users run it, its output in `log`; stopped with SIGTERM (SIGKILL after 30 s), reaped."""

    def __init__(self, tmp_path: Path, kube_api: KubeApi, bootstrap: str) -> None:
        self.log = tmp_path / "operator.log"
        roots = [str(REPO / part) for part in ("operator", "broker", "connect", "mirror")]
        env = {**os.environ, "KUBECONFIG": str(kube_api.kubeconfig), "ODRADEK_OPERATOR_BOOTSTRAP": bootstrap}
        env["PYTHONPATH"] = os.pathsep.join([*roots, os.environ.get("PYTHONPATH", "")])
        env["ODRADEK_RESYNC_SECONDS"] = str(RESYNC_S)
        command = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace=default"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*command, "-m", "odradek.operator.main"], stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def resyncs(self) -> int:
        """Runs of the cluster's topic resync timer so far (kopf logs each success)."""
        return len(re.findall(r"Timer 'topics_resync' succeeded", self.log.read_text(errors="replace")))

    def alive(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
        return True

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def operator_process(kube_api: KubeApi, metrics_broker: MetricsBroker, tmp_path: Path) -> Iterator[OperatorProcess]:
    apply_crds(kube_api)
    operator = OperatorProcess(tmp_path, kube_api, metrics_broker.bootstrap)
    try:
        yield operator
    finally:
        operator.stop()


def topic_status(kube_api: KubeApi, name: str) -> dict[str, Any]:
    status: dict[str, Any] = (kube_api.get("kafkatopics", "default", name) or {}).get("status") or {}
    return status


def is_ready(kube_api: KubeApi, name: str) -> bool:
    conditions = topic_status(kube_api, name).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def retention(admin: AdminClient, names: list[str]) -> dict[str, str]:
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=10)
    return {r.name: str(futures[r].result(timeout=10)["retention.ms"].value) for r in resources}


def change_behind_the_operators_back(admin: AdminClient, names: list[str]) -> None:
    entries = [ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)]
    resources = [ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries) for name in names]
    for future in admin.incremental_alter_configs(resources, request_timeout=10).values():
        future.result(timeout=10)


def counted_together(operator: OperatorProcess, broker: MetricsBroker) -> tuple[int, float]:
    """(resyncs, DescribeConfigs requests), read with no resync in between (read again if one ended meanwhile)."""
    for _ in range(20):
        before = operator.resyncs()
        served = broker.requests("DescribeConfigs")
        if operator.resyncs() == before:
            return before, served
    raise AssertionError("resyncs kept ending while the broker's counters were read")


def test_resync_of_a_clusters_topics_is_one_describe_and_reverts_every_drift(
    kube_api: KubeApi, metrics_broker: MetricsBroker, operator_process: OperatorProcess
) -> None:
    names = [f"resync-{i}" for i in range(TOPICS)]
    assert kube_api.kubectl("apply", "-f", "-", input=CLUSTER).returncode == 0
    manifests = yaml.safe_dump_all([kafka_topic(name) for name in names])
    applied = kube_api.kubectl("apply", "-f", "-", input=manifests)
    assert applied.returncode == 0, applied.stderr
    eventually(lambda: operator_process.alive() and all(is_ready(kube_api, n) for n in names), READY_TIMEOUT_S)
    admin = AdminClient({"bootstrap.servers": metrics_broker.bootstrap})
    assert retention(admin, names) == dict.fromkeys(names, SPEC_RETENTION)
    old_id = topic_status(kube_api, names[0])["topicId"]

    change_behind_the_operators_back(admin, names[1:])
    admin.delete_topics([names[0]], request_timeout=10)[names[0]].result(timeout=10)
    eventually(lambda: describe(metrics_broker.bootstrap, names[0]) is None, timeout=30)
    resyncs, requests = counted_together(operator_process, metrics_broker)
    # two resyncs later: every topic's drift was seen and put back
    eventually(lambda: operator_process.alive() and operator_process.resyncs() >= resyncs + 2, 6 * RESYNC_S + 10)
    resyncs_after, requests_after = counted_together(operator_process, metrics_broker)
    assert requests_after - requests == resyncs_after - resyncs  # one DescribeConfigs per resync, for all N topics
    try:
        assert retention(admin, names) == dict.fromkeys(names, SPEC_RETENTION)
    except KafkaException as exc:  # the recreated topic's answer
        raise AssertionError(f"a topic is not back: {exc}") from exc
    recreated = describe(metrics_broker.bootstrap, names[0])
    assert recreated is not None and str(recreated.topic_id) != old_id
    # its new id reached its status: the resync fanned each answer out to its own KafkaTopic
    eventually(lambda: topic_status(kube_api, names[0]).get("topicId") == str(recreated.topic_id), timeout=10)
    assert all(is_ready(kube_api, name) for name in names)
