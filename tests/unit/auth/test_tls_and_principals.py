"""SslPrincipalMapper rules (Kafka's syntax and its documented examples), RFC 2253 subjects from Python's ssl,
principals built per security protocol, the TLS context from configuration, and listener-prefixed keys."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest
from odradek.broker.auth.mechanisms import listener_sasl
from odradek.broker.auth.principal import ANONYMOUS, AuthenticationContext, DefaultKafkaPrincipalBuilder, KafkaPrincipal
from odradek.broker.auth.ssl_factory import server_context
from odradek.broker.auth.ssl_principal import NoMatchingRule, SslPrincipalMapper, rfc2253
from odradek.broker.config.broker import SecurityProtocol, build
from odradek.broker.config.definitions import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from security_support import PLAIN_JAAS, Pki

DN = "CN=kafka-server1,OU=KAFKA,O=Acme,C=US"


@pytest.mark.parametrize(
    ("rules", "dn", "name"),
    [
        (None, DN, DN),  # DEFAULT: the whole DN
        ("DEFAULT", DN, DN),
        (
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT",
            "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown",
            "serviceuser",
        ),
        ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", DN, DN),  # first rule does not apply
        (
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown",
            "adminuser@admin",
        ),
        ("RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L", "cn=TestUser,ou=eng", "testuser"),
        ("RULE:^CN=(.*?),OU=(.*?)$/$1/U", "CN=alice,OU=eng", "ALICE"),
        ("RULE:^CN=(.*?),OU=(.*?)$/$1\\/$2/", "CN=alice,OU=eng", "alice/eng"),  # escaped slash
        ("RULE:^CN=(.*?),OU=(.*?)$/$3-$1/", "CN=alice,OU=eng", "$3-alice"),  # no group 3: literal text
        ("  RULE:^CN=(.*)$/$1/L ,  DEFAULT  ", "CN=Bob", "bob"),  # spaces around rules
    ],
)
def test_ssl_principal_mapping_rules(rules: str | None, dn: str, name: str) -> None:
    assert SslPrincipalMapper(rules).name(dn) == name


def test_no_matching_rule_and_invalid_rules() -> None:
    with pytest.raises(NoMatchingRule):
        SslPrincipalMapper("RULE:^CN=(.*)$/$1/").name("O=nobody")
    for bad in ("RULE:^CN=(.*)$/$1/X", "RULE:^CN=(.*)$", "RULE:^CN=((.*)$/$1/"):
        with pytest.raises(ConfigError, match="Invalid rule"):
            SslPrincipalMapper(bad)


def test_rfc2253_subject_is_most_specific_first_and_escaped() -> None:
    subject = ((("countryName", "US"),), (("organizationName", "Acme, Inc"),), (("commonName", "alice"),))
    assert rfc2253(subject) == "CN=alice,O=Acme\\, Inc,C=US"


def test_principals_per_security_protocol() -> None:
    builder = DefaultKafkaPrincipalBuilder(SslPrincipalMapper("RULE:^CN=(.*?),O=.*$/$1/"))
    ssl_context = AuthenticationContext(SecurityProtocol.SSL, "h", "L", ssl_subject="CN=alice,O=Acme")
    assert builder.build(ssl_context) == KafkaPrincipal("User", "alice")
    assert builder.build(AuthenticationContext(SecurityProtocol.SSL, "h", "L")) == ANONYMOUS  # no certificate
    assert builder.build(AuthenticationContext(SecurityProtocol.PLAINTEXT, "h", "L")) == ANONYMOUS
    sasl = AuthenticationContext(SecurityProtocol.SASL_SSL, "h", "L", "CN=alice,O=Acme", sasl_authorization_id="bob")
    assert builder.build(sasl) == KafkaPrincipal("User", "bob")  # SASL's user, not the certificate


def test_tls_context_from_a_pem_keystore_and_listener_prefixed_keys(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    config = build(
        [
            {
                "listeners": "SECURE://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092",
                "listener.security.protocol.map": "SECURE:SSL,PLAINTEXT:PLAINTEXT",
                "ssl.keystore.location": "/nonexistent",  # the listener's own value wins
                "listener.name.secure.ssl.keystore.location": str(pki.keystore),
                "listener.name.secure.ssl.key.password": pki.key_password,
                "listener.name.secure.ssl.truststore.location": str(pki.ca_path),
                "listener.name.secure.ssl.client.auth": "required",
                "listener.name.secure.ssl.enabled.protocols": "TLSv1.3",
            }
        ]
    )
    context = server_context("SECURE", lambda key: config.listener_get("SECURE", key))
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.minimum_version is ssl.TLSVersion.TLSv1_3 and context.maximum_version is ssl.TLSVersion.TLSv1_3
    with pytest.raises(ConfigError, match="cannot load the TLS key"):
        server_context("PLAINTEXT", lambda key: config.listener_get("PLAINTEXT", key))
    inline = {
        "ssl.keystore.key": pki.keystore.read_text().split("-----END ENCRYPTED PRIVATE KEY-----")[0]
        + "-----END ENCRYPTED PRIVATE KEY-----",
        "ssl.keystore.certificate.chain": pki.keystore.read_text().split("-----END ENCRYPTED PRIVATE KEY-----")[1],
        "ssl.key.password": pki.key_password,
        "ssl.truststore.certificates": pki.ca_path.read_text(),
        "ssl.client.auth": "requested",
    }
    assert server_context("X", inline.get).verify_mode is ssl.CERT_OPTIONAL
    with pytest.raises(ConfigError, match=r"TLSv1\.2 and TLSv1\.3"):
        build([{"ssl.enabled.protocols": "TLSv1.1"}])
    with pytest.raises(ConfigError, match="Unknown configuration key"):
        build([{"listener.name.secure.log.dirs": "/x"}])  # only per-listener keys take the prefix


def test_sasl_mechanisms_per_listener_and_jaas_per_mechanism() -> None:
    config = build(
        [
            {
                "listeners": "A://127.0.0.1:1,B://127.0.0.1:2,PLAINTEXT://127.0.0.1:3",
                "listener.security.protocol.map": "A:SASL_PLAINTEXT,B:SASL_SSL,PLAINTEXT:PLAINTEXT",
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "listener.name.a.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
                "listener.name.a.plain.sasl.jaas.config": PLAIN_JAAS,
            }
        ]
    )
    a, b = listener_sasl(config, "A"), listener_sasl(config, "B")
    assert a.enabled == ("PLAIN", "SCRAM-SHA-256") and a.plain_passwords["alice"] == "alice-secret"
    assert b.enabled == ("SCRAM-SHA-512",) and b.server("PLAIN", lambda m, u: None) is None
    bad = build(
        [
            {
                "listeners": "A://127.0.0.1:1,PLAINTEXT://127.0.0.1:3",
                "listener.security.protocol.map": "A:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "sasl.enabled.mechanisms": "PLAIN",
            }
        ]
    )
    with pytest.raises(ConfigError, match="enables PLAIN but no JAAS"):
        listener_sasl(bad, "A")


def test_password_keys_are_never_described() -> None:
    from odradek.broker.config.topic import describe_broker

    config = build(
        [{"ssl.key.password": "hush", "sasl.scram.bootstrap.credentials": "SCRAM-SHA-256=[name=a,password=b]"}]
    )
    entries = {entry.name: entry for entry in describe_broker(config)}
    for name in ("ssl.key.password", "sasl.scram.bootstrap.credentials", "sasl.jaas.config"):
        entry = entries[name]
        assert entry.sensitive and entry.value is None and all(s.value is None for s in entry.synonyms)
    assert entries["ssl.client.auth"].value == "none" and not entries["ssl.client.auth"].sensitive
