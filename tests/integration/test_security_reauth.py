"""Re-authentication (KIP-368) end to end on a SASL_PLAINTEXT listener with
`listener.name.client.connections.max.reauth.ms`: librdkafka (confluent-kafka) re-authenticates a long-lived
consumer on the same connections, several times, without a reconnect; deleting the user's SCRAM credential
(AlterUserScramCredentials) cuts the consumer off within the session lifetime; a raw client that does not
re-authenticate is closed at its first request after the expiry; a re-authentication as another user is refused.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from it_support import CLIENT_TIMEOUT_S, ck_admin, ck_create_topic, ck_produce, is_closed, raw_call, raw_connect
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.sasl_authenticate_request import SaslAuthenticateRequest
from odradek.broker.protocol.messages.sasl_handshake_request import SaslHandshakeRequest
from security_support import SecureBroker, sasl_overrides

pytestmark = pytest.mark.integration

LIFETIME_MS = 3000
SLACK_S = 4.0  # scheduling slack on a shared machine, on top of the session lifetime


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {**sasl_overrides(), "listener.name.client.connections.max.reauth.ms": str(LIFETIME_MS)}
    proc = SecureBroker(tmp_path_factory.mktemp("reauth"), "SASL_PLAINTEXT", overrides)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def alter_scram(bootstrap: str, user: str, password: str | None) -> None:
    """Create (password given) or delete the user's SCRAM-SHA-256 credential through AlterUserScramCredentials."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    mechanism = ScramMechanism.SCRAM_SHA_256
    change = (
        UserScramCredentialDeletion(user, mechanism)
        if password is None
        else UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, 4096), password.encode())
    )
    admin = ck_admin(bootstrap)  # held until the result is in (a collected client fails its futures)
    futures = admin.alter_user_scram_credentials([change], request_timeout=CLIENT_TIMEOUT_S)
    futures[user].result(timeout=CLIENT_TIMEOUT_S)


class LongLivedConsumer:
    """A subscribed confluent-kafka consumer with librdkafka's security debug log, errors and statistics kept."""

    def __init__(self, bootstrap: str, topic: str, user: str, password: str) -> None:
        from confluent_kafka import Consumer

        self.logs: list[str] = []
        self.errors: list[Any] = []
        self.stats: list[dict[str, Any]] = []
        logger = logging.getLogger(f"rdkafka-{uuid.uuid4().hex[:6]}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        handler = logging.Handler()
        handler.emit = lambda record: self.logs.append(record.getMessage())  # type: ignore[method-assign]
        logger.addHandler(handler)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.username": user,
                "sasl.password": password,
                "group.id": f"reauth-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,  # nothing to commit at close, where the coordinator is unreachable
                "debug": "security",
                "logger": logger,
                "statistics.interval.ms": 500,
                "stats_cb": lambda text: self.stats.append(json.loads(text)),
                "error_cb": self.errors.append,
            }
        )
        self.consumer.subscribe([topic])
        self.values: list[bytes] = []

    def poll_for(self, seconds: float, until: Any = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until is not None and until()):
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None:
                self.values.append(message.value())

    def reauthentications(self) -> int:
        return sum(1 for line in self.logs if "Auth in state REAUTH" in line)

    def data_connection(self) -> dict[str, Any]:
        """librdkafka's statistics of its connection to broker 1 (connects, disconnects, state)."""
        (broker,) = [b for b in self.stats[-1]["brokers"].values() if b["nodeid"] == 1]
        return dict(broker)

    def authentication_failed(self) -> bool:
        from confluent_kafka import KafkaError

        return any(e.code() == KafkaError._AUTHENTICATION for e in self.errors)


def test_a_long_lived_consumer_reauthenticates_and_a_deleted_credential_cuts_it_off(broker: SecureBroker) -> None:
    topic = f"reauth-{uuid.uuid4().hex[:8]}"
    ck_create_topic(broker.internal, topic)
    alter_scram(broker.internal, "carol", "carol-secret")
    consumer = LongLivedConsumer(broker.bootstrap, topic, "carol", "carol-secret")
    try:
        sent: list[bytes] = []
        started = time.monotonic()
        for i in range(5 * LIFETIME_MS // 1000):  # five session lifetimes, a record a second
            value = f"before-{i}".encode()
            ck_produce(broker.internal, topic, [value])
            sent.append(value)
            consumer.poll_for(1.0)
        consumer.poll_for(CLIENT_TIMEOUT_S, until=lambda: len(consumer.values) >= len(sent))
        assert consumer.values == sent
        assert time.monotonic() - started > 4 * LIFETIME_MS / 1000
        assert consumer.reauthentications() >= 3, "librdkafka re-authenticated on its open connections"
        connection = consumer.data_connection()
        assert (connection["connects"], connection["disconnects"], connection["state"]) == (1, 0, "UP")
        assert not consumer.errors, consumer.errors

        alter_scram(broker.internal, "carol", None)  # AlterUserScramCredentials deletion
        deleted = time.monotonic()
        consumer.poll_for(LIFETIME_MS / 1000 + SLACK_S, until=consumer.authentication_failed)
        cut_after_s = time.monotonic() - deleted
        assert consumer.authentication_failed(), consumer.errors
        assert cut_after_s <= LIFETIME_MS / 1000 + SLACK_S
        # Sessions that began before the deletion may run to their end (as in Kafka); none is left after that.
        consumer.poll_for(max(0.0, deleted + LIFETIME_MS / 1000 + 0.5 - time.monotonic()))
        received = len(consumer.values)
        ck_produce(broker.internal, topic, [b"after-1", b"after-2"])
        consumer.poll_for(LIFETIME_MS / 1000 + 2.0)
        assert consumer.values[received:] == [], "nothing is read once the credential is gone"
        assert "Failed authentication with /127.0.0.1" in broker.output()
    finally:
        consumer.consumer.close()
    assert broker.alive()


def authenticate_plain(sock: socket.socket, user: str, password: str, correlation_id: int) -> Any:
    handshake = raw_call(sock, 17, 1, SaslHandshakeRequest(mechanism="PLAIN"), correlation_id=correlation_id)
    assert handshake is not None and handshake.error_code == 0
    token = f"\0{user}\0{password}".encode()
    return raw_call(sock, 36, 1, SaslAuthenticateRequest(auth_bytes=token), correlation_id=correlation_id + 1)


def test_a_client_that_does_not_reauthenticate_is_closed_after_its_session(broker: SecureBroker) -> None:
    with raw_connect(broker.port) as sock:
        response = authenticate_plain(sock, "alice", "alice-secret", 1)
        assert response.error_code == 0 and response.session_lifetime_ms == LIFETIME_MS
        assert raw_call(sock, 18, 0, ApiVersionsRequest(), correlation_id=3) is not None
        time.sleep(LIFETIME_MS / 1000 + 0.5)
        assert raw_call(sock, 18, 0, ApiVersionsRequest(), correlation_id=4) is None
        assert is_closed(sock)
    assert "its SASL session expired" in broker.output()


def test_a_raw_reauthentication_keeps_the_session_and_another_principal_is_refused(broker: SecureBroker) -> None:
    with raw_connect(broker.port) as sock:
        assert authenticate_plain(sock, "alice", "alice-secret", 1).error_code == 0
        time.sleep(LIFETIME_MS / 1000 * 0.7)
        again = authenticate_plain(sock, "alice", "alice-secret", 3)
        assert again.error_code == 0 and again.session_lifetime_ms == LIFETIME_MS
        time.sleep(LIFETIME_MS / 1000 * 0.7)  # past the first session's end, within the second's
        assert raw_call(sock, 18, 0, ApiVersionsRequest(), correlation_id=5) is not None
        time.sleep(1.0)
        refused = authenticate_plain(sock, "admin", "admin-secret", 6)
        assert refused.error_code == 58  # SASL_AUTHENTICATION_FAILED
        assert refused.error_message == "Cannot change principals during re-authentication from User.alice: User.admin"
        assert is_closed(sock)
