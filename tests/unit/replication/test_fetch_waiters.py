"""Idle fetch long-polls must not leave futures behind on the partition (one per poll would grow without bound)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from odradek.broker.config.broker import build
from odradek.broker.config.topic import log_config
from odradek.broker.log.manager import LogManager
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.partition import PartitionState
from odradek.broker.replication.replica_manager import FetchPartition, ReplicaAssignment, ReplicaManager


def _manager(tmp_path: Path) -> ReplicaManager:
    config = build([{"log.dirs": str(tmp_path)}])
    logs = LogManager.open([tmp_path], log_config({}, config))
    manager = ReplicaManager(1, config, logs, BrokerMetrics(), lambda: int(time.time() * 1000))
    state = PartitionState(leader_id=1, leader_epoch=0, partition_epoch=0, replicas=(1,), isr=(1,))
    asyncio.run(manager.apply_assignments([ReplicaAssignment("t", 0, uuid.uuid4(), {}, state)]))
    return manager


def test_idle_long_polls_leave_no_waiters(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    partition = manager.get_partition("t", 0)

    async def polls() -> None:
        for _ in range(20):
            results = await manager.fetch([FetchPartition("t", 0, 0, 1 << 20)], 5, 1, 1 << 20, False)
            assert results[0].size == 0

    try:
        asyncio.run(polls())
        assert partition.waiter_count == 0
    finally:
        manager.logs.shutdown()


def test_long_poll_wakes_on_append(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    batch = build_batch([(b"k", b"v", (), int(time.time() * 1000))])

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fetch = asyncio.create_task(manager.fetch([FetchPartition("t", 0, 0, 1 << 20)], 10_000, 1, 1 << 20, False))
        await asyncio.sleep(0.05)
        result, _, _ = manager.append_to_partition("t", 0, memoryview(batch), 1)
        assert result.error == 0
        results = await asyncio.wait_for(fetch, 5)
        assert results[0].size > 0
        return loop.time() - start

    try:
        assert asyncio.run(scenario()) < 2.0  # woken by the append, not by the 10 s max wait
        assert manager.get_partition("t", 0).waiter_count == 0
    finally:
        manager.logs.shutdown()
