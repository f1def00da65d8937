"""A KafkaCluster scaled down through the test kubelet (slow: three brokers and an etcd member in pods, ~2 min).

Three brokers (plain listener, one operator-managed etcd member), KafkaTopics `spread` (3 partitions, RF 2: broker
2 holds some of their replicas) and `wide` (1 partition, RF 3), records produced to `spread` with acks=all. Then
`spec.kafka.replicas: 2` with kubectl:

1. no drain asked: Ready False ScaleDownBlocked naming broker 2 and the topics it holds; the StatefulSet keeps 3
   replicas and pod 2 keeps running;
2. the annotation `odradek.io/drain-on-scale-down: "true"`: still ScaleDownBlocked, the reason naming `wide`'s
   partition, which has more replicas than two brokers can hold; nothing shrinks;
3. `wide` lowered to `replicas: 2` (its KafkaTopic): the operator drains broker 2 (reassignments), and only then
   shrinks the StatefulSet: when it has 2 replicas, no partition has a replica on broker 2; pod 2 goes, the cluster
   is Ready with 2 brokers, and every record produced before is read back from the two that remain.

The operator's own scale-down rules are unit-tested (tests/unit/operator/test_operator_reassignment_plans.py) and
the drain against three real brokers in tests/integration/test_operator_reassignment.py (the default run's
counterparts); this test is the path through kubectl, the StatefulSet and the pods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer, TopicCollection
from confluent_kafka.admin import AdminClient
from etcd_support import etcd_missing
from fake_apiserver.fixture import KubeApi, eventually
from kafka_records_support import read_values
from kubelet import Kubelet
from test_operator_kopf import run_operator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing())),
]

CLUSTER = "scaled"
BROKERS = 3
RECORDS = 30
READY_TIMEOUT_S = 180
DRAIN_TIMEOUT_S = 180


def kafka_cluster(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER},
        "spec": {
            "kafka": {
                "replicas": replicas,
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": False}],
                "config": {
                    "default.replication.factor": 2,
                    "min.insync.replicas": 1,
                    "offsets.topic.replication.factor": 1,
                },
                "storage": {"type": "ephemeral"},
            },
            "metadataStore": {"type": "etcd", "replicas": 1},
        },
    }


def kafka_topic(name: str, partitions: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"odradek.io/cluster": CLUSTER}},
        "spec": {"partitions": partitions, "replicas": replicas},
    }


@pytest.fixture
def operator(kube_api: KubeApi, kubelet: Kubelet, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    replication = ",".join(f"{kubelet.pod_ip('default', f'{CLUSTER}-kafka-{i}')}:9091" for i in range(BROKERS))
    yield from run_operator(kube_api, monkeypatch, replication)


def apply(kube_api: KubeApi, *documents: dict[str, Any]) -> None:
    applied = kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
    assert applied.returncode == 0, applied.stderr


def condition(kube_api: KubeApi, plural: str, name: str, kind: str = "Ready") -> dict[str, Any]:
    obj = kube_api.get(plural, "default", name) or {}
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def ready_when(kube_api: KubeApi, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The KafkaCluster's Ready condition once `check` holds for it, else None."""
    ready = condition(kube_api, "kafkaclusters", CLUSTER)
    return ready if check(ready) else None


def wait_ready(kube_api: KubeApi, resource: str, timeout: int) -> None:
    waited = kube_api.kubectl("wait", resource, "--for=condition=Ready", f"--timeout={timeout}s", timeout=timeout + 15)
    assert waited.returncode == 0, (resource, waited.stderr, kube_api.get("kafkaclusters", "default", CLUSTER))


def assignments(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], list[int]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=15)
    found = {}
    for name in topics:
        for partition in futures[name].result(timeout=20).partitions:
            found[(name, partition.id)] = sorted(int(node.id) for node in partition.replicas)
    return found


def statefulset_replicas(kube_api: KubeApi) -> int:
    return int(((kube_api.get("statefulsets", "default", f"{CLUSTER}-kafka") or {}).get("spec") or {})["replicas"])


def patch(kube_api: KubeApi, resource: str, body: dict[str, Any]) -> None:
    patched = kube_api.kubectl("patch", resource, "--type=merge", "-p", json.dumps(body))
    assert patched.returncode == 0, patched.stderr


def test_scale_down_drains_the_removed_broker_before_its_pod_goes(
    kube_api: KubeApi, kubelet: Kubelet, operator: Any
) -> None:
    apply(kube_api, kafka_cluster(BROKERS))
    wait_ready(kube_api, f"kafkacluster/{CLUSTER}", READY_TIMEOUT_S)
    apply(kube_api, kafka_topic("spread", 3, 2), kafka_topic("wide", 1, 3))
    for name in ("spread", "wide"):
        wait_ready(kube_api, f"kafkatopic/{name}", 60)
    bootstrap = kubelet.service_servers("default", f"{CLUSTER}-kafka-bootstrap", 9092)
    before = assignments(bootstrap, ["spread", "wide"])
    assert any(2 in replicas for key, replicas in before.items() if key[0] == "spread"), before
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    values = [f"record-{i}".encode() for i in range(RECORDS)]
    for i, value in enumerate(values):
        producer.produce("spread", value=value, partition=i % 3)
    assert producer.flush(30) == 0

    # 1. fewer brokers, no drain asked: refused with the reason, nothing shrinks
    patch(kube_api, f"kafkacluster/{CLUSTER}", {"spec": {"kafka": {"replicas": 2}}})
    refused = eventually(lambda: ready_when(kube_api, lambda r: r.get("reason") == "ScaleDownBlocked"), 60)
    assert refused["status"] == "False" and "brokers 2 hold replicas" in refused["message"], refused
    assert "spread" in refused["message"] and "drain-on-scale-down" in refused["message"], refused
    assert condition(kube_api, "kafkaclusters", CLUSTER, "Warning").get("reason") == "ScaleDownBlocked"
    assert statefulset_replicas(kube_api) == BROKERS and kube_api.get("pods", "default", f"{CLUSTER}-kafka-2")

    # 2. a drain asked, but `wide` has three replicas for two brokers: refused, naming it
    annotate = kube_api.kubectl("annotate", f"kafkacluster/{CLUSTER}", "odradek.io/drain-on-scale-down=true")
    assert annotate.returncode == 0, annotate.stderr
    impossible = eventually(lambda: ready_when(kube_api, lambda r: r.get("message", "").startswith("cannot drain")), 60)
    assert impossible["reason"] == "ScaleDownBlocked" and "wide" in impossible["message"], impossible
    assert statefulset_replicas(kube_api) == BROKERS

    # 3. `wide` down to two replicas: the drain goes through, then the StatefulSet shrinks
    patch(kube_api, "kafkatopic/wide", {"spec": {"replicas": 2}})
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while statefulset_replicas(kube_api) == BROKERS:
        assert time.monotonic() < deadline, kube_api.get("kafkaclusters", "default", CLUSTER)
        time.sleep(0.2)
    after = assignments(bootstrap, ["spread", "wide"])  # right as it shrank, broker 2 still running
    assert all(2 not in replicas for replicas in after.values()), after
    assert all(len(replicas) == 2 for replicas in after.values()), after
    eventually(lambda: kube_api.get("pods", "default", f"{CLUSTER}-kafka-2") is None, timeout=60)
    eventually(lambda: (kube_api.get("kafkaclusters", "default", CLUSTER) or {})["status"]["readyBrokers"] == 2, 60)
    wait_ready(kube_api, f"kafkacluster/{CLUSTER}", 60)
    remaining = kubelet.service_servers("default", f"{CLUSTER}-kafka-bootstrap", 9092)
    assert sorted(read_values(remaining, "spread", 3, RECORDS, 60)) == sorted(values)
