"""A connector's background thread (Kafka's mirror Scheduler): named jobs run once at start and then every interval;
a failing job is logged and retried at its next turn, never kills the thread. `stop` returns within a bounded time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0


@dataclass(slots=True)
class _Job:
    name: str
    interval_s: float
    run: Callable[[], None]
    due: float = 0.0


class Scheduler:
    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self.jobs: list[_Job] = []
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def schedule(self, name: str, interval_s: float, run: Callable[[], None]) -> None:
        """Run `run` every `interval_s` seconds (a negative interval: only once at start)."""
        self.jobs.append(_Job(name, interval_s, run))

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=f"mirror-scheduler-{self.name}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopping.is_set() and self.jobs:
            now = self.clock()
            for job in list(self.jobs):
                if job.due <= now and not self.stopping.is_set():
                    self._run(job)
                    if job.interval_s < 0:
                        self.jobs.remove(job)
                    job.due = self.clock() + max(job.interval_s, 0.0)
            wait = min((j.due for j in self.jobs), default=now) - self.clock()
            self.stopping.wait(max(0.05, min(wait, 1.0)))

    def _run(self, job: _Job) -> None:
        try:
            job.run()
        except Exception as exc:
            log.error("%s: %s failed (retried in %.0f s): %s", self.name, job.name, job.interval_s, exc)

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(STOP_TIMEOUT_S)
