"""The Secret of a KafkaUser, as Strimzi's user operator writes it (KafkaUserModel): named after the KafkaUser,
Opaque, labelled with the kind and the cluster, owned by the KafkaUser (so it goes with it). For scram-sha-512:
`password` and `sasl.jaas.config` (`org.apache.kafka.common.security.scram.ScramLoginModule required
username="<u>" password="<p>";`); for tls: `ca.crt` (the clients CA), `user.crt`, `user.key`, `user.p12` and
`user.password` (the PKCS#12 bundle's password). `spec.template.secret.metadata` labels and annotations are
added."""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Mapping
from typing import Any

from odradek.operator.labels import CLUSTER_LABEL, KIND_LABEL, cluster_of

PASSWORD_LENGTH = 32  # Strimzi's STRIMZI_SCRAM_SHA_PASSWORD_LENGTH default
_ALPHABET = string.ascii_letters + string.digits


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """Letters and digits only, so that the password needs no quoting in JAAS, shell or properties."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def jaas_config(username: str, password: str) -> str:
    return (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{username}" password="{password}";'
    )


def user_secret(body: Mapping[str, Any], password: str) -> dict[str, Any]:
    """The Secret of a scram-sha-512 user."""
    return _secret(
        body, {"password": password, "sasl.jaas.config": jaas_config(str(body["metadata"]["name"]), password)}
    )


def tls_user_secret(body: Mapping[str, Any], data: Mapping[str, bytes]) -> dict[str, Any]:
    """The Secret of a tls user: `data` holds ca.crt, user.crt, user.key, user.p12 and user.password (binary
    values are base64 in `data`, as the API server stores them)."""
    secret = _secret(body, {})
    del secret["stringData"]
    secret["data"] = {key: base64.b64encode(value).decode() for key, value in sorted(data.items())}
    return secret


def _secret(body: Mapping[str, Any], string_data: Mapping[str, str]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    name = str(meta["name"])
    template = (((body.get("spec") or {}).get("template") or {}).get("secret") or {}).get("metadata") or {}
    labels = {
        **(template.get("labels") or {}),
        KIND_LABEL: "KafkaUser",
        "app.kubernetes.io/managed-by": "odradek-operator",
    }
    cluster = cluster_of(meta)
    if cluster:
        labels[CLUSTER_LABEL] = cluster
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": meta.get("namespace") or "default",
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": str(body.get("apiVersion") or "kafka.odradek.io/v1"),
                "kind": "KafkaUser",
                "name": name,
                "uid": str(meta.get("uid") or ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template.get("annotations"):
        metadata["annotations"] = dict(template["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata,
        "stringData": dict(string_data),
    }
