"""A secured cluster: three broker processes on one etcd whose only listeners are INTERNAL, SASL_SSL with
SCRAM-SHA-512 (the inter-broker listener, credentials in the metadata store), and CLIENT, SSL with required client
certificates; the StandardAuthorizer on with nothing allowed but to the super users (the brokers' `User:broker` and
the client certificate's principal). An RF=3 topic replicates with the full ISR, confluent-kafka produces with
acks=all over mTLS and reads everything back, a transaction's markers reach partitions led by other brokers
(read_committed sees it); a follower restarted with a wrong inter-broker password cannot fetch,
falls out of the ISR, stays out, and says why in its log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cluster_support import read_to_end, wait_until
from etcd_support import EtcdCluster, etcd_missing
from it_support import BrokerProcess, free_port, unique_topic
from security_support import Pki

pytestmark = [pytest.mark.integration, pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))]

CLIENT_TIMEOUT_S = 20
LAG_MS = 3_000
ADMIN_CN = "admin"
ADMIN_PRINCIPAL = f"User:CN={ADMIN_CN},O=Odradek"
SCRAM_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{}";'
BROKER_PASSWORD = "broker-secret"


class SecuredClusterBroker(BrokerProcess):
    """CLIENT (SSL, mTLS) on `port`, the one the readiness line names; INTERNAL (SASL_SSL) between brokers."""

    def __init__(self, workdir: Path, overrides: dict[str, str]) -> None:
        super().__init__(workdir, overrides=overrides, metrics=False)
        self.internal_port = 0

    def _command(self) -> list[str]:
        self.internal_port = self.internal_port or free_port()
        self.overrides["listeners"] = f"CLIENT://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{self.internal_port}"
        return super()._command()


def broker_settings(pki: Pki, url: str, node_id: int, password: str = BROKER_PASSWORD) -> dict[str, str]:
    tls = {
        "ssl.keystore.location": str(pki.keystore),
        "ssl.key.password": pki.key_password,
        "ssl.truststore.location": str(pki.ca_path),
    }
    return {
        "node.id": str(node_id),
        "metadata.store.url": url,
        "listener.security.protocol.map": "CLIENT:SSL,INTERNAL:SASL_SSL",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.internal.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.internal.scram-sha-512.sasl.jaas.config": SCRAM_JAAS.format(password),
        "sasl.scram.bootstrap.credentials": f"SCRAM-SHA-512=[name=broker,password={BROKER_PASSWORD}]",
        "listener.name.client.ssl.client.auth": "required",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:broker;{ADMIN_PRINCIPAL}",
        "allow.everyone.if.no.acl.found": "false",
        "replica.lag.time.max.ms": str(LAG_MS),
        "replica.fetch.wait.max.ms": "200",
        "replica.fetch.backoff.ms": "500",
        "offsets.topic.num.partitions": "1",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.num.partitions": "1",
        **{f"listener.name.internal.{k}": v for k, v in tls.items()},
        **{f"listener.name.client.{k}": v for k, v in tls.items()},
    }


def test_sasl_ssl_inter_broker_and_mtls_clients(tmp_path: Path, etcd: EtcdCluster) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    pki = Pki(tmp_path / "pki")
    cert, key = pki.client(ADMIN_CN)
    client: dict[str, Any] = {
        "security.protocol": "SSL",
        "ssl.ca.location": str(pki.ca_path),
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
    }
    url = etcd.url("/it/secure")
    brokers = {n: SecuredClusterBroker(tmp_path / f"broker-{n}", broker_settings(pki, url, n)) for n in (1, 2, 3)}
    try:
        for broker in brokers.values():
            broker.start()
        bootstrap = ",".join(b.bootstrap for b in brokers.values())
        admin = AdminClient({"bootstrap.servers": bootstrap, **client})

        def isr(topic: str) -> list[int]:
            metadata = admin.list_topics(topic, timeout=CLIENT_TIMEOUT_S)
            part = metadata.topics[topic].partitions.get(0)
            return sorted(part.isrs) if part is not None and part.leader >= 0 else []

        wait_until("three registered brokers", lambda: len(admin.list_topics(timeout=CLIENT_TIMEOUT_S).brokers) == 3)
        topic = unique_topic("secure-rf3")
        (future,) = admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=3, config={"min.insync.replicas": "2"})]
        ).values()
        future.result(timeout=CLIENT_TIMEOUT_S)
        wait_until("the full ISR", lambda: isr(topic) == [1, 2, 3])

        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, **client})
        errors: list[Any] = []
        for i in range(50):
            producer.produce(
                topic, key=b"k%d" % i, value=b"v%d" % i, on_delivery=lambda err, _m: err and errors.append(err)
            )
        assert producer.flush(CLIENT_TIMEOUT_S) == 0 and not errors
        wait_until("the full ISR after producing", lambda: isr(topic) == [1, 2, 3])

        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "secure-g", "auto.offset.reset": "earliest", **client}
        )
        values: list[bytes] = []
        try:
            consumer.subscribe([topic])
            deadline = time.monotonic() + 60
            while len(values) < 50 and time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    values.append(message.value())
        finally:
            consumer.close()
        assert values == [b"v%d" % i for i in range(50)]

        # A transaction over three partitions led by different brokers: the markers for those the coordinator
        # does not lead travel as WriteTxnMarkers over the SASL_SSL inter-broker listener
        txn_topic = unique_topic("secure-txn")
        (future,) = admin.create_topics([NewTopic(txn_topic, num_partitions=3, replication_factor=3)]).values()
        future.result(timeout=CLIENT_TIMEOUT_S)
        leaders = admin.list_topics(txn_topic, timeout=CLIENT_TIMEOUT_S).topics[txn_topic].partitions
        assert len({part.leader for part in leaders.values()}) > 1
        transactional = Producer({"bootstrap.servers": bootstrap, "transactional.id": "secure-tx", **client})
        transactional.init_transactions(60)
        transactional.begin_transaction()
        for partition in range(3):
            transactional.produce(txn_topic, value=b"t%d" % partition, partition=partition)
        transactional.commit_transaction(60)
        assert read_to_end(bootstrap, txn_topic, 3, "read_committed", client) == [b"t0", b"t1", b"t2"]

        # A follower comes back with a wrong inter-broker password: its fetches are refused, it leaves the ISR
        leader = admin.list_topics(topic, timeout=CLIENT_TIMEOUT_S).topics[topic].partitions[0].leader
        follower = max(n for n in brokers if n != leader)
        others = sorted(n for n in brokers if n != follower)
        third = brokers[follower]
        third.stop()
        third.overrides.update(broker_settings(pki, url, follower, password="wrong-password"))
        third.restart()
        wait_until(f"broker {follower} out of the ISR", lambda: isr(topic) == others)
        producer.produce(topic, value=b"after")
        assert producer.flush(CLIENT_TIMEOUT_S) == 0  # min.insync.replicas=2 still met
        wait_until(
            "the authentication failure in the follower's log",
            lambda: (
                "inter-broker authentication to broker" in third.output()
                and "Invalid user credentials" in third.output()
            ),
        )
        time.sleep(LAG_MS * 2 / 1000)
        assert isr(topic) == others  # and it stays out
    except Exception:
        for n, broker in brokers.items():
            print(f"--- broker {n}:\n{broker.tail(4000)}")
        raise
    finally:
        for broker in brokers.values():
            if broker.alive():
                broker.stop()
            broker.cleanup()
