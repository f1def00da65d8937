"""SASL/OAUTHBEARER end to end with clients nobody here wrote. librdkafka (confluent-kafka): its built-in unsecured
token against Kafka's default validator (with a required scope and the StandardAuthorizer, super.users=User:alice),
and RS256 tokens signed here (oauth_cb) against the JWKS validator reading a file: JWKS, re-authenticating on its
open connection (connections.max.reauth.ms); kafka-python's sasl_oauth_token_provider. Bad tokens (expired, wrong
signature, unknown kid, wrong audience, unsigned, missing scope, garbage) are refused with an authentication error,
another user's token is refused the topic (TOPIC_AUTHORIZATION_FAILED), the broker stays alive and other
connections are served. SaslAuthenticate's session_lifetime_ms is the token's remaining lifetime."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from it_support import CLIENT_TIMEOUT_S, ck_consume, ck_produce, is_closed, raw_call, raw_connect, unique_topic
from jwt_support import OTHER_RSA, jwks, signed, unsecured
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.sasl_authenticate_request import SaslAuthenticateRequest
from odradek.broker.protocol.messages.sasl_handshake_request import SaslHandshakeRequest
from security_support import SecureBroker

AUDIENCE, ISSUER = "kafka", "https://idp.test"
REAUTH_MS = 3000
SCOPE = "kafka"
JAAS = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
    f'unsecuredValidatorRequiredScope="{SCOPE}" unsecuredValidatorAllowableClockSkewMs="1000";'
)


def _broker(workdir: Path, overrides: dict[str, str]) -> Iterator[SecureBroker]:
    proc = SecureBroker(
        workdir, "SASL_PLAINTEXT", {"listener.name.client.sasl.enabled.mechanisms": "OAUTHBEARER", **overrides}
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture(scope="module")
def unsecured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {
        "listener.name.client.oauthbearer.sasl.jaas.config": JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:alice",
    }
    yield from _broker(tmp_path_factory.mktemp("oauth-unsecured"), overrides)


@pytest.fixture(scope="module")
def jwks_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    workdir = tmp_path_factory.mktemp("oauth-jwks")
    (workdir / "jwks.json").write_bytes(jwks())
    prefix = "listener.name.client."
    yield from _broker(
        workdir,
        {
            f"{prefix}oauthbearer.sasl.server.callback.handler.class": (
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
            ),
            f"{prefix}sasl.oauthbearer.jwks.endpoint.url": (workdir / "jwks.json").as_uri(),
            f"{prefix}sasl.oauthbearer.expected.audience": AUDIENCE,
            f"{prefix}sasl.oauthbearer.expected.issuer": ISSUER,
            f"{prefix}oauthbearer.connections.max.reauth.ms": str(REAUTH_MS),
        },
    )


UNSECURED = {
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "OAUTHBEARER",
    "enable.sasl.oauthbearer.unsecure.jwt": True,
    "sasl.oauthbearer.config": f"principal=alice scope={SCOPE}",
}


def with_token(token: str, lifetime_s: float = 3600) -> dict[str, Any]:
    def oauth_cb(_config: str) -> tuple[str, float]:
        return token, time.time() + lifetime_s

    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER", "oauth_cb": oauth_cb}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "iat": now, "exp": now + 3600, "aud": AUDIENCE, "iss": ISSUER, **changes}


def _errors(bootstrap: str, config: dict[str, Any]) -> list[Any]:
    from confluent_kafka import KafkaError, Producer

    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, **config})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        producer.poll(0.2)
    return errors


def _produce_consume(broker: SecureBroker, config: dict[str, Any]) -> None:
    topic = unique_topic("oauth")
    _create_topic(broker, topic, config)
    values = [f"v{i}".encode() for i in range(5)]
    assert [offset for _, offset, _ in ck_produce(broker.bootstrap, topic, values, extra=config)] == list(range(5))
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 5, extra=config)] == values


def _create_topic(broker: SecureBroker, topic: str, config: dict[str, Any]) -> None:
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, **config})
    futures = admin.create_topics([NewTopic(topic, 1, 1)], request_timeout=CLIENT_TIMEOUT_S)
    futures[topic].result(timeout=CLIENT_TIMEOUT_S)


def test_librdkafka_unsecured_token_produces_and_consumes(unsecured_broker: SecureBroker) -> None:
    _produce_consume(unsecured_broker, UNSECURED)


def test_expired_unsecured_token_refused(unsecured_broker: SecureBroker) -> None:
    now = int(time.time())
    token = unsecured({"sub": "alice", "exp": now - 60, "scope": SCOPE})
    errors = _errors(unsecured_broker.bootstrap, with_token(token))
    assert any("expired" in e.str() for e in errors), errors
    assert unsecured_broker.alive()
    assert (
        1
        in AdminClient({"bootstrap.servers": unsecured_broker.bootstrap, **UNSECURED})
        .list_topics(timeout=CLIENT_TIMEOUT_S)
        .brokers
    )


def test_librdkafka_signed_token_produces_and_consumes(jwks_broker: SecureBroker) -> None:
    _produce_consume(jwks_broker, with_token(signed(claims())))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (lambda: signed(claims(), key=OTHER_RSA), "signature"),
        (lambda: signed(claims(), kid="unknown"), "no key with kid"),
        (lambda: signed(claims(aud="other")), "audience"),
        (lambda: signed(claims(exp=int(time.time()) - 120)), "expired"),
        (lambda: unsecured(claims()), "must be signed"),
    ],
    ids=["wrong signature", "unknown kid", "wrong audience", "expired", "unsigned"],
)
def test_bad_signed_tokens_refused(jwks_broker: SecureBroker, token: Any, message: str) -> None:
    errors = _errors(jwks_broker.bootstrap, with_token(token()))
    assert any(message in e.str() for e in errors), [e.str() for e in errors]
    assert jwks_broker.alive()
    good = AdminClient({"bootstrap.servers": jwks_broker.bootstrap, **with_token(signed(claims()))})
    assert 1 in good.list_topics(timeout=CLIENT_TIMEOUT_S).brokers


def test_missing_scope_refused(unsecured_broker: SecureBroker) -> None:
    now = int(time.time())
    errors = _errors(unsecured_broker.bootstrap, with_token(unsecured({"sub": "alice", "exp": now + 600})))
    assert any(f"lacks {SCOPE}" in e.str() for e in errors), [e.str() for e in errors]
    assert unsecured_broker.alive()


def test_another_users_token_is_refused_the_topic(unsecured_broker: SecureBroker) -> None:
    from confluent_kafka import KafkaError, Producer

    topic = unique_topic("oauth-acl")
    _create_topic(unsecured_broker, topic, UNSECURED)  # alice's (a super user): no ACL lets bob in
    now = int(time.time())
    bob = with_token(unsecured({"sub": "bob", "exp": now + 600, "scope": SCOPE}))
    results: list[Any] = []
    producer = Producer({"bootstrap.servers": unsecured_broker.bootstrap, **bob})
    producer.produce(topic, b"x", on_delivery=lambda err, msg: results.append(err))
    producer.flush(CLIENT_TIMEOUT_S)
    assert results and results[0] is not None and results[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert "Principal = User:bob is Denied Operation" in unsecured_broker.output()


def _handshake(sock: socket.socket) -> None:
    handshake = raw_call(sock, 17, 1, SaslHandshakeRequest(mechanism="OAUTHBEARER"))
    assert handshake is not None and handshake.error_code == 0, handshake


def test_garbage_initial_response_refused_and_other_connections_served(unsecured_broker: SecureBroker) -> None:
    now = int(time.time())
    good = f"n,,\x01auth=Bearer {unsecured({'sub': 'alice', 'exp': now + 120, 'scope': SCOPE})}\x01\x01".encode()
    with raw_connect(unsecured_broker.port) as bystander, raw_connect(unsecured_broker.port) as attacker:
        _handshake(bystander)
        answer = raw_call(bystander, 36, 1, SaslAuthenticateRequest(auth_bytes=good), correlation_id=2)
        assert answer is not None and answer.error_code == 0, answer
        assert 100_000 < answer.session_lifetime_ms <= 120_000  # the token's exp bounds the session (KIP-368)
        _handshake(attacker)
        refused = raw_call(attacker, 36, 1, SaslAuthenticateRequest(auth_bytes=b"\x00garbage\xff"), correlation_id=2)
        assert refused is not None and refused.error_code == 58, refused  # SASL_AUTHENTICATION_FAILED
        assert "Invalid OAUTHBEARER client first message" in refused.error_message
        assert is_closed(attacker)
        assert raw_call(bystander, 18, 0, ApiVersionsRequest(), correlation_id=3) is not None
    assert unsecured_broker.alive()


def test_error_exchange_on_the_wire(unsecured_broker: SecureBroker) -> None:
    """RFC 7628 3.2.2: the JSON error as a challenge, the client's \\x01, then SASL_AUTHENTICATION_FAILED."""
    token = unsecured({"sub": "alice", "exp": int(time.time()) + 120})  # no scope
    with raw_connect(unsecured_broker.port) as sock:
        _handshake(sock)
        first = f"n,,\x01auth=Bearer {token}\x01\x01".encode()
        challenge = raw_call(sock, 36, 1, SaslAuthenticateRequest(auth_bytes=first), correlation_id=2)
        assert challenge is not None and challenge.error_code == 0
        assert json.loads(bytes(challenge.auth_bytes)) == {"status": "invalid_token", "scope": SCOPE}
        final = raw_call(sock, 36, 1, SaslAuthenticateRequest(auth_bytes=b"\x01"), correlation_id=3)
        assert final is not None and final.error_code == 58 and f"lacks {SCOPE}" in final.error_message
        assert is_closed(sock)


def test_kafka_python_produces_and_consumes(unsecured_broker: SecureBroker) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class Provider(AbstractTokenProvider):
        def token(self) -> str:
            return unsecured({"sub": "alice", "exp": int(time.time()) + 600, "scope": SCOPE})

    topic = unique_topic("kp-oauth")
    _create_topic(unsecured_broker, topic, UNSECURED)
    common: dict[str, Any] = {
        "bootstrap_servers": unsecured_broker.bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": Provider(),
        "request_timeout_ms": 15000,
    }
    producer = KafkaProducer(**common, enable_idempotence=False)
    try:
        producer.send(topic, value=b"kafka-python", partition=0).get(timeout=CLIENT_TIMEOUT_S)
        producer.flush(timeout=CLIENT_TIMEOUT_S)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(**{**common, "consumer_timeout_ms": 10000, "enable_auto_commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        got = [record.value for _, record in zip(range(1), consumer, strict=False)]
    finally:
        consumer.close()
    assert got == [b"kafka-python"]


def test_librdkafka_reauthenticates_with_its_token_on_the_same_connection(jwks_broker: SecureBroker) -> None:
    from confluent_kafka import Consumer

    logs: list[str] = []
    stats: list[dict[str, Any]] = []
    logger = logging.getLogger(f"rdkafka-oauth-{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.Handler()
    handler.emit = lambda record: logs.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    topic = unique_topic("oauth-reauth")
    config = with_token(signed(claims()))
    _create_topic(jwks_broker, topic, config)
    consumer = Consumer(
        {
            "bootstrap.servers": jwks_broker.bootstrap,
            **config,
            "group.id": f"oauth-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "debug": "security",
            "logger": logger,
            "statistics.interval.ms": 500,
            "stats_cb": lambda text: stats.append(json.loads(text)),
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 4 * REAUTH_MS / 1000 + 4
        while time.monotonic() < deadline:
            consumer.poll(0.2)
        reauthentications = sum(1 for line in logs if "Auth in state REAUTH" in line)
        assert reauthentications >= 2, [line for line in logs if "REAUTH" in line or "auth" in line.lower()][-10:]
        (broker,) = [b for b in stats[-1]["brokers"].values() if b["nodeid"] == 1]
        assert (broker["connects"], broker["disconnects"], broker["state"]) == (1, 0, "UP")
    finally:
        consumer.close()


def test_unreachable_jwks_refuses_logins_and_the_broker_runs(tmp_path: Path) -> None:
    missing = (tmp_path / "no-such-jwks.json").as_uri()
    overrides = {
        "listener.name.client.oauthbearer.sasl.server.callback.handler.class": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
        ),
        "listener.name.client.sasl.oauthbearer.jwks.endpoint.url": missing,
    }
    for broker in _broker(tmp_path / "broker", overrides):
        errors = _errors(broker.bootstrap, with_token(signed(claims())))
        assert any("no JWKS from" in e.str() for e in errors), [e.str() for e in errors]
        assert broker.alive()
        assert f"JWKS from {missing} could not be retrieved" in broker.output()
