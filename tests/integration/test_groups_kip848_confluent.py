"""confluent-kafka (librdkafka 2.16) with `group.protocol=consumer`: Kafka 4's consumer group protocol (KIP-848,
ConsumerGroupHeartbeat and ConsumerGroupDescribe) against the broker's consumer group coordinator.

Three consumers share a 6-partition topic while members join and leave: every record is processed exactly once
across them (each commits every record synchronously before polling again, so a partition moved to another
member resumes right after the last processed record); the committed offsets are read back; `odradek
consumer-groups --describe` shows the group, its members and offsets; the broker's lag metric covers it; the
group survives a broker restart (its records are replayed from __consumer_offsets). The broker gives a 500 ms
heartbeat interval so that reconciliation steps take a fraction of a second; every wait is bounded.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupType, KafkaException, TopicPartition
from group_support import committed_offsets, end_offsets, group_metric_lines, listed_group, produce_spread, unique_group
from it_support import BrokerProcess, ck_create_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PARTITIONS = 6
WAIT_S = 30.0
OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "500",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.session.timeout.ms": "45000",
}


@pytest.fixture(scope="module")
def kbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path_factory.mktemp("kip848"), overrides=OVERRIDES, metrics=True)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


class Member:
    def __init__(self, name: str, broker: BrokerProcess, group: str, topic: str, **extra: Any) -> None:
        self.name = name
        self.records: list[bytes] = []
        self.assignment: set[int] = set()
        self.events: list[tuple[str, frozenset[int]]] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": group,
                "group.protocol": "consumer",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "client.id": name,
                **extra,
            }
        )
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.closed = False

    def _on_assign(self, _c: Any, parts: list[TopicPartition]) -> None:
        self.assignment |= {p.partition for p in parts}
        self.events.append(("assign", frozenset(p.partition for p in parts)))

    def _on_revoke(self, _c: Any, parts: list[TopicPartition]) -> None:
        self.assignment -= {p.partition for p in parts}
        self.events.append(("revoke", frozenset(p.partition for p in parts)))

    def poll(self) -> None:
        msg = self.consumer.poll(0.05)
        if msg is None:
            return
        if msg.error():
            raise AssertionError(f"{self.name}: {msg.error()}")
        self.records.append(msg.value())
        for attempt in range(20):  # a commit racing a reassignment is retried by the next epoch
            try:
                self.consumer.commit(message=msg, asynchronous=False)
                return
            except KafkaException as exc:
                if attempt == 19:
                    raise AssertionError(f"{self.name}: commit failed: {exc}") from exc
                self.consumer.poll(0.05)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


def pump(members: list[Member], until: Any, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            if not m.closed:
                m.poll()
        if until():
            return
    raise AssertionError(f"timed out waiting for {what}: {[(m.name, sorted(m.assignment)) for m in members]}")


def test_three_consumers_share_a_topic_exactly_once_while_members_come_and_go(kbroker: BrokerProcess) -> None:
    topic = unique_group("kip848-t")
    group = unique_group("kip848-g")
    ck_create_topic(kbroker.bootstrap, topic, PARTITIONS)
    produced = produce_spread(kbroker.bootstrap, topic, 120, PARTITIONS, prefix="a")
    members = [Member("m1", kbroker, group, topic)]
    try:
        pump(members, lambda: len(members[0].assignment) == PARTITIONS, "m1 to own every partition")
        members += [Member("m2", kbroker, group, topic), Member("m3", kbroker, group, topic)]
        produced += produce_spread(kbroker.bootstrap, topic, 120, PARTITIONS, prefix="b")
        pump(members, lambda: sorted(len(m.assignment) for m in members) == [2, 2, 2], "a 2/2/2 split")
        owned = [m.assignment for m in members]
        assert set().union(*owned) == set(range(PARTITIONS))
        produced += produce_spread(kbroker.bootstrap, topic, 120, PARTITIONS, prefix="c")
        members[0].close()  # m1 leaves (epoch -1): its partitions move to m2 and m3
        rest = members[1:]
        pump(rest, lambda: sorted(len(m.assignment) for m in rest) == [3, 3], "a 3/3 split after m1 left")
        produced += produce_spread(kbroker.bootstrap, topic, 120, PARTITIONS, prefix="d")
        pump(rest, lambda: sum(len(m.records) for m in members) >= len(produced), "every record")
        seen = [r for m in members for r in m.records]
        assert sorted(seen) == sorted(produced), "each record consumed exactly once across the members"
        # commits were stored: the group's committed offsets are the log end
        ends = end_offsets(kbroker.bootstrap, topic, PARTITIONS)
        assert committed_offsets(kbroker.bootstrap, group, topic, PARTITIONS) == ends

        # the CLI shows the group: state, members and offsets
        cli = [sys.executable, "-m", "odradek.cli", "consumer-groups", "--bootstrap-server", kbroker.bootstrap]
        out = subprocess.run([*cli, "--describe", "--group", group], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = [line.split() for line in out.stdout.splitlines() if topic in line]
        assert len(rows) == PARTITIONS, out.stdout
        assert {row[-3] for row in rows} == {"0"} or all("0" in row for row in rows), out.stdout  # lag 0
        members_out = subprocess.run(
            [*cli, "--describe", "--group", group, "--members"], capture_output=True, text=True, timeout=60
        )
        assert members_out.returncode == 0, members_out.stderr
        assert "m2" in members_out.stdout and "m3" in members_out.stdout, members_out.stdout
        listed = subprocess.run([*cli, "--list"], capture_output=True, text=True, timeout=60)
        assert group in listed.stdout

        # the lag metric covers the group
        lag = group_metric_lines(kbroker, "kafka_consumergroup_lag", group)
        assert len(lag) == PARTITIONS and all(line.endswith(" 0.0") or line.endswith(" 0") for line in lag), lag
        assert group_metric_lines(kbroker, "kafka_consumergroup_members", group)[0].split()[-1] in ("2", "2.0")
    finally:
        for m in members:
            m.close()


def test_group_and_commits_survive_a_broker_restart(kbroker: BrokerProcess) -> None:
    topic = unique_group("kip848-r")
    group = unique_group("kip848-rg")
    ck_create_topic(kbroker.bootstrap, topic, 2)
    produce_spread(kbroker.bootstrap, topic, 10, 2)
    member = Member("r1", kbroker, group, topic)
    try:
        pump([member], lambda: len(member.records) == 10, "10 records")
        before = listed_group(kbroker, group, WAIT_S)
        assert before.type == ConsumerGroupType.CONSUMER and before.state == ConsumerGroupState.STABLE
    finally:
        member.close()
    kbroker.stop()
    kbroker.restart()
    # Replayed from __consumer_offsets: still a consumer group (offsets alone would make an Empty classic group).
    after = listed_group(kbroker, group, WAIT_S)
    assert after.type == ConsumerGroupType.CONSUMER and after.state == ConsumerGroupState.EMPTY
    committed = committed_offsets(kbroker.bootstrap, group, topic, 2)
    assert committed == end_offsets(kbroker.bootstrap, topic, 2)
    produce_spread(kbroker.bootstrap, topic, 4, 2, prefix="after")
    again = Member("r2", kbroker, group, topic)
    try:
        pump([again], lambda: len(again.records) == 4, "the 4 records produced after the restart")
        assert all(r.startswith(b"after") for r in again.records)
    finally:
        again.close()


def test_regex_subscription_follows_new_topics(kbroker: BrokerProcess) -> None:
    prefix = unique_group("rx")
    ck_create_topic(kbroker.bootstrap, f"{prefix}-a", 2)
    ck_create_topic(kbroker.bootstrap, unique_group("not-rx"), 1)
    member = Member(
        "x1", kbroker, unique_group("kip848-rx"), f"^{prefix}-.*", **{"topic.metadata.refresh.interval.ms": 1000}
    )
    try:
        pump([member], lambda: member.assignment == {0, 1}, "the regex's topic")
        ck_create_topic(kbroker.bootstrap, f"{prefix}-b", 1)
        topics: set[str] = set()

        def both() -> bool:
            topics.clear()
            topics.update(p.topic for p in member.consumer.assignment())
            return topics == {f"{prefix}-a", f"{prefix}-b"}

        pump([member], both, "the new topic the regex matches")
    finally:
        member.close()


def test_a_static_member_restarting_keeps_its_partitions(kbroker: BrokerProcess) -> None:
    topic = unique_group("kip848-s")
    group = unique_group("kip848-sg")
    ck_create_topic(kbroker.bootstrap, topic, 4)
    one = Member("s1", kbroker, group, topic, **{"group.instance.id": "i1"})
    two = Member("s2", kbroker, group, topic, **{"group.instance.id": "i2"})
    try:
        pump([one, two], lambda: len(one.assignment) == 2 and len(two.assignment) == 2, "a 2/2 split")
        before = (set(one.assignment), set(two.assignment))
        seen = len([e for e in one.events if e[1]])
        two.close()  # a static member leaves with epoch -2: its place and partitions are kept
        pause = time.monotonic() + 3.0  # six heartbeat intervals: a dynamic leave would move partitions to `one`
        while time.monotonic() < pause:
            one.poll()
        two = Member("s2", kbroker, group, topic, **{"group.instance.id": "i2"})
        pump([one, two], lambda: len(two.assignment) == 2, "the restarted static member's partitions")
        for _ in range(20):  # a few more heartbeats: nothing moves
            one.poll()
            two.poll()
        assert (one.assignment, two.assignment) == before
        assert [e for e in one.events if e[1]][seen:] == [], "the other member's partitions never moved"
    finally:
        one.close()
        two.close()
