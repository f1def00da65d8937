"""DelayedOperationPurgatory: operations complete once, by an event on a watched key or by their timeout, and
leave nothing behind (no watcher entries, no live timers)."""

from __future__ import annotations

import asyncio

from odradek.broker.replication.purgatory import DelayedOperation, DelayedOperationPurgatory
from odradek.broker.utils.time import MockTime


class Until(DelayedOperation[str]):
    """Completes once `ready` is set; counts its completions and expirations."""

    def __init__(self, delay_ms: float) -> None:
        super().__init__(delay_ms)
        self.ready = False
        self.completions = 0
        self.expirations = 0

    def try_complete(self) -> bool:
        return self.force_complete() if self.ready else False

    def on_complete(self) -> str:
        self.completions += 1
        return "ready" if self.ready else "expired"

    def on_expiration(self) -> None:
        self.expirations += 1


def test_an_operation_that_can_complete_is_not_watched() -> None:
    time = MockTime()
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", time)

    async def scenario() -> None:
        operation = Until(1000)
        operation.ready = True
        assert purgatory.try_complete_else_watch(operation, ["a"])
        assert await operation.future == "ready"
        assert purgatory.watched == 0 and time.pending_timers == 0

    asyncio.run(scenario())


def test_an_event_on_any_watched_key_completes_it_and_unwatches_every_key() -> None:
    time = MockTime()
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", time)

    async def scenario() -> None:
        operation = Until(1000)
        assert not purgatory.try_complete_else_watch(operation, ["a", "b"])
        assert purgatory.check_and_complete("a") == 0  # not ready: still watched
        assert purgatory.watched == 1 and sorted(purgatory.watched_keys()) == ["a", "b"]
        operation.ready = True
        assert purgatory.check_and_complete("c") == 0  # a key it does not watch
        assert purgatory.check_and_complete("b") == 1
        assert await operation.future == "ready"
        assert purgatory.watched == 0 and purgatory.watched_keys() == []
        assert time.pending_timers == 0  # its timer was cancelled
        time.advance(5000)
        assert operation.completions == 1 and operation.expirations == 0

    asyncio.run(scenario())


def test_the_timeout_completes_it_once() -> None:
    time = MockTime()
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", time)

    async def scenario() -> None:
        operation = Until(1000)
        purgatory.try_complete_else_watch(operation, ["a"])
        time.advance(999)
        assert not operation.future.done()
        time.advance(1)
        assert await operation.future == "expired"
        operation.ready = True
        assert purgatory.check_and_complete("a") == 0
        assert not operation.force_complete()
        assert operation.completions == 1 and operation.expirations == 1
        assert purgatory.watched == 0

    asyncio.run(scenario())


def test_a_failing_completion_reaches_the_waiter_not_the_event() -> None:
    time = MockTime()
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("Test", time)

    class Broken(Until):
        def on_complete(self) -> str:
            raise RuntimeError("broken")

    async def scenario() -> None:
        operation = Broken(1000)
        purgatory.try_complete_else_watch(operation, ["a"])
        operation.ready = True
        assert purgatory.check_and_complete("a") == 1  # the caller (an append) carries on
        assert isinstance(operation.future.exception(), RuntimeError)
        assert purgatory.watched == 0

    asyncio.run(scenario())
