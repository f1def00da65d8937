"""CoordinatorRuntime with a recording shard: ownership and epochs, loading in a worker thread, appends, timers on
a MockTime, tracked background writes."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.coordinator.runtime import CoordinatorError, CoordinatorRuntime, ShardContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime

pytestmark = pytest.mark.timeout(10)
E = ErrorCode


class RecordingShard:
    def __init__(self, context: ShardContext) -> None:
        self.context = context
        self.replayed: list[tuple[int, bytes, bytes | None]] = []
        self.transactional: list[tuple[int, int]] = []  # (offset, producer id) of transactional records
        self.markers: list[tuple[int, bool]] = []
        self.replay_threads: set[str] = set()
        self.loaded = False
        self.unloaded = False
        self.fail_replay = False

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        if self.fail_replay:
            raise ValueError("unreadable")
        self.replay_threads.add(threading.current_thread().name)
        self.replayed.append((offset, key, value))
        if producer_id != -1:
            self.transactional.append((offset, producer_id))

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        self.markers.append((producer_id, commit))

    def on_loaded(self) -> None:
        self.loaded = True

    def on_unloaded(self) -> None:
        self.unloaded = True
        # A shard that schedules while unloading: the runtime still leaves no timer behind.
        self.context.timer.schedule("late", 10, lambda: None)


def make(log: InMemoryCoordinatorLog | None = None) -> tuple[CoordinatorRuntime[RecordingShard], MockTime]:
    time = MockTime()
    return CoordinatorRuntime("test", log or InMemoryCoordinatorLog(), time, RecordingShard), time


def error_of(runtime: CoordinatorRuntime[RecordingShard], partition: int) -> ErrorCode:
    with pytest.raises(CoordinatorError) as info:
        runtime.shard(partition)
    return info.value.error


async def test_load_replays_the_partition_in_a_worker_thread() -> None:
    log = InMemoryCoordinatorLog()
    log.records[0] = [(0, b"k1", b"v1"), (1, None, b"skipped"), (2, b"k1", None)]
    runtime, _ = make(log)
    assert error_of(runtime, 0) is E.NOT_COORDINATOR
    runtime.on_elected(0, 5)
    assert error_of(runtime, 0) is E.COORDINATOR_LOAD_IN_PROGRESS
    assert runtime.loading == {0} and runtime.loaded == set()
    await runtime.wait_loaded()
    shard = runtime.shard(0)
    assert shard.loaded and shard.replayed == [(0, b"k1", b"v1"), (2, b"k1", None)]
    assert threading.current_thread().name not in shard.replay_threads
    assert runtime.loaded == {0} and runtime.loading == set()
    assert error_of(runtime, 1) is E.NOT_COORDINATOR


async def test_a_resign_during_the_load_drops_it() -> None:
    runtime, _ = make()
    runtime.on_elected(0, 1)
    runtime.on_resigned(0, 2)
    await runtime.wait_loaded()
    await asyncio.sleep(0.01)
    assert error_of(runtime, 0) is E.NOT_COORDINATOR and runtime.shards() == []


async def test_epochs_stale_elections_and_resignations_are_ignored() -> None:
    runtime, _ = make()
    runtime.on_elected(0, 3)
    await runtime.wait_loaded()
    shard = runtime.shard(0)
    runtime.on_elected(0, 2)  # stale: keeps the shard
    runtime.on_resigned(0, 3)  # not newer than the election we serve
    assert runtime.shard(0) is shard
    runtime.on_resigned(0, 4)
    assert shard.unloaded and error_of(runtime, 0) is E.NOT_COORDINATOR
    runtime.on_elected(0, 5)
    await runtime.wait_loaded()
    runtime.on_resigned(0, None)  # the partition is gone
    assert error_of(runtime, 0) is E.NOT_COORDINATOR
    runtime.on_elected(1)  # unknown epoch (-1): any resignation unloads
    await runtime.wait_loaded()
    runtime.on_resigned(1, 0)
    assert runtime.owned == set()


async def test_timers_run_on_the_injected_clock_and_die_with_the_partition() -> None:
    runtime, time = make()
    runtime.on_elected(0)
    await runtime.wait_loaded()
    timer = runtime.shard(0).context.timer
    fired: list[str] = []
    timer.schedule("a", 100, fired.append, "a")
    timer.schedule("a", 200, fired.append, "a2")  # same key: replaces
    timer.schedule("b", 50, fired.append, "b")
    assert timer.deadline("a") == 200.0 and len(timer) == 2
    time.advance(60)
    assert fired == ["b"] and not timer.is_scheduled("b")
    runtime.on_resigned(0)
    assert len(timer) == 0 and time.pending_timers == 0
    time.advance(1000)
    assert fired == ["b"]


async def test_appends_go_to_the_log_only_while_owned() -> None:
    log = InMemoryCoordinatorLog()
    runtime, _ = make(log)
    runtime.on_elected(0)
    await runtime.wait_loaded()
    context = runtime.shard(0).context
    assert await context.append([(b"k", b"v"), (b"k2", None)]) == (E.NONE, 1)
    runtime.on_resigned(0)
    assert await context.append([(b"k", b"v")]) == (E.NOT_LEADER_OR_FOLLOWER, -1)
    assert len(log.records[0]) == 2


async def test_background_writes_are_tracked_logged_and_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    runtime, _ = make()
    runtime.on_elected(0)
    await runtime.wait_loaded()
    context = runtime.shard(0).context
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails() -> None:
        raise RuntimeError("disk on fire")

    async def waits() -> None:
        await gate

    with caplog.at_level(logging.ERROR, "odradek.broker.coordinator"):
        context.spawn(fails(), "failing write")
        context.spawn(waits(), "slow write")
        assert runtime.background_writes == 2
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert runtime.background_writes == 1
    assert any("failing write" in r.getMessage() and r.exc_info for r in caplog.records)
    runtime.close()
    await runtime.wait_idle()
    assert gate.cancelled() or not gate.done()
    assert runtime.background_writes == 0 and runtime.owned == set()


async def test_a_failed_load_leaves_the_partition_unowned(caplog: pytest.LogCaptureFixture) -> None:
    log = InMemoryCoordinatorLog()
    log.records[0] = [(0, b"k", b"v")]

    def failing(context: ShardContext) -> RecordingShard:
        shard = RecordingShard(context)
        shard.fail_replay = True
        return shard

    runtime = CoordinatorRuntime("test", log, MockTime(), failing)
    with caplog.at_level(logging.ERROR, "odradek.broker.coordinator"):
        runtime.on_elected(0)
        await runtime.wait_loaded()
    assert error_of(runtime, 0) is E.NOT_COORDINATOR
    assert any("loading partition 0 failed" in r.getMessage() for r in caplog.records)


async def test_unloading_cancels_timers_scheduled_by_the_shard_while_unloading() -> None:
    runtime, time = make()
    runtime.on_elected(0)
    await runtime.wait_loaded()
    shard = runtime.shard(0)
    runtime.close()
    assert shard.unloaded and len(shard.context.timer) == 0 and time.pending_timers == 0
