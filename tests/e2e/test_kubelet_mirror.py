"""KafkaMirrorMaker2 end to end: the operator (KopfRunner, `-m odradek.operator.main`) against the fake API server.

- Through the test kubelet (slow, ~1 min): two KafkaClusters of one broker each (`source`, `target`) applied with
  kubectl become Ready, their brokers run by the kubelet; records produced to `orders` on the source; a
  KafkaMirrorMaker2 between them (its clusters' bootstrapServers are the brokers' pod DNS names, which the kubelet
  resolves as it does for every pod) becomes Ready, its pod runs `odradek mirror-maker` and the records are read
  back from `source.orders` on the target, in order; `kubectl delete` stops it: the pod goes, and records produced
  afterwards never reach the target.
- The default run's counterpart (no kubelet, no broker): the KafkaMirrorMaker2 applied with kubectl gets its
  ConfigMap (the mm2.properties of its spec) and StatefulSet with owner references, is NotReady PodsNotReady until
  the StatefulSet reports its pod ready (the test plays the controller), then Ready; `kubectl delete` takes the
  children with it.

The operator reaches the target cluster's broker (ODRADEK_OPERATOR_BOOTSTRAP names one address, not a format per
cluster): nothing here needs the source's through the operator (its topic is made by the test's own client, and an
idle KafkaCluster reconcile asks its brokers nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from fake_apiserver.fixture import KubeApi, eventually
from kafka_records_support import mirror_maker2_resource, read_values
from kubelet import Kubelet
from odradek.connect.config.properties import parse_properties
from test_operator_kopf import run_operator

MIRROR = "my-mirror"
TOPIC = "orders"
RECORDS = 20
READY_TIMEOUT_S = 120
COPY_TIMEOUT_S = 90
QUIET_S = 5.0  # how long records produced after the delete are looked for on the target


def kafka_cluster(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaCluster",
        "metadata": {"name": name},
        "spec": {"kafka": {"replicas": 1, "listeners": [{"name": "plain", "port": 9092, "type": "internal"}]}},
    }


def broker_dns(cluster: str) -> str:
    return f"{cluster}-kafka-0.{cluster}-kafka-brokers.default.svc:9092"


def apply(kube_api: KubeApi, *documents: dict[str, Any]) -> None:
    applied = kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
    assert applied.returncode == 0, applied.stderr


def ready(kube_api: KubeApi, plural: str, name: str) -> dict[str, Any]:
    obj = kube_api.get(plural, "default", name) or {}
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def produce(bootstrap: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(TOPIC, value=value, partition=0)
    assert producer.flush(30) == 0


@pytest.fixture
def mirror_operator(kube_api: KubeApi, kubelet: Kubelet, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from run_operator(kube_api, monkeypatch, f"{kubelet.pod_ip('default', 'target-kafka-0')}:9091")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_mirror_maker_2_copies_between_two_kafka_clusters_in_pods(
    kube_api: KubeApi, kubelet: Kubelet, mirror_operator: Any
) -> None:
    apply(kube_api, kafka_cluster("source"), kafka_cluster("target"))
    for name in ("source", "target"):
        waited = kube_api.kubectl("wait", f"kafkacluster/{name}", "--for=condition=Ready",
                                  f"--timeout={READY_TIMEOUT_S}s", timeout=READY_TIMEOUT_S + 15)  # fmt: skip
        assert waited.returncode == 0, (waited.stderr, kubelet.logs("default", f"{name}-kafka-0", 3000))
    source = kubelet.service_servers("default", "source-kafka-bootstrap", 9092)
    target = kubelet.service_servers("default", "target-kafka-bootstrap", 9092)
    assert source and target and source != target
    admin = AdminClient({"bootstrap.servers": source})  # kept referenced: a dropped client fails its futures
    admin.create_topics([NewTopic(TOPIC, 1, 1)], request_timeout=15)[TOPIC].result(timeout=15)
    before = [f"order-{i}".encode() for i in range(RECORDS)]
    produce(source, before)

    apply(kube_api, mirror_maker2_resource(MIRROR, broker_dns("source"), broker_dns("target"), "orders.*"))
    pod = f"{MIRROR}-mirrormaker2-0"
    try:
        waited = kube_api.kubectl("wait", f"kafkamirrormaker2/{MIRROR}", "--for=condition=Ready", "--timeout=60s",
                                  timeout=75)  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        copied = read_values(target, f"source.{TOPIC}", 1, RECORDS, COPY_TIMEOUT_S)
        assert copied == before
    except AssertionError:
        status = kube_api.get("kafkamirrormaker2s", "default", MIRROR)
        raise AssertionError((status, kubelet.logs("default", pod))) from None
    status = kube_api.get("kafkamirrormaker2s", "default", MIRROR)["status"]
    assert (status["connectCluster"], status["replicas"]) == ("target", 1)

    deleted = kube_api.kubectl("delete", "kafkamirrormaker2", MIRROR, "--timeout=60s", timeout=75)
    assert deleted.returncode == 0, deleted.stderr
    eventually(lambda: kube_api.get("pods", "default", pod) is None, timeout=60)
    eventually(lambda: not any(p.startswith(f"{MIRROR}-") for p in kubelet_pods(kube_api)), timeout=30)
    produce(source, [b"after-delete"])
    assert read_values(target, f"source.{TOPIC}", 1, RECORDS + 1, QUIET_S) == before  # nothing copies any more


def kubelet_pods(kube_api: KubeApi) -> list[str]:
    return [str(p["metadata"]["name"]) for p in kube_api.list("pods", "default")]


@pytest.fixture
def operator_alone(kube_api: KubeApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from run_operator(kube_api, monkeypatch, "127.0.0.1:1")  # no broker: a mirror needs none of its own


@pytest.mark.timeout(120)
def test_mirror_maker_2_children_readiness_and_deletion(kube_api: KubeApi, operator_alone: Any) -> None:
    apply(kube_api, mirror_maker2_resource(MIRROR, broker_dns("source"), broker_dns("target"), "orders.*"))
    statefulset = eventually(lambda: kube_api.get("statefulsets", "default", f"{MIRROR}-mirrormaker2"), timeout=60)
    config_map = kube_api.get("configmaps", "default", f"{MIRROR}-mirrormaker2-config")
    assert config_map is not None
    for child in (statefulset, config_map):
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("KafkaMirrorMaker2", MIRROR)
    props = parse_properties(config_map["data"]["mm2.properties"])
    assert props["source.bootstrap.servers"] == broker_dns("source")
    assert props["target.bootstrap.servers"] == broker_dns("target")
    assert (props["source->target.enabled"], props["source->target.topics"]) == ("true", "orders.*")
    command = statefulset["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["odradek", "mirror-maker"] and command[command.index("--clusters") + 1] == "target"
    assert eventually(lambda: ready(kube_api, "kafkamirrormaker2s", MIRROR).get("reason") == "PodsNotReady")
    kube_api.patch_status("statefulsets", "default", f"{MIRROR}-mirrormaker2", {"replicas": 1, "readyReplicas": 1})
    waited = kube_api.kubectl("wait", f"kafkamirrormaker2/{MIRROR}", "--for=condition=Ready", "--timeout=40s",
                              timeout=50)  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    deleted = kube_api.kubectl("delete", "kafkamirrormaker2", MIRROR, "--timeout=30s", timeout=40)
    assert deleted.returncode == 0, deleted.stderr
    assert eventually(lambda: kube_api.get("statefulsets", "default", f"{MIRROR}-mirrormaker2") is None)
    assert kube_api.get("configmaps", "default", f"{MIRROR}-mirrormaker2-config") is None
