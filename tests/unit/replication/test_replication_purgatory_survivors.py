"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), replication/purgatory.py
and replication/delayed_produce.py: what the purgatory and the acks=all wait must do that no other test pinned.
Each test's docstring names the mutants it kills."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import pytest
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import AppendOrigin, ProduceEntry
from odradek.broker.replication.purgatory import DelayedOperation, DelayedOperationPurgatory
from odradek.broker.utils.time import MockTime

if TYPE_CHECKING:
    from conftest import Replicas


class Until(DelayedOperation[str]):
    """Completes once `ready` is set."""

    def __init__(self, delay_ms: float) -> None:
        super().__init__(delay_ms)
        self.ready = False

    def try_complete(self) -> bool:
        return self.force_complete() if self.ready else False

    def on_complete(self) -> str:
        return "ready" if self.ready else "expired"


def test_check_and_complete_counts_every_operation_it_completes() -> None:
    """`check_and_complete` returns how many operations the event completed, not just whether one did
    (kills `completed += 1` -> `completed = 1`)."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", MockTime())

    async def scenario() -> None:
        operations = [Until(1000) for _ in range(3)]
        for operation in operations:
            assert not purgatory.try_complete_else_watch(operation, ["a"])
        for operation in operations:
            operation.ready = True
        assert purgatory.check_and_complete("a") == 3
        assert purgatory.watched == 0

    asyncio.run(scenario())


def test_an_operation_completed_elsewhere_is_unwatched_by_the_next_event() -> None:
    """An operation completed outside the purgatory (`force_complete` called by its owner) is dropped from every
    key by the next event on one of them, without being counted (kills `self._unwatch(operation)` ->
    `self._unwatch(None)` in check_and_complete's `completed` branch)."""
    time = MockTime()
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", time)

    async def scenario() -> None:
        operation = Until(1000)
        assert not purgatory.try_complete_else_watch(operation, ["a", "b"])
        assert operation.force_complete()
        assert await operation.future == "expired"
        assert purgatory.watched == 1  # nobody told the purgatory yet
        assert purgatory.check_and_complete("a") == 0
        assert purgatory.watched == 0 and purgatory.watched_keys() == []

    asyncio.run(scenario())


def test_an_operation_watching_one_key_twice_leaves_cleanly() -> None:
    """Keys may repeat (a fetch naming one partition twice): unwatching pops the operation from that key's
    watchers once and must tolerate the second time, while another operation still watches the key (kills
    `watchers.pop(operation, None)` -> `watchers.pop(operation)`, which raised KeyError)."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", MockTime())

    async def scenario() -> None:
        twice, other = Until(1000), Until(1000)
        assert not purgatory.try_complete_else_watch(twice, ["a", "a"])
        assert not purgatory.try_complete_else_watch(other, ["a"])
        twice.ready = True
        assert purgatory.check_and_complete("a") == 1
        assert await twice.future == "ready"
        assert purgatory.watched == 1 and purgatory.watched_keys() == ["a"]

    asyncio.run(scenario())


def test_a_failing_completion_is_logged_with_the_operation_type(caplog: pytest.LogCaptureFixture) -> None:
    """The error log of a failed `on_complete` names the operation's class, with its traceback (kills the six
    mutants of the `logger.exception("%s failed to complete", type(self).__name__)` call: message, argument
    and `type(None)`)."""

    class BrokenDelayedThing(Until):
        def on_complete(self) -> str:
            raise RuntimeError("broken")

    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", MockTime())

    async def scenario() -> None:
        operation = BrokenDelayedThing(1000)
        purgatory.try_complete_else_watch(operation, ["a"])
        operation.ready = True
        with caplog.at_level(logging.ERROR, logger="odradek.broker.replication.purgatory"):
            assert purgatory.check_and_complete("a") == 1
        assert isinstance(operation.future.exception(), RuntimeError)

    asyncio.run(scenario())
    (record,) = [r for r in caplog.records if r.name == "odradek.broker.replication.purgatory"]
    assert record.getMessage() == "BrokenDelayedThing failed to complete"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_timed_out_produce_keeps_the_answers_of_partitions_that_were_done(replicas: Replicas) -> None:
    """At the timeout only the partitions still waiting get REQUEST_TIMED_OUT: a partition listed after a waiting
    one whose HW passed its append meanwhile answers NONE (kills `continue` -> `break` in `settle`, which stopped
    at the first waiting partition and never recorded the later one's decision)."""

    async def scenario() -> None:
        task = asyncio.create_task(
            replicas.manager.produce(
                [ProduceEntry("r", 0, replicas.batch()), ProduceEntry("r", 1, replicas.batch())],
                -1,
                1000,
                AppendOrigin.CLIENT,
            )
        )
        await replicas.settle()
        replicas.follow("r", 1)  # r-1 done; r-0 (listed first) still waits
        await replicas.settle()
        assert not task.done()
        replicas.time.advance(1000)
        await replicas.settle()
        first, second = task.result()
        assert first.error == ErrorCode.REQUEST_TIMED_OUT
        assert (second.error, second.base_offset) == (ErrorCode.NONE, 0)

    asyncio.run(scenario())
