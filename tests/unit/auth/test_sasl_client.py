"""The inter-broker SASL clients (`auth/sasl_client.py`) against the broker's own mechanism servers: SCRAM-SHA-256
reproducing RFC 7677's client messages, SCRAM-SHA-512 and PLAIN round trips; a wrong password refused by the
server; a server whose signature, nonce or iteration count is wrong refused by the client; and the inter-broker
client configuration (`auth/inter_broker.py`): mechanism, JAAS credentials, TLS context."""

from __future__ import annotations

import base64
import ssl
import sys
from pathlib import Path

import pytest
from odradek.broker.auth.inter_broker import inter_broker_client_config
from odradek.broker.auth.plain import PlainSaslServer
from odradek.broker.auth.sasl import SaslAuthenticationError
from odradek.broker.auth.sasl_client import PlainSaslClient, ScramClientState, ScramSaslClient, sasl_client
from odradek.broker.auth.scram import SHA_256, SHA_512, ScramCredential, ScramMechanism, ScramSaslServer
from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.definitions import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from security_support import Pki

# RFC 7677 section 3
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def server_for(mechanism: ScramMechanism, user: str, password: str, iterations: int = 4096) -> ScramSaslServer:
    credential = ScramCredential.from_password(mechanism, password, iterations)
    return ScramSaslServer(mechanism, {user: credential}.get, b"fake-secret")


def exchange(client: ScramSaslClient, server: ScramSaslServer) -> None:
    token = client.evaluate(None)
    while token is not None:
        token = client.evaluate(server.evaluate(token))


def test_scram_sha_256_client_matches_rfc_7677() -> None:
    credential = ScramCredential.from_password(SHA_256, "pencil", 4096, RFC_SALT)
    server = ScramSaslServer(SHA_256, {"user": credential}.get, b"k", nonce=lambda: RFC_SERVER_NONCE)
    client = ScramSaslClient(SHA_256, "user", "pencil", nonce=lambda: RFC_CLIENT_NONCE)
    assert client.evaluate(None) == RFC_CLIENT_FIRST
    assert client.evaluate(server.evaluate(RFC_CLIENT_FIRST)) == RFC_CLIENT_FINAL
    assert server.evaluate(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert client.evaluate(RFC_SERVER_FINAL) is None
    assert client.complete and server.complete


@pytest.mark.parametrize("mechanism", [SHA_256, SHA_512], ids=lambda m: m.name)
def test_scram_client_authenticates_against_the_server(mechanism: ScramMechanism) -> None:
    server = server_for(mechanism, "broker,one=x", "inter-broker-secret", iterations=8192)
    client = ScramSaslClient(mechanism, "broker,one=x", "inter-broker-secret")  # saslname escaping both ways
    exchange(client, server)
    assert client.complete and server.complete
    assert server.authorization_id == "broker,one=x"


def test_wrong_password_is_refused_by_the_server() -> None:
    server = server_for(SHA_512, "broker", "right")
    client = ScramSaslClient(SHA_512, "broker", "wrong")
    with pytest.raises(SaslAuthenticationError, match="Invalid user credentials"):
        exchange(client, server)
    assert not client.complete and not server.complete


def test_a_server_with_a_bad_signature_is_refused() -> None:
    """A server that does not hold the credential cannot produce the server signature: one flipped bit stands for
    it, and the client refuses the exchange."""
    server = server_for(SHA_512, "broker", "secret")
    client = ScramSaslClient(SHA_512, "broker", "secret")
    final = server.evaluate(client.evaluate(None) or b"")
    client_final = client.evaluate(final)
    assert client_final is not None
    signature = bytearray(base64.b64decode(server.evaluate(client_final)[2:]))
    signature[0] ^= 1
    with pytest.raises(SaslAuthenticationError, match="Invalid server signature"):
        client.evaluate(b"v=" + base64.b64encode(bytes(signature)))
    assert client.state is ScramClientState.FAILED and not client.complete
    with pytest.raises(SaslAuthenticationError):
        client.evaluate(b"")  # nothing after a failure


@pytest.mark.parametrize(
    ("server_first", "message"),
    [
        ("r=someone-elses-nonce,s=c2FsdA==,i=4096", "does not start with the client nonce"),
        ("r=NONCE,s=c2FsdA==,i=4096", "does not start with the client nonce"),  # not extended by the server
        ("r=NONCEmore,s=c2FsdA==,i=1024", "less than the minimum 4096"),
        ("r=NONCEmore,s=c2FsdA==,i=1000000000", "more than the maximum 16384"),
        ("r=NONCEmore,s=!!,i=4096", "bad base64"),
        ("e=unknown-user", "SCRAM server error: unknown-user"),
        ("r=NONCEmore,i=4096,s=c2FsdA==", "format"),
    ],
)
def test_bad_server_first_messages_are_refused(server_first: str, message: str) -> None:
    client = ScramSaslClient(SHA_256, "broker", "secret", nonce=lambda: "NONCE")
    client.evaluate(None)
    with pytest.raises(SaslAuthenticationError, match=message):
        client.evaluate(server_first.encode())


def test_plain_client_against_the_plain_server() -> None:
    server = PlainSaslServer({"broker": "secret"})
    client = sasl_client("PLAIN", "broker", "secret")
    assert isinstance(client, PlainSaslClient)
    token = client.evaluate(None)
    assert token == b"\0broker\0secret"
    assert client.evaluate(server.evaluate(token)) is None
    assert client.complete and server.authorization_id == "broker"
    with pytest.raises(SaslAuthenticationError):
        PlainSaslServer({"broker": "other"}).evaluate(sasl_client("PLAIN", "broker", "secret").evaluate(None) or b"")


SCRAM_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="pw";'
SASL_SSL_LISTENERS = {
    "listeners": "INTERNAL://127.0.0.1:9093,CLIENT://127.0.0.1:9094",
    "listener.security.protocol.map": "INTERNAL:SASL_SSL,CLIENT:SSL",
    "inter.broker.listener.name": "INTERNAL",
}


def test_inter_broker_client_config_reads_the_listener_keys(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    config = BrokerConfig(
        {
            **SASL_SSL_LISTENERS,
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.internal.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
            "listener.name.internal.ssl.keystore.location": str(pki.keystore),
            "listener.name.internal.ssl.key.password": pki.key_password,
            "listener.name.internal.ssl.truststore.location": str(pki.ca_path),
        }
    )
    client = inter_broker_client_config(config)
    assert (client.listener, client.security_protocol, client.mechanism) == ("INTERNAL", "SASL_SSL", "SCRAM-SHA-512")
    assert (client.username, client.password, client.principal) == ("broker", "pw", "User:broker")
    assert client.ssl_context is not None and client.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert client.ssl_context.check_hostname
    assert len(client.ssl_context.get_ca_certs()) == 1  # the listener's truststore, not the system's
    factory = client.sasl_client_factory()
    assert factory is not None and factory().mechanism == "SCRAM-SHA-512"
    relaxed = inter_broker_client_config(
        config.with_overrides({"listener.name.internal.ssl.endpoint.identification.algorithm": ""})
    )
    assert relaxed.ssl_context is not None and not relaxed.ssl_context.check_hostname


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "sasl.mechanism.inter.broker.protocol is GSSAPI"),  # Kafka's default, not implemented
        ({"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256"}, "scram-sha-256.sasl.jaas.config"),
        (
            {
                "sasl.mechanism.inter.broker.protocol": "PLAIN",
                "listener.name.internal.plain.sasl.jaas.config": (
                    'org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";'
                ),
            },
            "no JAAS entry gives the broker's own credentials",
        ),
    ],
)
def test_unusable_inter_broker_sasl_settings_stop_the_start(overrides: dict[str, str], message: str) -> None:
    config = BrokerConfig(
        {
            "listeners": "INTERNAL://127.0.0.1:9093",
            "listener.security.protocol.map": "INTERNAL:SASL_PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            **overrides,
        }
    )
    with pytest.raises(ConfigError, match=message):
        inter_broker_client_config(config)


def test_plaintext_inter_broker_needs_nothing() -> None:
    client = inter_broker_client_config(BrokerConfig({"listeners": "PLAINTEXT://127.0.0.1:9092"}))
    assert (client.security_protocol, client.ssl_context, client.sasl_client_factory()) == ("PLAINTEXT", None, None)
