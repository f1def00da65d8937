"""A KafkaUser end to end: the operator (KopfRunner, `-m odradek.operator.main`) against the fake API server and a
broker with a SCRAM-SHA-512 listener and the StandardAuthorizer, on which the operator is the super user
`odradek-operator` (its password in the Secret `c1-operator-credentials`, as the operator keeps it). kubectl
applies a KafkaCluster, a KafkaTopic and a KafkaUser with ACLs; the user logs in with the password from its Secret
and may produce to its topic and not to another; `kubectl delete` removes its ACLs and credential."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_operator_kopf import free_port, ready, run_operator, start_broker, stop_broker

# the fake API server (tests/e2e/fake_apiserver, another part of issue 12): skipped where it is not there yet
fake_apiserver = pytest.importorskip("fake_apiserver.fixture")
KubeApi = fake_apiserver.KubeApi
eventually = fake_apiserver.eventually
confluent_kafka = pytest.importorskip("confluent_kafka")

OPERATOR_PASSWORD = "opsecret"
USER_B64, PASSWORD_B64 = (base64.b64encode(v.encode()).decode() for v in ("odradek-operator", OPERATOR_PASSWORD))
CREDENTIALS = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: c1-operator-credentials}}
data: {{username: {USER_B64}, password: {PASSWORD_B64}}}
"""
CLUSTER = """\
apiVersion: kafka.odradek.io/v1
kind: KafkaCluster
metadata: {name: c1}
spec:
  kafka:
    replicas: 1
    listeners: [{name: scram, port: 9094, type: internal, authentication: {type: scram-sha-512}}]
    authorization: {type: simple}
"""
RESOURCES = """\
apiVersion: kafka.odradek.io/v1
kind: KafkaTopic
metadata: {name: app-orders, labels: {odradek.io/cluster: c1}}
spec: {partitions: 1, replicas: 1}
---
apiVersion: kafka.odradek.io/v1
kind: KafkaTopic
metadata: {name: payroll, labels: {odradek.io/cluster: c1}}
spec: {partitions: 1, replicas: 1}
---
apiVersion: kafka.odradek.io/v1
kind: KafkaUser
metadata: {name: app, labels: {odradek.io/cluster: c1}}
spec:
  authentication: {type: scram-sha-512}
  authorization:
    type: simple
    acls:
      - resource: {type: topic, name: app-, patternType: prefix}
        operations: [Write, Describe]
"""


@pytest.fixture
def sasl_broker(tmp_path: Path) -> Iterator[str]:
    client, internal = free_port(), free_port()
    overrides = {
        "listeners": f"CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal}",
        "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.scram.bootstrap.credentials": f"SCRAM-SHA-512=[name=odradek-operator,password={OPERATOR_PASSWORD}]",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:odradek-operator",
    }
    proc = start_broker(tmp_path, client, overrides)
    try:
        yield f"127.0.0.1:{client}"
    finally:
        stop_broker(proc)


@pytest.fixture
def operator(kube_api: KubeApi, sasl_broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from run_operator(kube_api, monkeypatch, sasl_broker)


def secret_value(secret: dict[str, Any], key: str) -> str:
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode()
    return str(secret["stringData"][key])


def produce(broker: str, username: str, password: str, topic: str) -> int | None:
    """None when the record is acknowledged, else the delivery error's code."""
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": broker,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": username,
            "sasl.password": password,
            "message.timeout.ms": 8000,
        }
    )
    errors: list[Any] = []
    producer.produce(topic, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    assert errors, "no delivery report"
    return None if errors[0] is None else int(errors[0].code())


def test_user_logs_in_with_its_secret_and_gets_its_acls(kube_api: KubeApi, sasl_broker: str, operator: Any) -> None:
    assert kube_api.kubectl("apply", "-f", "-", input=CREDENTIALS).returncode == 0
    assert kube_api.kubectl("apply", "-f", "-", input=CLUSTER).returncode == 0
    applied = kube_api.kubectl("apply", "-f", "-", input=RESOURCES)
    assert applied.returncode == 0, applied.stderr
    for resource in ("kafkatopic/app-orders", "kafkatopic/payroll", "kafkauser/app"):
        waited = kube_api.kubectl("wait", resource, "--for=condition=Ready", "--timeout=40s", timeout=50)
        assert waited.returncode == 0, (resource, waited.stderr, kube_api.get("kafkausers", "default", "app"))
    secret = kube_api.get("secrets", "default", "app")
    assert secret is not None
    password = secret_value(secret, "password")
    assert f'username="app" password="{password}"' in secret_value(secret, "sasl.jaas.config")
    assert produce(sasl_broker, "app", password, "app-orders") is None
    assert produce(sasl_broker, "app", password, "payroll") == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED

    deleted = kube_api.kubectl("delete", "kafkauser", "app", "--timeout=30s", timeout=40)
    assert deleted.returncode == 0, deleted.stderr
    assert ready(kube_api, "kafkausers", "app") == {}
    eventually(lambda: produce(sasl_broker, "app", password, "app-orders") is not None, timeout=40)
