"""ShardContext's write queue (issue 15 item 7): the appends requested in one event-loop turn go to the log as one
batch, each answered with its own records' last offset once the batch is durable, replayed in log order; a failed
batch fails every request in it; a resign before the flush fails them all; transactional batches and markers keep
their own batch and their place; requests of a later turn make a later batch. Every test runs over a plain
CoordinatorLog (the flush is a task awaiting `append`) and over a NowaitCoordinatorLog (the broker's: the flush is a
callback, a batch's outcome is final at once or a future)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog, InMemoryNowaitCoordinatorLog
from odradek.broker.coordinator.runtime import CoordinatorRuntime, LogEntry, ShardContext, TxnProducer
from odradek.broker.protocol.errors import ErrorCode
from test_runtime import RecordingShard, make

pytestmark = pytest.mark.timeout(10)
E = ErrorCode


@pytest.fixture(params=["task", "nowait"], autouse=True)
def log_kind(request: pytest.FixtureRequest) -> Iterator[None]:
    global LOG_CLASS
    LOG_CLASS = InMemoryCoordinatorLog if request.param == "task" else InMemoryNowaitCoordinatorLog
    yield
    LOG_CLASS = InMemoryCoordinatorLog


LOG_CLASS: type[InMemoryCoordinatorLog] = InMemoryCoordinatorLog


async def loaded() -> tuple[CoordinatorRuntime[RecordingShard], InMemoryCoordinatorLog, ShardContext]:
    log = LOG_CLASS()
    runtime, _ = make(log)
    assert (runtime._nowait is not None) is (LOG_CLASS is InMemoryNowaitCoordinatorLog)
    runtime.direct_writes = False  # every request waits for the end of its turn (the adaptive mode: below)
    runtime.on_elected(0)
    await runtime.wait_loaded()
    return runtime, log, runtime.shard(0).context


async def test_writes_of_one_turn_are_one_append_each_answered_with_its_own_offsets() -> None:
    runtime, log, context = await loaded()
    results = await asyncio.gather(
        context.write([(b"a", b"1"), (b"b", b"2")]),
        context.write([(b"c", b"3")]),
        context.append([(b"d", b"4")]),
        context.write([(b"e", None), (b"f", b"6"), (b"g", b"7")]),
    )
    assert log.batches == [7]
    assert results == [(E.NONE, 1), (E.NONE, 2), (E.NONE, 3), (E.NONE, 6)]
    assert [(e.offset, e.key) for e in log.records[0]] == [
        (i, k) for i, k in enumerate([b"a", b"b", b"c", b"d", b"e", b"f", b"g"])
    ]
    # write() replays its records at their offsets, in log order; append() does not replay.
    assert runtime.shard(0).replayed == [
        (0, b"a", b"1"),
        (1, b"b", b"2"),
        (2, b"c", b"3"),
        (4, b"e", None),
        (5, b"f", b"6"),
        (6, b"g", b"7"),
    ]


async def test_requests_of_later_turns_make_later_batches() -> None:
    _, log, context = await loaded()
    assert await context.write([(b"a", b"1")]) == (E.NONE, 0)
    assert await asyncio.gather(context.write([(b"b", b"2")]), context.write([(b"c", b"3")])) == [
        (E.NONE, 1),
        (E.NONE, 2),
    ]
    assert log.batches == [1, 2]


async def test_a_failed_append_fails_every_request_in_it_and_replays_nothing() -> None:
    runtime, log, context = await loaded()
    log.fail = E.NOT_ENOUGH_REPLICAS
    results = await asyncio.gather(
        context.write([(b"a", b"1")]), context.append([(b"b", b"2")]), context.write([(b"c", b"3")])
    )
    assert results == [(E.NOT_ENOUGH_REPLICAS, -1)] * 3
    assert log.batches == [3] and log.records.get(0, []) == []
    assert runtime.shard(0).replayed == []
    log.fail = None  # the next turn's batch is written
    assert await context.write([(b"d", b"4")]) == (E.NONE, 0)


async def test_a_resign_before_the_flush_fails_the_queued_requests() -> None:
    runtime, log, context = await loaded()
    shard = runtime.shard(0)
    first = asyncio.ensure_future(context.write([(b"a", b"1")]))
    second = asyncio.ensure_future(context.write([(b"b", b"2")]))
    await asyncio.sleep(0)  # both requests are queued; the flush runs after them
    assert log.batches == []
    runtime.on_resigned(0)
    assert await first == (E.NOT_LEADER_OR_FOLLOWER, -1)
    assert await second == (E.NOT_LEADER_OR_FOLLOWER, -1)
    assert log.batches == [] and shard.replayed == []
    assert await context.write([(b"c", b"3")]) == (E.NOT_LEADER_OR_FOLLOWER, -1)


async def test_a_resign_while_the_batch_waits_for_acks_answers_without_replay() -> None:
    """The batch is in the log but the partition is lost before it is durable: the requests get their offsets
    (the log's answer) and nothing is replayed into the unloaded shard."""
    runtime, log, context = await loaded()
    shard = runtime.shard(0)
    log.hold_acks = True
    pending = asyncio.ensure_future(asyncio.gather(context.write([(b"a", b"1")]), context.write([(b"b", b"2")])))
    for _ in range(10):
        if log.held:
            break
        await asyncio.sleep(0)
    assert log.batches == [2]
    runtime.on_resigned(0)
    log.release(0)
    assert await pending == [(E.NONE, 0), (E.NONE, 1)]
    assert shard.replayed == []


async def test_transactional_batches_and_markers_keep_their_own_batch_and_their_place() -> None:
    runtime, log, context = await loaded()
    results = await asyncio.gather(
        context.write([(b"a", b"1")]),
        context.write([(b"b", b"2")]),
        context.write([(b"t", b"x")], TxnProducer(7, 1)),
        context.write([(b"c", b"3")]),
        context.write_marker(7, 1, 0, True),
        context.write([(b"d", b"4")]),
    )
    assert log.batches == [2, 1, 1, 0, 1]
    assert results == [(E.NONE, 0), (E.NONE, 1), (E.NONE, 2), (E.NONE, 3), (E.NONE, 4), (E.NONE, 5)]
    assert log.records[0] == [
        LogEntry(0, b"a", b"1"),
        LogEntry(1, b"b", b"2"),
        LogEntry(2, b"t", b"x", 7, 1, True),
        LogEntry(3, b"c", b"3"),
        LogEntry(4, None, None, 7, 1, True, True),
        LogEntry(5, b"d", b"4"),
    ]
    shard = runtime.shard(0)
    assert [offset for offset, _, _ in shard.replayed] == [0, 1, 2, 3, 5]
    assert shard.transactional == [(2, 7)] and shard.markers == [(7, True)]


async def test_a_background_write_joins_the_batch_in_its_place() -> None:
    """A background write requested between two writes sits between them in the log (a group's Empty record
    before a later tombstone), in the same batch."""
    runtime, log, context = await loaded()
    first = asyncio.ensure_future(context.write([(b"a", b"1")]))
    await asyncio.sleep(0)
    context.append_in_background([(b"group", b"empty")], "storing group g")
    last = await context.write([(b"group", None)])
    assert await first == (E.NONE, 0) and last == (E.NONE, 2)
    assert log.batches == [3]
    assert [e.key for e in log.records[0]] == [b"a", b"group", b"group"]
    assert [e.value for e in log.records[0]] == [b"1", b"empty", None]
    assert await context.append(()) == (E.NONE, -1)  # nothing queued: nothing appended
    assert log.batches == [3]
    await runtime.wait_idle()


async def test_a_cancelled_flush_answers_its_requests() -> None:
    runtime, log, context = await loaded()
    log.hold_acks = True
    pending = asyncio.ensure_future(asyncio.gather(context.write([(b"a", b"1")]), context.append([(b"b", b"2")])))
    for _ in range(10):
        if log.held:
            break
        await asyncio.sleep(0)
    runtime.close()  # cancels the flush task waiting for the acks
    assert await pending == [(E.NOT_LEADER_OR_FOLLOWER, -1)] * 2
    await runtime.wait_idle()


async def test_a_log_that_raises_fails_the_batch_and_the_next_one_is_written(caplog: pytest.LogCaptureFixture) -> None:
    runtime, log, context = await loaded()
    original = log.append_nowait if isinstance(log, InMemoryNowaitCoordinatorLog) else log.append
    calls = 0

    def broken(partition: int, records: object, producer: object = None) -> object:
        nonlocal calls
        calls += 1
        raise OSError("disk on fire")

    async def broken_async(partition: int, records: object, producer: object = None) -> object:
        return broken(partition, records, producer)

    if isinstance(log, InMemoryNowaitCoordinatorLog):
        log.append_nowait = broken  # type: ignore[method-assign,assignment]
    else:
        log.append = broken_async  # type: ignore[method-assign,assignment]
    with caplog.at_level("ERROR", "odradek.broker.coordinator"):
        results = await asyncio.gather(context.write([(b"a", b"1")]), context.write([(b"b", b"2")]))
        await runtime.wait_idle()
    assert results == [(E.NOT_LEADER_OR_FOLLOWER, -1)] * 2 and calls == 1
    assert any("disk on fire" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    if isinstance(log, InMemoryNowaitCoordinatorLog):
        log.append_nowait = original  # type: ignore[method-assign,assignment]
    else:
        log.append = original  # type: ignore[method-assign,assignment]
    assert await context.write([(b"c", b"3")]) == (E.NONE, 0)
