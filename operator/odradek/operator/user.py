"""KafkaUser reconciliation: credentials, ACLs and the user's Secret (Strimzi's user operator).

- scram-sha-512: the password comes from `spec.authentication.password.valueFrom.secretKeyRef`, or is the one
  already in the user's Secret, or is generated (32 letters and digits); the Secret is written, then the
  credential upserted with AlterUserScramCredentials (SCRAM-SHA-512, 4096 iterations).
- tls-external: no credentials; the principal is `User:CN=<name>`. tls: NotSupported until the clients CA exists.
- authorization simple: the user's ACLs (DescribeAcls on the principal) are made exactly spec.authorization.acls:
  missing ones created, others deleted, so rules removed from the spec, or added outside Kubernetes, go.
  Without authorization the user has no ACLs. `plan_acls` is the pure part.
- quotas: a Warning (AlterClientQuotas is not served yet); the rest is applied.
- Deletion removes the credential and every ACL of the principal; the Secret goes with its owner (the KafkaUser).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from odradek.operator import conditions as c
from odradek.operator.kafka_admin import AclRule, AdminError, ClusterAdmin
from odradek.operator.kube import KubeApi
from odradek.operator.labels import cluster_of, paused
from odradek.operator.resources.user import generate_password, user_secret


class InvalidUser(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def username(body: Mapping[str, Any]) -> str:
    """Kafka's user name (Strimzi's KafkaUserModel.getUserName): CN=<name> for TLS users, else the name."""
    name = str((body.get("metadata") or {})["name"])
    kind = ((body.get("spec") or {}).get("authentication") or {}).get("type")
    return f"CN={name}" if kind in ("tls", "tls-external") else name


def principal(body: Mapping[str, Any]) -> str:
    return f"User:{username(body)}"


def acl_rules(spec: Mapping[str, Any]) -> set[AclRule]:
    """spec.authorization.acls as one AclRule per operation (Strimzi's `operation` and `operations` both read)."""
    authorization = spec.get("authorization") or {}
    if authorization.get("type") != "simple":
        return set()
    out: set[AclRule] = set()
    for item in authorization.get("acls") or []:
        resource = item.get("resource") or {}
        kind = str(resource.get("type"))
        operations = item.get("operations") or ([item["operation"]] if item.get("operation") else [])
        for operation in operations:
            out.add(
                AclRule(
                    resource_type=kind,
                    name="" if kind == "cluster" else str(resource.get("name", "")),
                    pattern=str(resource.get("patternType") or "literal"),
                    operation=str(operation),
                    host=str(item.get("host") or "*"),
                    permission=str(item.get("type") or "allow"),
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class AclPlan:
    create: frozenset[AclRule]
    delete: frozenset[AclRule]


def plan_acls(wanted: Iterable[AclRule], current: Iterable[AclRule]) -> AclPlan:
    wanted_set, current_set = frozenset(wanted), frozenset(current)
    return AclPlan(create=wanted_set - current_set, delete=current_set - wanted_set)


def _decode(secret: Mapping[str, Any] | None, key: str) -> str | None:
    if not secret:
        return None
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else None


def user_password(body: Mapping[str, Any], kube: KubeApi) -> str:
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    ref = ((((body.get("spec") or {}).get("authentication") or {}).get("password") or {}).get("valueFrom") or {}).get(
        "secretKeyRef"
    )
    if ref:
        value = _decode(kube.get("v1", "Secret", namespace, str(ref["name"])), str(ref["key"]))
        if not value:
            raise InvalidUser(c.INVALID_RESOURCE, f"Secret {ref['name']} has no key {ref['key']}")
        return value
    existing = kube.get("v1", "Secret", namespace, str(meta["name"]))
    return _decode(existing, "password") or generate_password()


def reconcile_user(body: Mapping[str, Any], admin: ClusterAdmin | None, kube: KubeApi) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    name = username(body)
    if paused(meta):
        return c.status(body, [c.Condition(c.PAUSED, True)])
    if cluster_of(meta) is None:
        message = "the KafkaUser needs the label odradek.io/cluster naming its KafkaCluster"
        return c.status(body, [c.not_ready(c.NO_CLUSTER, message)], username=name)
    authentication = (spec.get("authentication") or {}).get("type")
    if authentication == "tls":
        message = "tls authentication needs the clients CA, which this operator does not build yet"
        return c.status(body, [c.not_ready(c.NOT_SUPPORTED, message)], username=name)
    if admin is None:
        message = f"KafkaCluster {cluster_of(meta)} is not ready to be managed (no bootstrap or credentials yet)"
        return c.status(body, [c.not_ready(c.NO_CLUSTER, message)], username=name)
    fields: dict[str, Any] = {"username": name}
    try:
        if authentication == "scram-sha-512":
            password = user_password(body, kube)
            kube.apply(user_secret(body, password))
            admin.upsert_scram(name, password)
            fields["secret"] = str(meta["name"])
        else:
            admin.delete_scram(name)  # authentication removed from the spec: the credential goes
        plan = plan_acls(acl_rules(spec), admin.describe_acls(principal(body)))
        admin.delete_acls(principal(body), plan.delete)
        admin.create_acls(principal(body), plan.create)
    except InvalidUser as exc:
        return c.status(body, [c.not_ready(exc.reason, str(exc))], **fields)
    except AdminError as exc:
        return c.status(body, [c.not_ready(c.KAFKA_ERROR, str(exc))], **fields)
    result = [c.ready()]
    if spec.get("quotas"):
        result.append(c.warning(c.NOT_SUPPORTED, "spec.quotas are not applied yet (AlterClientQuotas)"))
    return c.status(body, result, **fields)


def delete_user(body: Mapping[str, Any], admin: ClusterAdmin | None) -> None:
    """Remove the user's credential and every ACL of its principal (idempotent)."""
    if paused(body.get("metadata") or {}) or admin is None:
        return
    admin.delete_scram(username(body))
    admin.delete_acls(principal(body), admin.describe_acls(principal(body)))
