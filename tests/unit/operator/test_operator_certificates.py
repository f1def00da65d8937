"""The operator's X.509 (resources/certificates.py): CAs, broker and user certificates, renewal decisions."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from odradek.operator.resources import certificates as certs

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_a_ca_signs_a_broker_certificate_with_its_names_and_both_usages() -> None:
    ca = certs.new_ca("cluster-ca", NOW)
    assert load(ca.cert_pem).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    broker = certs.issue(ca, "c-kafka-0", NOW, dns_names=["c-kafka-0.c-kafka-brokers", "localhost"], server=True)
    cert = load(broker.cert_pem)
    cert.verify_directly_issued_by(load(ca.cert_pem))
    assert certs.subject_alt_names(broker.cert_pem) == ["c-kafka-0.c-kafka-brokers", "localhost"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages and ExtendedKeyUsageOID.CLIENT_AUTH in usages
    assert broker.keystore_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert broker.keystore_pem.endswith(ca.cert_pem)


def test_a_user_certificate_is_cn_only_client_auth_and_never_outlives_its_ca() -> None:
    ca = certs.new_ca("clients-ca", NOW, validity_days=10)
    user = certs.issue(ca, "app", NOW, server=False, organization=None)
    cert = load(user.cert_pem)
    assert cert.subject.rfc4514_string() == "CN=app"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert cert.not_valid_after_utc == load(ca.cert_pem).not_valid_after_utc
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []


def test_renewal_inside_the_window_after_a_ca_change_and_for_garbage() -> None:
    ca = certs.new_ca("cluster-ca", NOW, validity_days=365)
    leaf = certs.issue(ca, "b", NOW, server=True)
    assert not certs.needs_renewal(leaf.cert_pem, NOW, 30, signed_by=ca)
    assert not certs.needs_renewal(leaf.cert_pem, NOW + datetime.timedelta(days=334), 30)
    assert certs.needs_renewal(leaf.cert_pem, NOW + datetime.timedelta(days=336), 30)
    assert certs.needs_renewal(leaf.cert_pem, NOW, 30, signed_by=certs.new_ca("other", NOW))
    assert certs.needs_renewal(None, NOW) and certs.needs_renewal(b"not a certificate", NOW)


def test_the_pkcs12_bundle_opens_with_its_password() -> None:
    ca = certs.new_ca("clients-ca", NOW)
    user = certs.issue(ca, "app", NOW, server=False, organization=None)
    bundle, password = certs.pkcs12_bundle(user, "app")
    key, cert, extra = pkcs12.load_key_and_certificates(bundle, password.encode())
    assert key is not None and cert is not None and cert.subject.rfc4514_string() == "CN=app"
    assert [c.subject for c in extra] == [load(ca.cert_pem).subject]
