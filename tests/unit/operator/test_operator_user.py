"""KafkaUser reconciliation with a fake admin and a fake Kubernetes API: the Secret as Strimzi writes it, the
SCRAM credential, ACLs made exactly the spec's, refusals, deletion."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from cryptography.hazmat.primitives.serialization import pkcs12
from odradek.operator import user
from odradek.operator.kafka_admin import AclRule
from odradek.operator.resources import certificates as certs
from operator_fakes import FakeAdmin, FakeKube, secret_value

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
ACLS = [
    {"resource": {"type": "topic", "name": "orders", "patternType": "prefix"}, "operations": ["Read", "Write"]},
    {"resource": {"type": "group", "name": "app"}, "operation": "Read", "type": "deny", "host": "10.0.0.1"},
    {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]},
]


def body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": "app",
            "namespace": "kafka",
            "uid": "uid-app",
            "generation": 2,
            "labels": {"odradek.io/cluster": "my-cluster"},
        },
        "spec": spec,
    }


def scram_body(acls: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return body(
        authentication={"type": "scram-sha-512"}, authorization={"type": "simple", "acls": acls or ACLS}, **extra
    )


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_acl_rules_one_per_operation_with_defaults() -> None:
    rules = user.acl_rules(scram_body()["spec"])
    assert rules == {
        AclRule("topic", "orders", "prefix", "Read", "*", "allow"),
        AclRule("topic", "orders", "prefix", "Write", "*", "allow"),
        AclRule("group", "app", "literal", "Read", "10.0.0.1", "deny"),
        AclRule("cluster", "", "literal", "IdempotentWrite", "*", "allow"),
    }
    assert user.acl_rules({"authorization": None}) == set()


def test_plan_acls_is_a_set_difference() -> None:
    a, b, c = (AclRule("topic", n, "literal", "Read", "*", "allow") for n in "abc")
    plan = user.plan_acls([a, b], [b, c])
    assert (plan.create, plan.delete) == ({a}, {c})


def test_scram_user_gets_secret_credential_and_acls() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    status = user.reconcile_user(scram_body(), admin, kube)
    assert ready(status)["status"] == "True"
    assert (status["username"], status["secret"], status["observedGeneration"]) == ("app", "app", 2)
    secret = kube.get("v1", "Secret", "kafka", "app")
    assert secret is not None
    password = secret_value(secret, "password")
    assert len(password) == 32 and password.isalnum()
    assert secret_value(secret, "sasl.jaas.config") == (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="app" password="{password}";'
    )
    assert secret["metadata"]["labels"]["odradek.io/cluster"] == "my-cluster"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-app"
    assert admin.scram == {"app": password}
    assert admin.acls["User:app"] == user.acl_rules(scram_body()["spec"])


def test_password_kept_across_reconciles_and_acls_converge() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    user.reconcile_user(scram_body(), admin, kube)
    first = secret_value(kube.objects[("Secret", "kafka", "app")], "password")
    stray = AclRule("topic", "payroll", "literal", "Read", "*", "allow")
    admin.acls["User:app"].add(stray)  # added outside Kubernetes
    user.reconcile_user(scram_body(ACLS[:1]), admin, kube)
    assert secret_value(kube.objects[("Secret", "kafka", "app")], "password") == first
    assert admin.acls["User:app"] == user.acl_rules(scram_body(ACLS[:1])["spec"])


def test_password_from_a_secret() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "given", "namespace": "kafka"},
                "stringData": {"pw": "s3cret"}})  # fmt: skip
    ref = {"valueFrom": {"secretKeyRef": {"name": "given", "key": "pw"}}}
    resource = body(authentication={"type": "scram-sha-512", "password": ref})
    assert ready(user.reconcile_user(resource, admin, kube))["status"] == "True"
    assert admin.scram == {"app": "s3cret"}
    ref["valueFrom"]["secretKeyRef"]["key"] = "missing"
    refused = ready(user.reconcile_user(resource, admin, kube))
    assert (refused["status"], refused["reason"]) == ("False", "InvalidResource")


def clients_ca(kube: FakeKube, now: datetime.datetime = NOW) -> certs.CertificateAuthority:
    """A clients CA in the cluster's Secrets, as cluster_ca.py stores it."""
    ca = certs.new_ca("clients-ca", now)
    for name, key, value in (
        ("my-cluster-clients-ca-cert", "ca.crt", ca.cert_pem),
        ("my-cluster-clients-ca", "ca.key", ca.key_pem),
    ):
        kube.put(
            {
                "kind": "Secret",
                "metadata": {"name": name, "namespace": "kafka"},
                "data": {key: base64.b64encode(value).decode()},
            }
        )
    return ca


def user_data(kube: FakeKube) -> dict[str, bytes]:
    data = kube.objects[("Secret", "kafka", "app")]["data"]
    return {key: base64.b64decode(value) for key, value in data.items()}


def test_a_tls_user_waits_for_the_clients_ca() -> None:
    refused = ready(user.reconcile_user(body(authentication={"type": "tls"}), FakeAdmin(), FakeKube(), now=NOW))
    assert (refused["status"], refused["reason"]) == ("False", "NoClientsCa")


def test_a_tls_user_gets_a_certificate_from_the_clients_ca_kept_until_renewal() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    ca = clients_ca(kube)
    resource = body(authentication={"type": "tls"}, authorization={"type": "simple", "acls": ACLS[:1]})
    status = user.reconcile_user(resource, admin, kube, now=NOW)
    assert ready(status)["status"] == "True" and status["username"] == "CN=app" and status["secret"] == "app"
    data = user_data(kube)
    assert set(data) == {"ca.crt", "user.crt", "user.key", "user.p12", "user.password"}
    assert data["ca.crt"] == ca.cert_pem and not certs.needs_renewal(data["user.crt"], NOW, signed_by=ca)
    key, cert, _ = pkcs12.load_key_and_certificates(data["user.p12"], data["user.password"])
    assert key is not None and cert is not None and cert.subject.rfc4514_string() == "CN=app"
    assert len(admin.acls["User:CN=app"]) == 2
    user.reconcile_user(resource, admin, kube, now=NOW + datetime.timedelta(days=300))
    assert user_data(kube) == data, "a good certificate is kept"
    user.reconcile_user(resource, admin, kube, now=NOW + datetime.timedelta(days=340))
    assert user_data(kube)["user.crt"] != data["user.crt"], "renewed inside the 30-day window"
    renewed_ca = clients_ca(kube)
    user.reconcile_user(resource, admin, kube, now=NOW)
    assert not certs.needs_renewal(user_data(kube)["user.crt"], NOW, signed_by=renewed_ca), "a new CA re-issues"


def test_tls_external_gets_acls_only() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    resource = body(authentication={"type": "tls-external"}, authorization={"type": "simple", "acls": ACLS[:1]})
    status = user.reconcile_user(resource, admin, kube)
    assert status["username"] == "CN=app" and len(admin.acls["User:CN=app"]) == 2
    assert "upsert_scram" not in admin.mutations()


def test_quotas_are_made_exactly_the_spec_and_removed_with_the_user() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    admin.quotas["app"] = {"request_percentage": 50.0}  # set outside Kubernetes: goes
    resource = scram_body(quotas={"producerByteRate": 1024, "consumerByteRate": 2048})
    status = user.reconcile_user(resource, admin, kube)
    assert ready(status)["status"] == "True"
    assert not any(c["type"] == "Warning" for c in status["conditions"])
    assert admin.quotas["app"] == {"producer_byte_rate": 1024.0, "consumer_byte_rate": 2048.0}
    admin.calls.clear()
    user.reconcile_user(resource, admin, kube)
    assert "alter_user_quotas" not in admin.mutations(), "unchanged quotas are not written again"
    user.reconcile_user(scram_body(quotas={"producerByteRate": 4096}), admin, kube)
    assert admin.quotas["app"] == {"producer_byte_rate": 4096.0}
    user.delete_user(scram_body(), admin)
    assert admin.quotas["app"] == {}


def test_plan_quotas() -> None:
    assert user.plan_quotas({"a": 1.0, "b": 2.0}, {"b": 3.0, "c": 1.0}) == ({"a": 1.0, "b": 2.0}, ["c"])
    assert user.plan_quotas({"a": 1.0}, {"a": 1.0}) == ({}, [])


def test_delete_removes_credential_and_acls() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    user.reconcile_user(scram_body(), admin, kube)
    user.delete_user(scram_body(), admin)
    assert admin.scram == {} and admin.acls["User:app"] == set()
