"""The broker's clock and scheduler (Kafka's `Time`, `MockTime` and `Scheduler`), injected into every service that
waits or measures time, so that tests advance time instead of sleeping.

- `wall_ms()`: wall-clock milliseconds since the epoch, for record timestamps, retention and commit times.
- `monotonic_ms()`: a monotonic clock in milliseconds, for timeouts and durations.
- `call_later(delay_ms, callback, *args)`: run `callback(*args)` once after `delay_ms` of monotonic time; returns a
  handle whose `cancel()` is idempotent. Callbacks run on the event loop (SystemTime) or inside `advance`
  (MockTime), never concurrently with each other.
- `sleep(ms)`: an awaitable pause measured on this clock (periodic tasks use it).
- `wait_event(time, event, ms)`: wait until an asyncio Event is set or `ms` pass on `time`; True if it was set.

`SystemTime` schedules through the running asyncio loop. `MockTime` holds its timers in a heap: `advance(ms)`
moves both clocks forward and runs, in deadline order (ties in scheduling order), every timer that falls due,
including timers scheduled by those callbacks within the advanced span.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Time(Protocol):
    def wall_ms(self) -> int: ...

    def monotonic_ms(self) -> float: ...

    def call_later(self, delay_ms: float, callback: Callable[..., object], *args: Any) -> TimerHandle: ...

    async def sleep(self, ms: float) -> None: ...


class SystemTime:
    """The real clocks; timers on the running event loop."""

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ms(self) -> float:
        return time.monotonic() * 1000.0

    def call_later(self, delay_ms: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay_ms, 0.0) / 1000.0, callback, *args)

    async def sleep(self, ms: float) -> None:
        await asyncio.sleep(max(ms, 0.0) / 1000.0)


class _MockTimer:
    __slots__ = ("args", "callback", "cancelled", "deadline", "sequence")

    def __init__(self, deadline: float, sequence: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.deadline = deadline
        self.sequence = sequence
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _MockTimer) -> bool:
        return (self.deadline, self.sequence) < (other.deadline, other.sequence)


class MockTime:
    """A clock that moves only when told to (Kafka's MockTime with its MockScheduler)."""

    def __init__(self, wall_ms: int = 1_700_000_000_000, monotonic_ms: float = 0.0) -> None:
        self._wall_ms = wall_ms
        self._monotonic_ms = monotonic_ms
        self._timers: list[_MockTimer] = []
        self._sequence = itertools.count()

    def wall_ms(self) -> int:
        return self._wall_ms

    def monotonic_ms(self) -> float:
        return self._monotonic_ms

    def call_later(self, delay_ms: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        timer = _MockTimer(self._monotonic_ms + max(delay_ms, 0.0), next(self._sequence), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, ms: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.call_later(ms, _resolve, future)
        await future

    @property
    def pending_timers(self) -> int:
        return sum(1 for timer in self._timers if not timer.cancelled)

    def next_deadline(self) -> float | None:
        """The monotonic time of the earliest live timer, or None."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].deadline if self._timers else None

    def advance(self, ms: float) -> int:
        """Move time forward by `ms`, running every timer that falls due on the way; returns how many ran."""
        if ms < 0:
            raise ValueError("time does not go backwards")
        target = self._monotonic_ms + ms
        ran = 0
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            timer = heapq.heappop(self._timers)
            self._step_to(timer.deadline)
            timer.callback(*timer.args)
            ran += 1
        self._step_to(target)
        return ran

    def _step_to(self, monotonic_ms: float) -> None:
        if monotonic_ms > self._monotonic_ms:
            self._wall_ms += int(monotonic_ms - self._monotonic_ms)
            self._monotonic_ms = monotonic_ms


async def wait_event(time: Time, event: asyncio.Event, ms: float) -> bool:
    """Until `event` is set or `ms` have passed on `time` (asyncio.wait_for's timeout, on the injected clock);
    whether it was set. A cancellation of the caller propagates."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    timer = time.call_later(ms, waiter.cancel)
    try:
        await asyncio.wait([waiter])
    finally:
        timer.cancel()
        waiter.cancel()
    return event.is_set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
