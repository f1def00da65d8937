"""The operator as it runs (`kopf run -m odradek.operator.main`, under KopfRunner) against the fake API server
(tests/e2e/fake_apiserver, the `kube_api` fixture) and one real broker process on loopback.

- A KafkaCluster applied with kubectl: its children (ConfigMap with server.properties, headless and bootstrap
  Services, PodDisruptionBudget, StatefulSet) appear with owner references; Ready False PodsNotReady until the
  StatefulSet reports its brokers ready (the test plays the StatefulSet controller), then Ready True.
- A KafkaTopic applied with kubectl: the topic exists in the broker (confluent-kafka), `kubectl wait
  --for=condition=Ready` returns; a partition decrease is answered NotSupported; `kubectl delete` removes the
  topic through the finalizer.

There is no test kubelet yet, so the operator reaches the broker through ODRADEK_OPERATOR_BOOTSTRAP instead of the
bootstrap Service.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# the fake API server (tests/e2e/fake_apiserver, another part of issue 12): skipped where it is not there yet
fake_apiserver = pytest.importorskip("fake_apiserver.fixture")
KubeApi = fake_apiserver.KubeApi
eventually = fake_apiserver.eventually
kopf_testing = pytest.importorskip("kopf.testing")
confluent_kafka = pytest.importorskip("confluent_kafka")

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0

CLUSTER = """\
apiVersion: kafka.odradek.io/v1
kind: KafkaCluster
metadata: {name: c1}
spec:
  kafka:
    replicas: 1
    listeners: [{name: plain, port: 9092, type: internal}]
"""


def topic(partitions: int) -> str:
    return f"""\
apiVersion: kafka.odradek.io/v1
kind: KafkaTopic
metadata: {{name: orders, labels: {{odradek.io/cluster: c1}}}}
spec: {{partitions: {partitions}, replicas: 1, config: {{retention.ms: 3600000}}}}
"""


def collect_leftovers() -> None:
    """Collect what a stopped kopf leaves for the garbage collector (its API sessions to this test's server) now,
    so that their ResourceWarnings do not surface in a later test; the fake server is gone with the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(tmp_path: Path, port: int, overrides: dict[str, str]) -> subprocess.Popen[bytes]:
    """A broker process on loopback with `overrides`, once `port` accepts connections."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "broker"), os.environ.get("PYTHONPATH", "")])}
    settings = {"log.dirs": str(tmp_path / "data"), "metrics.port": "0", **overrides}
    command = [sys.executable, "-m", "odradek.broker"]
    for key, value in settings.items():
        command += ["--override", f"{key}={value}"]
    with open(tmp_path / "broker.log", "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > end or proc.poll() is not None:
                proc.kill()
                proc.wait(10)  # reaped: a Popen dropped while its process runs is a leaked broker
                raise AssertionError((tmp_path / "broker.log").read_text()) from None
            time.sleep(0.1)


def stop_broker(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, SIGKILL after 30 s; reaped either way (a Popen dropped while its process runs is a leaked broker)."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise


def apply_crds(kube_api: KubeApi) -> None:
    """crds/*.yaml applied with kubectl (the operator's CRDs, as a user installs them without the chart)."""
    for crd in sorted((REPO / "crds").glob("*.yaml")):
        applied = kube_api.kubectl("apply", "-f", str(crd))
        assert applied.returncode == 0, applied.stderr


def run_operator(kube_api: KubeApi, monkeypatch: pytest.MonkeyPatch, bootstrap: str) -> Iterator[Any]:
    """The operator fixtures' body: the CRDs applied, the operator run in-process (KopfRunner) against this API
    server, reaching Kafka at `bootstrap` (ODRADEK_OPERATOR_BOOTSTRAP); yields the runner, fails on its exception."""
    apply_crds(kube_api)
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("ODRADEK_OPERATOR_BOOTSTRAP", bootstrap)
    args = ["run", "--standalone", "--namespace=default", "-m", "odradek.operator.main"]
    with kopf_testing.KopfRunner(args, timeout=DEADLINE) as runner:
        yield runner
    collect_leftovers()
    assert runner.exception is None, runner.output


@pytest.fixture
def operator(kube_api: KubeApi, broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from run_operator(kube_api, monkeypatch, broker)


def ready(kube_api: KubeApi, plural: str, name: str) -> dict[str, Any]:
    obj = kube_api.get(plural, "default", name) or {}
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def describe(broker: str, name: str) -> Any:
    """The topic's TopicDescription, None when the broker does not have it."""
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": broker})
    futures = admin.describe_topics(confluent_kafka.TopicCollection([name]), request_timeout=10)
    try:
        return futures[name].result(timeout=10)
    except Exception:
        return None


def test_cluster_children_and_readiness(kube_api: KubeApi, operator: Any) -> None:
    assert kube_api.kubectl("apply", "-f", "-", input=CLUSTER).returncode == 0
    statefulset = eventually(lambda: kube_api.get("statefulsets", "default", "c1-kafka"), timeout=DEADLINE)
    assert statefulset["metadata"]["ownerReferences"][0]["kind"] == "KafkaCluster"
    for plural, name in [("configmaps", "c1-kafka-config"), ("services", "c1-kafka-brokers"),
                         ("services", "c1-kafka-bootstrap"), ("poddisruptionbudgets", "c1-kafka")]:  # fmt: skip
        assert kube_api.get(plural, "default", name) is not None, name
    assert eventually(lambda: ready(kube_api, "kafkaclusters", "c1").get("reason") == "PodsNotReady")
    kube_api.patch_status("statefulsets", "default", "c1-kafka", {"replicas": 1, "readyReplicas": 1})
    waited = kube_api.kubectl("wait", "kafkacluster/c1", "--for=condition=Ready", "--timeout=40s", timeout=50)
    assert waited.returncode == 0, waited.stderr


def test_topic_created_refused_and_deleted(kube_api: KubeApi, broker: str, operator: Any) -> None:
    assert kube_api.kubectl("apply", "-f", "-", input=CLUSTER).returncode == 0
    assert kube_api.kubectl("apply", "-f", "-", input=topic(3)).returncode == 0
    waited = kube_api.kubectl("wait", "kafkatopic/orders", "--for=condition=Ready", "--timeout=40s", timeout=50)
    assert waited.returncode == 0, (waited.stderr, kube_api.get("kafkatopics", "default", "orders"))
    assert len(describe(broker, "orders").partitions) == 3
    assert kube_api.kubectl("apply", "-f", "-", input=topic(1)).returncode == 0
    assert eventually(lambda: ready(kube_api, "kafkatopics", "orders").get("reason") == "NotSupported")
    assert len(describe(broker, "orders").partitions) == 3
    deleted = kube_api.kubectl("delete", "kafkatopic", "orders", "--timeout=30s", timeout=40)
    assert deleted.returncode == 0, deleted.stderr
    assert eventually(lambda: describe(broker, "orders") is None)
