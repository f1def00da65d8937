"""KafkaUser reconciliation with a fake admin and a fake Kubernetes API: the Secret as Strimzi writes it, the
SCRAM credential, ACLs made exactly the spec's, refusals, deletion."""

from __future__ import annotations

from typing import Any

from odradek.operator import user
from odradek.operator.kafka_admin import AclRule
from operator_fakes import FakeAdmin, FakeKube, secret_value

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


def test_tls_refused_tls_external_gets_acls_only() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    refused = ready(user.reconcile_user(body(authentication={"type": "tls"}), admin, kube))
    assert refused["reason"] == "NotSupported"
    resource = body(authentication={"type": "tls-external"}, authorization={"type": "simple", "acls": ACLS[:1]})
    status = user.reconcile_user(resource, admin, kube)
    assert status["username"] == "CN=app" and len(admin.acls["User:CN=app"]) == 2
    assert "upsert_scram" not in admin.mutations()


def test_quotas_give_a_warning() -> None:
    status = user.reconcile_user(scram_body(quotas={"producerByteRate": 1024}), FakeAdmin(), FakeKube())
    assert ready(status)["status"] == "True"
    assert any(c["type"] == "Warning" and c["reason"] == "NotSupported" for c in status["conditions"])


def test_delete_removes_credential_and_acls() -> None:
    admin, kube = FakeAdmin(), FakeKube()
    user.reconcile_user(scram_body(), admin, kube)
    user.delete_user(scram_body(), admin)
    assert admin.scram == {} and admin.acls["User:app"] == set()
