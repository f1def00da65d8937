"""The certificates of a KafkaCluster, kept in Secrets as Strimzi keeps them, reused until they must change.

Secrets (each owned by the KafkaCluster; ``data`` keys as Strimzi's):

    <c>-cluster-ca-cert   ca.crt                      the cluster CA certificate (clients trust it for TLS listeners)
    <c>-cluster-ca        ca.key                      its private key
    <c>-clients-ca-cert   ca.crt                      the clients CA certificate (brokers trust it for mTLS)
    <c>-clients-ca        ca.key                      its private key (signs KafkaUsers with authentication tls)
    <c>-kafka-brokers     <pod>.crt, <pod>.key,       one certificate per broker pod, signed by the cluster CA, and
                          <pod>.keystore.pem          its PEM keystore (key + certificate + CA: what the broker reads)

A CA is made when its Secrets are missing or unreadable, and again within ``renewal_days`` of its expiry; a broker
certificate is issued again when it is missing, near expiry, not signed by the current cluster CA, or its DNS
names differ from what the cluster needs now (a new listener name, a scaled cluster). What is reused stays
byte-identical, so the pod template's certificate digest, and hence the pods, change only when a certificate does:
the roller then restarts the brokers one at a time.

Not built (docs/not-implemented.md): Strimzi's CA renewal that trusts the old and the new CA during the roll
(here a renewed CA is trusted alone at once, so clients holding only the old ca.crt fail until they fetch the new
one), user-supplied CAs (``generateCertificateAuthority: false``), and CA key replacement policies.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from typing import Any

from odradek.operator.kube import KubeApi
from odradek.operator.resources import certificates as x509
from odradek.operator.resources import cluster as model


def _data(secret: Mapping[str, Any] | None, key: str) -> bytes | None:
    raw = ((secret or {}).get("data") or {}).get(key)
    return base64.b64decode(raw) if raw else None


def load_ca(kube: KubeApi, namespace: str, cluster: str, kind: str) -> x509.CertificateAuthority | None:
    """The stored CA (``kind`` "cluster" or "clients"), or None when its Secrets are missing or incomplete."""
    cert = _data(kube.get("v1", "Secret", namespace, model.ca_cert_secret_name(cluster, kind)), "ca.crt")
    key = _data(kube.get("v1", "Secret", namespace, model.ca_key_secret_name(cluster, kind)), "ca.key")
    return x509.CertificateAuthority(cert, key) if cert and key else None


def _ca(kube: KubeApi, cluster: model.ClusterModel, kind: str, now: datetime.datetime) -> x509.CertificateAuthority:
    current = load_ca(kube, cluster.namespace, cluster.name, kind)
    if current is not None and not x509.needs_renewal(current.cert_pem, now, cluster.ca_renewal_days):
        return current
    return x509.new_ca(f"{kind}-ca v{now:%Y%m%d} {cluster.namespace}/{cluster.name}", now, cluster.ca_validity_days)


def ensure_tls(kube: KubeApi, cluster: model.ClusterModel, now: datetime.datetime) -> x509.ClusterTls:
    """The cluster's CAs and broker certificates: those stored when still good, new ones otherwise (module
    docstring). Writes nothing: the manifests carry them."""
    cluster_ca = _ca(kube, cluster, "cluster", now)
    clients_ca = _ca(kube, cluster, "clients", now)
    stored = kube.get("v1", "Secret", cluster.namespace, model.broker_certs_secret_name(cluster)) or {}
    brokers = {}
    for ordinal in range(cluster.replicas):
        pod = model.broker_pod_name(cluster, ordinal)
        names = model.broker_dns_names(cluster, ordinal)
        cert, key = _data(stored, f"{pod}.crt"), _data(stored, f"{pod}.key")
        if (
            cert
            and key
            and not x509.needs_renewal(cert, now, cluster.ca_renewal_days, signed_by=cluster_ca)
            and sorted(x509.subject_alt_names(cert)) == sorted(names)
        ):
            brokers[pod] = x509.IssuedCertificate(cert, key, cluster_ca.cert_pem)
        else:
            brokers[pod] = x509.issue(
                cluster_ca, pod, now, dns_names=names, server=True, validity_days=cluster.ca_validity_days
            )
    return x509.ClusterTls(cluster_ca, clients_ca, brokers)
