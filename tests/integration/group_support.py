"""Shared helpers for the consumer-group integration tests (test_groups_*.py).

- `group_broker(workdir)`: a broker with `group.initial.rebalance.delay.ms=0`, so a group's first rebalance does
  not wait 3 s (the tests' module fixtures wrap it).
- `produce_spread`: N records round-robin over a topic's partitions (value `<prefix><i>`, key `k<i>`).
- `committed_offsets`, `end_offsets`: through a throwaway confluent-kafka consumer (OffsetFetch, ListOffsets).
- `describe_group`: DescribeGroups v5 over a raw socket with Odradek's codecs (members, instance ids, state).
- `stabilized_generations`: the generations the coordinator logged for a group ("stabilized group G generation N"
  in the broker's output), the broker-side record of every completed rebalance.
- `group_metric_lines`: a group's samples of one metric on /metrics; `listed_group`: its ListConsumerGroups entry.

Client settings shared by all three clients: the broker's smallest session timeout (6 s), heartbeats every
300 ms (rebalances are noticed quickly), and a 10 s max poll interval, which is also the rebalance timeout, so a
member that stops polling holds a rebalance up for at most 10 s.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from it_support import CLIENT_TIMEOUT_S, BrokerProcess, ck_admin, raw_call, raw_connect

GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 300
MAX_POLL_INTERVAL_MS = 10_000
T = CLIENT_TIMEOUT_S
DESCRIBE_GROUPS = 15


def group_broker(workdir: Path, overrides: dict[str, str] | None = None) -> Iterator[BrokerProcess]:
    """Start a broker for group tests; yield it; kill it at the end (for module-scoped fixtures)."""
    proc = BrokerProcess(workdir, overrides={**GROUP_OVERRIDES, **(overrides or {})}, metrics=False)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def unique_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def values_of(prefix: str, start: int, stop: int) -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(start, stop)]


def produce_spread(
    bootstrap: str, topic: str, count: int, partitions: int, prefix: str = "r", start: int = 0
) -> list[bytes]:
    """Produce records `start`..`start+count-1` with value `<prefix><i>` to partition `i % partitions`."""
    from confluent_kafka import Producer

    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    values = values_of(prefix, start, start + count)
    for i, value in zip(range(start, start + count), values, strict=True):
        producer.produce(
            topic,
            key=f"k{i}".encode(),
            value=value,
            partition=i % partitions,
            on_delivery=lambda err, _msg: errors.append(err) if err is not None else None,
        )
        producer.poll(0)
    remaining = producer.flush(T)
    assert remaining == 0, f"{remaining} records not delivered in {T} s"
    assert not errors, errors
    return values


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset of each partition (-1001, librdkafka's OFFSET_INVALID, when none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=T)
    finally:
        consumer.close()
    for tp in tps:
        assert tp.error is None, f"committed offset of {topic}[{tp.partition}] in {group}: {tp.error}"
    return {tp.partition: tp.offset for tp in tps}


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_group("it-watermarks")})
    try:
        return {
            p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=T)[1]) for p in range(partitions)
        }
    finally:
        consumer.close()


def describe_group(broker: BrokerProcess, group: str) -> Any:
    """DescribeGroups v5 for one group (this single broker is every group's coordinator)."""
    from odradek.broker.protocol.messages.describe_groups_request import DescribeGroupsRequest

    with raw_connect(broker.port) as sock:
        response = raw_call(sock, DESCRIBE_GROUPS, 5, DescribeGroupsRequest(groups=[group]))
    assert response is not None, "DescribeGroups: connection closed"
    (described,) = response.groups
    assert described.error_code == 0, f"DescribeGroups {group}: error {described.error_code}"
    return described


def stabilized_generations(broker: BrokerProcess, group: str) -> list[int]:
    """Generations of `group` the coordinator logged as stabilized (one per completed rebalance with members)."""
    pattern = re.compile(rf"stabilized group {re.escape(group)} generation (\d+) ")
    return [int(m.group(1)) for m in pattern.finditer(broker.output())]


def assert_split(assignments: list[set[int]], partitions: int) -> None:
    """Each member has partitions, no partition twice, and every partition has an owner."""
    assert all(assignments), f"a member has no partitions: {assignments}"
    flat = [p for a in assignments for p in a]
    assert sorted(flat) == list(range(partitions)), f"not a split of {partitions} partitions: {assignments}"


def group_metric_lines(broker: BrokerProcess, name: str, group: str) -> list[str]:
    """The samples of metric `name` for consumer group `group` on the broker's /metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return [line for line in text.splitlines() if line.startswith(name + "{") and f'consumergroup="{group}"' in line]


def listed_group(broker: BrokerProcess, group: str, timeout_s: float = 30.0) -> Any:
    """The group's ListConsumerGroups entry (confluent-kafka's ConsumerGroupListing), waited for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    admin = ck_admin(broker.bootstrap)  # kept: a future outlives no admin client
    while True:
        result = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
        found = [g for g in result.valid if g.group_id == group]
        if found or time.monotonic() > deadline:
            assert found, f"group {group} not listed"
            return found[0]
        time.sleep(0.2)
