"""ReplicaManager.apply_assignments: new logs are created in a worker thread while the event loop keeps running,
partitions are pending (not served) until their log exists, removals and re-created topics, shutdown mid-way."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from odradek.broker.config.broker import build
from odradek.broker.config.topic import log_config
from odradek.broker.log.log import Log
from odradek.broker.log.manager import LogManager, LogSpec
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import build_batch
from odradek.broker.replication import replica_manager
from odradek.broker.replication.api import AppendOrigin, ProduceEntry
from odradek.broker.replication.partition import PartitionError, PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment, ReplicaManager
from odradek.broker.utils.time import SystemTime

LEADER = PartitionState(leader_id=1, leader_epoch=3, partition_epoch=0, replicas=(1,), isr=(1,))
CHUNK_DELAY_S = 0.2


class SlowLogManager(LogManager):
    """Each batch of file work takes CHUNK_DELAY_S longer (a slow disk), in whatever thread calls it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.threads: set[int] = set()
        self.batches = 0
        self.idle = threading.Event()
        self.idle.set()

    def get_or_create_logs(self, specs: Sequence[LogSpec]) -> list[Log]:
        self.idle.clear()
        try:
            self.threads.add(threading.get_ident())
            time.sleep(CHUNK_DELAY_S)
            self.batches += 1
            return super().get_or_create_logs(specs)
        finally:
            self.idle.set()


def manager_in(tmp_path: Path) -> ReplicaManager:
    config = build([{"log.dirs": str(tmp_path)}])
    logs = SlowLogManager([tmp_path], log_config({}, config))
    logs.load_logs()
    return ReplicaManager(1, config, logs, BrokerMetrics(), SystemTime())


def assignments(topic: str, count: int, topic_id: uuid.UUID | None = None) -> list[ReplicaAssignment]:
    topic_id = topic_id or uuid.uuid4()
    return [ReplicaAssignment(topic, p, topic_id, {}, LEADER) for p in range(count)]


def test_logs_are_created_off_the_event_loop_and_served_chunk_by_chunk(tmp_path: Path) -> None:
    manager = manager_in(tmp_path)
    logs = manager.logs
    assert isinstance(logs, SlowLogManager)
    count = replica_manager.CREATE_CHUNK * 2 + 5  # three chunks

    async def scenario() -> tuple[float, list[int]]:
        gaps: list[float] = []
        served: list[int] = []
        apply = asyncio.create_task(manager.apply_assignments(assignments("t", count)))
        last = time.monotonic()
        while not apply.done():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            served.append(len(manager.partitions))
            if 0 < len(manager.partitions) < count:
                # A partition of a later chunk: assigned, led here, not yet served.
                assert manager.is_pending("t", count - 1) and manager.has_pending
                with pytest.raises(PartitionError) as pending:
                    manager.get_partition("t", count - 1)
                assert pending.value.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        await apply
        return max(gaps), served

    try:
        max_gap, served = asyncio.run(scenario())
        # The file work took 3 x CHUNK_DELAY_S; done on the loop, one gap would have been at least CHUNK_DELAY_S.
        assert max_gap < CHUNK_DELAY_S / 2, max_gap
        assert threading.main_thread().ident not in logs.threads and logs.batches == 3
        assert sorted(set(served))[:2] == [0, replica_manager.CREATE_CHUNK]  # the first chunk, served on its own
        assert len(manager.partitions) == count and not manager.has_pending
        assert not manager.is_pending("t", count - 1)
        partition = manager.get_leader("t", count - 1)
        assert partition.log.epoch_cache.entries() == [(3, 0)]  # written by the worker thread
        batch = build_batch([(b"k", b"v", (), int(time.time() * 1000))])
        entry = ProduceEntry("t", count - 1, batch)
        (result,) = asyncio.run(manager.produce([entry], 1, 1000, AppendOrigin.CLIENT))
        assert result.error == ErrorCode.NONE
    finally:
        logs.shutdown()


def test_removed_and_recreated_topics(tmp_path: Path) -> None:
    manager = manager_in(tmp_path)
    old_id, new_id = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        await manager.apply_assignments(assignments("t", 2, old_id) + assignments("gone", 1))
        batch = build_batch([(b"k", b"v", (), int(time.time() * 1000))])
        await manager.produce([ProduceEntry("t", 0, batch)], 1, 1000, AppendOrigin.CLIENT)
        # "t" deleted and re-created with a new id in the same change, "gone" deleted.
        await manager.apply_assignments(assignments("t", 2, new_id))

    try:
        asyncio.run(scenario())
        assert sorted(manager.partitions) == [("t", 0), ("t", 1)]
        assert manager.get_partition("t", 0).topic_id == new_id
        assert manager.get_partition("t", 0).log_end_offset == 0  # a new, empty log
        with pytest.raises(PartitionError) as unknown:
            manager.get_partition("gone", 0)
        assert unknown.value.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert manager.logs.get_log("gone", 0) is None
        assert len(list(tmp_path.glob("*-delete"))) == 3  # t-0, t-1 (old id) and gone-0, renamed for deletion
    finally:
        manager.logs.shutdown()


def test_stop_waits_for_logs_being_created(tmp_path: Path) -> None:
    manager = manager_in(tmp_path)
    logs = manager.logs
    assert isinstance(logs, SlowLogManager)
    shutdown_while_busy: list[bool] = []
    real_shutdown = logs.shutdown

    def shutdown(broker_epoch: int = -1) -> None:
        shutdown_while_busy.append(not logs.idle.is_set())
        real_shutdown(broker_epoch)

    logs.shutdown = shutdown  # type: ignore[method-assign]

    async def scenario() -> None:
        apply = asyncio.create_task(manager.apply_assignments(assignments("t", replica_manager.CREATE_CHUNK * 3)))
        await asyncio.sleep(CHUNK_DELAY_S / 2)  # inside the first chunk's file work
        apply.cancel()  # as MetadataCache.stop cancels its listener at shutdown
        with pytest.raises(asyncio.CancelledError):
            await apply
        await manager.stop()

    asyncio.run(scenario())
    assert shutdown_while_busy == [False]
    assert logs.batches == 1 and not manager.has_pending


def test_apply_limited_to_changed_topics_leaves_the_others(tmp_path: Path) -> None:
    manager = manager_in(tmp_path)
    a_id = uuid.uuid4()

    async def scenario() -> None:
        await manager.apply_assignments(assignments("a", 2, a_id) + assignments("b", 1))
        moved = PartitionState(leader_id=1, leader_epoch=4, partition_epoch=1, replicas=(1,), isr=(1,))
        await manager.apply_assignments([ReplicaAssignment("a", 0, a_id, {}, moved)], topics={"a"})
        assert sorted(manager.partitions) == [("a", 0), ("b", 0)]  # a-1 gone, b untouched
        assert manager.get_partition("a", 0).state.leader_epoch == 4
        await manager.apply_assignments([], topics={"b"})
        assert sorted(manager.partitions) == [("a", 0)]

    try:
        asyncio.run(scenario())
        assert manager.get_partition("a", 0).log.epoch_cache.entries() == [(4, 0)]  # epoch 4 from offset 0 on
    finally:
        manager.logs.shutdown()
