"""HeapTrimmer: one trim `delay_ms` after the first TLS connection closed since the last trim, a burst of closes
costing one; nothing without a malloc_trim; a pending trim cancelled by close(). glibc's malloc_trim itself is
called once (it must exist on this Linux machine and return)."""

from __future__ import annotations

import platform

import pytest
from odradek.broker.utils.heap import HeapTrimmer, glibc_malloc_trim
from odradek.broker.utils.time import MockTime


def trimmer(delay_ms: float = 5_000) -> tuple[HeapTrimmer, MockTime, list[int]]:
    time, calls = MockTime(), []
    return HeapTrimmer(time, lambda: calls.append(1), delay_ms, run=lambda trim: trim()), time, calls


def test_a_burst_of_closes_costs_one_trim_after_the_delay() -> None:
    heap, time, calls = trimmer()
    for _ in range(1_000):
        heap.connection_closed()
    assert heap.pending and time.pending_timers == 1
    time.advance(4_999)
    assert calls == []
    time.advance(1)
    assert calls == [1] and heap.trims == 1 and not heap.pending


def test_closes_after_a_trim_ask_for_another() -> None:
    heap, time, calls = trimmer()
    heap.connection_closed()
    time.advance(5_000)
    time.advance(60_000)
    assert calls == [1]  # nothing closed since: no trim
    heap.connection_closed()
    time.advance(2_000)
    heap.connection_closed()  # within the pending one's delay: no second timer
    time.advance(3_000)
    assert calls == [1, 1] and not heap.pending


def test_close_cancels_a_pending_trim() -> None:
    heap, time, calls = trimmer()
    heap.connection_closed()
    heap.close()
    time.advance(10_000)
    assert calls == [] and not heap.pending


def test_without_malloc_trim_nothing_is_scheduled() -> None:
    time = MockTime()
    heap = HeapTrimmer(time, None)
    heap.connection_closed()
    assert not heap.pending and time.pending_timers == 0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_malloc_trim_is_found_and_runs() -> None:
    trim = glibc_malloc_trim()
    assert trim is not None
    trim()
