"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), coordinator/runtime.py:
epoch 0 resignations, timer deadlines, wait_idle with loaded partitions, the log lines an operator reads (loads,
resignations, failed loads and writes) and nothing logged for writes that succeed. Each test's docstring names the
mutants it kills."""

from __future__ import annotations

import asyncio
import logging

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.coordinator.runtime import CoordinatorError, CoordinatorRuntime, ShardContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime
from test_runtime import RecordingShard, make

pytestmark = pytest.mark.timeout(10)
LOGGER = "odradek.broker.coordinator"


def test_coordinator_error_text_is_the_error_name() -> None:
    """CoordinatorError's text names the error (kills `super().__init__(None)`)."""
    assert str(CoordinatorError(ErrorCode.NOT_COORDINATOR)) == "NOT_COORDINATOR"


async def test_a_resignation_at_the_elected_epoch_0_is_stale() -> None:
    """Epoch 0 is a real epoch: elected at 0, a resignation at 0 is stale and ignored, one at 1 unloads (kills
    `entry.context.leader_epoch >= 0` -> `> 0` / `>= 1`, which unloaded on the stale resignation)."""
    runtime, _ = make()
    runtime.on_elected(0, 0)
    await runtime.wait_loaded()
    runtime.on_resigned(0, 0)
    assert runtime.owned == {0} and runtime.shard(0).loaded
    runtime.on_resigned(0, 1)
    assert runtime.owned == set()


async def test_timer_deadlines() -> None:
    """A timer's deadline is now + its delay, now for a zero or negative delay; an unscheduled key has none
    (kills `max(delay_ms, 0.0)` -> `max(delay_ms, 1.0)` and `entry is None` -> `(entry is None) and False`)."""
    runtime, time = make()
    runtime.on_elected(0)
    await runtime.wait_loaded()
    timer = runtime.shard(0).context.timer
    time.advance(500)
    timer.schedule("now", 0, lambda: None)
    timer.schedule("past", -5, lambda: None)
    timer.schedule("later", 20, lambda: None)
    assert (timer.deadline("now"), timer.deadline("past"), timer.deadline("later")) == (500.0, 500.0, 520.0)
    assert timer.deadline("nothing") is None


async def test_wait_idle_with_loaded_partitions_waits_for_the_writes() -> None:
    """wait_idle awaits the loads in progress and the background writes, and nothing for loaded partitions
    (kills `e.load is not None` -> `is None`, which handed None to gather)."""
    runtime, _ = make()
    runtime.on_elected(0)
    await runtime.wait_loaded()
    done: list[bool] = []

    async def write() -> None:
        await asyncio.sleep(0)
        done.append(True)

    runtime.shard(0).context.spawn(write(), "a write")
    await runtime.wait_idle()
    assert done == [True] and runtime.background_writes == 0


async def test_the_runtime_logs_loads_resignations_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    """What an operator reads: "<name> loaded partition <p>: <n> records" (INFO, DEBUG for an empty partition),
    "<name> resigned partition <p>", "<name>: loading partition <p> failed" and "<name>: background write failed:
    <description> (partition <p>)" with the exception (kills the mutants of every argument, message and level of
    these log calls, and of the record count in _replay: `count = 1`, `= 1`, `-= 1`, `+= 2`)."""
    log = InMemoryCoordinatorLog()
    log.records[0] = [(0, b"a", b"1"), (1, None, b"skipped"), (2, b"b", None)]
    runtime = CoordinatorRuntime("groups", log, MockTime(), RecordingShard)

    def failing(context: ShardContext) -> RecordingShard:
        shard = RecordingShard(context)
        shard.fail_replay = True
        return shard

    broken = CoordinatorRuntime("broken", log, MockTime(), failing)

    async def fails() -> None:
        raise RuntimeError("disk on fire")

    with caplog.at_level(logging.DEBUG, LOGGER):
        runtime.on_elected(0)
        runtime.on_elected(1)
        await runtime.wait_loaded()
        runtime.shard(0).context.spawn(fails(), "offset commit")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        runtime.on_resigned(0)
        broken.on_elected(0)
        await broken.wait_loaded()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert (logging.INFO, "groups loaded partition 0: 2 records") in lines
    assert (logging.DEBUG, "groups loaded partition 1: 0 records") in lines
    assert (logging.INFO, "groups resigned partition 0") in lines
    assert (logging.ERROR, "broken: loading partition 0 failed") in lines
    assert (logging.ERROR, "groups: background write failed: offset commit (partition 0)") in lines
    failed_write = next(r for r in caplog.records if "background write failed" in r.getMessage())
    assert failed_write.exc_info is not None and isinstance(failed_write.exc_info[1], RuntimeError)


async def test_successful_and_cancelled_writes_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Only failed writes are logged: a write that succeeds or is cancelled by close() logs no error (kills
    `not task.cancelled() and task.exception() is not None` -> `or`, which logged every successful write and
    raised CancelledError in the callback of a cancelled one)."""
    runtime, _ = make()
    runtime.on_elected(0)
    await runtime.wait_loaded()
    context = runtime.shard(0).context
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def succeeds() -> None:
        await asyncio.sleep(0)

    async def waits() -> None:
        await gate

    with caplog.at_level(logging.WARNING):
        context.spawn(succeeds(), "quick")
        context.spawn(waits(), "slow")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        runtime.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert runtime.background_writes == 0
