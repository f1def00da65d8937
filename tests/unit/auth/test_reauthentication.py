"""Re-authentication (KIP-368) through the real dispatcher and the SASL handlers, on a MockTime: the session
lifetime SaslAuthenticate v1+ answers, the expiry that closes a connection at its next request, a re-authentication
before or after the expiry on the same connection, the one-second floor between re-authentications, and what fails
one (another principal, another mechanism, a SCRAM credential deleted meanwhile). Plus the configuration: the
broker key, the listener's and the listener-and-mechanism one (Kafka's order)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from odradek.broker.auth.authenticator import AuthenticationState, Authenticator
from odradek.broker.auth.mechanisms import ListenerSasl, listener_sasl
from odradek.broker.auth.principal import KafkaPrincipal
from odradek.broker.auth.scram import SHA_256, ScramCredential
from odradek.broker.config.broker import BrokerConfig, SecurityProtocol, build, declared_key
from odradek.broker.config.definitions import ConfigError
from odradek.broker.handlers import all_handlers
from odradek.broker.handlers.dispatch import Dispatcher, IllegalSaslState, SessionExpired
from odradek.broker.handlers.registry import Registry
from odradek.broker.handlers.security import scram_record
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.headers import RequestHeader, encode_request_header, request_header_version
from odradek.broker.protocol.messages import (
    api_versions_request,
    metadata_request,
    sasl_authenticate_request,
    sasl_authenticate_response,
    sasl_handshake_request,
    sasl_handshake_response,
)
from odradek.broker.protocol.primitives import Reader
from odradek.broker.quota.manager import QuotaManagers
from odradek.broker.utils.time import MockTime
from test_sasl_mechanisms import client_final

LISTENER = "SASL"
LIFETIME_MS = 10_000
HANDSHAKE, AUTHENTICATE, API_VERSIONS, METADATA = 17, 36, 18, 3
SASL_PLAINTEXT = SecurityProtocol.SASL_PLAINTEXT


@dataclass
class FakeConnection:
    authenticator: Authenticator = field(default_factory=lambda: Authenticator(SASL_PLAINTEXT))
    connection_id: int = 7
    peer_host: str = "10.0.0.7"
    listener: str = LISTENER

    def mute(self, throttle_ms: int) -> None:
        pass


class Metrics:
    """The re-authentication metrics the dispatcher and the SASL handlers report, by listener (the rest ignored)."""

    def __init__(self) -> None:
        self.reauthentications: list[tuple[str, bool]] = []
        self.killed: list[str] = []

    def reauthenticated(self, listener: str, succeeded: bool) -> None:
        self.reauthentications.append((listener, succeeded))

    def expired_connection_killed(self, listener: str) -> None:
        self.killed.append(listener)

    def request_done(self, *args: Any) -> None:
        pass

    def request_failed(self, *args: Any) -> None:
        pass


class Broker:
    """The dispatcher over a fake broker's services: PLAIN users alice/bob, SCRAM-SHA-256 user carol."""

    def __init__(self, lifetime_ms: int = LIFETIME_MS) -> None:
        self.time = MockTime()
        self.scram: dict[tuple[str, str], Any] = {
            ("SCRAM-SHA-256", "carol"): scram_record(ScramCredential.from_password(SHA_256, "carol-pw", 4096))
        }
        lifetimes = {"PLAIN": lifetime_ms, "SCRAM-SHA-256": lifetime_ms}
        sasl = ListenerSasl(
            LISTENER, ("PLAIN", "SCRAM-SHA-256"), {"alice": "a-pw", "bob": "b-pw"}, max_reauth_ms=lifetimes
        )
        registry = Registry(all_handlers())
        self.services: Any = SimpleNamespace(
            registry=registry,
            metrics=Metrics(),
            time=self.time,
            config=BrokerConfig({"connection.failed.authentication.delay.ms": 0}),
            sasl={LISTENER: sasl},
            metadata=SimpleNamespace(image=SimpleNamespace(scram_credentials=self.scram)),
            quotas=QuotaManagers(self.time),
        )
        self.dispatcher = Dispatcher(registry, self.services)
        self.correlation = 0

    def call(self, connection: FakeConnection, api_key: int, version: int, body: bytes) -> bytes:
        self.correlation += 1
        out = bytearray()
        header = RequestHeader(api_key, version, self.correlation, "test")
        encode_request_header(out, header, request_header_version(api_key, version))
        chunks = self.run(self.dispatcher(memoryview(bytes(out + body)), connection))
        assert chunks is not None
        return b"".join(bytes(chunk) for chunk in chunks if isinstance(chunk, bytes | bytearray | memoryview))

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a dispatch to its end, firing the zero-delay timers (failed-authentication delay) it waits on."""

        async def drive() -> Any:
            task = asyncio.ensure_future(coroutine)
            for _ in range(100):
                await asyncio.sleep(0)
                if task.done():
                    break
                self.time.advance(0)
            return task.result()

        return asyncio.run(drive())

    def handshake(self, connection: FakeConnection, mechanism: str = "PLAIN") -> Any:
        body = bytearray()
        sasl_handshake_request.encode(body, sasl_handshake_request.SaslHandshakeRequest(mechanism=mechanism), 1)
        raw = self.call(connection, HANDSHAKE, 1, bytes(body))
        return sasl_handshake_response.decode(Reader(memoryview(raw)[4:]), 1)

    def authenticate(self, connection: FakeConnection, token: bytes, version: int = 1) -> Any:
        body = bytearray()
        request = sasl_authenticate_request.SaslAuthenticateRequest(auth_bytes=token)
        sasl_authenticate_request.encode(body, request, version)
        raw = self.call(connection, AUTHENTICATE, version, bytes(body))
        offset = 4 if version < 2 else 5  # v2 is flexible: the response header has tagged fields
        return sasl_authenticate_response.decode(Reader(memoryview(raw)[offset:]), version)

    def plain(self, connection: FakeConnection, user: str, password: str, version: int = 1) -> Any:
        assert self.handshake(connection).error_code == ErrorCode.NONE
        return self.authenticate(connection, f"\0{user}\0{password}".encode(), version)

    def scram_exchange(self, connection: FakeConnection, user: str, password: str) -> Any:
        assert self.handshake(connection, "SCRAM-SHA-256").error_code == ErrorCode.NONE
        first_bare = f"n={user},r=clientnonce42"
        first = self.authenticate(connection, f"n,,{first_bare}".encode())
        if first.error_code != ErrorCode.NONE:
            return first
        server_first = bytes(first.auth_bytes).decode()
        nonce = server_first.split(",")[0][2:]
        final = client_final(SHA_256, password, first_bare, server_first, nonce)
        return self.authenticate(connection, final.encode())

    def api_versions(self, connection: FakeConnection) -> bytes:
        body = bytearray()
        api_versions_request.encode(body, api_versions_request.ApiVersionsRequest(), 0)
        return self.call(connection, API_VERSIONS, 0, bytes(body))

    def metadata(self, connection: FakeConnection) -> bytes:
        body = bytearray()
        metadata_request.encode(body, metadata_request.MetadataRequest(topics=[]), 1)
        return self.call(connection, METADATA, 1, bytes(body))


def authenticated(broker: Broker, user: str = "alice", password: str = "a-pw") -> FakeConnection:
    connection = FakeConnection()
    response = broker.plain(connection, user, password)
    assert response.error_code == ErrorCode.NONE
    assert response.session_lifetime_ms == LIFETIME_MS
    return connection


def test_the_session_lifetime_is_answered_and_the_first_request_after_it_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker()
    connection = authenticated(broker)
    assert connection.authenticator.session_expiration_ms == LIFETIME_MS
    broker.time.advance(LIFETIME_MS)
    assert broker.api_versions(connection)  # at the expiry itself: still served (Kafka: strictly after)
    broker.time.advance(1)
    with caplog.at_level("INFO"), pytest.raises(SessionExpired):
        broker.api_versions(connection)
    assert "its SASL session expired 1 ms ago without re-authentication" in caplog.text
    assert "User:alice" in caplog.text


def test_v0_answers_no_lifetime_but_the_session_still_ends() -> None:
    broker = Broker()
    connection = FakeConnection()
    response = broker.plain(connection, "alice", "a-pw", version=0)
    assert response.error_code == ErrorCode.NONE and response.session_lifetime_ms == 0  # not in v0
    broker.time.advance(LIFETIME_MS + 1)
    with pytest.raises(SessionExpired):
        broker.api_versions(connection)


@pytest.mark.parametrize("at_ms", [LIFETIME_MS * 9 // 10, LIFETIME_MS + 5_000])
def test_reauthentication_on_the_same_connection_extends_the_session(at_ms: int) -> None:
    """Before the expiry, or after it if nothing else came first (Kafka checks the expiry for other requests)."""
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(at_ms)
    response = broker.plain(connection, "alice", "a-pw", version=2)
    assert response.error_code == ErrorCode.NONE and response.session_lifetime_ms == LIFETIME_MS
    authenticator = connection.authenticator
    assert authenticator.complete and authenticator.principal == KafkaPrincipal("User", "alice")
    assert authenticator.session_expiration_ms == at_ms + LIFETIME_MS
    broker.time.advance(LIFETIME_MS - 1)
    assert broker.api_versions(connection)  # would have been closed without the re-authentication


def test_several_reauthentications_interleaved_with_requests() -> None:
    broker = Broker()
    connection = authenticated(broker)
    for _ in range(5):
        broker.time.advance(LIFETIME_MS * 8 // 10)
        assert broker.api_versions(connection)
        assert broker.plain(connection, "alice", "a-pw").error_code == ErrorCode.NONE
        assert broker.api_versions(connection)
    assert broker.time.monotonic_ms() == 5 * LIFETIME_MS * 8 // 10 > LIFETIME_MS


def test_reauthentication_after_handshake_v0_takes_bare_tokens() -> None:
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(5_000)
    body = bytearray()
    sasl_handshake_request.encode(body, sasl_handshake_request.SaslHandshakeRequest(mechanism="PLAIN"), 0)
    broker.call(connection, HANDSHAKE, 0, bytes(body))
    assert connection.authenticator.unframed
    chunks = broker.run(broker.dispatcher(memoryview(b"\0alice\0a-pw"), connection))
    assert chunks == [b""]  # PLAIN's empty answer, as a bare token
    assert connection.authenticator.complete
    assert connection.authenticator.session_expiration_ms == 5_000 + LIFETIME_MS
    broker.time.advance(2_000)
    broker.call(connection, HANDSHAKE, 0, bytes(body))
    assert broker.run(broker.dispatcher(memoryview(b"\0bob\0b-pw"), connection)) is None  # no error answer
    assert connection.authenticator.state is AuthenticationState.FAILED


def test_only_sasl_authenticate_is_served_while_reauthenticating() -> None:
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(1_000)
    assert broker.handshake(connection).error_code == ErrorCode.NONE
    assert connection.authenticator.state is AuthenticationState.AUTHENTICATE
    with pytest.raises(IllegalSaslState):
        broker.metadata(connection)


def test_a_second_reauthentication_within_a_second_is_answered_illegal_sasl_state() -> None:
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(2_000)
    assert broker.plain(connection, "alice", "a-pw").error_code == ErrorCode.NONE
    broker.time.advance(999)
    assert broker.handshake(connection).error_code == ErrorCode.ILLEGAL_SASL_STATE
    assert connection.authenticator.complete  # an error answer only, the session goes on
    broker.time.advance(1)
    assert broker.plain(connection, "alice", "a-pw").error_code == ErrorCode.NONE


def test_without_a_lifetime_there_is_no_reauthentication_and_no_expiry() -> None:
    broker = Broker(lifetime_ms=0)
    connection = FakeConnection()
    response = broker.plain(connection, "alice", "a-pw")
    assert response.error_code == ErrorCode.NONE and response.session_lifetime_ms == 0
    broker.time.advance(10 * LIFETIME_MS)
    assert broker.handshake(connection).error_code == ErrorCode.ILLEGAL_SASL_STATE
    assert broker.api_versions(connection)


def test_reauthentication_cannot_change_the_principal() -> None:
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(5_000)
    response = broker.plain(connection, "bob", "b-pw")
    assert response.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert response.error_message == "Cannot change principals during re-authentication from User.alice: User.bob"
    assert connection.authenticator.state is AuthenticationState.FAILED  # the server closes the connection


def test_reauthentication_with_a_wrong_password_fails_the_connection() -> None:
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(5_000)
    assert broker.plain(connection, "alice", "wrong").error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert connection.authenticator.state is AuthenticationState.FAILED


def test_reauthentication_with_another_mechanism_fails_at_its_first_token() -> None:
    broker = Broker()
    connection = authenticated(broker)
    broker.time.advance(5_000)
    assert broker.handshake(connection, "SCRAM-SHA-256").error_code == ErrorCode.NONE  # as Kafka answers it
    response = broker.authenticate(connection, b"n,,n=alice,r=abc")
    assert response.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert response.error_message == (
        "SASL mechanism 'SCRAM-SHA-256' requested by client is not supported for re-authentication of mechanism 'PLAIN'"
    )
    assert connection.authenticator.state is AuthenticationState.FAILED


def test_a_deleted_scram_credential_stops_working_at_the_next_reauthentication() -> None:
    broker = Broker()
    connection = FakeConnection()
    response = broker.scram_exchange(connection, "carol", "carol-pw")
    assert response.error_code == ErrorCode.NONE and response.session_lifetime_ms == LIFETIME_MS
    broker.time.advance(5_000)
    assert broker.scram_exchange(connection, "carol", "carol-pw").error_code == ErrorCode.NONE  # still valid
    del broker.scram[("SCRAM-SHA-256", "carol")]  # AlterUserScramCredentials deletion, as the image shows it
    assert broker.api_versions(connection)  # the open session is not cut short
    broker.time.advance(5_000)
    response = broker.scram_exchange(connection, "carol", "carol-pw")
    assert response.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert connection.authenticator.state is AuthenticationState.FAILED


def test_a_changed_scram_password_needs_the_new_one_at_reauthentication() -> None:
    broker = Broker()
    connection = FakeConnection()
    assert broker.scram_exchange(connection, "carol", "carol-pw").error_code == ErrorCode.NONE
    credential = ScramCredential.from_password(SHA_256, "new-pw", 4096, base64.b64decode("c2FsdHNhbHQ="))
    broker.scram[("SCRAM-SHA-256", "carol")] = scram_record(credential)
    broker.time.advance(5_000)
    assert broker.scram_exchange(connection, "carol", "carol-pw").error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    other = FakeConnection()
    assert broker.scram_exchange(other, "carol", "new-pw").error_code == ErrorCode.NONE


# --- configuration ------------------------------------------------------------------------------------------------

JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a-pw";'


def sasl_config(extra: dict[str, str]) -> BrokerConfig:
    return build(
        [
            {
                "listener.name.sasl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                "listener.name.sasl.plain.sasl.jaas.config": JAAS,
                **extra,
            }
        ]
    )


def test_the_lifetime_per_listener_and_mechanism_in_kafkas_order() -> None:
    assert listener_sasl(sasl_config({}), LISTENER).max_reauth_ms == {
        "PLAIN": 0,
        "SCRAM-SHA-256": 0,
        "SCRAM-SHA-512": 0,
    }
    config = sasl_config(
        {
            "connections.max.reauth.ms": "60000",
            "listener.name.sasl.connections.max.reauth.ms": "30000",
            "listener.name.sasl.scram-sha-512.connections.max.reauth.ms": "5000",
            "listener.name.other.plain.connections.max.reauth.ms": "1",
        }
    )
    sasl = listener_sasl(config, LISTENER)
    assert sasl.max_reauth_ms == {"PLAIN": 30_000, "SCRAM-SHA-256": 30_000, "SCRAM-SHA-512": 5_000}
    assert listener_sasl(sasl_config({"connections.max.reauth.ms": "60000"}), LISTENER).session_lifetime_ms(
        "PLAIN"
    ) == (60_000)
    assert ListenerSasl(LISTENER, ("PLAIN",), max_reauth_ms={"PLAIN": -5}).session_lifetime_ms("PLAIN") == 0


def test_the_keys_are_declared_and_typed() -> None:
    for name in (
        "connections.max.reauth.ms",
        "listener.name.client.connections.max.reauth.ms",
        "listener.name.client.scram-sha-256.connections.max.reauth.ms",
    ):
        key = declared_key(name)
        assert key is not None and key.name == "connections.max.reauth.ms", name
    assert declared_key("listener.name.client.plain.connections.max.reauth") is None
    with pytest.raises(ConfigError):
        build([{"connections.max.reauth.ms": "soon"}])


def test_reauthentication_metrics() -> None:
    """Kafka's successful-/failed-reauthentication-total and expired-connections-killed-count, by listener."""
    broker = Broker()
    metrics = broker.services.metrics
    connection = authenticated(broker)
    assert metrics.reauthentications == []  # a first authentication is no re-authentication
    for _ in range(3):
        broker.time.advance(LIFETIME_MS * 8 // 10)
        assert broker.plain(connection, "alice", "a-pw").error_code == ErrorCode.NONE
    broker.time.advance(LIFETIME_MS * 8 // 10)
    assert broker.plain(connection, "alice", "wrong").error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert metrics.reauthentications == [(LISTENER, True)] * 3 + [(LISTENER, False)]
    expiring = authenticated(broker)
    broker.time.advance(LIFETIME_MS + 1)
    with pytest.raises(SessionExpired):
        broker.api_versions(expiring)
    assert metrics.killed == [LISTENER]


def test_reauthentication_metrics_under_kafka_names() -> None:
    from odradek.broker.metrics.broker import BrokerMetrics
    from prometheus_client import generate_latest

    metrics = BrokerMetrics()
    metrics.reauthenticated("SASL", succeeded=True)
    metrics.reauthenticated("SASL", succeeded=True)
    metrics.reauthenticated("SASL", succeeded=False)
    metrics.expired_connection_killed("SASL")
    text = generate_latest(metrics.registry).decode()
    assert 'kafka_server_socket_server_metrics_successful_reauthentication_total{listener="SASL"} 2.0' in text
    assert 'kafka_server_socket_server_metrics_failed_reauthentication_total{listener="SASL"} 1.0' in text
    assert 'kafka_server_socket_server_metrics_expired_connections_killed_count{listener="SASL"} 1.0' in text
