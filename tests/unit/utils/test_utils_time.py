import asyncio

import pytest
from odradek.broker.utils.time import MockTime, SystemTime, wait_event


def test_mock_time_runs_due_timers_in_deadline_order() -> None:
    clock = MockTime(wall_ms=1_000, monotonic_ms=0.0)
    fired: list[tuple[str, float, int]] = []

    def record(name: str) -> None:
        fired.append((name, clock.monotonic_ms(), clock.wall_ms()))

    clock.call_later(30, record, "c")
    clock.call_later(10, record, "a")
    clock.call_later(10, record, "b")  # same deadline: scheduling order
    assert clock.advance(20) == 2
    assert fired == [("a", 10.0, 1_010), ("b", 10.0, 1_010)]
    assert clock.monotonic_ms() == 20.0 and clock.wall_ms() == 1_020
    clock.advance(10)
    assert fired[-1] == ("c", 30.0, 1_030)


def test_mock_time_cancel_and_nested_scheduling() -> None:
    clock = MockTime()
    fired: list[str] = []
    handle = clock.call_later(5, fired.append, "cancelled")
    handle.cancel()
    handle.cancel()  # idempotent

    def reschedule() -> None:
        fired.append("first")
        clock.call_later(5, fired.append, "nested")

    clock.call_later(5, reschedule)
    assert clock.pending_timers == 1
    clock.advance(10)  # the nested timer falls due within the same advance
    assert fired == ["first", "nested"]
    assert clock.next_deadline() is None
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_mock_sleep_resolves_on_advance() -> None:
    async def scenario() -> list[str]:
        clock = MockTime()
        events: list[str] = []

        async def sleeper() -> None:
            await clock.sleep(100)
            events.append("woke")

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        clock.advance(99)
        await asyncio.sleep(0)
        events.append("before")
        clock.advance(1)
        await task
        return events

    assert asyncio.run(scenario()) == ["before", "woke"]


def test_system_time_schedules_on_the_loop() -> None:
    async def scenario() -> bool:
        clock = SystemTime()
        done = asyncio.Event()
        clock.call_later(1, done.set)
        await asyncio.wait_for(done.wait(), 2)
        start = clock.monotonic_ms()
        await clock.sleep(5)
        return clock.monotonic_ms() - start >= 4 and clock.wall_ms() > 1_600_000_000_000

    assert asyncio.run(scenario())


def test_wait_event_ends_when_the_event_is_set_or_its_time_has_passed_on_the_clock() -> None:
    async def main() -> None:
        clock = MockTime()
        event = asyncio.Event()
        waiting = asyncio.ensure_future(wait_event(clock, event, 1_000))
        await asyncio.sleep(0)  # it starts and sets its timer
        clock.advance(999)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        clock.advance(1)
        assert await asyncio.wait_for(waiting, 5) is False
        assert clock.pending_timers == 0
        set_later = asyncio.ensure_future(wait_event(clock, event, 1_000))
        await asyncio.sleep(0)
        event.set()
        assert await asyncio.wait_for(set_later, 5) is True
        assert clock.pending_timers == 0, "the timer is cancelled once the event is set"
        assert await wait_event(clock, event, 1_000) is True

    asyncio.run(main())


def test_a_cancelled_wait_event_propagates_the_cancellation() -> None:
    async def main() -> None:
        clock = MockTime()
        waiting = asyncio.ensure_future(wait_event(clock, asyncio.Event(), 1_000))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert clock.pending_timers == 0

    asyncio.run(main())
