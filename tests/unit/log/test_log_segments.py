"""`LogSegments`: the segment list is one immutable value, so a reader never sees a list and bases from two
versions while another thread rolls, deletes or swaps segments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.log_segments import LogSegments
from odradek.broker.records.builder import build_batch

NOW = 1_700_000_000_000


def batch(i: int) -> bytearray:
    return bytearray(build_batch([(b"k%d" % i, b"v" * 20, (), NOW)]))


def test_value_is_frozen_and_consistent(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), now_ms=NOW)
    for i in range(3):
        log.append_as_leader(batch(i), 0, now_ms=NOW)
        log.roll(now_ms=NOW)
    view = LogSegments.of(log.segments)
    assert view.bases == (0, 1, 2, 3)
    assert view.floor_index(2) == 2 and view.floor_index(0) == 0 and view.floor_index(99) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.bases = ()  # type: ignore[misc]


class CheckedLog(Log):
    """Checks, at every attribute write, that what a reader takes with one reference is consistent."""

    published = 0

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name == "_view":
            view = self._view
            assert view.bases == tuple(s.base_offset for s in view.segments), "a half-published segment list"
            assert list(view.bases) == sorted(set(view.bases))
            CheckedLog.published += 1


def test_every_published_segment_list_is_whole(tmp_path: Path) -> None:
    """Roll, truncate, retention and a cleaner-style swap each publish the list in one consistent value (the
    old code assigned the list and its base offsets separately: a reader on the event loop could take one
    from each while a worker thread swapped segments)."""
    log = CheckedLog.open(tmp_path / "t-0", LogConfig(file_delete_delay_ms=0), now_ms=NOW)
    for i in range(6):
        log.append_as_leader(batch(i), 0, now_ms=NOW)
        log.roll(now_ms=NOW)
    log.append_as_leader(batch(6), 0, now_ms=NOW)
    log.truncate_to(5)
    log.maybe_increment_log_start_offset(2)
    log.delete_old_segments(now_ms=NOW)
    assert log.segments[0].base_offset == 2
    old = list(log.segments[:2])
    from odradek.broker.log.segment import LogSegment

    swap = LogSegment(log.dir, old[0].base_offset, suffix=".swap")
    for segment in old:
        data = segment.read_batch_bytes(0, segment.size)
        swap.append(segment.base_offset, NOW, segment.base_offset, data)
    assert log.replace_segments(swap, old, NOW)
    assert [s.base_offset for s in log.segments][:2] == [2, 4]
    assert CheckedLog.published >= 10
