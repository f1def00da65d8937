"""X.509 for a KafkaCluster (Strimzi's model): a cluster CA that signs the brokers' certificates, a clients CA that
signs KafkaUsers' certificates, with ``cryptography``. No I/O and no clock: the caller passes ``now`` and keeps
what it stored (keys and serial numbers are random).

Keys are ECDSA P-256 (fast to make, accepted by OpenSSL-based clients, Java and Go). A CA certificate is valid for
``validity_days`` (Strimzi's default 365) and has basicConstraints CA:true, pathlen 0, keyCertSign and cRLSign; a
leaf certificate is valid for the same time but never beyond its CA, with extendedKeyUsage serverAuth (brokers)
or clientAuth (users) and, for brokers, the DNS names clients and brokers connect to as subjectAltNames.
``needs_renewal`` is true inside the renewal window (Strimzi's ``renewalDays``, 30) and for a certificate that is
not signed by the given CA (after a CA renewal, everything it signed is issued again).

PEM layouts, as the broker reads them (docs/security.md): a broker's ``keystore`` is the private key followed by
its certificate and the CA certificate (Kafka's PEM keystore: key plus chain in one file).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_RENEWAL_DAYS",
    "DEFAULT_VALIDITY_DAYS",
    "CertificateAuthority",
    "ClusterTls",
    "IssuedCertificate",
    "issue",
    "needs_renewal",
    "new_ca",
    "pkcs12_bundle",
    "subject_alt_names",
]

DEFAULT_VALIDITY_DAYS = 365
DEFAULT_RENEWAL_DAYS = 30
ORGANIZATION = "io.odradek"
_BACKDATE = datetime.timedelta(minutes=5)  # clock skew between the operator and the pods


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    @property
    def keystore_pem(self) -> bytes:
        """Key, certificate, CA certificate: Kafka's PEM keystore file."""
        return self.key_pem + self.cert_pem + self.ca_pem


@dataclass(frozen=True, slots=True)
class ClusterTls:
    """What the manifests need: both CAs and every broker pod's certificate by pod name."""

    cluster_ca: CertificateAuthority
    clients_ca: CertificateAuthority
    brokers: Mapping[str, IssuedCertificate]

    @property
    def digest(self) -> str:
        """Changes whenever a certificate a broker uses changes (the pod template's annotation)."""
        h = hashlib.sha256(self.cluster_ca.cert_pem + self.clients_ca.cert_pem)
        for pod in sorted(self.brokers):
            h.update(pod.encode() + self.brokers[pod].cert_pem)
        return h.hexdigest()[:16]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organization: str | None = ORGANIZATION) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def new_ca(
    common_name: str, now: datetime.datetime, validity_days: int = DEFAULT_VALIDITY_DAYS
) -> CertificateAuthority:
    key = _key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: CertificateAuthority,
    common_name: str,
    now: datetime.datetime,
    *,
    dns_names: Sequence[str] = (),
    server: bool,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    organization: str | None = ORGANIZATION,
) -> IssuedCertificate:
    """A leaf certificate signed by ``ca``: a broker's (``server``: serverAuth and clientAuth, since brokers are
    clients of each other) or a user's (clientAuth), subject ``O=<organization>, CN=<common_name>`` (just
    ``CN=<common_name>`` without an organization: Strimzi's user certificates, whose principal is
    ``User:CN=<name>``)."""
    ca_cert = ca.certificate
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = _key()
    not_after = min(now + datetime.timedelta(days=validity_days), ca_cert.not_valid_after_utc)
    usages = (
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if server
        else [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return IssuedCertificate(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), ca.cert_pem)


def subject_alt_names(cert_pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(extension.value.get_values_for_type(x509.DNSName))


def needs_renewal(
    cert_pem: bytes | None,
    now: datetime.datetime,
    renewal_days: int = DEFAULT_RENEWAL_DAYS,
    signed_by: CertificateAuthority | None = None,
) -> bool:
    """True for a missing or unreadable certificate, one that expires within ``renewal_days``, or one not signed
    by ``signed_by``."""
    if not cert_pem:
        return True
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return True
    if cert.not_valid_after_utc - now <= datetime.timedelta(days=renewal_days):
        return True
    if signed_by is not None:
        try:
            cert.verify_directly_issued_by(signed_by.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return True
    return False


def pkcs12_bundle(issued: IssuedCertificate, name: str) -> tuple[bytes, str]:
    """``user.p12`` and ``user.password`` as Strimzi's user Secret has them: the key and certificate (with the CA
    certificate) in PKCS#12, encrypted with a generated password."""
    password = secrets.token_urlsafe(24)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC key")
    bundle = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        x509.load_pem_x509_certificate(issued.cert_pem),
        [x509.load_pem_x509_certificate(issued.ca_pem)],
        serialization.BestAvailableEncryption(password.encode()),
    )
    return bundle, password
