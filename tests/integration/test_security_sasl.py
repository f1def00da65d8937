"""SASL_PLAINTEXT end to end: PLAIN (users from the listener's PlainLoginModule JAAS entry) and SCRAM-SHA-256/512
(bootstrap users from sasl.scram.bootstrap.credentials, stored salted in the metadata store), with confluent-kafka,
kafka-python and kcat; failures (wrong password, unknown user, requests before authentication, an oversized
pre-authentication frame, PLAIN with a foreign authorization id, an unsupported mechanism) answered and closed
without harming the broker or other connections; the legacy unframed token path after SaslHandshake v0.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from it_support import (
    CLIENT_TIMEOUT_S,
    api_versions_roundtrip,
    ck_consume,
    ck_create_topic,
    ck_produce,
    is_closed,
    raw_call,
    raw_connect,
    recv_frame,
    request_frame,
    unique_topic,
)
from odradek.broker.protocol.messages.sasl_authenticate_request import SaslAuthenticateRequest
from odradek.broker.protocol.messages.sasl_handshake_request import SaslHandshakeRequest
from security_support import SecureBroker, sasl_overrides

pytestmark = pytest.mark.integration

USERS = {"PLAIN": ("alice", "alice-secret"), "SCRAM-SHA-256": ("alice", "alice-secret")}
USERS["SCRAM-SHA-512"] = ("admin", "admin-secret")


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    proc = SecureBroker(tmp_path_factory.mktemp("sasl"), "SASL_PLAINTEXT", sasl_overrides())
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def sasl_config(mechanism: str, user: str, password: str) -> dict[str, Any]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_confluent_kafka_produces_and_consumes_with_each_mechanism(sasl_broker: SecureBroker, mechanism: str) -> None:
    topic = unique_topic("sasl")
    ck_create_topic(sasl_broker.internal, topic)
    extra = sasl_config(mechanism, *USERS[mechanism])
    values = [f"{mechanism}-{i}".encode() for i in range(10)]
    acked = ck_produce(sasl_broker.bootstrap, topic, values, extra=extra)
    assert [offset for _, offset, _ in acked] == list(range(10))
    assert [m.value() for m in ck_consume(sasl_broker.bootstrap, topic, 10, extra=extra)] == values


def _client_errors(bootstrap: str, config: dict[str, Any]) -> list[Any]:
    """The errors librdkafka reports (error_cb) for a producer that tries to connect, polled for up to 10 s."""
    from confluent_kafka import KafkaError, Producer

    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, **config})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        producer.poll(0.2)
    return errors


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [
        ("PLAIN", "alice", "wrong"),
        ("PLAIN", "mallory", "alice-secret"),
        ("SCRAM-SHA-512", "admin", "wrong"),
        ("SCRAM-SHA-256", "mallory", "whatever"),
    ],
)
def test_wrong_password_and_unknown_user_are_refused_and_the_broker_is_unharmed(
    sasl_broker: SecureBroker, mechanism: str, user: str, password: str
) -> None:
    with raw_connect(sasl_broker.port) as bystander:  # an authenticated connection opened before
        _authenticate_plain(bystander, "alice", "alice-secret")
        errors = _client_errors(sasl_broker.bootstrap, sasl_config(mechanism, user, password))
        assert any("Authentication failed" in e.str() for e in errors), errors
        assert raw_call(bystander, 18, 0, _api_versions()) is not None  # still served
    assert sasl_broker.alive()
    assert "Failed authentication with /127.0.0.1" in sasl_broker.output()
    good = AdminClient({"bootstrap.servers": sasl_broker.bootstrap, **sasl_config(mechanism, *USERS[mechanism])})
    assert 1 in good.list_topics(timeout=CLIENT_TIMEOUT_S).brokers


def _api_versions() -> Any:
    from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest

    return ApiVersionsRequest()


def _authenticate_plain(sock: socket.socket, user: str, password: str, authzid: str = "") -> Any:
    handshake = raw_call(sock, 17, 1, SaslHandshakeRequest(mechanism="PLAIN"))
    assert handshake is not None and handshake.error_code == 0 and "PLAIN" in handshake.mechanisms
    token = f"{authzid}\0{user}\0{password}".encode()
    return raw_call(sock, 36, 2, SaslAuthenticateRequest(auth_bytes=token), correlation_id=2)


def test_requests_before_authentication_close_the_connection(sasl_broker: SecureBroker) -> None:
    with raw_connect(sasl_broker.port) as sock:
        sock.sendall(request_frame(3, 1, 1, struct.pack(">i", -1)))  # Metadata, all topics
        assert is_closed(sock)
    with raw_connect(sasl_broker.port) as sock:  # SaslAuthenticate before SaslHandshake
        sock.sendall(request_frame(36, 0, 1, struct.pack(">i", 3) + b"abc"))
        assert is_closed(sock)
    assert api_versions_roundtrip(sasl_broker.port)  # ApiVersions is served before authentication


def test_an_oversized_frame_before_authentication_closes_the_connection(sasl_broker: SecureBroker) -> None:
    with raw_connect(sasl_broker.port) as sock:
        sock.sendall(struct.pack(">i", 524_289) + b"\0" * 1024)  # above sasl.server.max.receive.size
        assert is_closed(sock)
    assert sasl_broker.alive() and api_versions_roundtrip(sasl_broker.port)


def test_plain_with_a_foreign_authorization_id_is_refused(sasl_broker: SecureBroker) -> None:
    with raw_connect(sasl_broker.port) as sock:
        assert raw_call(sock, 17, 1, SaslHandshakeRequest(mechanism="PLAIN")).error_code == 0
        started = time.monotonic()
        token = SaslAuthenticateRequest(auth_bytes=b"admin\0alice\0alice-secret")
        response = raw_call(sock, 36, 2, token, correlation_id=2)
        elapsed = time.monotonic() - started
        assert elapsed >= 0.095, elapsed  # connection.failed.authentication.delay.ms=100 first
        assert response.error_code == 58  # SASL_AUTHENTICATION_FAILED
        assert "authorization id that is different from username" in response.error_message
        assert is_closed(sock)
    with raw_connect(sasl_broker.port) as sock:  # an authorization id equal to the user is fine
        assert _authenticate_plain(sock, "alice", "alice-secret", authzid="alice").error_code == 0
        assert raw_call(sock, 18, 0, _api_versions(), correlation_id=3) is not None


def test_an_unsupported_mechanism_is_answered_with_the_enabled_ones_then_closed(sasl_broker: SecureBroker) -> None:
    with raw_connect(sasl_broker.port) as sock:
        response = raw_call(sock, 17, 1, SaslHandshakeRequest(mechanism="GSSAPI"))
        assert response.error_code == 33  # UNSUPPORTED_SASL_MECHANISM
        assert response.mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert is_closed(sock)


def test_the_unframed_token_path_after_handshake_v0(sasl_broker: SecureBroker) -> None:
    with raw_connect(sasl_broker.port) as sock:
        assert raw_call(sock, 17, 0, SaslHandshakeRequest(mechanism="PLAIN")).error_code == 0
        token = b"\0alice\0alice-secret"
        sock.sendall(struct.pack(">i", len(token)) + token)  # a bare token, no request header
        assert recv_frame(sock) == b""  # PLAIN's (empty) answer, bare too
        assert raw_call(sock, 18, 0, _api_versions(), correlation_id=5) is not None  # authenticated
    with raw_connect(sasl_broker.port) as sock:  # a wrong password on that path: closed, no answer
        assert raw_call(sock, 17, 0, SaslHandshakeRequest(mechanism="PLAIN")).error_code == 0
        token = b"\0alice\0nope"
        sock.sendall(struct.pack(">i", len(token)) + token)
        assert is_closed(sock)


def test_kafka_python_produces_and_consumes_with_scram_and_plain(sasl_broker: SecureBroker) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = unique_topic("kp-sasl")
    ck_create_topic(sasl_broker.internal, topic)
    for mechanism in ("SCRAM-SHA-512", "PLAIN"):
        user, password = USERS[mechanism]
        common: dict[str, Any] = {
            "bootstrap_servers": sasl_broker.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
            "request_timeout_ms": 15000,
        }
        producer = KafkaProducer(**common, enable_idempotence=False)
        try:
            producer.send(topic, value=mechanism.encode(), partition=0).get(timeout=CLIENT_TIMEOUT_S)
            producer.flush(timeout=CLIENT_TIMEOUT_S)
        finally:
            producer.close(timeout=5)
    consumer = KafkaConsumer(**{**common, "consumer_timeout_ms": 10000, "enable_auto_commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        got = [record.value for _, record in zip(range(2), consumer, strict=False)]
    finally:
        consumer.close()
    assert got == [b"SCRAM-SHA-512", b"PLAIN"]


def _kcat(
    broker: SecureBroker, mechanism: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    user, password = USERS[mechanism]
    auth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}"]
    auth += ["-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]
    return subprocess.run(
        ["kcat", "-b", broker.bootstrap, *auth, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


needs_kcat = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (Debian package kcat)")


@needs_kcat
def test_kcat_produces_and_consumes_with_plain(sasl_broker: SecureBroker) -> None:
    topic = unique_topic("kcat-sasl")
    ck_create_topic(sasl_broker.internal, topic)
    lines = [uuid.uuid4().hex for _ in range(5)]
    produced = _kcat(sasl_broker, "PLAIN", "-P", "-t", topic, "-p", "0", stdin="\n".join(lines) + "\n")
    assert produced.returncode == 0, produced.stderr
    consumed = _kcat(sasl_broker, "PLAIN", "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e")
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.split() == lines


@needs_kcat
def test_kcat_scram_is_refused_for_its_malformed_final_nonce(sasl_broker: SecureBroker) -> None:
    """Debian's kcat links librdkafka 2.0.2, whose SCRAM client-final message repeats the client nonce before the
    combined one (r=<cnonce><cnonce><snonce>). The nonce check (CVE-2024-56128; Kafka 3.8.1+ checks it too) refuses
    it: a clear SASL_AUTHENTICATION_FAILED, and the broker keeps serving."""
    listed = _kcat(sasl_broker, "SCRAM-SHA-256", "-L", "-m", "5")
    assert listed.returncode != 0 and "Invalid client nonce in the final client message" in listed.stderr
    assert sasl_broker.alive() and api_versions_roundtrip(sasl_broker.port)


def test_sasl_apis_on_an_authenticated_connection_and_acl_apis_without_an_authorizer(sasl_broker: SecureBroker) -> None:
    from odradek.broker.protocol.messages.describe_acls_request import DescribeAclsRequest

    with raw_connect(sasl_broker.internal_port) as sock:  # PLAINTEXT: authenticated from the start
        assert raw_call(sock, 17, 1, SaslHandshakeRequest(mechanism="PLAIN")).error_code == 34  # ILLEGAL_SASL_STATE
        response = raw_call(sock, 36, 2, SaslAuthenticateRequest(auth_bytes=b"x"), correlation_id=2)
        assert response.error_code == 34
        acls = raw_call(sock, 29, 1, DescribeAclsRequest(resource_type_filter=1, pattern_type_filter=1), 3)
        assert acls.error_code == 54 and acls.error_message == "No Authorizer is configured on the broker"


def test_scram_credential_apis_answer_kafkas_error_codes(sasl_broker: SecureBroker) -> None:
    from odradek.broker.protocol.messages.alter_user_scram_credentials_request import (
        AlterUserScramCredentialsRequest,
        ScramCredentialDeletion,
        ScramCredentialUpsertion,
    )
    from odradek.broker.protocol.messages.describe_user_scram_credentials_request import (
        DescribeUserScramCredentialsRequest,
        UserName,
    )

    def upsert(name: str, mechanism: int = 1, iterations: int = 4096) -> ScramCredentialUpsertion:
        return ScramCredentialUpsertion(
            name=name, mechanism=mechanism, iterations=iterations, salt=b"s" * 16, salted_password=b"p" * 32
        )

    request = AlterUserScramCredentialsRequest(
        deletions=[
            ScramCredentialDeletion(name="nobody", mechanism=2),
            ScramCredentialDeletion(name="twice", mechanism=1),
        ],
        upsertions=[
            upsert("twice"),
            upsert(""),
            upsert("weak", iterations=100),
            upsert("strong", iterations=20000),
            upsert("odd", mechanism=9),
            upsert("fresh", mechanism=2, iterations=8192),
        ],
    )
    with raw_connect(sasl_broker.internal_port) as sock:
        results = {r.user: (r.error_code, r.error_message) for r in raw_call(sock, 51, 0, request).results}
        assert results == {
            "nobody": (91, "Attempt to delete a user credential that does not exist"),  # RESOURCE_NOT_FOUND
            "twice": (92, "A user credential cannot be altered twice in the same request"),  # DUPLICATE_RESOURCE
            "": (93, "Username must not be empty"),  # UNACCEPTABLE_CREDENTIAL
            "weak": (93, "Too few iterations"),
            "strong": (93, "Too many iterations"),
            "odd": (33, "Unknown SCRAM mechanism"),  # UNSUPPORTED_SASL_MECHANISM
            "fresh": (0, None),
        }
        names = [UserName(name=n) for n in ("fresh", "alice", "alice", "ghost")]
        described = raw_call(sock, 50, 0, DescribeUserScramCredentialsRequest(users=names), correlation_id=2)
        by_user = {r.user: r for r in described.results}
        assert [(c.mechanism, c.iterations) for c in by_user["fresh"].credential_infos] == [(2, 8192)]
        assert by_user["alice"].error_code == 92 and by_user["ghost"].error_code == 91
        everyone = raw_call(sock, 50, 0, DescribeUserScramCredentialsRequest(users=None), correlation_id=3)
        assert {r.user for r in everyone.results} >= {"alice", "admin", "fresh"}
        assert all(r.credential_infos for r in everyone.results)
