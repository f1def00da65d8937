#!/usr/bin/env python3
"""Run a broker with two probes on, for bench/latency_tail.py's `--probe` rounds (issue 15 item 8).

    python bench/broker_probe.py OUT.json [broker arguments ...]    # as `python -m odradek.broker ...`

- garbage collector: `gc.callbacks` times every collection (generation, start, duration, objects collected);
- event loop: a task sleeps 1 ms at a time on the broker's loop and records every wake-up that came more than
  `LAG_THRESHOLD_MS` late (a stall), with the CPU time the loop's thread used meanwhile: about the stall's length
  if the loop was busy running callbacks, about nothing if the thread was not running (waiting for a CPU, for the
  GIL, or in a blocking system call);
- writes: `os.write` is wrapped, and every call on the loop's thread that took more than `LAG_THRESHOLD_MS` is
  recorded with the thread's CPU time in it (log appends are os.write()s to the page cache: one that takes
  milliseconds with no CPU blocked in the kernel, e.g. on the file system's journal or on dirty-page writeback);
- a watchdog thread looks at the loop every millisecond and, when it has not come back for `WATCHDOG_MS`, takes the
  loop thread's Python stack once per stall (what a busy loop was running; a thread that is not running shows
  where it waits).

Times are `time.perf_counter_ns()` (CLOCK_MONOTONIC on Linux, the same clock in every process of the machine), so
the benchmark can line the events up with its own send times. The events go to OUT.json when the broker exits:
{"gc": [[gen, start_ns, duration_ns, collected], ...], "lag": [[start_ns, late_ns, thread_cpu_ns], ...],
"writes": [[start_ns, duration_ns, thread_cpu_ns, bytes], ...], "stacks": [[at_ns, [frame, ...]], ...],
"gc_counts": [...]}.
The probes cost the broker a little (a 1 kHz timer, two clock reads per collection): compare probe rounds with
each other, and judge the tail on rounds without them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

LAG_THRESHOLD_MS = 0.5
WATCHDOG_MS = 3.0


def main(out: Path, argv: list[str]) -> int:
    from odradek.broker import __main__ as broker_main
    from odradek.broker import app

    gcs: list[list[int]] = []
    lags: list[list[int]] = []
    stacks: list[list[Any]] = []
    beat = [time.perf_counter_ns()]
    main_id = threading.get_ident()
    stopping = threading.Event()

    def watchdog() -> None:
        seen = 0
        while not stopping.wait(0.001):
            last = beat[0]
            if last != seen and time.perf_counter_ns() - last > WATCHDOG_MS * 1e6:
                seen = last
                frame = sys._current_frames().get(main_id)
                if frame is not None:
                    lines = [
                        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in traceback.extract_stack(frame)
                    ]
                    stacks.append([time.perf_counter_ns(), lines[-12:]])

    started: list[int] = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            started[0] = now
        else:
            gcs.append([int(info["generation"]), started[0], now - started[0], int(info["collected"])])

    gc.callbacks.append(on_gc)
    writes: list[list[int]] = []
    real_write = os.write

    def timed_write(fd: int, data: Any) -> int:
        if threading.get_ident() != main_id:
            return real_write(fd, data)
        before, cpu_before = time.perf_counter_ns(), time.thread_time_ns()
        written = real_write(fd, data)
        took = time.perf_counter_ns() - before
        if took > LAG_THRESHOLD_MS * 1e6:
            writes.append([before, took, time.thread_time_ns() - cpu_before, written])
        return written

    os.write = timed_write
    original_run = app.run

    async def lag_probe() -> None:
        threshold = int(LAG_THRESHOLD_MS * 1e6)
        while True:
            before, cpu_before = time.perf_counter_ns(), time.thread_time_ns()
            beat[0] = before
            await asyncio.sleep(0.001)
            late = time.perf_counter_ns() - before - 1_000_000
            if late > threshold:
                lags.append([before, late, time.thread_time_ns() - cpu_before])

    async def probed_run(config: Any) -> int:
        task = asyncio.create_task(lag_probe())
        threading.Thread(target=watchdog, name="probe-watchdog", daemon=True).start()
        try:
            return await original_run(config)
        finally:
            stopping.set()
            task.cancel()

    app.run = probed_run  # type: ignore[assignment]
    run: Coroutine[Any, Any, int] | int
    try:
        run = broker_main.main(argv)
    finally:
        found = {"gc": gcs, "lag": lags, "writes": writes, "stacks": stacks, "gc_counts": list(gc.get_count())}
        out.write_text(json.dumps(found))
    return int(run) if isinstance(run, int) else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
