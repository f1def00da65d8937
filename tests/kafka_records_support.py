"""Reading a topic back for the operator and end-to-end tests (outside tests/integration, whose it_support has its
own per-partition `ck_consume`), and the KafkaMirrorMaker2 resource the Mirror tests apply."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition


def read_values(bootstrap: str, topic: str, partitions: int, at_least: int, timeout_s: float) -> list[bytes]:
    """The values of partitions 0..partitions-1 of `topic` from their start, once there are `at_least` (or what
    there is after `timeout_s`), in the order consumed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})  # fmt: skip
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + timeout_s
        while len(values) < at_least and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(bytes(message.value() or b""))
    finally:
        consumer.close()
    return values


def mirror_maker2_resource(
    name: str, source: str, target: str, topics: str, namespace: str | None = None, heartbeats: bool = False
) -> dict[str, Any]:
    """A KafkaMirrorMaker2 copying `topics` (a pattern) from `source` to `target` (bootstrap addresses), with every
    internal topic at replication factor 1 (single-broker test clusters)."""
    mirror: dict[str, Any] = {
        "sourceCluster": "source",
        "targetCluster": "target",
        "topicsPattern": topics,
        "sourceConnector": {
            "tasksMax": 1,
            "config": {"replication.factor": 1, "offset-syncs.topic.replication.factor": 1},
        },
    }
    if heartbeats:
        mirror["heartbeatConnector"] = {"config": {"heartbeats.topic.replication.factor": 1}}
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaMirrorMaker2",
        "metadata": metadata,
        "spec": {
            "connectCluster": "target",
            "clusters": [
                {"alias": "source", "bootstrapServers": source},
                {"alias": "target", "bootstrapServers": target, "config": {"offset.flush.interval.ms": 500}},
            ],
            "mirrors": [mirror],
        },
    }
