"""The online migration of a consumer group between the protocols (KIP-848; issue 15 item 3) with confluent-kafka
(librdkafka 2.16): consumers restarted one at a time from `group.protocol=classic` to `group.protocol=consumer`
while a producer produces, then back.

The first consumer-protocol member turns the classic group into a consumer group whose classic members go on with
JoinGroup/SyncGroup/Heartbeat; the last classic member leaving leaves a consumer group; on the way back the last
consumer-protocol member leaving turns the group into a classic group again. Each consumer commits every record
synchronously after processing it, so no record is missing (at-least-once: a record processed but not yet
committed when its partition moves is processed again by the next owner; duplicates are only those). The broker
gives a 500 ms heartbeat interval and no initial rebalance delay so that each step takes a few seconds; every wait
is bounded.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupType, KafkaException, Producer, TopicPartition
from group_support import group_metric_lines, listed_group, unique_group
from it_support import BrokerProcess, ck_create_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PARTITIONS = 6
WAIT_S = 60.0
OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "500",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.initial.rebalance.delay.ms": "0",
}


@pytest.fixture(scope="module")
def mbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path_factory.mktemp("migration"), overrides=OVERRIDES)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


class Member:
    """A consumer of either protocol that records what it processed and commits each record."""

    def __init__(
        self, name: str, broker: BrokerProcess, group: str, topic: str, protocol: str, strategy: str = "range"
    ) -> None:
        self.name = name
        self.protocol = protocol
        self.records: list[bytes] = []
        self.assignment: set[int] = set()
        extra: dict[str, Any] = (
            {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "partition.assignment.strategy": strategy}
            if protocol == "classic"
            else {}
        )
        self.consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": group,
                "group.protocol": protocol,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "client.id": name,
                **extra,
            }
        )
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke)
        self.closed = False

    def _on_assign(self, _c: Any, parts: list[TopicPartition]) -> None:
        self.assignment |= {p.partition for p in parts}

    def _on_revoke(self, _c: Any, parts: list[TopicPartition]) -> None:
        self.assignment -= {p.partition for p in parts}

    def poll(self) -> None:
        msg = self.consumer.poll(0.02)
        if msg is None:
            return
        if msg.error():
            raise AssertionError(f"{self.name}: {msg.error()}")
        self.records.append(msg.value())
        # a commit racing a rebalance may fail: the record is then processed again (at-least-once)
        with contextlib.suppress(KafkaException):
            self.consumer.commit(message=msg, asynchronous=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.assignment.clear()
            self.consumer.close()


class Feeder:
    """Produces numbered records over every partition, a few per call; `acked` holds what the broker confirmed."""

    def __init__(self, broker: BrokerProcess, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all"})
        self.sent = 0
        self.acked: set[bytes] = set()
        self.running = True

    def _delivered(self, err: Any, msg: Any) -> None:
        assert err is None, err
        self.acked.add(msg.value())

    def feed(self) -> None:
        if not self.running:
            return
        for _ in range(2):
            value = f"v{self.sent}".encode()
            self.producer.produce(self.topic, value, partition=self.sent % PARTITIONS, on_delivery=self._delivered)
            self.sent += 1
        self.producer.poll(0)

    def stop(self) -> None:
        self.running = False
        assert self.producer.flush(30) == 0
        assert len(self.acked) == self.sent


def pump(members: list[Member], feeder: Feeder, until: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        feeder.feed()
        for m in members:
            if not m.closed:
                m.poll()
        if until():
            return
    state = [(m.name, m.protocol, sorted(m.assignment)) for m in members if not m.closed]
    raise AssertionError(f"timed out waiting for {what}: {state}")


def balanced(members: list[Member]) -> Callable[[], bool]:
    """Every partition owned by exactly one live member, and every live member owns some."""

    def check() -> bool:
        live = [m for m in members if not m.closed]
        owned = [p for m in live for p in m.assignment]
        return sorted(owned) == list(range(PARTITIONS)) and all(m.assignment for m in live)

    return check


def group_members_metric(broker: BrokerProcess, group: str) -> str:
    """kafka_consumergroup_members of the group, as the broker's /metrics reports it."""
    lines = group_metric_lines(broker, "kafka_consumergroup_members", group)
    assert len(lines) == 1, lines
    return lines[0].split()[-1]


def consumed(members: list[Member]) -> set[bytes]:
    return {r for m in members for r in m.records}


def step(members: list[Member], feeder: Feeder, what: str) -> None:
    """Wait for a balanced group that goes on consuming what is produced now."""
    pump(members, feeder, balanced(members), f"{what}: a balanced group")
    mark = feeder.sent
    wanted = {f"v{i}".encode() for i in range(mark)}
    pump(members, feeder, lambda: wanted <= consumed(members), f"{what}: the records produced so far")


def replace_one_by_one(
    everyone: list[Member], feeder: Feeder, broker: BrokerProcess, group: str, topic: str, protocol: str, strategy: str
) -> None:
    """Close each live member in turn and start one of `protocol` in its place (added to `everyone`)."""
    for i, old in enumerate([m for m in everyone if not m.closed]):
        old.close()
        new = Member(f"{protocol}-{i}", broker, group, topic, protocol, strategy)
        everyone.append(new)
        step(everyone, feeder, f"{old.name} replaced by {new.name}")


def live_protocols(everyone: list[Member]) -> list[str]:
    return sorted(m.protocol for m in everyone if not m.closed)


# the classic consumers' assignor: eager (they revoke everything before rejoining) or cooperative (they report what
# they own and revoke only what moves: the consumer group's revocation step)
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_a_rolling_upgrade_to_the_consumer_protocol_and_back_loses_no_record(
    mbroker: BrokerProcess, strategy: str
) -> None:
    topic = unique_group("migrate-t")
    group = unique_group("migrate-g")
    ck_create_topic(mbroker.bootstrap, topic, PARTITIONS)
    feeder = Feeder(mbroker, topic)
    members = [Member(f"classic-{i}", mbroker, group, topic, "classic", strategy) for i in range(3)]
    try:
        step(members, feeder, "three classic consumers")
        assert listed_group(mbroker, group).type == ConsumerGroupType.CLASSIC

        # upgrade: one consumer at a time restarts with group.protocol=consumer
        replace_one_by_one(members, feeder, mbroker, group, topic, "consumer", strategy)
        assert listed_group(mbroker, group).type == ConsumerGroupType.CONSUMER
        assert live_protocols(members) == ["consumer"] * 3
        assert group_members_metric(mbroker, group) in ("3", "3.0"), "the lag metrics cover the consumer group"
        cli = [sys.executable, "-m", "odradek.cli", "consumer-groups", "--bootstrap-server", mbroker.bootstrap]
        listed = subprocess.run([*cli, "--list", "--type"], capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines() if line.startswith(group)]
        assert rows == [[group, "Consumer"]], listed.stdout
        for wanted, expected in (("consumer", [group]), ("classic", [])):
            only = subprocess.run([*cli, "--list", "--type", wanted], capture_output=True, text=True, timeout=60)
            assert [line.split()[0] for line in only.stdout.splitlines() if line.startswith(group)] == expected

        # downgrade: one at a time back to group.protocol=classic
        replace_one_by_one(members, feeder, mbroker, group, topic, "classic", strategy)
        assert listed_group(mbroker, group).type == ConsumerGroupType.CLASSIC
        assert live_protocols(members) == ["classic"] * 3
        assert group_members_metric(mbroker, group) in ("3", "3.0")

        feeder.stop()
        pump(members, feeder, lambda: feeder.acked <= consumed(members), "every acknowledged record")
        assert feeder.acked <= consumed(members), "no record is missing"
        assert len(feeder.acked) == feeder.sent > 0
        # the broker converted the group online both ways (never through an empty group)
        log = mbroker.out_path.read_text(errors="replace")
        assert f"classic group {group} (generation" in log and "converted to a consumer group" in log
        assert f"consumer group {group} converted to a classic group" in log
        assert "classic member" in log and f"of consumer group {group} joined" in log
        assert f"group {group} is empty" not in log
    finally:
        for m in members:
            m.close()
        feeder.producer.purge()
        feeder.producer.flush(5)
