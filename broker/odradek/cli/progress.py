"""A one-line progress bar on stderr, redrawn at most every 0.2 s; on when asked or stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30
_MIN_REDRAW_S = 0.2


def render(done: int, total: int, unit: str, elapsed_s: float) -> str:
    """`[#######.......]  45.0%  450000/1000000 records  12345/s` (no newline)."""
    fraction = min(1.0, done / total) if total > 0 else 1.0
    filled = int(fraction * _WIDTH)
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    bar = "#" * filled + "." * (_WIDTH - filled)
    return f"[{bar}] {100.0 * fraction:5.1f}%  {done}/{total} {unit}  {rate:.0f}/s"


class ProgressBar:
    def __init__(self, total: int, unit: str, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._total = total
        self._unit = unit
        self._start = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < _MIN_REDRAW_S:
            return
        self._last_draw = now
        self._stream.write("\r" + render(done, self._total, self._unit, now - self._start))
        self._stream.flush()

    def close(self, done: int) -> None:
        if self._enabled:
            self.update(done, force=True)
            self._stream.write("\n")
            self._stream.flush()
