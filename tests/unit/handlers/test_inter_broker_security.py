"""The inter-broker client (`replication/broker_blocking_sender.BrokerBlockingSender`) over the broker's secured
listeners, against a real broker in this process whose only listeners are SASL_SSL (SCRAM-SHA-512, the
inter-broker one), SSL with required client certificates and SASL_PLAINTEXT with PLAIN: the channel security
built by the app from the broker's own settings (`app.inter_broker_security`) authenticates, a wrong password
fails with the server's message, a client without a certificate is refused by the mTLS listener, and a server
that asks for re-authentication gets a fresh connection before the session ends."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import InProcessBroker
from odradek.broker.app import inter_broker_security
from odradek.broker.config.broker import BrokerConfig
from odradek.broker.protocol.messages.metadata_request import MetadataRequest
from odradek.broker.protocol.messages.metadata_response import MetadataResponse
from odradek.broker.replication.broker_blocking_sender import (
    AuthenticationFailed,
    BrokerBlockingSender,
    BrokerEndPoint,
    ChannelSecurity,
)
from odradek.broker.utils.time import MockTime

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from security_support import Pki

METADATA = 3
PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="broker" password="{}" user_broker="broker-secret";'
)
SCRAM_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{}";'


def settings(pki: Pki, password: str = "broker-secret") -> dict[str, str]:
    tls = {
        "ssl.keystore.location": str(pki.keystore),
        "ssl.key.password": pki.key_password,
        "ssl.truststore.location": str(pki.ca_path),
    }
    return {
        "listeners": "INTERNAL://127.0.0.1:0,CLIENT://127.0.0.1:0,PLAINSASL://127.0.0.1:0",
        "listener.security.protocol.map": "INTERNAL:SASL_SSL,CLIENT:SSL,PLAINSASL:SASL_PLAINTEXT",
        "listener.name.plainsasl.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.plainsasl.plain.sasl.jaas.config": PLAIN_JAAS.format(password),
        "inter.broker.listener.name": "INTERNAL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.internal.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.internal.scram-sha-512.sasl.jaas.config": SCRAM_JAAS.format(password),
        "sasl.scram.bootstrap.credentials": "SCRAM-SHA-512=[name=broker,password=broker-secret]",
        "listener.name.internal.connections.max.reauth.ms": "60000",
        "listener.name.client.ssl.client.auth": "required",
        **{f"listener.name.internal.{k}": v for k, v in tls.items()},
        **{f"listener.name.client.{k}": v for k, v in tls.items()},
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("inter-broker-security")), settings(pki))
    yield running
    running.stop()


def metadata(sender: BrokerBlockingSender) -> MetadataResponse:
    async def call() -> MetadataResponse:
        try:
            _, answer = await sender.request(METADATA, (1, 12), lambda _v: MetadataRequest(topics=[]))
            assert isinstance(answer, MetadataResponse)
            return answer
        finally:
            await sender.close()

    return asyncio.run(asyncio.wait_for(call(), 30))


def sender_to(port: int, security: ChannelSecurity, time: MockTime | None = None) -> BrokerBlockingSender:
    return BrokerBlockingSender(BrokerEndPoint(1, "127.0.0.1", port), 10_000, "broker-9", "test", security, time)


def test_sasl_ssl_scram_sha_512_authenticates(broker: InProcessBroker, pki: Pki) -> None:
    security = inter_broker_security(BrokerConfig(settings(pki)))
    assert security.security_protocol == "SASL_SSL" and security.principal == "User:broker"
    answer = metadata(sender_to(broker._broker.ports[0], security))
    assert len(answer.brokers) == 1


def test_a_wrong_inter_broker_password_fails_with_the_servers_message(broker: InProcessBroker, pki: Pki) -> None:
    security = inter_broker_security(BrokerConfig(settings(pki, password="wrong")))
    with pytest.raises(AuthenticationFailed, match=r"SCRAM-SHA-512 authentication as User:broker .*credentials"):
        metadata(sender_to(broker._broker.ports[0], security))


def test_a_mechanism_the_listener_does_not_enable_fails_at_the_handshake(broker: InProcessBroker, pki: Pki) -> None:
    config = BrokerConfig(
        {
            **settings(pki),
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256",
            "listener.name.internal.scram-sha-256.sasl.jaas.config": SCRAM_JAAS.format("broker-secret"),
        }
    )
    with pytest.raises(AuthenticationFailed, match=r"handshake .* SCRAM-SHA-256 not enabled .*SCRAM-SHA-512"):
        metadata(sender_to(broker._broker.ports[0], inter_broker_security(config)))


@pytest.mark.parametrize("password", ["broker-secret", "wrong"])
def test_sasl_plaintext_with_plain(broker: InProcessBroker, pki: Pki, password: str) -> None:
    config = BrokerConfig(
        {
            **settings(pki, password),
            "inter.broker.listener.name": "PLAINSASL",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
        }
    )
    security = inter_broker_security(config)
    assert (security.security_protocol, security.ssl_context) == ("SASL_PLAINTEXT", None)
    sender = sender_to(broker._broker.ports[2], security)
    if password == "wrong":
        with pytest.raises(AuthenticationFailed, match="Invalid username or password"):
            metadata(sender)
    else:
        assert metadata(sender).brokers


def test_ssl_with_a_client_certificate_passes_mtls(broker: InProcessBroker, pki: Pki) -> None:
    config = BrokerConfig({**settings(pki), "inter.broker.listener.name": "CLIENT"})
    security = inter_broker_security(config)
    assert security.security_protocol == "SSL" and security.sasl_client is None
    assert metadata(sender_to(broker._broker.ports[1], security)).brokers


def test_ssl_without_a_client_certificate_is_refused_by_mtls(broker: InProcessBroker, pki: Pki) -> None:
    values = {k: v for k, v in settings(pki).items() if not k.startswith("listener.name.client.ssl.keystore")}
    config = BrokerConfig({**values, "inter.broker.listener.name": "CLIENT"})
    config = config.with_overrides({"listener.name.client.ssl.key.password": ""})
    security = inter_broker_security(config)
    with pytest.raises((OSError, EOFError)):
        metadata(sender_to(broker._broker.ports[1], security))


def test_a_session_lifetime_from_the_server_makes_a_fresh_authenticated_connection(
    broker: InProcessBroker, pki: Pki
) -> None:
    time = MockTime()
    sender = sender_to(broker._broker.ports[0], inter_broker_security(BrokerConfig(settings(pki))), time)

    async def scenario() -> None:
        try:
            await sender.request(METADATA, (1, 12), lambda _v: MetadataRequest(topics=[]))
            first = sender._writer
            assert first is not None and sender._session_ends_ms == pytest.approx(60_000 * 0.85)
            time.advance(1_000)
            await sender.request(METADATA, (1, 12), lambda _v: MetadataRequest(topics=[]))
            assert sender._writer is first  # still within the session
            time.advance(60_000)
            await sender.request(METADATA, (1, 12), lambda _v: MetadataRequest(topics=[]))
            assert sender._writer is not None and sender._writer is not first  # re-authenticated
        finally:
            await sender.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
