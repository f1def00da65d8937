"""ReplicaManager.produce: immutable results; acks=all waits in the purgatory until the HW passes the append
(DelayedProduce), or the partition fails, or the timeout. Time is MockTime: nothing sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest
from odradek.broker.coordinator.runtime import LogEntry
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import build_control_batch
from odradek.broker.replication.api import AppendOrigin, ProduceEntry, ProduceResult
from odradek.broker.replication.coordinator_log import PartitionRecordLog

if TYPE_CHECKING:
    from conftest import Replicas

TIMEOUT_MS = 30_000


def produce(replicas: Replicas, entries: list[ProduceEntry], acks: int = -1) -> asyncio.Task[list[ProduceResult]]:
    return asyncio.create_task(replicas.manager.produce(entries, acks, TIMEOUT_MS, AppendOrigin.CLIENT))


def test_acks_1_answers_at_once_with_immutable_results(replicas: Replicas) -> None:
    async def scenario() -> None:
        first, second = await replicas.manager.produce(
            [ProduceEntry("t", 0, replicas.batch(3)), ProduceEntry("r", 0, replicas.batch(2))],
            1,
            0,
            AppendOrigin.CLIENT,
        )
        assert (first.error, first.base_offset, first.last_offset) == (ErrorCode.NONE, 0, 2)
        assert (second.error, second.base_offset, second.last_offset) == (ErrorCode.NONE, 0, 1)  # HW not needed
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.error = ErrorCode.REQUEST_TIMED_OUT  # type: ignore[misc]
        assert replicas.manager.produce_purgatory.watched == 0

    asyncio.run(scenario())


def test_acks_all_waits_until_the_high_watermark_passes_the_append(replicas: Replicas) -> None:
    async def scenario() -> None:
        replicas.follow("r", 0)
        await replicas.manager.produce([ProduceEntry("r", 0, replicas.batch(2))], 1, 0, AppendOrigin.CLIENT)
        replicas.follow("r", 0)  # HW = 2
        task = produce(replicas, [ProduceEntry("r", 0, replicas.batch(3))])  # offsets 2..4
        await replicas.settle()
        assert not task.done()
        partition = replicas.manager.get_partition("r", 0)
        partition.record_follower_fetch(2, 4)  # HW 4: the last offset itself is not yet below the HW
        await replicas.settle()
        assert partition.high_watermark == 4 and not task.done()
        partition.record_follower_fetch(2, 5)
        await replicas.settle()
        assert task.done()
        (result,) = task.result()
        assert (result.error, result.base_offset, result.last_offset) == (ErrorCode.NONE, 2, 4)
        assert replicas.manager.produce_purgatory.watched == 0 and replicas.time.pending_timers == 0

    asyncio.run(scenario())


def test_acks_all_with_the_leader_alone_in_the_isr_does_not_wait(replicas: Replicas) -> None:
    async def scenario() -> None:
        (result,) = await replicas.manager.produce([ProduceEntry("t", 1, replicas.batch())], -1, 0, AppendOrigin.CLIENT)
        assert result.error == ErrorCode.NONE and replicas.time.pending_timers == 0

    asyncio.run(scenario())


def test_acks_all_times_out_keeping_the_offsets(replicas: Replicas) -> None:
    async def scenario() -> None:
        task = produce(replicas, [ProduceEntry("r", 0, replicas.batch(2))])
        await replicas.settle()
        replicas.time.advance(TIMEOUT_MS - 1)
        await replicas.settle()
        assert not task.done()
        replicas.time.advance(1)
        await replicas.settle()
        (result,) = task.result()
        assert (result.error, result.base_offset, result.last_offset) == (ErrorCode.REQUEST_TIMED_OUT, 0, 1)
        assert replicas.manager.produce_purgatory.watched == 0

    asyncio.run(scenario())


def test_acks_all_waits_for_every_partition_and_keeps_failed_appends(replicas: Replicas) -> None:
    async def scenario() -> None:
        entries = [
            ProduceEntry("r", 0, replicas.batch()),
            ProduceEntry("t", 0, replicas.batch()),  # HW at once
            ProduceEntry("nope", 0, replicas.batch()),  # fails, never waits
            ProduceEntry("r", 1, replicas.batch()),
        ]
        task = produce(replicas, entries)
        await replicas.settle()
        replicas.follow("r", 0)
        await replicas.settle()
        assert not task.done()  # r-1 still waits
        replicas.follow("r", 1)
        await replicas.settle()
        errors = [result.error for result in task.result()]
        assert errors == [ErrorCode.NONE, ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NONE]

    asyncio.run(scenario())


def test_leadership_moving_away_answers_the_wait_at_once(replicas: Replicas) -> None:
    async def scenario() -> None:
        task = produce(replicas, [ProduceEntry("r", 0, replicas.batch())])
        await replicas.settle()
        await replicas.lead_elsewhere("r", 0)
        await replicas.settle()
        (result,) = task.result()  # no time advanced
        assert result.error == ErrorCode.NOT_LEADER_OR_FOLLOWER and result.base_offset == 0

    asyncio.run(scenario())


def test_deletion_answers_the_wait_at_once(replicas: Replicas) -> None:
    async def scenario() -> None:
        task = produce(replicas, [ProduceEntry("r", 0, replicas.batch())])
        await replicas.settle()
        await replicas.delete("r")
        await replicas.settle()
        (result,) = task.result()
        assert result.error == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert replicas.manager.produce_purgatory.watched == 0

    asyncio.run(scenario())


def test_shutdown_answers_the_wait(replicas: Replicas) -> None:
    async def scenario() -> None:
        await replicas.apply({**replicas.states, ("x", 0): replicas.states[("t", 0)]})  # file work on this loop
        task = produce(replicas, [ProduceEntry("r", 0, replicas.batch())])
        await replicas.settle()
        await replicas.manager.stop()
        await replicas.settle()
        (result,) = task.result()
        assert result.error == ErrorCode.NOT_LEADER_OR_FOLLOWER

    asyncio.run(scenario())


def test_append_errors_are_per_partition(replicas: Replicas) -> None:
    async def scenario() -> None:
        results = await replicas.manager.produce(
            [ProduceEntry("t", 0, b""), ProduceEntry("t", 1, b"\x00" * 70), ProduceEntry("t", 2, replicas.batch())],
            1,
            0,
            AppendOrigin.CLIENT,
        )
        assert (
            results[0].error == ErrorCode.INVALID_RECORD and results[0].message == "no records in the produce request"
        )
        assert results[1].error in (ErrorCode.CORRUPT_MESSAGE, ErrorCode.INVALID_RECORD)
        assert results[2].error == ErrorCode.NONE and results[2].base_offset == 0

    asyncio.run(scenario())


def test_coordinator_log_appends_through_produce_and_reads_back(replicas: Replicas) -> None:
    log = PartitionRecordLog(replicas.manager, "r", lambda: 5_000)

    async def scenario() -> None:
        appended = asyncio.create_task(log.append(0, [(b"k1", b"v1"), (b"k2", None)]))
        await replicas.settle()
        assert not appended.done()  # acks=all: the follower has not fetched yet
        replicas.follow("r", 0)
        await replicas.settle()
        assert appended.result() == (ErrorCode.NONE, 1)
        assert list(log.read(0)) == [LogEntry(0, b"k1", b"v1"), LogEntry(1, b"k2", None)]
        timed_out = asyncio.create_task(log.append(0, [(b"k3", b"v3")]))
        await replicas.settle()
        replicas.time.advance(5_000)
        await replicas.settle()
        assert timed_out.result() == (ErrorCode.REQUEST_TIMED_OUT, 2)
        assert await log.append(7, [(b"k", b"v")]) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)

    asyncio.run(scenario())


def test_only_coordinators_may_append_control_batches(replicas: Replicas) -> None:
    marker = build_control_batch(True, producer_id=7, producer_epoch=0, timestamp=replicas.time.wall_ms())

    async def scenario() -> None:
        (client,) = await replicas.manager.produce([ProduceEntry("t", 0, marker)], 1, 0, AppendOrigin.CLIENT)
        assert (
            client.error == ErrorCode.INVALID_RECORD
            and client.message == "Clients are not allowed to write control records"
        )
        (coordinator,) = await replicas.manager.produce([ProduceEntry("t", 0, marker)], 1, 0, AppendOrigin.COORDINATOR)
        assert coordinator.error == ErrorCode.NONE and coordinator.base_offset == 0
        with pytest.raises(ValueError):
            await replicas.manager.produce([ProduceEntry("t", 0, marker)], 1, 0, AppendOrigin.REPLICATION)

    asyncio.run(scenario())
