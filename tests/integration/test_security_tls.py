"""TLS listeners end to end: SSL with client certificates (mTLS, ssl.client.auth=required) whose subjects become
principals through ssl.principal.mapping.rules, and SASL_SSL with SCRAM-SHA-512 and PLAIN, with confluent-kafka.
The broker's keystore is one PEM file holding the encrypted private key and the certificate chain, as Kafka reads a
PEM keystore. Refused clearly and logged, the broker unharmed: a plaintext client on the TLS port, a client without
a certificate, one signed by an untrusted CA, one with an expired certificate.

The mTLS broker runs the StandardAuthorizer with super.users=User:alice;User:ANONYMOUS (ANONYMOUS: the INTERNAL
plaintext listener used for set-up): a certificate for CN=Alice mapped by RULE:^CN=(.*?),O=Odradek$/$1/L to
`alice` may do everything, CN=bob may not even see the topic, which shows the mapping end to end.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from it_support import (
    CLIENT_TIMEOUT_S,
    ck_consume,
    ck_create_topic,
    ck_produce,
    is_closed,
    raw_connect,
    request_frame,
    unique_topic,
    wait_for,
)
from security_support import Pki, SecureBroker, sasl_overrides, tls_overrides

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    overrides = {
        **tls_overrides(pki, client_auth="required"),
        "ssl.principal.mapping.rules": "RULE:^CN=(.*?),O=Odradek$/$1/L,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:alice;User:ANONYMOUS",
    }
    proc = SecureBroker(tmp_path_factory.mktemp("mtls"), "SSL", overrides)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def ssl_config(pki: Pki, cert: tuple[Path, Path] | None) -> dict[str, Any]:
    config: dict[str, Any] = {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca_path)}
    if cert is not None:
        config["ssl.certificate.location"], config["ssl.key.location"] = str(cert[0]), str(cert[1])
    return config


def test_mtls_client_produces_and_consumes_as_its_mapped_principal(mtls_broker: SecureBroker, pki: Pki) -> None:
    topic = unique_topic("mtls")
    ck_create_topic(mtls_broker.internal, topic)
    alice = ssl_config(pki, pki.client("Alice"))
    values = [f"tls-{i}".encode() for i in range(20)]
    acked = ck_produce(mtls_broker.bootstrap, topic, values, extra=alice)
    assert [offset for _, offset, _ in acked] == list(range(20))
    assert [m.value() for m in ck_consume(mtls_broker.bootstrap, topic, 20, extra=alice)] == values
    # CN=bob maps to User:bob, who has no ACL: the topic is not authorized
    bob = AdminClient({"bootstrap.servers": mtls_broker.bootstrap, **ssl_config(pki, pki.client("bob"))})
    metadata = bob.list_topics(topic, timeout=CLIENT_TIMEOUT_S)
    assert metadata.topics[topic].error is not None and metadata.topics[topic].error.code() == 29


def _handshake_refused(broker: SecureBroker, config: dict[str, Any]) -> None:
    errors: list[Any] = []
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "error_cb": errors.append, **config})
    with pytest.raises(Exception):  # noqa: B017 - librdkafka reports a transport failure
        admin.list_topics(timeout=4)


@pytest.mark.parametrize("client", ["none", "untrusted", "expired"])
def test_clients_without_a_valid_certificate_are_refused_and_logged(
    mtls_broker: SecureBroker, pki: Pki, client: str
) -> None:
    before = mtls_broker.output().count("SSL handshake failed")
    cert = (
        None if client == "none" else pki.client("carol", untrusted=client == "untrusted", expired=client == "expired")
    )
    _handshake_refused(mtls_broker, ssl_config(pki, cert))
    wait_for(lambda: mtls_broker.output().count("SSL handshake failed") > before, what="the handshake failure logged")
    assert mtls_broker.alive()
    good = AdminClient({"bootstrap.servers": mtls_broker.bootstrap, **ssl_config(pki, pki.client("Alice"))})
    assert 1 in good.list_topics(timeout=CLIENT_TIMEOUT_S).brokers


def test_a_plaintext_client_on_the_tls_port_is_closed_and_logged(mtls_broker: SecureBroker) -> None:
    before = mtls_broker.output().count("SSL handshake failed")
    with raw_connect(mtls_broker.port) as sock:
        sock.sendall(request_frame(18, 0, 1, b""))  # ApiVersions in the clear
        assert is_closed(sock)
    wait_for(lambda: mtls_broker.output().count("SSL handshake failed") > before, what="the failure logged")
    assert mtls_broker.alive()
    with raw_connect(mtls_broker.internal_port) as sock:  # the plaintext listener still answers
        sock.sendall(request_frame(18, 0, 2, b""))
        assert struct.unpack(">i", sock.recv(4))[0] > 0


@pytest.fixture(scope="module")
def sasl_ssl_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    proc = SecureBroker(tmp_path_factory.mktemp("sasl-ssl"), "SASL_SSL", {**sasl_overrides(), **tls_overrides(pki)})
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [("SCRAM-SHA-512", "alice", "alice-secret"), ("PLAIN", "alice", "alice-secret")],
)
def test_sasl_ssl_produce_and_consume(
    sasl_ssl_broker: SecureBroker, pki: Pki, mechanism: str, user: str, password: str
) -> None:
    topic = unique_topic("sasl-ssl")
    ck_create_topic(sasl_ssl_broker.internal, topic)
    extra = {
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(pki.ca_path),
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    values = [f"{mechanism}-{i}".encode() * 50 for i in range(50)]
    ck_produce(sasl_ssl_broker.bootstrap, topic, values, extra=extra)
    assert [m.value() for m in ck_consume(sasl_ssl_broker.bootstrap, topic, 50, extra=extra)] == values


def test_aiokafka_over_sasl_ssl_with_scram_sha_512(sasl_ssl_broker: SecureBroker, pki: Pki) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.helpers import create_ssl_context

    topic = unique_topic("aio-sasl-ssl")
    ck_create_topic(sasl_ssl_broker.internal, topic)
    common: dict[str, Any] = {
        "bootstrap_servers": sasl_ssl_broker.bootstrap,
        "security_protocol": "SASL_SSL",
        "ssl_context": create_ssl_context(cafile=str(pki.ca_path)),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "alice-secret",
    }

    async def main() -> list[bytes]:
        producer = AIOKafkaProducer(**common)
        await asyncio.wait_for(producer.start(), 20)
        try:
            for i in range(5):
                await asyncio.wait_for(producer.send_and_wait(topic, f"aio-{i}".encode(), partition=0), 20)
        finally:
            await asyncio.wait_for(producer.stop(), 20)
        consumer = AIOKafkaConsumer(**common, enable_auto_commit=False, group_id=None)
        await asyncio.wait_for(consumer.start(), 20)
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got: list[bytes] = []
            for _ in range(50):
                batches = await consumer.getmany(tp, timeout_ms=200)
                got += [record.value for record in batches.get(tp, [])]
                if len(got) >= 5:
                    break
            return got
        finally:
            await asyncio.wait_for(consumer.stop(), 20)

    assert asyncio.run(main()) == [f"aio-{i}".encode() for i in range(5)]


def test_kafka_python_over_mtls(mtls_broker: SecureBroker, pki: Pki) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = unique_topic("kp-mtls")
    ck_create_topic(mtls_broker.internal, topic)
    cert, key = pki.client("Alice")
    common: dict[str, Any] = {
        "bootstrap_servers": mtls_broker.bootstrap,
        "security_protocol": "SSL",
        "ssl_cafile": str(pki.ca_path),
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "request_timeout_ms": 15000,
    }
    producer = KafkaProducer(**common, enable_idempotence=False)
    try:
        producer.send(topic, value=b"over-mtls", partition=0).get(timeout=CLIENT_TIMEOUT_S)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(**common, consumer_timeout_ms=10000, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        assert [record.value for _, record in zip(range(1), consumer, strict=False)] == [b"over-mtls"]
    finally:
        consumer.close()
