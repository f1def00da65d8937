"""Two listeners on one broker (CLIENT and INTERNAL, both mapped to PLAINTEXT in listener.security.protocol.map):
each client is answered with the addresses of the listener it connected to, in Metadata, DescribeCluster and
FindCoordinator, as Kafka does.

The CLIENT listener advertises an address where nothing listens. A client bootstrapped on INTERNAL therefore works
end to end (produce, a consumer group with commits) only if every address the broker hands it is INTERNAL's: before
this change the broker advertised the first endpoint whatever the listener, and such a client timed out.
A TLS listener without a key (ssl.keystore.*) stops the broker at start-up with a clear message.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from it_support import (
    CLIENT_TIMEOUT_S,
    BrokerProcess,
    BrokerStartError,
    ck_admin,
    ck_create_topic,
    ck_produce,
    free_port,
    unique_topic,
)

pytestmark = pytest.mark.integration


class TwoListenerBroker(BrokerProcess):
    """CLIENT on `port` (advertised at a dead port), INTERNAL on `internal_port`, INTERNAL between brokers."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, metrics=False)
        self.internal_port = 0
        self.dead_port = 0

    def _command(self) -> list[str]:
        self.internal_port = self.internal_port or free_port()
        self.dead_port = self.dead_port or free_port()
        self.overrides.update(
            {
                "listeners": f"CLIENT://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{self.internal_port}",
                "advertised.listeners": (
                    f"CLIENT://127.0.0.1:{self.dead_port},INTERNAL://127.0.0.1:{self.internal_port}"
                ),
                "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT",
                "inter.broker.listener.name": "INTERNAL",
            }
        )
        return super()._command()

    @property
    def internal(self) -> str:
        return f"127.0.0.1:{self.internal_port}"


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc = TwoListenerBroker(tmp_path_factory.mktemp("listeners"))
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def _brokers(bootstrap: str) -> list[tuple[int, str, int]]:
    metadata = ck_admin(bootstrap).list_topics(timeout=CLIENT_TIMEOUT_S)
    return sorted((b.id, b.host, b.port) for b in metadata.brokers.values())


def test_metadata_answers_with_the_request_listener(two: TwoListenerBroker) -> None:
    assert _brokers(two.internal) == [(1, "127.0.0.1", two.internal_port)]
    assert _brokers(two.bootstrap) == [(1, "127.0.0.1", two.dead_port)]  # CLIENT's advertised address


def test_describe_cluster_answers_with_the_request_listener(two: TwoListenerBroker) -> None:
    admin = ck_admin(two.internal)  # kept: a destroyed client fails its futures
    cluster = admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(CLIENT_TIMEOUT_S)
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(1, "127.0.0.1", two.internal_port)]
    assert cluster.controller.port == two.internal_port


def test_produce_and_consume_through_the_second_listener(two: TwoListenerBroker) -> None:
    topic = unique_topic("it-listeners")
    ck_create_topic(two.internal, topic)
    values = [f"v{i}".encode() for i in range(20)]
    acked = ck_produce(two.internal, topic, values)
    assert [offset for _, offset, _ in acked] == list(range(20))
    group = f"it-listeners-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": two.internal,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
        }
    )
    got: list[bytes] = []
    try:
        consumer.subscribe([topic])
        for _ in range(300):  # bounded: 300 polls of at most 0.1 s
            msg = consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
            if len(got) == len(values):
                break
        assert got == values
        consumer.commit(asynchronous=False)  # through the coordinator FindCoordinator pointed to
    finally:
        consumer.close()
    admin = ck_admin(two.internal)
    described = admin.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)
    coordinator = described[group].result(CLIENT_TIMEOUT_S).coordinator
    assert (coordinator.host, coordinator.port) == ("127.0.0.1", two.internal_port)


def test_a_tls_listener_without_a_key_stops_the_broker(tmp_path: Path) -> None:
    proc = BrokerProcess(
        tmp_path,
        overrides={"listeners": f"SSL://127.0.0.1:{free_port()}", "security.inter.broker.protocol": "SSL"},
        metrics=False,
    )
    try:
        with pytest.raises(BrokerStartError, match="exited with 2") as failed:
            proc._launch()
        assert "Listener SSL uses TLS but has no key: set ssl.keystore.location" in str(failed.value)
        assert not (tmp_path / "data").exists()  # refused before any log dir or store was opened
    finally:
        proc.cleanup()
