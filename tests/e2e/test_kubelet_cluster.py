"""End to end through the test kubelet: the operator (KopfRunner, `-m odradek.operator.main`) against the fake API
server, and the pods it creates run by the test kubelet (tests/e2e/kubelet) as broker and etcd processes on
loopback addresses. Nothing here starts a broker itself: `kubectl apply -f examples/kafka-cluster.yaml` is what
brings up three brokers (and the three operator-managed etcd members of its `metadataStore`).

- The example KafkaCluster becomes Ready (`kubectl wait`), its pods report Ready from their probes.
- The example KafkaTopic is created in the brokers (checked with confluent-kafka's AdminClient), `kubectl delete`
  removes it.
- The example KafkaUser logs in through the bootstrap Service's SCRAM listener with the password from its Secret and
  may do exactly what its ACLs say: produce to and consume from `orders` in a group `orders-app-*`, not produce to
  another topic, not consume in another group.
- A change of a dynamic (cluster-wide) config key reaches every broker without a restart: DescribeConfigs shows it
  as DYNAMIC_DEFAULT_BROKER_CONFIG and the pods keep their uids.
- A change of a read-only config key rolls the brokers one at a time (each pod deleted by the operator, recreated
  by the StatefulSet controller, restarted by the kubelet) while an acks=all idempotent producer keeps producing:
  zero failed deliveries, and no pause between acknowledgements of MAX_STALL_S or more (the retries of an
  idempotent producer would hide even a restart of every broker at once behind zero failures).

The operator reaches the brokers through ODRADEK_OPERATOR_BOOTSTRAP, set to the brokers' replication addresses (the
pods' loopback addresses are known before the pods exist: network.py); clients use the bootstrap Service's ready
endpoints (`Kubelet.service_servers`).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from test_operator_kopf import REPO, run_operator

fake_apiserver = pytest.importorskip("fake_apiserver.fixture")
KubeApi = fake_apiserver.KubeApi
eventually = fake_apiserver.eventually
confluent_kafka = pytest.importorskip("confluent_kafka")
from etcd_support import etcd_missing  # noqa: E402
from kubelet import Kubelet  # noqa: E402  (after the skips: it needs the fake API server)

CLUSTER = "my-cluster"  # examples/kafka-cluster.yaml
BROKERS = 3
PLAIN_PORT, SCRAM_PORT = 9092, 9094
MAX_STALL_S = 8.0  # longest pause between acknowledgements a one-at-a-time roll may cause
READY_TIMEOUT_S = 150  # three brokers and three etcd members on a shared two-core machine

pytestmark = pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))  # the etcd pods run it


@pytest.fixture
def brokers() -> int:
    """How many brokers the test's cluster has (parametrized per test): the operator's bootstrap lists exactly
    these, none that never starts."""
    return BROKERS


@pytest.fixture
def operator(kube_api: KubeApi, kubelet: Kubelet, brokers: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    replication = ",".join(f"{kubelet.pod_ip('default', f'{CLUSTER}-kafka-{i}')}:9091" for i in range(brokers))
    yield from run_operator(kube_api, monkeypatch, replication)


def secret_value(kube_api: KubeApi, name: str, key: str) -> str:
    secret = kube_api.get("secrets", "default", name)
    assert secret is not None, name
    return base64.b64decode(secret["data"][key]).decode()


def plain(kubelet: Kubelet) -> dict[str, Any]:
    return {"bootstrap.servers": kubelet.service_servers("default", f"{CLUSTER}-kafka-bootstrap", PLAIN_PORT)}


def scram(kubelet: Kubelet, username: str, password: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": kubelet.service_servers("default", f"{CLUSTER}-kafka-bootstrap", SCRAM_PORT),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": username,
        "sasl.password": password,
    }


def operator_client(kube_api: KubeApi, kubelet: Kubelet) -> dict[str, Any]:
    """The operator's own super-user credentials (its Secret) on the cluster's SCRAM listener."""
    password = secret_value(kube_api, f"{CLUSTER}-operator-credentials", "password")
    return scram(kubelet, "odradek-operator", password)


def diagnostics(kube_api: KubeApi, kubelet: Kubelet) -> str:
    cluster = kube_api.get("kafkaclusters", "default", CLUSTER) or {}
    pods = {p["metadata"]["name"]: (p.get("status") or {}).get("conditions") for p in kube_api.list("pods")}
    logs = "\n".join(kubelet.logs("default", f"{CLUSTER}-kafka-{i}", 3000) for i in range(BROKERS))
    return f"status={cluster.get('status')}\npods={pods}\nerrors={kubelet.errors}\n{logs}"


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "examples" / name).read_text())
    return loaded


def secured_single_broker() -> dict[str, Any]:
    """examples/kafka-cluster.yaml as one broker (no replication) with one etcd member: SCRAM and ACLs on."""
    cluster = example("kafka-cluster.yaml")
    cluster["spec"]["kafka"]["replicas"] = 1
    cluster["spec"]["kafka"]["config"] = {"default.replication.factor": 1, "min.insync.replicas": 1,
                                          "offsets.topic.replication.factor": 1}  # fmt: skip
    cluster["spec"]["metadataStore"]["replicas"] = 1
    return cluster


def apply(kube_api: KubeApi, *documents: dict[str, Any]) -> None:
    applied = kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
    assert applied.returncode == 0, applied.stderr


def wait_ready(kube_api: KubeApi, kubelet: Kubelet, resource: str, timeout: int = 60) -> None:
    waited = kube_api.kubectl("wait", resource, "--for=condition=Ready", f"--timeout={timeout}s", timeout=timeout + 15)
    assert waited.returncode == 0, (resource, waited.stderr, diagnostics(kube_api, kubelet))


def start_cluster(kube_api: KubeApi, kubelet: Kubelet, cluster: dict[str, Any]) -> None:
    apply(kube_api, cluster)
    wait_ready(kube_api, kubelet, f"kafkacluster/{CLUSTER}", READY_TIMEOUT_S)
    brokers = cluster["spec"]["kafka"]["replicas"]
    pods = [kube_api.get("pods", "default", f"{CLUSTER}-kafka-{i}") for i in range(brokers)]
    for pod in pods:
        assert pod is not None
        assert pod["status"]["podIP"] == kubelet.pod_ip("default", pod["metadata"]["name"])
        assert pod["status"]["containerStatuses"][0]["ready"] is True
    waited = kube_api.kubectl("wait", "pod", "-l", "odradek.io/cluster=my-cluster", "--for=condition=Ready",
                              "--timeout=30s", timeout=45)  # fmt: skip
    assert waited.returncode == 0, waited.stderr


def describe(config: dict[str, Any], name: str) -> Any:
    """The topic's TopicDescription, None when the brokers do not have it."""
    admin = confluent_kafka.admin.AdminClient(config)
    futures = admin.describe_topics(confluent_kafka.TopicCollection([name]), request_timeout=10)
    try:
        return futures[name].result(timeout=15)
    except confluent_kafka.KafkaException as exc:
        if exc.args[0].code() == confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise


def broker_config(config: dict[str, Any], broker: int, key: str) -> tuple[str | None, int]:
    """(value, source) of `key` on broker `broker` (DescribeConfigs)."""
    admin = confluent_kafka.admin.AdminClient(config)
    resource = confluent_kafka.admin.ConfigResource(confluent_kafka.admin.ResourceType.BROKER, str(broker))
    entry = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=15)[key]
    return entry.value, int(entry.source)


def produce(config: dict[str, Any], topic: str, value: bytes) -> int | None:
    """None when the record is acknowledged, else the delivery error's code."""
    producer = confluent_kafka.Producer({**config, "acks": "all", "message.timeout.ms": 15000})
    errors: list[Any] = []
    producer.produce(topic, value, on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(25)
    assert errors, "no delivery report"
    return None if errors[0] is None else int(errors[0].code())


def consume(config: dict[str, Any], topic: str, group: str, timeout_s: float = 30) -> bytes | int:
    """The first record's value, or the error code the consumer got."""
    consumer = confluent_kafka.Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    continue
                return int(message.error().code())
            return bytes(message.value())
        raise AssertionError(f"nothing consumed from {topic} in group {group} within {timeout_s}s")
    finally:
        consumer.close()


BROKER_PODS = f"odradek.io/cluster={CLUSTER},odradek.io/component=broker"


class KeptProducing:
    """An acks=all idempotent producer in a thread of its own, producing 100 B records to `topic` (poll every
    20 ms) until the `with` block ends, then flushing (at most 130 s). `delivered` counts acknowledgements,
    `failed` holds the delivery errors, `acked_at` each acknowledgement's time.monotonic()."""

    def __init__(self, config: dict[str, Any], topic: str) -> None:
        self.config, self.topic = config, topic
        self.delivered = 0
        self.failed: list[Any] = []
        self.acked_at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer")

    def __enter__(self) -> KeptProducing:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(150)

    def _run(self) -> None:
        producer = confluent_kafka.Producer(
            {**self.config, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 30000, "linger.ms": 5}
        )

        def report(err: Any, _msg: Any) -> None:
            if err is None:
                self.delivered += 1
                self.acked_at.append(time.monotonic())
            else:
                self.failed.append(err)

        while not self._stop.is_set():
            producer.produce(self.topic, b"r" * 100, on_delivery=report)
            producer.poll(0.02)
        producer.flush(130)

    def longest_stall(self) -> float:
        """The longest pause between two acknowledgements, in seconds."""
        return max((b - a for a, b in itertools.pairwise(self.acked_at)), default=0.0)


def broker_uids(kube_api: KubeApi, brokers: int) -> dict[int, str]:
    return {i: kube_api.get("pods", "default", f"{CLUSTER}-kafka-{i}")["metadata"]["uid"] for i in range(brokers)}


def roll(kube_api: KubeApi, config: dict[str, Any]) -> None:
    """A broker config change on the KafkaCluster (`kubectl patch --type=merge`): the operator rolls the brokers
    if a read-only key changed, and applies dynamic keys to the running brokers."""
    patch = json.dumps({"spec": {"kafka": {"config": config}}})
    patched = kube_api.kubectl("patch", "kafkacluster", CLUSTER, "--type=merge", "-p", patch)
    assert patched.returncode == 0, patched.stderr


def rolled(kube_api: KubeApi, before: dict[int, str]) -> bool:
    """Whether every broker pod of `before` (index -> uid) has been replaced."""
    pods = [kube_api.get("pods", "default", f"{CLUSTER}-kafka-{i}") for i in before]
    return all(pod and pod["metadata"]["uid"] != before[i] for i, pod in zip(before, pods, strict=True))


def test_three_brokers_topic_and_rolling_restart(kube_api: KubeApi, kubelet: Kubelet, operator: Any) -> None:
    # The example as it is: SCRAM listener, ACLs, and the brokers replicating over REPLICATION (SASL_PLAINTEXT,
    # SCRAM-SHA-512 as the operator's user): an acks=all produce with min.insync.replicas 2 needs the followers.
    start_cluster(kube_api, kubelet, example("kafka-cluster.yaml"))
    client = operator_client(kube_api, kubelet)
    assert client["bootstrap.servers"].count(",") == BROKERS - 1
    apply(kube_api, example("kafka-topic.yaml"))
    wait_ready(kube_api, kubelet, "kafkatopic/orders")
    orders = describe(client, "orders")
    assert orders is not None and len(orders.partitions) == 6
    assert all(len(p.replicas) == 3 for p in orders.partitions)
    value = uuid.uuid4().bytes
    assert produce(client, "orders", value) is None
    assert consume(client, "orders", "reader") == value

    # a dynamic key is applied to the running brokers (IncrementalAlterConfigs), with no restart
    before = broker_uids(kube_api, BROKERS)
    roll(kube_api, {"log.retention.ms": 360000000})  # a config change; log.retention.hours would be read-only
    dynamic_default = confluent_kafka.admin.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    for broker in range(BROKERS):
        eventually(lambda b=broker: broker_config(client, b, "log.retention.ms") == ("360000000", dynamic_default),
                   timeout=60, interval=1)  # fmt: skip
    assert broker_uids(kube_api, BROKERS) == before, "a dynamic config change restarted a broker"

    # a read-only key rolls the brokers, one at a time, while an acks=all producer goes on
    with KeptProducing(client, "orders") as producing:
        eventually(lambda: producing.delivered > 50, timeout=30)
        roll(kube_api, {"num.partitions": 2})
        eventually(lambda: rolled(kube_api, before), timeout=240, interval=1)
        # the last broker's replacement becomes ready after the roll (the cluster's Ready follows on a timer)
        waited = kube_api.kubectl("wait", "pod", "-l", BROKER_PODS, "--for=condition=Ready", "--timeout=90s",
                                  timeout=105)  # fmt: skip
        assert waited.returncode == 0, (waited.stderr, diagnostics(kube_api, kubelet))
        count = producing.delivered
        eventually(lambda: producing.delivered > count + 50, timeout=30)
    assert producing.failed == [], (producing.failed[:5], diagnostics(kube_api, kubelet))
    # zero failures alone does not show availability: the idempotent producer's retries outlast even all three
    # brokers restarted at once (tried: 0 failures, but a 16 s stall; one at a time: about 2 s)
    stall = producing.longest_stall()
    assert stall < MAX_STALL_S, f"acknowledgements stopped for {stall:.1f}s during the roll"
    statefulset = kube_api.get("statefulsets", "default", f"{CLUSTER}-kafka")
    assert statefulset["status"]["currentRevision"] == statefulset["status"]["updateRevision"]
    restarted = [kube_api.get("pods", "default", f"{CLUSTER}-kafka-{i}") for i in range(BROKERS)]
    assert all(pod["status"]["containerStatuses"][0]["ready"] for pod in restarted)

    deleted = kube_api.kubectl("delete", "kafkatopic", "orders", "--timeout=60s", timeout=75)
    assert deleted.returncode == 0, deleted.stderr
    assert eventually(lambda: describe(client, "orders") is None, timeout=30)


@pytest.mark.parametrize("brokers", [1])
def test_kafka_user_gets_exactly_its_acls(kube_api: KubeApi, kubelet: Kubelet, operator: Any) -> None:
    start_cluster(kube_api, kubelet, secured_single_broker())
    topic = example("kafka-topic.yaml")
    topic["spec"]["replicas"] = 1
    payroll = {"apiVersion": "kafka.odradek.io/v1", "kind": "KafkaTopic",
               "metadata": {"name": "payroll", "labels": {"odradek.io/cluster": CLUSTER}},
               "spec": {"partitions": 1, "replicas": 1}}  # fmt: skip
    apply(kube_api, topic, payroll, example("kafka-user.yaml"))
    for resource in ("kafkatopic/orders", "kafkatopic/payroll", "kafkauser/orders-app"):
        wait_ready(kube_api, kubelet, resource)
    password = secret_value(kube_api, "orders-app", "password")
    assert f'username="orders-app" password="{password}"' in secret_value(kube_api, "orders-app", "sasl.jaas.config")
    user = scram(kubelet, "orders-app", password)
    value = uuid.uuid4().bytes
    assert produce(user, "orders", value) is None
    assert consume(user, "orders", "orders-app-reader") == value
    assert produce(user, "payroll", b"x") == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert consume(user, "orders", "someone-else") == confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED
    assert produce({**user, "sasl.password": password + "-wrong"}, "orders", b"x") is not None
    anonymous = plain(kubelet)
    assert produce(anonymous, "orders", b"x") == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED

    deleted = kube_api.kubectl("delete", "kafkauser", "orders-app", "--timeout=60s", timeout=75)
    assert deleted.returncode == 0, deleted.stderr
    eventually(lambda: produce(user, "orders", b"x") is not None, timeout=40)
