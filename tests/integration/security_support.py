"""Support for the security tests: certificates made at test time (never committed) and brokers with secured
listeners.

`Pki(dir)` writes, with the `cryptography` package: a CA, the broker's keystore as Kafka reads a PEM keystore (the
private key followed by the certificate chain, one file), client certificates signed by the CA (`client(cn)`), a
client signed by a CA the broker does not trust (`untrusted_client`), and an expired client certificate.

`SecureBroker` is a BrokerProcess whose first listener (on `port`, the one the readiness line names) uses the given
security protocol; `extra_listener` adds a PLAINTEXT one for set-up and inter-broker use.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from it_support import BrokerProcess, free_port

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";'
)
SCRAM_USERS = (
    "SCRAM-SHA-512=[name=alice,password=alice-secret];SCRAM-SHA-256=[name=alice,password=alice-secret];"
    "SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192]"
)


def _name(cn: str) -> x509.Name:
    """O=Odradek then CN=<cn> in the certificate, which RFC 2253 (most specific first) writes CN=<cn>,O=Odradek."""
    organization = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Odradek")
    return x509.Name([organization, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Pair:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _issue(
    subject: str, issuer: Pair | None, *, ca: bool = False, days: int = 2, past: bool = False, san: bool = False
) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=10 if past else 1)
    end = now - datetime.timedelta(days=5) if past else now + datetime.timedelta(days=days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.cert.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Pair(key, cert)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Pki:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.ca = _issue("Odradek Test CA", None, ca=True, days=5)
        self.ca_path = self._write("ca.pem", _cert_pem(self.ca.cert))
        server = _issue("localhost", self.ca, san=True)
        self.key_password = "keystore-secret"
        # Kafka's PEM keystore: the (here encrypted) private key, then the certificate chain
        self.keystore = self._write(
            "broker.keystore.pem",
            _key_pem(server.key, self.key_password.encode()) + _cert_pem(server.cert) + _cert_pem(self.ca.cert),
        )
        self._other_ca = _issue("Untrusted CA", None, ca=True)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def client(self, cn: str, *, expired: bool = False, untrusted: bool = False) -> tuple[Path, Path]:
        """(certificate PEM path, key PEM path) of a client certificate with subject CN=<cn>,O=Odradek."""
        pair = _issue(cn, self._other_ca if untrusted else self.ca, past=expired)
        tag = f"{cn}{'-expired' if expired else ''}{'-untrusted' if untrusted else ''}"
        return self._write(f"{tag}.cert.pem", _cert_pem(pair.cert)), self._write(f"{tag}.key.pem", _key_pem(pair.key))


class SecureBroker(BrokerProcess):
    """The first listener CLIENT (on `port`) with `protocol`; an INTERNAL PLAINTEXT listener between brokers."""

    def __init__(self, workdir: Path, protocol: str, overrides: dict[str, str]) -> None:
        super().__init__(workdir, overrides=overrides, metrics=False)
        self.protocol = protocol
        self.internal_port = 0

    def _command(self) -> list[str]:
        self.internal_port = self.internal_port or free_port()
        self.overrides.update(
            {
                "listeners": f"CLIENT://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{self.internal_port}",
                "listener.security.protocol.map": f"CLIENT:{self.protocol},INTERNAL:PLAINTEXT",
                "inter.broker.listener.name": "INTERNAL",
            }
        )
        return super()._command()

    @property
    def internal(self) -> str:
        return f"127.0.0.1:{self.internal_port}"


def tls_overrides(pki: Pki, prefix: str = "listener.name.client.", client_auth: str | None = None) -> dict[str, str]:
    overrides = {
        f"{prefix}ssl.keystore.location": str(pki.keystore),
        f"{prefix}ssl.key.password": pki.key_password,
        f"{prefix}ssl.truststore.location": str(pki.ca_path),
    }
    if client_auth:
        overrides[f"{prefix}ssl.client.auth"] = client_auth
    return overrides


def sasl_overrides() -> dict[str, str]:
    return {
        "listener.name.client.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.client.plain.sasl.jaas.config": PLAIN_JAAS,
        "sasl.scram.bootstrap.credentials": SCRAM_USERS,
    }
