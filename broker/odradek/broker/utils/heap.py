"""Giving the C heap's free pages back to the operating system after TLS connections close (glibc's malloc_trim).

Why (measured by bench/connection_memory.py, bench/RESULTS.md): every TLS connection holds a 256 KiB read buffer
(uvloop's SSLProtocol takes it with PyMem_RawMalloc; asyncio's is a bytearray of the same size) besides OpenSSL's
own ~20-40 KiB. glibc serves a request that large with mmap only until the first such block is freed: its dynamic
mmap threshold then rises to that size, and from there on the buffers come from the main heap. Closed connections
free them, nothing stays in use (mallinfo2's bytes in use, the live Python objects and tracemalloc's traced size
return to their baseline), but the freed pages lie below the heap's top, where glibc's automatic trimming never
reaches, and later connections dirty ever more of them: a broker that held 1,000 TLS connections at once crept
from 102 to 221 MiB of RSS over ten cycles of opening and closing them, bounded only by its peak heap (~280 MiB).
`malloc_trim(0)` releases those pages (the same broker: 221 -> 60 MiB). Plaintext connections do not do this
(flat after the first cycle), so only TLS connections ask for a trim.

`HeapTrimmer.connection_closed()`: a trim runs `delay_ms` after the first close not yet trimmed for (one timer at a
time: a burst of closes costs one trim, and a broker with steady churn trims at most once per `delay_ms`). The trim
walks the heap and returns pages with madvise (150 ms for 280 MiB on a loaded 2-core machine), so it runs in a
worker thread: ctypes releases the GIL for the call and the event loop carries on. Without glibc (musl, macOS) there
is no `malloc_trim` and the trimmer does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

from odradek.broker.utils.time import Time, TimerHandle

log = logging.getLogger(__name__)

TRIM_DELAY_MS = 5_000


def glibc_malloc_trim() -> Callable[[], None] | None:
    """glibc's `malloc_trim(0)` as a callable, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them (no ldconfig lookup)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> None:
        trim(0)

    return call


class HeapTrimmer:
    """One per broker, shared by the servers of every listener. Single-threaded (the event loop) but for the trim
    itself, which `run` hands to a worker thread (SystemTime); tests pass a `run` that calls it at once."""

    def __init__(
        self,
        time: Time,
        trim: Callable[[], None] | None,
        delay_ms: float = TRIM_DELAY_MS,
        run: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._time = time
        self._trim = trim
        self._delay_ms = delay_ms
        self._run = run or _in_worker_thread
        self._timer: TimerHandle | None = None
        self.trims = 0

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def connection_closed(self) -> None:
        if self._trim is None or self._timer is not None:
            return
        self._timer = self._time.call_later(self._delay_ms, self._due)

    def _due(self) -> None:
        self._timer = None
        if self._trim is not None:
            self.trims += 1
            self._run(self._trim)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _in_worker_thread(trim: Callable[[], None]) -> None:
    try:
        future = asyncio.get_running_loop().run_in_executor(None, trim)
    except RuntimeError:  # the loop is shutting its executor down: the process is ending, nothing to give back
        return
    future.add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("malloc_trim failed: %s", future.exception())
