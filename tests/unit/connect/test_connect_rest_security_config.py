"""REST listener security settings (odradek.connect.rest.security): advertised URL, the all-or-nothing
`listeners.https.` prefix, PEM-only stores, ssl.client.authentication, and basic authentication's JAAS file."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from odradek.connect.config.configdef import ConfigException
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.rest.security import (
    BASIC_AUTH_EXTENSION,
    PROPERTY_FILE_LOGIN_MODULE,
    BasicAuthenticator,
    RestListener,
    advertised_address,
    advertised_scheme,
    credentials_file,
    jaas_file,
    parse_listeners,
    server_ssl_context,
    ssl_settings,
)


def test_advertised_scheme_prefers_http_then_the_named_listener() -> None:
    both = parse_listeners(["https://127.0.0.1:8443", "http://127.0.0.1:8083"])
    assert advertised_scheme(WorkerConfig.parse({}), both) == "http"
    assert advertised_scheme(WorkerConfig.parse({}), parse_listeners(["https://:8443"])) == "https"
    config = WorkerConfig.parse({"rest.advertised.listener": "HTTPS"})
    assert advertised_scheme(config, both) == "https"
    with pytest.raises(ConfigException, match="names no listener"):
        advertised_scheme(config, parse_listeners(["http://:8083"]))


def test_advertised_address() -> None:
    listener = RestListener("https", "127.0.0.1", 0)
    assert advertised_address(WorkerConfig.parse({}), listener, 40001) == "127.0.0.1:40001"
    config = WorkerConfig.parse({"rest.advertised.host.name": "w1.example", "rest.advertised.port": "443"})
    assert advertised_address(config, listener, 40001) == "w1.example:443"


def test_listeners_https_prefix_is_all_or_nothing() -> None:
    top = {"ssl.keystore.location": "/top.pem", "ssl.truststore.location": "/ca.pem"}
    assert ssl_settings(WorkerConfig.parse(top)) == top
    prefixed = WorkerConfig.parse({**top, "listeners.https.ssl.keystore.location": "/https.pem"})
    # the truststore is not inherited from the top-level keys once one prefixed key is set (Kafka's rule)
    assert ssl_settings(prefixed) == {"ssl.keystore.location": "/https.pem"}


def test_tls_settings_refused() -> None:
    with pytest.raises(ConfigException, match=r"needs ssl.keystore.location"):
        server_ssl_context(WorkerConfig.parse({}))
    with pytest.raises(ConfigException, match=r"ssl.keystore.type=JKS is not supported"):
        server_ssl_context(WorkerConfig.parse({"ssl.keystore.location": "/k.jks"}))
    with pytest.raises(ConfigException, match=r"ssl.truststore.type=PKCS12 is not supported"):
        server_ssl_context(
            WorkerConfig.parse(
                {
                    "ssl.keystore.location": "/k.pem",
                    "ssl.keystore.type": "PEM",
                    "ssl.truststore.location": "/t.p12",
                    "ssl.truststore.type": "PKCS12",
                }
            )
        )
    with pytest.raises(ConfigException, match="cannot be loaded"):
        server_ssl_context(
            WorkerConfig.parse({"ssl.keystore.location": "/nonexistent.pem", "ssl.keystore.type": "PEM"})
        )
    with pytest.raises(ConfigException, match=r"ssl.client.authentication"):
        WorkerConfig.parse({"ssl.client.authentication": "always"})
    with pytest.raises(ConfigException, match="must be none, requested or required"):
        server_ssl_context(WorkerConfig.parse({"listeners.https.ssl.client.authentication": "always"}))


JAAS = """
// users of the REST API
KafkaServer { org.apache.kafka.common.security.plain.PlainLoginModule required username="x" password="y"; };
KafkaConnect {
    org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required
    file="{file}";
};
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_from_jaas_file(tmp_path: Path) -> None:
    users = tmp_path / "credentials.properties"
    users.write_text("alice=alice-secret\nbob: bob:colon\n", encoding="utf-8")
    jaas = tmp_path / "connect.jaas"
    jaas.write_text(JAAS.replace("{file}", str(users)), encoding="utf-8")
    environ = {"KAFKA_OPTS": f"-Xmx1g -Djava.security.auth.login.config={jaas}"}
    config = WorkerConfig.parse({"rest.extension.classes": BASIC_AUTH_EXTENSION})
    authenticator = BasicAuthenticator.from_worker(config, environ)
    assert authenticator is not None
    assert authenticator.authenticated(basic("alice", "alice-secret"))
    assert authenticator.authenticated("basic " + basic("bob", "bob:colon").split()[1])  # the scheme in any case
    assert not authenticator.authenticated(basic("alice", "wrong"))
    assert not authenticator.authenticated(basic("mallory", "alice-secret"))
    assert not authenticator.authenticated(None)
    assert not authenticator.authenticated("Bearer abc")
    assert not authenticator.authenticated("Basic !!!not-base64")
    assert BasicAuthenticator.from_worker(WorkerConfig.parse({}), environ) is None


def test_basic_auth_refusals(tmp_path: Path) -> None:
    config = WorkerConfig.parse({"rest.extension.classes": BASIC_AUTH_EXTENSION})
    with pytest.raises(ConfigException, match="needs a JAAS file"):
        BasicAuthenticator.from_worker(config, {})
    with pytest.raises(ConfigException, match=r"com.example.MyExtension not found"):
        BasicAuthenticator.from_worker(WorkerConfig.parse({"rest.extension.classes": "com.example.MyExtension"}), {})
    assert jaas_file({"KAFKA_OPTS": "-Djava.security.auth.login.config==/etc/j.conf"}) == "/etc/j.conf"
    with pytest.raises(ConfigException, match="no KafkaConnect entry"):
        credentials_file("KafkaServer { x required; };", "j.conf")
    with pytest.raises(ConfigException, match="must use"):
        credentials_file("KafkaConnect { com.example.Other required file=x; };", "j.conf")
    with pytest.raises(ConfigException, match="has no file option"):
        credentials_file(f"KafkaConnect {{ {PROPERTY_FILE_LOGIN_MODULE} required; }};", "j.conf")
