"""Helpers for integration tests of several broker processes on one etcd (metadata.store.url=etcd://...).

(The one-member etcd such a test runs on is conftest's `etcd` fixture.)

- `partitions_of(bootstrap, topic)`: the topic's partitions as the cluster's metadata shows them (confluent-kafka's
  PartitionMetadata: `.leader`, `.replicas`, `.isrs`), and `partition_state` (leader, sorted ISR) of one of them;
- `move_leader(url, topic, partition, leader)`: writes the partition record with a new leader, as the controller
  does (Controller.update_partition), to move leadership without waiting for an election;
- `read_to_end(bootstrap, topic, partitions, isolation, client)`: every record of every partition from the start
  up to its end for `isolation` (the last stable offset for read_committed), sorted.

- `wait_until(what, condition, timeout_s)`: `it_support.wait_for` polling every 0.3 s, an exception counting as
  "not yet" (a client call against a broker being killed or elected).
- `start_brokers(factory, url, node_ids, configs)`: one broker per id (conftest's `broker_factory`), each with
  `configs`, `metadata.store.url=url` and its `node.id`; returns them by id once every one is registered
  (`wait_registered`).
- `wait_registered(bootstrap, node_ids, timeout_s)`: waits until DescribeCluster lists exactly `node_ids`.
- `logs_on_failure(brokers)`: a context manager that prints each broker's log tail when its body raises (pytest
  shows it with the failure), then lets the exception go on.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from it_support import BrokerProcess, ck_admin, wait_for

CLIENT_TIMEOUT_S = 15
READ_TIMEOUT_S = 60.0


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    wait_for(condition, timeout_s, 0.3, what, ignoring=(Exception,))


def partitions_of(bootstrap: str, topic: str) -> dict[int, Any]:
    metadata = ck_admin(bootstrap).list_topics(topic, timeout=CLIENT_TIMEOUT_S)
    return dict(metadata.topics[topic].partitions)


def partition_state(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, list[int]]:
    """(leader, sorted ISR) of one partition."""
    part = partitions_of(bootstrap, topic)[partition]
    return part.leader, sorted(part.isrs)


async def move_leader(url: str, topic: str, partition: int, leader: int) -> None:
    from odradek.broker.metadata.controller import Controller
    from odradek.broker.metadata.image import PartitionImage, partition_key
    from odradek.broker.metadata.opener import open_store

    store = await open_store(url)
    try:
        current = await store.get(partition_key(topic, partition))
        assert current is not None
        image = PartitionImage.from_json(topic, partition, current.value, current.mod_revision)
        await Controller(store).update_partition(image, leader=leader)
    finally:
        await store.close()


def read_to_end(
    bootstrap: str, topic: str, partitions: int, isolation: str, client: dict[str, Any] | None = None
) -> list[bytes]:
    """Every value of partitions 0..partitions-1 up to each one's end for `isolation`, sorted; AssertionError if a
    partition's end is not reached within READ_TIMEOUT_S or the consumer reports an error."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            **(client or {}),
        }
    )
    values: list[bytes] = []
    at_end: set[int] = set()
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(at_end) < partitions and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            values.append(msg.value())
    finally:
        consumer.close()
    assert len(at_end) == partitions, f"read to the end of {sorted(at_end)} of {partitions} partitions"
    return sorted(values)


REGISTERED_TIMEOUT_S = 30.0  # generous: the machine is shared
LOG_TAIL_CHARS = 4000


def start_brokers(
    factory: Callable[..., BrokerProcess],
    url: str,
    node_ids: Iterable[int],
    configs: Mapping[str, str],
    *,
    timeout_s: float = REGISTERED_TIMEOUT_S,
) -> dict[int, BrokerProcess]:
    ids = list(node_ids)
    brokers = {n: factory({**configs, "metadata.store.url": url, "node.id": str(n)}) for n in ids}
    wait_registered(brokers[ids[0]].bootstrap, ids, timeout_s)
    return brokers


def wait_registered(bootstrap: str, node_ids: Iterable[int], timeout_s: float = REGISTERED_TIMEOUT_S) -> None:
    wanted = sorted(node_ids)
    admin = ck_admin(bootstrap)

    def registered() -> bool:
        cluster = admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
        return sorted(n.id for n in cluster.nodes) == wanted

    wait_for(registered, timeout=timeout_s, interval=0.2, what=f"registered brokers {wanted}")


@contextlib.contextmanager
def logs_on_failure(brokers: Mapping[int, BrokerProcess]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for n, broker in brokers.items():
            print(f"--- broker {n}:\n{broker.tail(LOG_TAIL_CHARS)}")
        raise
