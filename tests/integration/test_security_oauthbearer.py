"""SASL/OAUTHBEARER end to end with librdkafka (confluent-kafka): its built-in unsecured token against Kafka's
default validator, and RS256 tokens signed here (oauth_cb) against the JWKS validator reading a file: JWKS; bad
tokens refused with an authentication error, the broker alive and other clients unaffected."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from it_support import CLIENT_TIMEOUT_S, ck_consume, ck_create_topic, ck_produce, unique_topic
from security_support import SecureBroker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "auth"))
from test_oauthbearer import OTHER_RSA, jwks, signed, unsecured

AUDIENCE, ISSUER = "kafka", "https://idp.test"


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
    yield from _broker(tmp_path_factory.mktemp("oauth-unsecured"), {})


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
        },
    )


UNSECURED = {
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "OAUTHBEARER",
    "enable.sasl.oauthbearer.unsecure.jwt": True,
    "sasl.oauthbearer.config": "principal=alice",
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
    ck_create_topic(broker.internal, topic)
    values = [f"v{i}".encode() for i in range(5)]
    assert [offset for _, offset, _ in ck_produce(broker.bootstrap, topic, values, extra=config)] == list(range(5))
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 5, extra=config)] == values


def test_librdkafka_unsecured_token_produces_and_consumes(unsecured_broker: SecureBroker) -> None:
    _produce_consume(unsecured_broker, UNSECURED)


def test_expired_unsecured_token_refused(unsecured_broker: SecureBroker) -> None:
    now = int(time.time())
    errors = _errors(unsecured_broker.bootstrap, with_token(unsecured({"sub": "alice", "exp": now - 60})))
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
