"""Brokers whose metadata lives in etcd (metadata.store.url=etcd://...): one real etcd member per test
(etcd_support.EtcdCluster on free loopback ports, stopped by PID at the end), confluent-kafka as the client."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from etcd_support import EtcdCluster, etcd_missing, post
from it_support import BrokerProcess, ck_admin, ck_consume, ck_create_topic, ck_produce, unique_topic

pytestmark = [pytest.mark.integration, pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))]

Factory = Callable[..., BrokerProcess]
CLIENT_TIMEOUT_S = 15


def etcd_keys(cluster: EtcdCluster, prefix: bytes) -> list[bytes]:
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    body = {"key": base64.b64encode(prefix).decode(), "range_end": base64.b64encode(end).decode(), "keys_only": True}
    reply = post(cluster.endpoints[0], "kv/range", body)
    return [base64.b64decode(kv["key"]) for kv in reply.get("kvs", [])]


def test_a_broker_on_etcd_serves_clients_and_keeps_its_topics_across_a_restart(
    broker_factory: Factory, etcd: EtcdCluster
) -> None:
    broker = broker_factory({"metadata.store.url": etcd.url("/it/one")})
    topic = unique_topic("etcd")
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    assert f"/it/one/topics/{topic}".encode() in etcd_keys(etcd, b"/it/one/topics/")
    assert b"/it/one/brokers/1" in etcd_keys(etcd, b"/it/one/brokers/")
    values = [b"v%d" % i for i in range(20)]
    acked = ck_produce(broker.bootstrap, topic, values, partition=1)
    assert [offset for _, offset, _ in acked] == list(range(20))
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 20, partition=1)] == values
    broker.stop()
    assert etcd_keys(etcd, b"/it/one/brokers/") == [], "a clean shutdown revokes the registration's lease"
    broker.restart()
    metadata = ck_admin(broker.bootstrap).list_topics(timeout=CLIENT_TIMEOUT_S)
    assert topic in metadata.topics and len(metadata.topics[topic].partitions) == 3
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 20, partition=1)] == values
    more = ck_produce(broker.bootstrap, topic, [b"after"], partition=1)
    assert more[0][1] == 20


def test_two_brokers_on_one_etcd_register_one_controller_and_serve_their_partitions(
    broker_factory: Factory, etcd: EtcdCluster
) -> None:
    url = etcd.url("/it/two")
    first = broker_factory({"metadata.store.url": url, "node.id": "1"})
    second = broker_factory({"metadata.store.url": url, "node.id": "2"})
    for broker in (first, second):
        admin = ck_admin(broker.bootstrap)  # kept: the future fails if its client is destroyed first
        cluster = admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
        assert sorted(node.id for node in cluster.nodes) == [1, 2]
        assert cluster.controller.id == 1, "the first broker claimed /controller"
        ports = {node.id: node.port for node in cluster.nodes}
        assert ports == {1: first.port, 2: second.port}
    # Without replication each partition lives on one broker (RF 1): CreateTopics through the non-controller reaches
    # the controller, leaders are spread round-robin, and each partition serves on its leader.
    topic = unique_topic("etcd-two")
    ck_create_topic(second.bootstrap, topic, partitions=4)
    metadata = ck_admin(first.bootstrap).list_topics(timeout=CLIENT_TIMEOUT_S)
    leaders = {p: metadata.topics[topic].partitions[p].leader for p in range(4)}
    assert set(leaders.values()) == {1, 2}
    for partition in range(4):
        ck_produce(first.bootstrap, topic, [b"p%d" % partition], partition=partition)
        assert [m.value() for m in ck_consume(second.bootstrap, topic, 1, partition=partition)] == [b"p%d" % partition]
    first.stop()
    assert etcd_keys(etcd, b"/it/two/brokers/") == [b"/it/two/brokers/2"]


def test_a_broker_killed_with_sigkill_restarts_on_etcd_once_its_old_lease_expires(
    broker_factory: Factory, etcd: EtcdCluster
) -> None:
    """etcd keeps the killed process's registration lease for up to its TTL: the restarted broker waits for it to
    expire (BrokerRegistration retries DUPLICATE_BROKER_REGISTRATION) instead of failing to start."""
    broker = broker_factory({"metadata.store.url": etcd.url("/it/kill")})
    topic = unique_topic("etcd-kill")
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    ck_produce(broker.bootstrap, topic, [b"before"], partition=0)
    broker.kill()
    assert b"/it/kill/brokers/1" in etcd_keys(etcd, b"/it/kill/brokers/"), "the lease outlives the process"
    broker.restart()
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 1, partition=0)] == [b"before"]
    assert ck_produce(broker.bootstrap, topic, [b"after"], partition=0)[0][1] == 1
