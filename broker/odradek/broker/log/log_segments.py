"""`LogSegments`: the segment list of one log as one immutable value (Kafka's LogSegments).

Invariant: `segments` is sorted by base offset, not empty once the log is open, and `bases[i] ==
segments[i].base_offset`. The log replaces the whole value in one assignment (under its lock) whenever a
segment is rolled, deleted, truncated or swapped in by the cleaner; a reader on the event loop takes one
reference (`view = log.segment_view`) and uses only that, so it never sees a list and bases from two different
versions while a worker thread swaps segments.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from odradek.broker.log.segment import LogSegment


@dataclass(frozen=True, slots=True)
class LogSegments:
    segments: tuple[LogSegment, ...] = ()
    bases: tuple[int, ...] = ()

    @classmethod
    def of(cls, segments: Iterable[LogSegment]) -> LogSegments:
        ordered = tuple(segments)
        return cls(ordered, tuple(s.base_offset for s in ordered))

    def floor_index(self, offset: int) -> int:
        """Index of the segment that would hold `offset` (the last one with base offset <= it; 0 below all)."""
        return max(0, bisect_right(self.bases, offset) - 1)

    @property
    def active(self) -> LogSegment:
        return self.segments[-1]

    def __len__(self) -> int:
        return len(self.segments)
