"""ReplicaManager.fetch: min_bytes, max_wait, the isolation levels' bounds, errors that end a wait at once, and
the response-wide max_bytes (KIP-74: the first partition with data gets at least one batch). MockTime: the
clock only moves when a test advances it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import build_batch, build_control_batch
from odradek.broker.replication.api import (
    AppendOrigin,
    FetchIsolation,
    FetchParams,
    FetchPartition,
    FetchResult,
    ProduceEntry,
)

if TYPE_CHECKING:
    from conftest import Replicas

MAX_WAIT_MS = 500
BIG = 1 << 20


def params(
    min_bytes: int = 1,
    max_bytes: int = BIG,
    isolation: FetchIsolation = FetchIsolation.HIGH_WATERMARK,
    replica_id: int = -1,
    max_wait_ms: int = MAX_WAIT_MS,
) -> FetchParams:
    return FetchParams(replica_id, max_wait_ms, min_bytes, max_bytes, isolation)


def fetch(replicas: Replicas, fetch_params: FetchParams, *requests: FetchPartition) -> asyncio.Task[list[FetchResult]]:
    return asyncio.create_task(replicas.manager.fetch(fetch_params, list(requests)))


async def append(replicas: Replicas, topic: str, index: int, count: int = 1, value: bytes = b"value") -> int:
    """Append one batch; returns its size in bytes."""
    batch = replicas.batch(count, value)
    (result,) = await replicas.manager.produce([ProduceEntry(topic, index, batch)], 1, 0, AppendOrigin.CLIENT)
    assert result.error == ErrorCode.NONE
    return len(batch)


def test_a_wait_completes_only_once_min_bytes_are_there(replicas: Replicas) -> None:
    async def scenario() -> None:
        size = await append(replicas, "t", 2)
        waiting = fetch(replicas, params(min_bytes=size + 1), FetchPartition("t", 2, 0, BIG))
        await replicas.settle()
        assert not waiting.done()  # the data already there is less than min_bytes
        task = fetch(
            replicas, params(min_bytes=2 * size), FetchPartition("t", 0, 0, BIG), FetchPartition("t", 1, 0, BIG)
        )
        await replicas.settle()
        await append(replicas, "t", 0)
        await replicas.settle()
        assert not task.done()  # one batch is less than min_bytes
        await append(replicas, "t", 1)
        await replicas.settle()
        assert task.done()
        assert [result.size for result in task.result()] == [size, size]
        replicas.time.advance(MAX_WAIT_MS)
        await replicas.settle()
        assert waiting.result()[0].size == size  # at max_wait: what is there

    asyncio.run(scenario())


def test_partition_max_bytes_bounds_what_counts_towards_min_bytes(replicas: Replicas) -> None:
    async def scenario() -> None:
        size = len(replicas.batch())
        task = fetch(replicas, params(min_bytes=size // 2), FetchPartition("t", 0, 0, 10))
        await replicas.settle()
        await append(replicas, "t", 0)
        await replicas.settle()
        assert not task.done()  # at most 10 bytes count for this partition (Kafka's DelayedFetch)
        replicas.time.advance(MAX_WAIT_MS)
        await replicas.settle()
        assert task.result()[0].size == size  # the answer still carries one whole batch (KIP-74)

    asyncio.run(scenario())


def test_max_wait_answers_what_is_there(replicas: Replicas) -> None:
    async def scenario() -> None:
        task = fetch(replicas, params(), FetchPartition("t", 0, 0, BIG))
        await replicas.settle()
        replicas.time.advance(MAX_WAIT_MS - 1)
        await replicas.settle()
        assert not task.done()
        replicas.time.advance(1)
        await replicas.settle()
        (result,) = task.result()
        assert (result.error, result.size, result.high_watermark) == (ErrorCode.NONE, 0, 0)
        assert replicas.manager.fetch_purgatory.watched == 0

    asyncio.run(scenario())


def test_enough_data_or_no_wait_answers_at_once(replicas: Replicas) -> None:
    async def scenario() -> None:
        size = await append(replicas, "t", 0)
        (result,) = await replicas.manager.fetch(params(min_bytes=size), [FetchPartition("t", 0, 0, BIG)])
        assert result.size == size and result.records is not None
        assert result.records.read_bytes()[:8] == (0).to_bytes(8, "big")  # base offset 0
        (empty,) = await replicas.manager.fetch(params(max_wait_ms=0), [FetchPartition("t", 1, 0, BIG)])
        assert empty.size == 0 and empty.records is None
        assert replicas.time.pending_timers == 0

    asyncio.run(scenario())


def test_each_isolation_is_woken_by_its_own_offset(replicas: Replicas) -> None:
    """On "r" the follower has not fetched: an append moves the log end, not the HW (nor the LSO)."""

    async def scenario() -> None:
        request = FetchPartition("r", 0, 0, BIG)
        consumer = fetch(replicas, params(), request)
        committed = fetch(replicas, params(isolation=FetchIsolation.TXN_COMMITTED), request)
        follower = fetch(replicas, params(isolation=FetchIsolation.LOG_END, replica_id=2), request)
        await replicas.settle()
        size = await append(replicas, "r", 0)
        await replicas.settle()
        assert follower.done() and follower.result()[0].size == size
        assert not consumer.done() and not committed.done()
        replicas.follow("r", 0)  # the HW (and the LSO with it) moves
        await replicas.settle()
        assert consumer.result()[0].size == size and consumer.result()[0].high_watermark == 1
        assert committed.result()[0].size == size and committed.result()[0].last_stable_offset == 1
        assert replicas.manager.fetch_purgatory.watched == 0

    asyncio.run(scenario())


def test_leadership_moving_away_ends_the_wait_with_the_error(replicas: Replicas) -> None:
    async def scenario() -> None:
        task = fetch(replicas, params(), FetchPartition("t", 0, 0, BIG), FetchPartition("t", 1, 0, BIG))
        await replicas.settle()
        await replicas.lead_elsewhere("t", 1)
        await replicas.settle()
        errors = [result.error for result in task.result()]  # no time advanced
        assert errors == [ErrorCode.NONE, ErrorCode.NOT_LEADER_OR_FOLLOWER]

    asyncio.run(scenario())


def test_deletion_ends_the_wait_with_the_error(replicas: Replicas) -> None:
    async def scenario() -> None:
        task = fetch(replicas, params(), FetchPartition("r", 0, 0, BIG))
        await replicas.settle()
        await replicas.delete("r")
        await replicas.settle()
        assert task.result()[0].error == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert replicas.manager.fetch_purgatory.watched == 0

    asyncio.run(scenario())


def test_an_error_answers_at_once(replicas: Replicas) -> None:
    async def scenario() -> None:
        results = await replicas.manager.fetch(
            params(), [FetchPartition("t", 0, 5, BIG), FetchPartition("t", 1, 0, BIG, current_leader_epoch=7)]
        )
        assert [result.error for result in results] == [ErrorCode.OFFSET_OUT_OF_RANGE, ErrorCode.UNKNOWN_LEADER_EPOCH]
        assert replicas.time.pending_timers == 0

    asyncio.run(scenario())


def test_the_response_wide_max_bytes_bounds_the_partitions_after_the_first(replicas: Replicas) -> None:
    """KIP-74: the first partition with data gets one whole batch even past max_bytes; the others share what is
    left of max_bytes (possibly a partial batch, as Kafka's reads), and nothing once it is used up."""

    async def scenario() -> None:
        sizes = [await append(replicas, "t", index, count=20) for index in range(3)]
        requests = [FetchPartition("t", index, 0, BIG) for index in range(3)]
        tiny = await replicas.manager.fetch(params(max_bytes=10), requests)
        assert [result.size for result in tiny] == [sizes[0], 0, 0]
        some = await replicas.manager.fetch(params(max_bytes=sizes[0] + 7), requests)
        assert [result.size for result in some] == [sizes[0], 7, 0]
        roomy = await replicas.manager.fetch(params(max_bytes=sum(sizes) + 1), requests)
        assert [result.size for result in roomy] == sizes
        capped = await replicas.manager.fetch(params(), [FetchPartition("t", index, 0, 9) for index in range(3)])
        assert [result.size for result in capped] == [sizes[0], 9, 9]  # partition_max_bytes; the first: one batch

    asyncio.run(scenario())


def test_read_committed_stops_at_the_logs_last_stable_offset_and_wakes_when_it_moves(replicas: Replicas) -> None:
    """The partition's LSO is the log's (open transactions hold it below the HW): a read_committed fetch sees
    nothing past an open transaction, and a waiting one is woken when the commit marker moves the LSO."""

    async def scenario() -> None:
        now = replicas.time.wall_ms()
        open_txn = build_batch([(b"k", b"in-txn", (), now)], producer_id=7, producer_epoch=0, base_sequence=0,
                               transactional=True)  # fmt: skip
        for batch, origin in ((open_txn, AppendOrigin.CLIENT), (replicas.batch(), AppendOrigin.CLIENT)):
            (result,) = await replicas.manager.produce([ProduceEntry("t", 0, batch)], 1, 0, origin)
            assert result.error == ErrorCode.NONE
        request = FetchPartition("t", 0, 0, BIG)
        (uncommitted,) = await replicas.manager.fetch(params(max_wait_ms=0), [request])
        assert (uncommitted.high_watermark, uncommitted.last_stable_offset) == (2, 0) and uncommitted.size > 0
        committed = fetch(replicas, params(isolation=FetchIsolation.TXN_COMMITTED), request)
        await replicas.settle()
        assert not committed.done()  # nothing below the LSO (0) to read
        marker = build_control_batch(commit=True, producer_id=7, producer_epoch=0, timestamp=now)
        (result,) = await replicas.manager.produce([ProduceEntry("t", 0, marker)], 1, 0, AppendOrigin.COORDINATOR)
        assert result.error == ErrorCode.NONE
        await replicas.settle()
        assert committed.done() and committed.result()[0].last_stable_offset == 3
        assert committed.result()[0].size > 0

    asyncio.run(scenario())
