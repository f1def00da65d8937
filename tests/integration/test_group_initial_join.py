"""confluent-kafka consumers joining a new group during the initial rebalance delay, at Kafka's defaults (issue 15).

The broker runs with `group.initial.rebalance.delay.ms=3000` (Kafka's default), the consumers with
`session.timeout.ms=6000`, librdkafka's default heartbeat interval (3 s) and max poll interval (300 s, which is
also the rebalance timeout). Each consumer arriving during the delay extends it by 3 s, so the first member's
JoinGroup stays parked longer than its session timeout. Kafka keeps it (a new member's first join gets the
new-member join timeout, 5 minutes): the group must reach Stable in its first generation with every member
assigned, no member expired, and no further rebalance (before the fix, members were expired and rejoined every few
seconds).

All consumers are polled in turns from the test's thread; every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from group_support import (
    assert_split,
    describe_group,
    group_broker,
    produce_spread,
    stabilized_generations,
    unique_group,
)
from it_support import BrokerProcess, ck_create_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PARTITIONS = 6
KAFKA_DEFAULT_DELAY_MS = "3000"
STABLE_WITHIN_S = 30.0
WATCH_S = 10.0  # after Stable, nothing moves for this long (two session timeouts and more)


@pytest.fixture(scope="module")
def kbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from group_broker(
        tmp_path_factory.mktemp("group-initial-join"), {"group.initial.rebalance.delay.ms": KAFKA_DEFAULT_DELAY_MS}
    )


class Member:
    def __init__(self, broker: BrokerProcess, group: str, topic: str, name: str) -> None:
        self.assignment: set[int] = set()
        self.assigned_events = 0
        self.errors: list[str] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": group,
                "client.id": name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "error_cb": lambda err: self.errors.append(str(err)),
            }
        )
        self.consumer.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)

    def on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned_events += 1
        self.assignment = {tp.partition for tp in partitions}

    def on_revoke(self, _consumer: Any, _partitions: list[Any]) -> None:
        self.assignment = set()

    def poll(self) -> None:
        message = self.consumer.poll(0.05)
        if message is not None and message.error() is not None:
            self.errors.append(str(message.error()))


def pump(members: list[Member], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for member in members:
            member.poll()


def join_during_delay(broker: BrokerProcess, count: int, spacing_s: float) -> None:
    topic = unique_group("it-initial-join")
    group = unique_group("g-initial-join")
    ck_create_topic(broker.bootstrap, topic, PARTITIONS)
    produce_spread(broker.bootstrap, topic, 60, PARTITIONS)
    members: list[Member] = []
    try:
        for i in range(count):
            members.append(Member(broker, group, topic, f"it-initial-{i}"))
            pump(members, spacing_s)  # each next consumer arrives within the (extended) delay
        deadline = time.monotonic() + STABLE_WITHIN_S
        while time.monotonic() < deadline and not all(m.assignment for m in members):
            pump(members, 0.2)
        assignments = [m.assignment for m in members]
        assert all(assignments), f"not every consumer got partitions in {STABLE_WITHIN_S} s: {assignments}"
        pump(members, WATCH_S)
        described = describe_group(broker, group)
        assert described.group_state == "Stable"
        assert len(described.members) == count and all(m.member_assignment for m in described.members)
        assert_split([m.assignment for m in members], PARTITIONS)
        # One rebalance, one generation: nobody was expired and rejoined.
        assert stabilized_generations(broker, group) == [1], broker.output()[-4000:]
        assert [m.assigned_events for m in members] == [1] * count
        output = broker.output()
        expired = [line for line in output.splitlines() if group in line and "removing it" in line]
        assert not expired, expired
    finally:
        for member in members:
            member.consumer.close()


def test_two_consumers_joining_during_the_initial_delay(kbroker: BrokerProcess) -> None:
    join_during_delay(kbroker, 2, 2.0)


def test_three_consumers_joining_during_the_initial_delay(kbroker: BrokerProcess) -> None:
    join_during_delay(kbroker, 3, 2.5)
