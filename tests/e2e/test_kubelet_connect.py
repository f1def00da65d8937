"""End to end through the test kubelet: a KafkaConnect and a KafkaConnector applied with `kubectl apply` become a
Deployment whose worker pods the test kubelet runs (`odradek connect-distributed`, as the image would), and a
connector those workers run. The broker is a single process outside the cluster (its address is the
KafkaConnect's bootstrapServers), so that this test is about Connect, not about brokers in pods
(test_kubelet_cluster.py).

- examples/kafka-connect.yaml, with bootstrapServers pointed at the broker and replication factors 1, becomes
  Ready with its two workers (the Deployment's pods, Ready from their /health probes) and lists the connector
  plugins in its status.
- examples/kafka-connector.yaml (FileStreamSink from `orders`), with its file in the test's folder, is created in
  the workers (with Kafka's StringConverter class name as its value converter): records produced to `orders` reach
  the file, the KafkaConnector reports the connector RUNNING, and
  `kubectl delete` removes it from the workers.

The operator reaches the REST API through a local port forwarded to a ready worker (kubelet/proxy.py, kube-proxy's
part), named by ODRADEK_OPERATOR_CONNECT_URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_operator_kopf import REPO, run_operator

fake_apiserver = pytest.importorskip("fake_apiserver.fixture")
KubeApi = fake_apiserver.KubeApi
eventually = fake_apiserver.eventually
confluent_kafka = pytest.importorskip("confluent_kafka")
from kubelet import Kubelet  # noqa: E402
from kubelet.proxy import ServiceProxy  # noqa: E402

CONNECT = "my-connect"  # examples/kafka-connect.yaml
CONNECTOR = "orders-to-file"  # examples/kafka-connector.yaml
READY_TIMEOUT_S = 150  # two Connect workers joining their group on a shared two-core machine


@pytest.fixture
def rest(kubelet: Kubelet) -> Iterator[ServiceProxy]:
    proxy = ServiceProxy(lambda: kubelet.service_servers("default", f"{CONNECT}-connect-api", 8083).split(",")[0])
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def operator(kube_api: KubeApi, broker: str, rest: ServiceProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("ODRADEK_OPERATOR_CONNECT_URL", f"http://{rest.address}")
    yield from run_operator(kube_api, monkeypatch, broker)


def example(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "examples" / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def condition(kube_api: KubeApi, plural: str, name: str, kind: str = "Ready") -> dict[str, Any]:
    obj = kube_api.get(plural, "default", name) or {}
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def get_json(base: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"http://{base}{path}", timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return {"error_code": exc.code}


def test_kafka_connect_workers_run_in_pods_and_a_kafka_connector_moves_records(
    kube_api: KubeApi,
    kubelet: Kubelet,
    broker: str,
    rest: ServiceProxy,
    operator: Any,
    tmp_path: Path,
) -> None:
    connect = example("kafka-connect.yaml")
    connect["spec"]["bootstrapServers"] = broker
    for key in ("config", "offset", "status"):
        connect["spec"]["config"][f"{key}.storage.replication.factor"] = 1
    applied = kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump(connect))
    assert applied.returncode == 0, applied.stderr

    def workers() -> str:
        return "\n".join(kubelet.logs("default", p["metadata"]["name"]) for p in kube_api.list("pods", "default"))

    try:
        eventually(lambda: condition(kube_api, "kafkaconnects", CONNECT).get("status") == "True", READY_TIMEOUT_S)
    except AssertionError:
        raise AssertionError((kube_api.get("kafkaconnects", "default", CONNECT), workers())) from None
    pods = [p for p in kube_api.list("pods", "default") if p["metadata"]["name"].startswith(f"{CONNECT}-connect-")]
    assert len(pods) == 2 and all(p["metadata"]["ownerReferences"][0]["kind"] == "Deployment" for p in pods)
    status = eventually(lambda: (s := kube_api.get("kafkaconnects", "default", CONNECT)["status"]).get(
        "connectorPlugins") and s, timeout=60)  # fmt: skip
    assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in [p["class"] for p in status["connectorPlugins"]]
    assert status["replicas"] == 2

    sink = tmp_path / "orders.txt"
    connector = example("kafka-connector.yaml")
    connector["spec"]["config"]["file"] = str(sink)
    # The workers' converters are JSON (Strimzi's defaults); the records here are plain strings.
    connector["spec"]["config"]["value.converter"] = "org.apache.kafka.connect.storage.StringConverter"
    applied = kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump(connector))
    assert applied.returncode == 0, applied.stderr
    producer = confluent_kafka.Producer({"bootstrap.servers": broker})
    for i in range(20):
        producer.produce("orders", value=f"order-{i}".encode())
    assert producer.flush(30) == 0
    try:
        eventually(lambda: sink.exists() and len(sink.read_text().splitlines()) == 20, timeout=90)
    except AssertionError:
        raise AssertionError((get_json(rest.address, f"/connectors/{CONNECTOR}/status"), workers())) from None
    assert sink.read_text().splitlines() == [f"order-{i}" for i in range(20)]
    eventually(lambda: condition(kube_api, "kafkaconnectors", CONNECTOR).get("status") == "True", timeout=60)
    reported = kube_api.get("kafkaconnectors", "default", CONNECTOR)["status"]["connectorStatus"]
    assert reported["connector"]["state"] == "RUNNING", reported

    deleted = kube_api.kubectl("delete", "kafkaconnector", CONNECTOR, timeout=60)
    assert deleted.returncode == 0, deleted.stderr
    eventually(lambda: CONNECTOR not in get_json(rest.address, "/connectors"), timeout=60)
