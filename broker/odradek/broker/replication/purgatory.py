"""Delayed operations and the purgatory that holds them (Kafka's DelayedOperation and DelayedOperationPurgatory).

A delayed operation is a request that cannot be answered yet: an acks=all produce waiting for the high watermark,
a fetch waiting for `min_bytes`. It is completed exactly once, by whichever comes first:

- an event: something moved on a partition it watches (the log end, the high watermark, the last stable offset,
  leadership, deletion); whoever moved it calls `check_and_complete(key)`, which asks each operation watching
  `key` whether it can complete now (`try_complete`);
- its timeout, scheduled on the injected clock (`Time.call_later`), which forces completion (`on_expiration`).

Invariants: `on_complete` runs once, before `future` is resolved; a completed operation is no longer watched
under any key and its timer is cancelled, so idle waits leave nothing behind. Nothing polls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

from odradek.broker.utils.time import Time, TimerHandle

logger = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")


class DelayedOperation(Generic[Result]):
    """One waiting request. Subclasses implement `try_complete` (call `force_complete` when the condition holds
    and return its result), `on_complete` (build the answer, returned by `future`) and may override
    `on_expiration` (bookkeeping when the timeout fired)."""

    def __init__(self, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.completed = False
        self.future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._timer: TimerHandle | None = None

    def try_complete(self) -> bool:
        raise NotImplementedError

    def on_complete(self) -> Result:
        raise NotImplementedError

    def on_expiration(self) -> None:
        """Called once, after `on_complete`, when the operation completed by its timeout."""

    def force_complete(self) -> bool:
        """Complete now (once): True if this call completed the operation."""
        if self.completed:
            return False
        self.completed = True
        if self._timer is not None:
            self._timer.cancel()
        try:
            result = self.on_complete()
        except Exception as exc:
            # The waiter learns it, rather than the event (another client's append) that completed this.
            logger.exception("%s failed to complete", type(self).__name__)
            if not self.future.done():
                self.future.set_exception(exc)
            return True
        if not self.future.done():  # a cancelled waiter (client gone) is simply not answered
            self.future.set_result(result)
        return True

    def set_timer(self, timer: TimerHandle) -> None:
        self._timer = timer


class DelayedOperationPurgatory(Generic[Key]):
    """Operations watched by key (a partition, or a partition and an isolation level), with their timers."""

    def __init__(self, name: str, time: Time) -> None:
        self.name = name
        self._time = time
        # key -> operations watching it; a dict as an ordered set, so a completed operation leaves in O(1).
        self._watchers: dict[Key, dict[DelayedOperation[Any], None]] = {}
        self._keys: dict[DelayedOperation[Any], tuple[Key, ...]] = {}

    def try_complete_else_watch(self, operation: DelayedOperation[Any], keys: Iterable[Key]) -> bool:
        """Complete `operation` now if it can; otherwise watch it under `keys` until an event or its timeout
        completes it. True if it completed in this call."""
        if operation.try_complete():
            return True
        self.watch(operation, keys)
        return False

    def watch(self, operation: DelayedOperation[Any], keys: Iterable[Key]) -> None:
        """Watch `operation` under `keys` without trying it first: for a caller that has just found, with no await
        since, that it cannot complete (everything runs on one event loop, so nothing moved meanwhile; Kafka tries
        again after watching only because its request threads race with the events)."""
        watched = tuple(keys)
        for key in watched:
            self._watchers.setdefault(key, {})[operation] = None
        self._keys[operation] = watched
        operation.set_timer(self._time.call_later(operation.delay_ms, self._expire, operation))

    def check_and_complete(self, key: Key) -> int:
        """Something moved on `key`: complete the operations watching it that can complete now. Returns how many."""
        watchers = self._watchers.get(key)
        if not watchers:
            return 0
        completed = 0
        for operation in list(watchers):
            if operation.completed:
                self._unwatch(operation)
            elif operation.try_complete():
                self._unwatch(operation)
                completed += 1
        return completed

    def watched_keys(self) -> list[Key]:
        """The keys some operation watches."""
        return list(self._watchers)

    @property
    def watched(self) -> int:
        """How many operations wait here."""
        return len(self._keys)

    def _expire(self, operation: DelayedOperation[Any]) -> None:
        self._unwatch(operation)
        if operation.force_complete():
            operation.on_expiration()

    def _unwatch(self, operation: DelayedOperation[Any]) -> None:
        for key in self._keys.pop(operation, ()):
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.pop(operation, None)
                if not watchers:
                    del self._watchers[key]
