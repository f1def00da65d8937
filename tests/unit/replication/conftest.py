"""A ReplicaManager on a temporary log dir, driven by MockTime: tests advance time instead of sleeping.

Topic "t" has partitions led here with this broker alone in the ISR (the HW follows the log end at once);
topic "r" has partitions led here with a follower (node 2) in the ISR, so its HW moves only when the test
reports the follower's fetch (`follow`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from odradek.broker.config.broker import build
from odradek.broker.config.topic import log_config
from odradek.broker.log.manager import LogManager
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.partition import PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment, ReplicaManager
from odradek.broker.utils.time import MockTime

ALONE = PartitionState(leader_id=1, leader_epoch=0, partition_epoch=0, replicas=(1,), isr=(1,))
WITH_FOLLOWER = PartitionState(leader_id=1, leader_epoch=0, partition_epoch=0, replicas=(1, 2), isr=(1, 2))
FOLLOWER_ID = 2


@dataclass
class Replicas:
    manager: ReplicaManager
    time: MockTime
    states: dict[tuple[str, int], PartitionState] = field(default_factory=dict)
    topic_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def batch(self, count: int = 1, value: bytes = b"value") -> bytes:
        now = self.time.wall_ms()
        return build_batch([(b"key-%d" % i, value, (), now) for i in range(count)])

    def follow(self, topic: str, index: int) -> None:
        """The follower fetched everything the leader has: the HW moves to the log end."""
        partition = self.manager.get_partition(topic, index)
        partition.record_follower_fetch(FOLLOWER_ID, partition.log_end_offset)

    async def lead_elsewhere(self, topic: str, index: int) -> None:
        """Leadership of the partition moves to the follower (this broker stays a replica)."""
        old = self.states[(topic, index)]
        new = dataclasses.replace(old, leader_id=FOLLOWER_ID, leader_epoch=old.leader_epoch + 1)
        await self.apply({**self.states, (topic, index): new})

    async def delete(self, topic: str) -> None:
        await self.apply({key: state for key, state in self.states.items() if key[0] != topic})

    async def apply(self, states: dict[tuple[str, int], PartitionState]) -> None:
        self.states = dict(states)
        assignments = [
            ReplicaAssignment(topic, index, self.topic_ids.setdefault(topic, uuid.uuid4()), {}, state)
            for (topic, index), state in states.items()
        ]
        await self.manager.apply_assignments(assignments)

    @staticmethod
    async def settle() -> None:
        """Let every ready callback and task run (a few loop turns; nothing here sleeps on real time)."""
        for _ in range(5):
            await asyncio.sleep(0)


DEFAULT_STATES = {("t", 0): ALONE, ("t", 1): ALONE, ("t", 2): ALONE, ("r", 0): WITH_FOLLOWER, ("r", 1): WITH_FOLLOWER}


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    config = build([{"log.dirs": str(tmp_path)}])
    logs = LogManager.open([tmp_path], log_config({}, config))
    time = MockTime()
    harness = Replicas(ReplicaManager(1, config, logs, BrokerMetrics(), time), time)
    asyncio.run(harness.apply(DEFAULT_STATES))
    try:
        yield harness
    finally:
        logs.shutdown()
