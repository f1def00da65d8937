"""The operator's TLS end to end on a real broker: the certificates and broker settings the KafkaCluster
reconciler makes (cluster CA, clients CA, the broker pod's PEM keystore, mTLS on the listener), and a KafkaUser
with authentication tls reconciled by the real user reconciler through a real AdminClient, whose Secret lets
confluent-kafka log in as `User:CN=<name>` and do exactly what its ACLs allow.

The Kubernetes side is a dictionary (the reconcilers only read and apply Secrets here); the broker is a real
process with the listener keys the operator writes, paths moved from the pod's mounts to a temporary folder.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from it_support import ck_consume, ck_produce, free_port, unique_topic
from kube_fakes import FakeKube, secret_value
from odradek.operator import cluster as cluster_reconciler
from odradek.operator import user as user_reconciler
from odradek.operator.kafka_admin import KafkaAdmin
from odradek.operator.resources import cluster as model
from odradek.operator.resources.user import tls_user_secret
from security_support import SecureBroker

pytestmark = pytest.mark.integration

CLIENT_TIMEOUT_S = 15
LISTENER = {
    "name": "tls",
    "port": 9093,
    "type": "internal",
    "tls": True,
    "authentication": {"type": "tls"},
    # the test's clients connect to "localhost": the broker certificate must name it, as an external address would be
    "configuration": {"bootstrap": {"alternativeNames": ["localhost"]}},
}


def secret_bytes(kube: FakeKube, name: str, key: str) -> bytes:
    secret = kube.get("v1", "Secret", "kafka", name)
    assert secret is not None, name
    return secret_value(secret, key).encode()


def cluster_body() -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaCluster",
        "metadata": {"name": "tlsc", "namespace": "kafka", "uid": "uid-tlsc", "generation": 1},
        "spec": {
            "kafka": {
                "replicas": 1,
                "listeners": [LISTENER],
                "authorization": {"type": "simple", "superUsers": ["CN=admin"]},
                "config": {},
            }
        },
    }


def user_body(name: str, acls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": name,
            "namespace": "kafka",
            "uid": f"uid-{name}",
            "labels": {"odradek.io/cluster": "tlsc"},
        },
        "spec": {"authentication": {"type": "tls"}, "authorization": {"type": "simple", "acls": acls}},
    }


class LocalhostBroker(SecureBroker):
    """Advertises its TLS listener as localhost (the name in its certificate) instead of 127.0.0.1."""

    def _command(self) -> list[str]:
        self.internal_port = self.internal_port or free_port()
        self.overrides["advertised.listeners"] = f"CLIENT://localhost:{self.port},INTERNAL://{self.internal}"
        return super()._command()


@pytest.fixture(scope="module")
def operator_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalhostBroker, FakeKube, Path]]:
    folder = tmp_path_factory.mktemp("operator-tls")
    kube = FakeKube()
    cluster_reconciler.reconcile_cluster(cluster_body(), kube)
    pod = "tlsc-kafka-0"
    keystore = folder / f"{pod}.keystore.pem"
    keystore.write_bytes(secret_bytes(kube, "tlsc-kafka-brokers", f"{pod}.keystore.pem"))
    clients_ca = folder / "clients-ca.crt"
    clients_ca.write_bytes(secret_bytes(kube, "tlsc-clients-ca-cert", "ca.crt"))
    cluster_ca = folder / "cluster-ca.crt"
    cluster_ca.write_bytes(secret_bytes(kube, "tlsc-cluster-ca-cert", "ca.crt"))
    props = model.broker_properties(model.from_resource(cluster_body()))
    overrides = {
        key.replace("listener.name.tls.", "listener.name.client."): value
        for key, value in props.items()
        if key.startswith("listener.name.tls.")
    }
    overrides["listener.name.client.ssl.truststore.location"] = str(clients_ca)  # the pod's /etc/odradek/clients-ca
    overrides["listener.name.client.ssl.keystore.location"] = str(keystore)  # what broker_command sets per pod
    overrides["authorizer.class.name"] = props["authorizer.class.name"]
    overrides["super.users"] = "User:CN=admin;User:ANONYMOUS"  # ANONYMOUS: the test's PLAINTEXT internal listener
    broker = LocalhostBroker(folder / "broker", "SSL", overrides)
    try:
        broker.start()
        yield broker, kube, cluster_ca
    finally:
        broker.cleanup()


def tls_client(kube: FakeKube, user: str, cluster_ca: Path, folder: Path) -> dict[str, Any]:
    """confluent-kafka settings from the user's Secret, as an application mounting it would use them."""
    cert, key = folder / f"{user}.crt", folder / f"{user}.key"
    cert.write_bytes(secret_bytes(kube, user, "user.crt"))
    key.write_bytes(secret_bytes(kube, user, "user.key"))
    return {
        "security.protocol": "SSL",
        "ssl.ca.location": str(cluster_ca),
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
    }


def test_a_tls_kafka_user_logs_in_with_its_secret_and_gets_exactly_its_acls(
    operator_cluster: tuple[LocalhostBroker, FakeKube, Path], tmp_path: Path
) -> None:
    broker, kube, cluster_ca = operator_cluster
    topic = unique_topic("optls")
    # The operator's own admin connection for users: here the super user CN=admin, a KafkaUser itself.
    now = datetime.datetime.now(datetime.UTC)
    admin_data = user_reconciler.user_certificate(user_body("admin", []), kube, now)
    kube.apply(tls_user_secret(user_body("admin", []), admin_data))
    bootstrap = f"localhost:{broker.port}"
    admin = KafkaAdmin({"bootstrap.servers": bootstrap, **tls_client(kube, "admin", cluster_ca, tmp_path)})
    admin.create_topic(topic, 1, 1, {})
    acls = [
        {"resource": {"type": "topic", "name": topic}, "operations": ["Write", "Read", "Describe"]},
        {"resource": {"type": "group", "name": "app-group"}, "operations": ["Read"]},
    ]
    status = user_reconciler.reconcile_user(user_body("app", acls), admin, kube)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", status
    assert status["username"] == "CN=app"

    app = tls_client(kube, "app", cluster_ca, tmp_path)
    values = [f"tls-user-{i}".encode() for i in range(10)]
    acked = ck_produce(bootstrap, topic, values, extra=app)
    assert [offset for _, offset, _ in acked] == list(range(10))
    consumed = ck_consume(bootstrap, topic, 10, extra={**app, "group.id": "app-group"})
    assert [m.value() for m in consumed] == values

    # A second tls user without ACLs authenticates (its certificate is good) but may not write the topic.
    user_reconciler.reconcile_user(user_body("other", []), admin, kube)
    other = tls_client(kube, "other", cluster_ca, tmp_path)
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10_000, **other})
    producer.produce(topic, b"denied", on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(CLIENT_TIMEOUT_S) == 0
    assert [err.code() for err in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    assert broker.alive()
