"""The KafkaTopic and KafkaUser reconcile functions against a real broker, without Kubernetes: the operator's
KafkaAdmin (confluent-kafka's AdminClient) on a SASL_PLAINTEXT SCRAM-SHA-512 listener as the super user, with the
StandardAuthorizer on. The Kubernetes side is a dictionary of applied objects.

Checked: a topic created with its partitions and configs; a config changed outside Kubernetes reverted; partitions
increased, a decrease refused with nothing changed; the topic deleted. A user's Secret written with a generated
password that logs in with SCRAM-SHA-512; the user may produce to the topic its ACLs name and not to another; an
ACL removed from the spec removed from the broker; deletion removes the credential and the ACLs. A KafkaCluster's
dynamic config keys applied to the running broker without a restart (reconcile_cluster with this KafkaAdmin).
"""

from __future__ import annotations

import base64
import copy
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, Producer
from it_support import CLIENT_TIMEOUT_S, wait_for
from kube_fakes import FakeKube
from odradek.operator import cluster, topic, user
from odradek.operator.kafka_admin import KafkaAdmin, admin_config
from odradek.operator.resources import cluster as model
from security_support import SCRAM_USERS, SecureBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {
        "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.scram.bootstrap.credentials": SCRAM_USERS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
    }
    proc = SecureBroker(tmp_path_factory.mktemp("operator"), "SASL_PLAINTEXT", overrides)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture(scope="module")
def admin(broker: SecureBroker) -> KafkaAdmin:
    return KafkaAdmin(admin_config(broker.bootstrap, ("admin", "admin-secret")))


def resource(kind: str, name: str, spec: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    meta = {"name": name, "namespace": "kafka", "uid": f"uid-{name}", "generation": generation}
    meta["labels"] = {"odradek.io/cluster": "my-cluster"}
    return {"apiVersion": "kafka.odradek.io/v1", "kind": kind, "metadata": meta, "spec": spec}


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(x for x in status["conditions"] if x["type"] == "Ready")


def test_topic_created_reverted_grown_refused_and_deleted(admin: KafkaAdmin) -> None:
    name = f"orders-{uuid.uuid4().hex[:6]}"
    body = resource("KafkaTopic", name, {"partitions": 2, "replicas": 1, "config": {"retention.ms": 3600000}})
    status = topic.reconcile_topic(body, admin)
    assert ready(status)["status"] == "True", status
    state = admin.describe_topic(name)
    assert state is not None and (state.partitions, state.replicas) == (2, 1)
    assert state.config == {"retention.ms": "3600000"}
    # the id written after the create comes from DescribeTopics alone (KafkaAdmin.topic_id)
    assert state.topic_id and status["topicId"] == state.topic_id == admin.topic_id(name)
    assert admin.topic_id(f"missing-{name}") is None

    admin.alter_topic_config(name, {"segment.bytes": "1048576", "retention.ms": "1000"}, [])
    assert ready(topic.reconcile_topic(body, admin))["status"] == "True"
    state = admin.describe_topic(name)
    assert state is not None and state.config == {"retention.ms": "3600000"}  # the outside change reverted

    body["spec"]["partitions"] = 3
    assert ready(topic.reconcile_topic(body, admin))["status"] == "True"
    body["spec"]["partitions"] = 1
    body["spec"]["config"]["retention.ms"] = 5000
    refused = ready(topic.reconcile_topic(body, admin))
    assert (refused["status"], refused["reason"]) == ("False", "NotSupported")
    assert "Decreasing partitions not supported" in refused["message"]
    state = admin.describe_topic(name)
    assert state is not None and state.partitions == 3 and state.config["retention.ms"] == "3600000"  # nothing applied

    topic.delete_topic(body, admin)
    wait_for(lambda: admin.describe_topic(name) is None, what="topic deleted")
    topic.delete_topic(body, admin)  # again: already gone is fine


def test_concurrent_reconciles_share_requests_and_keep_per_topic_outcomes(admin: KafkaAdmin) -> None:
    """Twelve KafkaTopics reconciled in twelve threads at once (kopf's executor does this for a bulk apply): their
    CreateTopics, DescribeTopics and DescribeConfigs go out in shared requests (KafkaAdmin's GroupCalls), and one
    topic's refusal (a config the broker rejects) fails only that topic."""
    prefix = f"bulk-{uuid.uuid4().hex[:6]}"
    bodies = [resource("KafkaTopic", f"{prefix}-{i}", {"partitions": 1 + i % 3, "replicas": 1}) for i in range(11)]
    bodies.append(resource("KafkaTopic", f"{prefix}-bad", {"partitions": 1, "config": {"cleanup.policy": "shred"}}))
    before = (admin.create_topics.requests, admin.describe_topics.requests)
    statuses: dict[str, dict[str, Any]] = {}
    start = threading.Barrier(len(bodies))

    def reconcile(body: dict[str, Any]) -> None:
        start.wait(CLIENT_TIMEOUT_S)
        statuses[body["metadata"]["name"]] = topic.reconcile_topic(body, admin)

    threads = [threading.Thread(target=reconcile, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * CLIENT_TIMEOUT_S)
        assert not thread.is_alive()
    for i in range(11):
        name = f"{prefix}-{i}"
        assert ready(statuses[name])["status"] == "True", statuses[name]
        state = admin.describe_topic(name)
        assert state is not None and state.partitions == 1 + i % 3 and statuses[name]["topicId"] == state.topic_id
    refused = ready(statuses[f"{prefix}-bad"])
    assert (refused["status"], refused["reason"]) == ("False", "InvalidConfig"), refused
    assert admin.describe_topic(f"{prefix}-bad") is None
    creates = admin.create_topics.requests - before[0]
    describes = admin.describe_topics.requests - before[1]
    # 12 creates and 12 describes (each reconcile describes first, then reads the created topic's id): shared
    assert creates < 12 and describes < 24, (creates, describes)
    assert admin.create_topics.largest > 1 and admin.describe_topics.largest > 1
    for i in range(11):
        admin.delete_topic(f"{prefix}-{i}")


def produce(broker: SecureBroker, username: str, password: str, topic_name: str) -> int | None:
    """None when one record is acknowledged, else the error's code."""
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": username,
            "sasl.password": password,
            "message.timeout.ms": 8000,
        }
    )
    errors: list[Any] = []
    producer.produce(topic_name, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(CLIENT_TIMEOUT_S)
    assert errors, "no delivery report"
    return None if errors[0] is None else int(errors[0].code())


def test_user_secret_login_and_acls(broker: SecureBroker, admin: KafkaAdmin) -> None:
    suffix = uuid.uuid4().hex[:6]
    allowed, other = f"app-{suffix}", f"secret-{suffix}"
    for name in (allowed, other):
        topic.reconcile_topic(resource("KafkaTopic", name, {"partitions": 1}), admin)
    acls = [
        {"resource": {"type": "topic", "name": "app-", "patternType": "prefix"}, "operations": ["Write", "Describe"]},
        {"resource": {"type": "group", "name": "app"}, "operations": ["Read"]},
    ]
    spec = {
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"type": "simple", "acls": acls},
        "quotas": {"producerByteRate": 1048576, "requestPercentage": 55},
    }
    body = resource("KafkaUser", f"app-user-{suffix}", spec)
    kube = FakeKube()
    status = user.reconcile_user(body, admin, kube)
    assert ready(status)["status"] == "True", status
    secret = kube.get("v1", "Secret", "kafka", body["metadata"]["name"])
    assert secret is not None
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert (
        len(password) == 32
        and f'password="{password}"' in base64.b64decode(secret["data"]["sasl.jaas.config"]).decode()
    )
    username = body["metadata"]["name"]
    assert produce(broker, username, password, allowed) is None
    assert produce(broker, username, password, other) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert len(admin.describe_acls(f"User:{username}")) == 3
    # the quotas are the broker's (AlterClientQuotas, read back with DescribeClientQuotas)
    assert admin.describe_user_quotas(username) == {"producer_byte_rate": 1048576.0, "request_percentage": 55.0}

    # reconciling again keeps the password; dropping the group rule drops its ACL
    body["spec"]["authorization"]["acls"] = acls[:1]
    assert ready(user.reconcile_user(body, admin, kube))["status"] == "True"
    again = kube.get("v1", "Secret", "kafka", username)
    assert again is not None and base64.b64decode(again["data"]["password"]).decode() == password
    assert {rule.resource_type for rule in admin.describe_acls(f"User:{username}")} == {"topic"}
    del body["spec"]["quotas"]["requestPercentage"]
    assert ready(user.reconcile_user(body, admin, kube))["status"] == "True"
    assert admin.describe_user_quotas(username) == {"producer_byte_rate": 1048576.0}

    user.delete_user(body, admin)
    assert admin.describe_acls(f"User:{username}") == set()
    assert admin.describe_user_quotas(username) == {}
    with pytest.raises((KafkaException, AssertionError)):
        assert produce(broker, username, password, allowed) is None


def test_dynamic_broker_config_applied_without_restart_and_read_only_key_rolls(
    broker: SecureBroker, admin: KafkaAdmin
) -> None:
    """reconcile_cluster against the real broker: spec.kafka.config's cluster-wide keys reach it through
    IncrementalAlterConfigs (DescribeConfigs: DYNAMIC_DEFAULT_BROKER_CONFIG) with the pods' config hash unchanged and
    the broker process the same; removed keys go back to their default; a read-only key changes the hash (a roll)."""
    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "kafka-cluster.yaml").read_text())
    example["metadata"].update({"namespace": "kafka", "uid": "uid-cluster", "generation": 1})
    base = {"default.replication.factor": 1, "offsets.topic.replication.factor": 1}
    kube, pid = FakeKube(), broker.pid
    (broker_id,) = admin.broker_ids()

    def reconcile(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
        doc = copy.deepcopy(example)
        doc["spec"]["kafka"]["config"] = {**base, **config}
        status = cluster.reconcile_cluster(doc, kube, admin=admin)
        sts = kube.get("apps/v1", "StatefulSet", "kafka", "my-cluster-kafka") or {}
        return status, str(sts["spec"]["template"]["metadata"]["annotations"][model.CONFIG_HASH_ANNOTATION])

    def described(key: str) -> tuple[str | None, str]:
        entry = admin.describe_broker_configs(str(broker_id))[key]
        return entry.value, entry.source

    _, first_hash = reconcile({})
    dynamic = {"log.retention.ms": 3600000, "compression.type": "lz4", "message.max.bytes": 2000000}
    status, second_hash = reconcile(dynamic)
    assert second_hash == first_hash, "a dynamic-only change must not roll the brokers"
    assert "log.retention.ms=3600000" in status["dynamicConfigUpdate"]["applied"]
    for key, value in dynamic.items():
        assert described(key) == (str(value), "DYNAMIC_DEFAULT_BROKER_CONFIG"), key
    assert broker.alive() and broker.pid == pid  # applied live: the broker was not restarted

    _, third_hash = reconcile({"log.retention.ms": 3600000})  # two keys removed: DELETE, back to the defaults
    assert third_hash == first_hash
    assert described("compression.type") == ("producer", "DEFAULT_CONFIG")
    assert described("message.max.bytes") == ("1048588", "DEFAULT_CONFIG")
    assert described("log.retention.ms") == ("3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG")

    _, rolled_hash = reconcile({"log.retention.ms": 3600000, "num.partitions": 3})  # read-only: needs a restart
    assert rolled_hash != first_hash
    assert described("num.partitions")[1] != "DYNAMIC_DEFAULT_BROKER_CONFIG"

    reconcile({})  # leave the broker's defaults as they were for the other tests
    assert admin.describe_broker_configs("") == {}
    assert broker.alive() and broker.pid == pid
