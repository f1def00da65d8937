"""KafkaUser reconciliation: credentials, ACLs and the user's Secret (Strimzi's user operator).

- scram-sha-512: the password comes from `spec.authentication.password.valueFrom.secretKeyRef`, or is the one
  already in the user's Secret, or is generated (32 letters and digits); the Secret is written, then the
  credential upserted with AlterUserScramCredentials (SCRAM-SHA-512, 4096 iterations).
- tls: a client certificate with subject `CN=<name>` signed by the cluster's clients CA (cluster_ca.py), in the
  user's Secret with the CA certificate and a PKCS#12 bundle; the principal is `User:CN=<name>` (Kafka's default
  principal for a certificate is its subject DN), as Strimzi's. The certificate is kept until it
  is within 30 days of expiry or no longer signed by the current clients CA (a renewed CA), then issued again.
  NotReady NoClientsCa while the cluster has made no clients CA (it has no TLS listener yet).
- tls-external: no credentials; the principal is `User:CN=<name>`, for certificates made outside the operator.
- authorization simple: the user's ACLs (DescribeAcls on the principal) are made exactly spec.authorization.acls:
  missing ones created, others deleted, so rules removed from the spec, or added outside Kubernetes, go.
  Without authorization the user has no ACLs. `plan_acls` is the pure part.
- quotas: Strimzi's `spec.quotas` (producerByteRate, consumerByteRate, requestPercentage, controllerMutationRate)
  are made exactly the quotas of the entity `user=<name>` with AlterClientQuotas: missing or different ones set,
  others removed (also when `spec.quotas` goes away, and on deletion). `plan_quotas` is the pure part.
- Deletion removes the credential and every ACL of the principal; the Secret goes with its owner (the KafkaUser).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from odradek.operator import conditions as c
from odradek.operator.cluster_ca import load_ca
from odradek.operator.kafka_admin import AclRule, AdminError, ClusterAdmin
from odradek.operator.kube import KubeApi
from odradek.operator.labels import cluster_of, paused
from odradek.operator.resources import certificates
from odradek.operator.resources.user import generate_password, tls_user_secret, user_secret

NO_CLIENTS_CA = "NoClientsCa"
TLS_SECRET_KEYS = frozenset({"ca.crt", "user.crt", "user.key", "user.p12", "user.password"})


class InvalidUser(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def username(body: Mapping[str, Any]) -> str:
    """Kafka's user name (Strimzi's KafkaUserModel.getUserName): CN=<name> for TLS users (the subject of the
    certificate the operator issues, or of one made outside it for tls-external), else the name."""
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


QUOTA_KEYS = {
    "producerByteRate": "producer_byte_rate",
    "consumerByteRate": "consumer_byte_rate",
    "requestPercentage": "request_percentage",
    "controllerMutationRate": "controller_mutation_rate",
}


def quotas_of(spec: Mapping[str, Any]) -> dict[str, float]:
    """spec.quotas in Kafka's quota keys."""
    return {QUOTA_KEYS[k]: float(v) for k, v in (spec.get("quotas") or {}).items() if k in QUOTA_KEYS and v is not None}


def plan_quotas(wanted: Mapping[str, float], current: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
    """(to set, to remove) so that the user's quotas become exactly `wanted`."""
    to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
    return to_set, sorted(k for k in current if k not in wanted)


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


def user_certificate(body: Mapping[str, Any], kube: KubeApi, now: datetime.datetime) -> dict[str, bytes]:
    """The tls user's Secret data: the stored one while its certificate is still good, else a new certificate
    from the cluster's clients CA (InvalidUser NoClientsCa when there is none yet)."""
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta["name"])
    cluster = str(cluster_of(meta))
    ca = load_ca(kube, namespace, cluster, "clients")
    if ca is None:
        raise InvalidUser(
            NO_CLIENTS_CA, f"KafkaCluster {cluster} has no clients CA yet (it is made with the first TLS listener)"
        )
    existing = kube.get("v1", "Secret", namespace, name) or {}
    stored = {key: base64.b64decode(value) for key, value in (existing.get("data") or {}).items()}
    if (
        set(stored) >= TLS_SECRET_KEYS
        and stored["ca.crt"] == ca.cert_pem
        and not certificates.needs_renewal(stored["user.crt"], now, signed_by=ca)
    ):
        return {key: stored[key] for key in TLS_SECRET_KEYS}
    issued = certificates.issue(ca, name, now, server=False, organization=None)
    bundle, password = certificates.pkcs12_bundle(issued, name)
    return {
        "ca.crt": ca.cert_pem,
        "user.crt": issued.cert_pem,
        "user.key": issued.key_pem,
        "user.p12": bundle,
        "user.password": password.encode(),
    }


def reconcile_user(
    body: Mapping[str, Any], admin: ClusterAdmin | None, kube: KubeApi, now: datetime.datetime | None = None
) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    name = username(body)
    if paused(meta):
        return c.status(body, [c.Condition(c.PAUSED, True)])
    if cluster_of(meta) is None:
        message = "the KafkaUser needs the label odradek.io/cluster naming its KafkaCluster"
        return c.status(body, [c.not_ready(c.NO_CLUSTER, message)], username=name)
    authentication = (spec.get("authentication") or {}).get("type")
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
        elif authentication == "tls":
            kube.apply(tls_user_secret(body, user_certificate(body, kube, now or datetime.datetime.now(datetime.UTC))))
            admin.delete_scram(name)
            fields["secret"] = str(meta["name"])
        else:
            admin.delete_scram(name)  # authentication removed from the spec: the credential goes
        plan = plan_acls(acl_rules(spec), admin.describe_acls(principal(body)))
        admin.delete_acls(principal(body), plan.delete)
        admin.create_acls(principal(body), plan.create)
        to_set, to_remove = plan_quotas(quotas_of(spec), admin.describe_user_quotas(name))
        admin.alter_user_quotas(name, to_set, to_remove)
    except InvalidUser as exc:
        return c.status(body, [c.not_ready(exc.reason, str(exc))], **fields)
    except AdminError as exc:
        return c.status(body, [c.not_ready(c.KAFKA_ERROR, str(exc))], **fields)
    return c.status(body, [c.ready()], **fields)


def delete_user(body: Mapping[str, Any], admin: ClusterAdmin | None) -> None:
    """Remove the user's credential and every ACL of its principal (idempotent)."""
    if paused(body.get("metadata") or {}) or admin is None:
        return
    admin.delete_scram(username(body))
    admin.delete_acls(principal(body), admin.describe_acls(principal(body)))
    admin.alter_user_quotas(username(body), {}, admin.describe_user_quotas(username(body)))
