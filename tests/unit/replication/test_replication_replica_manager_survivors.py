"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md),
replication/replica_manager.py: what each isolation level may read, the fields of produce and fetch results,
ListOffsets' answers, errors that end a fetch at once, fencing of a waiting fetch, shutdown, the storage tasks and
the partition metrics. Each test's docstring names the mutants it kills."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time as real_time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from odradek.broker.config.broker import build
from odradek.broker.log.log import EARLIEST_TIMESTAMP, LATEST_TIERED_TIMESTAMP, LATEST_TIMESTAMP
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.api import (
    AppendOrigin,
    FetchIsolation,
    FetchParams,
    FetchPartition,
    FetchResult,
    ProduceEntry,
)
from odradek.broker.replication.partition import PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment

if TYPE_CHECKING:
    from conftest import Replicas

BIG = 1 << 20
PRODUCER_ID = 7


def params(
    isolation: FetchIsolation = FetchIsolation.HIGH_WATERMARK, max_wait_ms: int = 0, min_bytes: int = 1
) -> FetchParams:
    return FetchParams(-1, max_wait_ms, min_bytes, BIG, isolation)


async def append(replicas: Replicas, topic: str, index: int, records: bytes) -> None:
    (result,) = await replicas.manager.produce([ProduceEntry(topic, index, records)], 1, 0, AppendOrigin.CLIENT)
    assert result.error == ErrorCode.NONE, result


def open_transaction(replicas: Replicas) -> bytes:
    """A transactional batch: appended, it leaves a transaction open at its first offset."""
    now = replicas.time.wall_ms()
    return build_batch(
        [(b"k", b"v", (), now)], producer_id=PRODUCER_ID, producer_epoch=0, base_sequence=0, transactional=True
    )


def read(replicas: Replicas, isolation: FetchIsolation, topic: str = "t", index: int = 0) -> FetchResult:
    (result,) = replicas.manager.read_all(params(isolation), [FetchPartition(topic, index, 0, BIG)])
    return result


def test_each_isolation_reads_below_its_own_offset(replicas: Replicas) -> None:
    """A consumer reads below the HW, a follower to the log end (kills `limit = None` and `read(..., None, ...)` in
    read_partition, which let consumers read records no follower had yet)."""

    async def scenario() -> None:
        await append(replicas, "r", 0, replicas.batch())  # the follower has not fetched: HW 0, LEO 1

    asyncio.run(scenario())
    assert read(replicas, FetchIsolation.HIGH_WATERMARK, "r").records is None
    assert read(replicas, FetchIsolation.TXN_COMMITTED, "r").records is None
    follower = read(replicas, FetchIsolation.LOG_END, "r")
    assert follower.records is not None and follower.high_watermark == 0


def test_read_committed_stops_at_an_open_transaction(replicas: Replicas) -> None:
    """With a transaction open, TXN_COMMITTED reads and ListOffsets(LATEST, read_committed) stop at the LSO while
    HIGH_WATERMARK ones go to the HW (kills `is TXN_COMMITTED` -> `is not` in _fetch_limit and the `committed_only`
    condition mutated to always / never take the LSO in list_offset)."""

    async def scenario() -> None:
        await append(replicas, "t", 0, replicas.batch())
        await append(replicas, "t", 0, open_transaction(replicas))  # offset 1, open

    asyncio.run(scenario())
    partition = replicas.manager.get_partition("t", 0)
    assert (partition.high_watermark, partition.last_stable_offset) == (2, 1)
    committed = read(replicas, FetchIsolation.TXN_COMMITTED)
    uncommitted = read(replicas, FetchIsolation.HIGH_WATERMARK)
    assert committed.records is not None and uncommitted.records is not None
    assert committed.records.size < uncommitted.records.size
    assert (committed.high_watermark, committed.last_stable_offset) == (2, 1)
    assert replicas.manager.list_offset("t", 0, LATEST_TIMESTAMP, -1, committed_only=True)[0] == 1
    assert replicas.manager.list_offset("t", 0, LATEST_TIMESTAMP, -1, committed_only=False)[0] == 2


def test_list_offsets_answers(replicas: Replicas) -> None:
    """ListOffsets through the replica manager: LATEST is (HW, -1, latest epoch); LATEST_TIERED and a timestamp
    after every record are (-1, -1, -1); a timestamp whose offset is not below the HW yet is (-1, -1, -1) but
    EARLIEST is answered even at the HW; a log without epoch entries answers epoch -1 (kills the -1 constants
    mutated to +1/-2, `timestamp == LATEST_TIERED` -> `!=`, `found = None`, `and` -> `or` / `not in` -> `in` /
    `>=` -> `>` in the HW check, and the mutants of _or_minus_one and `_or_minus_one(None)`)."""
    base = replicas.time.wall_ms()

    async def scenario() -> None:
        await append(replicas, "t", 0, build_batch([(b"k", b"v", (), base + i) for i in range(3)]))
        await append(replicas, "r", 0, build_batch([(b"k", b"v", (), base)]))  # above r-0's HW (0)

    asyncio.run(scenario())
    manager = replicas.manager
    partition = manager.get_partition("t", 0)
    partition.update_state(dataclasses.replace(partition.state, leader_epoch=3))
    partition.log.epoch_cache.assign(3, partition.log_end_offset)
    assert manager.list_offset("t", 0, LATEST_TIMESTAMP, -1, False) == (3, -1, 3)
    assert manager.list_offset("t", 0, LATEST_TIERED_TIMESTAMP, -1, False) == (-1, -1, -1)
    assert manager.list_offset("t", 0, base + 1, -1, False) == (1, base + 1, 0)
    assert manager.list_offset("t", 0, base + 99, -1, False) == (-1, -1, -1)
    assert manager.list_offset("r", 0, base, -1, False) == (-1, -1, -1)  # offset 0 is not below the HW
    assert manager.list_offset("r", 0, EARLIEST_TIMESTAMP, -1, False) == (0, -1, 0)
    replicas.follow("r", 0)  # HW 1: offset 0 is below it now
    assert manager.list_offset("r", 0, base, -1, False) == (0, base, 0)
    partition.log.epoch_cache.truncate_from_end(0)  # no epoch entries, as in a log written before KIP-101
    assert manager.list_offset("t", 0, LATEST_TIMESTAMP, -1, False) == (3, -1, -1)


def test_produce_results_carry_the_append_time_and_log_start_offset(replicas: Replicas) -> None:
    """A produce result holds log_append_time (-1 for CreateTime) and the partition's log start offset, in their
    own fields (kills the removal of `checked.log_append_time_ms` or `partition.log_start_offset` from the
    positional ProduceResult, which shifted one into the other)."""

    async def scenario() -> None:
        await append(replicas, "t", 0, replicas.batch(3))
        replicas.manager.delete_records("t", 0, 2)
        (result,) = await replicas.manager.produce([ProduceEntry("t", 0, replicas.batch())], 1, 0, AppendOrigin.CLIENT)
        assert (result.base_offset, result.log_append_time, result.log_start_offset) == (3, -1, 2)

    asyncio.run(scenario())


def test_a_corrupt_batch_is_answered_with_its_error_and_message(replicas: Replicas) -> None:
    """A batch whose CRC does not match is CORRUPT_MESSAGE with the decoder's message, counted as a failed produce
    of its topic (kills `ProduceResult(None, ...)`, `ErrorCode(None)`, the dropped error or message, and
    `produce_failed(None)` in the InvalidRecordBatch branch)."""
    batch = bytearray(replicas.batch())
    batch[-1] ^= 0xFF  # the last byte of the last record: covered by the CRC

    async def scenario() -> None:
        (result,) = await replicas.manager.produce([ProduceEntry("t", 0, bytes(batch))], 1, 0, AppendOrigin.CLIENT)
        assert result.error == ErrorCode.CORRUPT_MESSAGE
        assert result.message

    asyncio.run(scenario())
    assert replicas.manager.metrics.failed_produce.labels("t")._value.get() == 1


def test_produce_metrics_are_per_topic(replicas: Replicas) -> None:
    """Failed and successful produces count under their topic's label (kills `produce_failed(None)` in the
    PartitionError and RecordValidationError branches and `produced(None, ...)`)."""
    metrics = replicas.manager.metrics
    now = replicas.time.wall_ms()
    key_less = build_batch([(None, b"v", (), now)])  # a compacted topic refuses records without keys

    async def scenario() -> None:
        compacted = ReplicaAssignment("c", 0, uuid.uuid4(), {"cleanup.policy": "compact"}, replicas.states[("t", 0)])
        await replicas.manager.apply_assignments([compacted], topics={"c"})
        await append(replicas, "t", 0, replicas.batch(2))
        results = await replicas.manager.produce(
            [ProduceEntry("nope", 0, replicas.batch()), ProduceEntry("c", 0, key_less)],
            1,
            0,
            AppendOrigin.CLIENT,
        )
        assert [r.error for r in results] == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_RECORD]

    asyncio.run(scenario())
    assert metrics.messages_in.labels("t")._value.get() == 2
    assert metrics.failed_produce.labels("nope")._value.get() == 1
    assert metrics.failed_produce.labels("c")._value.get() == 1


def test_pending_partitions_say_why(replicas: Replicas) -> None:
    """A partition whose log is being created is NOT_LEADER_OR_FOLLOWER with a message that says so, and the
    produce result carries it (kills the message mutants in get_partition and `message=exc.message or None`
    mutated to None / dropped / `and`)."""
    manager = replicas.manager
    partition = manager.get_partition("t", 0)
    # As _create_partitions registers it while a worker thread creates the log.
    manager._pending[("p", 0)] = ReplicaAssignment("p", 0, partition.topic_id, {}, partition.state)

    async def scenario() -> None:
        (result,) = await manager.produce([ProduceEntry("p", 0, replicas.batch())], 1, 0, AppendOrigin.CLIENT)
        assert result.error == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert result.message == "the partition's log is being created"

    asyncio.run(scenario())


def test_a_negative_partition_max_bytes_is_an_error_only_when_there_is_data(replicas: Replicas) -> None:
    """partition_max_bytes < 0: UNKNOWN_SERVER_ERROR for the partition once there is something to read (as Kafka's
    LogSegment.read throwing), an empty answer at the log end; the error answers the fetch at once, whatever
    min_bytes (kills the mutants of the `read(fetch_offset, 0, limit).slice is not None` probe, `FetchResult(None)`,
    and `or` -> `and` between the min_bytes and the error conditions of fetch)."""

    async def scenario() -> None:
        await append(replicas, "t", 0, replicas.batch())
        manager = replicas.manager
        (at_end,) = manager.read_all(params(), [FetchPartition("t", 0, 1, -1)])
        assert (at_end.error, at_end.records, at_end.high_watermark) == (ErrorCode.NONE, None, 1)
        task = asyncio.create_task(
            manager.fetch(params(max_wait_ms=1000, min_bytes=BIG), [FetchPartition("t", 0, 0, -1)])
        )
        await replicas.settle()
        assert task.done()  # no time advanced
        (result,) = task.result()
        assert result.error == ErrorCode.UNKNOWN_SERVER_ERROR

    asyncio.run(scenario())


def test_a_fetch_without_partitions_or_with_max_wait_1_ms(replicas: Replicas) -> None:
    """A fetch naming no partition is answered at once (Kafka's fetchInfos.isEmpty); max_wait_ms 1 still waits
    1 ms (kills `not requests or sum >= min_bytes` -> `and` and `max_wait_ms <= 0` -> `<= 1`)."""

    async def scenario() -> None:
        empty = asyncio.create_task(replicas.manager.fetch(params(max_wait_ms=1000), []))
        await replicas.settle()
        assert empty.done() and empty.result() == []
        short = asyncio.create_task(replicas.manager.fetch(params(max_wait_ms=1), [FetchPartition("t", 0, 0, BIG)]))
        await replicas.settle()
        assert not short.done()
        replicas.time.advance(1)
        await replicas.settle()
        assert short.done()

    asyncio.run(scenario())


def test_a_waiting_fetch_is_fenced_when_the_leader_epoch_moves_on(replicas: Replicas) -> None:
    """A fetch waiting with current_leader_epoch 0 ends at once with FENCED_LEADER_EPOCH when this broker stays
    leader at epoch 1 (kills `get_leader(topic, partition, )` in bytes_available, which dropped the epoch check
    and let the fetch wait out max_wait_ms)."""

    async def scenario() -> None:
        task = asyncio.create_task(
            replicas.manager.fetch(params(max_wait_ms=1000), [FetchPartition("t", 0, 0, BIG, current_leader_epoch=0)])
        )
        await replicas.settle()
        assert not task.done()
        bumped = dataclasses.replace(replicas.states[("t", 0)], leader_epoch=1)
        await replicas.apply({**replicas.states, ("t", 0): bumped})
        await replicas.settle()
        assert task.done()
        (result,) = task.result()
        assert result.error == ErrorCode.FENCED_LEADER_EPOCH

    asyncio.run(scenario())


def test_offset_out_of_range_carries_the_partition_offsets(replicas: Replicas) -> None:
    """OFFSET_OUT_OF_RANGE answers with the HW, LSO and log start offset, so that the consumer can reset (kills
    the removal of each from the positional FetchResult in _out_of_range)."""

    async def scenario() -> None:
        await append(replicas, "t", 0, replicas.batch(4))
        replicas.manager.delete_records("t", 0, 1)

    asyncio.run(scenario())
    (result,) = replicas.manager.read_all(params(), [FetchPartition("t", 0, 9, BIG)])
    assert (result.error, result.high_watermark, result.last_stable_offset, result.log_start_offset) == (
        ErrorCode.OFFSET_OUT_OF_RANGE,
        4,
        4,
        1,
    )


def test_shutdown_answers_waiting_fetches(replicas: Replicas) -> None:
    """stop() completes the fetches still waiting, with what is there (kills `check_and_complete(None)` for the
    fetch purgatory in stop)."""

    async def scenario() -> None:
        await replicas.apply({**replicas.states, ("x", 0): replicas.states[("t", 0)]})  # file work on this loop
        task = asyncio.create_task(replicas.manager.fetch(params(max_wait_ms=1000), [FetchPartition("t", 0, 0, BIG)]))
        await replicas.settle()
        assert not task.done()
        await replicas.manager.stop()
        await replicas.settle()
        assert task.done() and replicas.manager.fetch_purgatory.watched == 0

    asyncio.run(scenario())


def test_acks_all_with_timeout_0_times_out_at_once(replicas: Replicas) -> None:
    """timeout_ms 0 with acks=all: the partitions still waiting time out when the clock reaches now, not 1 ms
    later (kills `max(timeout_ms, 0)` -> `max(timeout_ms, 1)`)."""

    async def scenario() -> None:
        task = asyncio.create_task(
            replicas.manager.produce([ProduceEntry("r", 0, replicas.batch())], -1, 0, AppendOrigin.CLIENT)
        )
        await replicas.settle()
        replicas.time.advance(0)
        await replicas.settle()
        assert task.done()
        assert task.result()[0].error == ErrorCode.REQUEST_TIMED_OUT

    asyncio.run(scenario())


def test_replication_origin_is_refused_by_produce(replicas: Replicas) -> None:
    """produce() says who appends replicated records (kills the ValueError message mutants)."""

    async def scenario() -> None:
        with pytest.raises(ValueError, match=r"^replicated records are appended by the replica fetcher, not produced$"):
            await replicas.manager.produce([], 1, 0, AppendOrigin.REPLICATION)

    asyncio.run(scenario())


def test_partition_stats(replicas: Replicas) -> None:
    """The metrics' view of each partition: leadership, under-replication (ISR smaller than the replicas), size
    and offsets (kills every mutant of partition_stats, which no test reached, `<` -> `<=` included)."""

    async def scenario() -> None:
        await append(replicas, "t", 0, replicas.batch(2))

    asyncio.run(scenario())
    partition = replicas.manager.get_partition("r", 1)
    partition.update_state(dataclasses.replace(partition.state, isr=(1,)))
    stats = {(s.topic, s.partition): s for s in replicas.manager.partition_stats()}
    t0 = stats[("t", 0)]
    size = replicas.manager.get_partition("t", 0).log.size_in_bytes
    assert (t0.is_leader, t0.under_replicated, t0.size_bytes, t0.log_start_offset, t0.log_end_offset) == (
        True,
        False,
        size,
        0,
        2,
    )
    assert size > 0 and t0.high_watermark == 2
    assert stats[("r", 1)].under_replicated and not stats[("r", 0)].under_replicated
    # The replication view: replicas {1, 2}, ISR shrunk to the leader on r-1, min.insync.replicas from the log.
    r1, r0 = stats[("r", 1)], stats[("r", 0)]
    assert (r0.replicas, r0.isr, r1.replicas, r1.isr) == (2, 2, 2, 1)
    assert r1.min_insync_replicas == partition.log.config.min_insync_replicas


def test_storage_tasks_run_with_the_clock_and_survive_failures(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    """start() runs each storage task every interval in a worker thread, passing the injected clock's wall time; a
    failing run is logged with the task's name and the next one still runs (kills `while True` -> `while False`,
    `to_thread(None)`, the logging mutants of _every, `_every(..., None)`, `interval_ms * 1000`, and the
    `None` arguments of _retention)."""
    manager = replicas.manager
    manager.config = build([{"log.dirs": "/nonexistent", "log.retention.check.interval.ms": "1"}])
    calls: list[int] = []

    def run_retention(now_ms: int) -> None:
        calls.append(now_ms)
        if len(calls) == 1:
            raise OSError("disk gone")

    manager.logs.run_retention = run_retention  # type: ignore[method-assign]

    async def scenario() -> None:
        manager.start()
        deadline = real_time.monotonic() + 10
        while len(calls) < 2 and real_time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in manager._tasks:
            task.cancel()
        await asyncio.gather(*manager._tasks, return_exceptions=True)

    with caplog.at_level(logging.ERROR, logger="odradek.broker.replication.replica_manager"):
        asyncio.run(scenario())
    assert len(calls) >= 2 and set(calls) == {replicas.time.wall_ms()}
    messages = [r.getMessage() for r in caplog.records if r.exc_info]
    assert "storage task _retention failed" in messages


def test_storage_work_gets_the_wall_clock(replicas: Replicas) -> None:
    """The periodic work passes the injected clock's wall time and the logs to the log manager and the cleaner
    (kills the `None` arguments of _delete_expired, _flush_due and _clean)."""
    manager = replicas.manager
    seen: dict[str, Any] = {}
    manager.logs.delete_expired_files = lambda now: seen.__setitem__("expired", now)  # type: ignore[method-assign]
    manager.logs.flush_dirty = lambda now: seen.__setitem__("flush", now)  # type: ignore[method-assign]
    manager._cleaner.clean_logs = lambda logs, now: seen.__setitem__("clean", (len(list(logs)), now))  # type: ignore[method-assign]
    manager._delete_expired()
    manager._flush_due()
    manager._clean()
    now = replicas.time.wall_ms()
    assert seen == {"expired": now, "flush": now, "clean": (5, now)}


def test_assignments_of_other_brokers_are_skipped_not_the_end(replicas: Replicas) -> None:
    """An assignment of a partition this broker does not host is skipped and the ones after it still apply: the
    partitions listed later are kept, and a new topic config reaches their logs (kills `continue` -> `break`
    in _update_assignments, which deleted every partition listed after one hosted elsewhere, and
    `update_config(None)`)."""
    manager = replicas.manager

    async def scenario() -> None:
        topic_id = replicas.topic_ids["t"]
        elsewhere = PartitionState(leader_id=2, leader_epoch=0, partition_epoch=0, replicas=(2,), isr=(2,))
        ours = replicas.states[("t", 0)]
        configs = {"retention.ms": "1234"}
        await manager.apply_assignments(
            [ReplicaAssignment("t", 9, topic_id, configs, elsewhere)]
            + [ReplicaAssignment("t", i, topic_id, configs, ours) for i in range(3)],
            topics={"t"},
        )

    asyncio.run(scenario())
    assert sorted(key for key in manager.partitions if key[0] == "t") == [("t", 0), ("t", 1), ("t", 2)]
    assert manager.get_partition("t", 2).log.config.retention_ms == 1234


def test_new_logs_get_their_topic_id_and_only_leaders_an_epoch(replicas: Replicas) -> None:
    """A new replica's log records the topic id (partition.metadata), and only a replica led here starts a leader
    epoch in its cache (kills `LogSpec(..., None, ...)` and the leader check in _open_logs mutated to
    `leader_id` alone, which gave followers an epoch entry)."""
    manager = replicas.manager
    followed = PartitionState(leader_id=2, leader_epoch=4, partition_epoch=0, replicas=(1, 2), isr=(1, 2))
    led = PartitionState(leader_id=1, leader_epoch=3, partition_epoch=0, replicas=(1, 2), isr=(1, 2))
    topic_id = uuid.uuid4()

    async def scenario() -> None:
        await manager.apply_assignments(
            [ReplicaAssignment("n", 0, topic_id, {}, followed), ReplicaAssignment("n", 1, topic_id, {}, led)],
            topics={"n"},
        )

    asyncio.run(scenario())
    follower, leader = manager.get_partition("n", 0), manager.get_partition("n", 1)
    assert follower.log.topic_id == topic_id and leader.log.topic_id == topic_id
    assert follower.log.epoch_cache.latest_epoch is None
    assert leader.log.epoch_cache.latest_epoch == 3


def test_an_empty_isr_leaves_the_high_watermark_to_the_log_end(replicas: Replicas) -> None:
    """With no ISR member known (metadata with an empty ISR) the HW candidate is the leader's log end, not an error
    (kills `min(leos) if leos` -> `if leos or True`, a ValueError from min([]))."""

    async def scenario() -> None:
        await append(replicas, "r", 0, replicas.batch(2))

    asyncio.run(scenario())
    partition = replicas.manager.get_partition("r", 0)
    partition.update_state(dataclasses.replace(partition.state, isr=()))
    assert partition.high_watermark == 2


def test_the_metrics_scrape_the_partitions(replicas: Replicas) -> None:
    """The replica manager hands its partition stats to the metrics (kills `watch_partitions(None)`)."""
    text = replicas.manager.metrics.registry.collect()
    samples = {
        (sample.name, sample.labels.get("topic"), sample.labels.get("partition"))
        for family in text
        for sample in family.samples
    }
    assert any(topic == "t" and partition == "0" for _, topic, partition in samples)


def test_a_partition_past_the_response_budget_has_nothing_to_send(replicas: Replicas) -> None:
    """Once the response-wide max_bytes is spent, a later partition's empty slice is `records=None` ("nothing to
    send"), not a zero-length region (kills `segment_slice.size > 0` -> `>= 0`)."""

    async def scenario() -> None:
        await append(replicas, "t", 0, replicas.batch())
        await append(replicas, "t", 1, replicas.batch())

    asyncio.run(scenario())
    small = FetchParams(-1, 0, 1, 1, FetchIsolation.HIGH_WATERMARK)  # the first partition gets one batch anyway
    first, second = replicas.manager.read_all(small, [FetchPartition("t", 0, 0, BIG), FetchPartition("t", 1, 0, BIG)])
    assert first.records is not None and first.records.size > 0
    assert (second.error, second.records, second.high_watermark) == (ErrorCode.NONE, None, 1)


def test_stop_after_a_failed_log_creation_still_shuts_down(replicas: Replicas) -> None:
    """A failure of the last file work (creating logs) was reported to apply_assignments; stop() must not raise
    it again and must still answer the waits and close the logs (kills `return_exceptions=True` mutated to
    None / False / dropped in stop)."""
    manager = replicas.manager

    def broken(specs: Any) -> Any:
        raise OSError("disk full")

    manager.logs.get_or_create_logs = broken  # type: ignore[method-assign]
    closed: list[bool] = []
    real_shutdown = manager.logs.shutdown

    def shutdown(*args: Any) -> None:
        closed.append(True)
        real_shutdown(*args)

    manager.logs.shutdown = shutdown  # type: ignore[method-assign]

    async def scenario() -> None:
        with pytest.raises(OSError, match="disk full"):
            await replicas.apply({**replicas.states, ("x", 0): replicas.states[("t", 0)]})
        await manager.stop()

    asyncio.run(scenario())
    assert closed == [True]


def test_data_above_the_high_watermark_neither_completes_a_wait_nor_fails_a_read(replicas: Replicas) -> None:
    """Records a follower has not fetched yet (above the HW) do not count towards a consumer's min_bytes, and do
    not make a negative partition_max_bytes an error (kills `limit = None` and the dropped or None limit in
    bytes_available, and in the `read(fetch_offset, 0, limit)` probe of read_partition)."""

    async def scenario() -> None:
        await append(replicas, "r", 0, replicas.batch())  # LEO 1, HW 0
        manager = replicas.manager
        waiting = asyncio.create_task(manager.fetch(params(max_wait_ms=1000), [FetchPartition("r", 0, 0, BIG)]))
        await replicas.settle()
        assert not waiting.done()
        (negative,) = manager.read_all(params(), [FetchPartition("r", 0, 0, -1)])
        assert (negative.error, negative.records) == (ErrorCode.NONE, None)
        replicas.follow("r", 0)
        await replicas.settle()
        assert waiting.done() and waiting.result()[0].records is not None

    asyncio.run(scenario())
