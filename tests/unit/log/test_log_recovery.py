"""Torn and corrupt tails (notes/reliability.md 2.3 a-d): recovery truncates at the first bad batch."""

import os
import random
import struct
from pathlib import Path

import pytest
from log_batches import build_batch
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.manager import LogManager
from odradek.broker.records.batch import iter_batches

NOW = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=1500, index_interval_bytes=200)


def write_log(tmp_path: Path, batches: int = 30) -> tuple[Path, list[int]]:
    log = Log.open(tmp_path / "t-0", CONFIG, now_ms=NOW)
    sizes = []
    for i in range(batches):
        batch = build_batch([(b"k%d" % i, b"v" * 40, NOW + i), (b"j", b"w", NOW + i)])
        sizes.append(len(batch))
        log.append_as_leader(batch, 1, now_ms=NOW)
    log.close()  # no clean-shutdown marker: the reopen below is unclean
    return tmp_path / "t-0", sizes


def reopen(directory: Path) -> Log:
    return Log.open(directory, CONFIG, recovery_point=0, had_clean_shutdown=False, now_ms=NOW)


def last_segment(directory: Path) -> Path:
    return sorted(directory.glob("*.log"))[-1]


def check_consistent(log: Log) -> None:
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20).read_bytes()
        headers = list(iter_batches(data))
        assert headers and headers[0].base_offset == offset
        offset = headers[-1].next_offset
    assert offset == log.log_end_offset


@pytest.mark.parametrize("seed", range(3))
def test_truncated_mid_batch(tmp_path: Path, seed: int) -> None:
    directory, sizes = write_log(tmp_path)
    seg = last_segment(directory)
    size = seg.stat().st_size
    cut = random.Random(seed).randint(1, sizes[-1] - 1)
    os.truncate(seg, size - sizes[-1] + cut)
    log = reopen(directory)
    assert log.log_end_offset == 58
    assert seg.stat().st_size == size - sizes[-1]
    check_consistent(log)
    assert log.append_as_leader(build_batch([(b"x", b"y", NOW)]), 1).first_offset == 58


def test_flipped_byte_in_crc_range(tmp_path: Path) -> None:
    directory, sizes = write_log(tmp_path)
    seg = last_segment(directory)
    data = bytearray(seg.read_bytes())
    start = len(data) - sizes[-1]
    data[start + 21 + 7] ^= 0xFF
    seg.write_bytes(bytes(data))
    log = reopen(directory)
    assert log.log_end_offset == 58
    check_consistent(log)


def test_zeros_appended(tmp_path: Path) -> None:
    directory, _ = write_log(tmp_path)
    seg = last_segment(directory)
    size = seg.stat().st_size
    with seg.open("ab") as f:
        f.write(b"\x00" * 4096)
    log = reopen(directory)
    assert log.log_end_offset == 60
    assert seg.stat().st_size == size
    check_consistent(log)


def test_corrupt_middle_batch_deletes_later_segments(tmp_path: Path) -> None:
    directory, sizes = write_log(tmp_path)
    segments = sorted(directory.glob("*.log"))
    assert len(segments) >= 3
    middle = segments[1]
    data = bytearray(middle.read_bytes())
    first_base = int(middle.name.split(".")[0])
    second_batch = sizes[0]
    data[second_batch + 40] ^= 0x01
    middle.write_bytes(bytes(data))
    log = reopen(directory)
    assert log.log_end_offset == first_base + 2
    assert len(log.segments) == 2
    assert sorted(p.name for p in directory.glob("*.log")) == [segments[0].name, middle.name]
    check_consistent(log)


def test_recovery_starts_at_recovery_point(tmp_path: Path) -> None:
    directory, _ = write_log(tmp_path)
    segments = sorted(directory.glob("*.log"))
    first = segments[0]
    data = bytearray(first.read_bytes())
    data[30] ^= 0x01  # corrupt, but below the recovery point: not scanned
    first.write_bytes(bytes(data))
    recovery_point = int(segments[-1].name.split(".")[0])
    log = Log.open(directory, CONFIG, recovery_point=recovery_point, had_clean_shutdown=False, now_ms=NOW)
    assert log.log_end_offset == 60


def lose_tail_of_middle_segment(directory: Path) -> tuple[int, list[Path]]:
    """What a power loss does to a rolled segment flushed only in part: its tail is gone, the next segment's file
    is still there. Keeps the middle segment's first batch; returns the offset after it and the segments."""
    segments = sorted(directory.glob("*.log"))
    assert len(segments) >= 3
    middle = segments[1]
    (length,) = struct.unpack_from(">i", middle.read_bytes(), 8)
    os.truncate(middle, 12 + length)
    return int(middle.name.split(".")[0]) + 2, segments


def test_lost_tail_of_a_rolled_segment_truncates_where_offsets_stop(tmp_path: Path) -> None:
    directory, _ = write_log(tmp_path)
    gap, segments = lose_tail_of_middle_segment(directory)
    log = reopen(directory)
    assert log.log_end_offset == gap
    assert log.recovery_gap is None
    assert sorted(p.name for p in directory.glob("*.log")) == [s.name for s in segments[:2]]
    check_consistent(log)
    assert log.append_as_leader(build_batch([(b"x", b"y", NOW)]), 1).first_offset == gap


def test_gap_in_a_compacted_log_is_kept(tmp_path: Path) -> None:
    directory, _ = write_log(tmp_path)
    _, segments = lose_tail_of_middle_segment(directory)
    compacted = LogConfig(segment_bytes=1500, index_interval_bytes=200, cleanup_policy=("compact",))
    log = Log.open(directory, compacted, recovery_point=0, had_clean_shutdown=False, now_ms=NOW)
    assert log.log_end_offset == 60  # the cleaner leaves gaps like this one: nothing tells them apart
    assert sorted(p.name for p in directory.glob("*.log")) == [s.name for s in segments]


def test_gap_below_the_recovery_point_is_not_looked_for(tmp_path: Path) -> None:
    directory, _ = write_log(tmp_path)
    _, segments = lose_tail_of_middle_segment(directory)
    recovery_point = int(segments[-1].name.split(".")[0])
    log = Log.open(directory, CONFIG, recovery_point=recovery_point, had_clean_shutdown=False, now_ms=NOW)
    assert log.log_end_offset == 60


@pytest.mark.parametrize("policy", ["delete", "compact"])
def test_log_manager_resolves_a_gap_once_the_topic_config_is_known(tmp_path: Path, policy: str) -> None:
    directory, _ = write_log(tmp_path / "dir")
    gap, _ = lose_tail_of_middle_segment(directory)
    manager = LogManager.open([tmp_path / "dir"], LogConfig())  # the default config is a placeholder
    try:
        log = manager.get_log("t", 0)
        assert log is not None and log.recovery_gap == gap and log.log_end_offset == 60
        config = LogConfig(segment_bytes=1500, index_interval_bytes=200, cleanup_policy=(policy,))
        assert manager.get_or_create_log("t", 0, config=config) is log
        assert log.recovery_gap is None
        assert log.log_end_offset == (gap if policy == "delete" else 60)
    finally:
        manager.shutdown()


def test_small_segments_are_not_rebuilt_at_every_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A segment below index.interval.bytes has no index entry; its (empty) index files must exist anyway, or
    every load would take it for a segment with lost indexes and rescan it, truncating flushed data that has
    rotted since (which recovery deliberately leaves alone below the recovery point)."""
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), now_ms=NOW)
    for i in range(3):
        log.append_as_leader(build_batch([(b"k", b"v%d" % i, NOW)]), 1, now_ms=NOW)
    log.close()
    names = sorted(p.name for p in (tmp_path / "t-0").iterdir())
    segments = [n.removesuffix(".log") for n in names if n.endswith(".log")]
    assert len(segments) >= 2
    assert all(f"{s}.index" in names and f"{s}.timeindex" in names for s in segments)
    caplog.set_level("WARNING")
    again = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), had_clean_shutdown=True, now_ms=NOW)
    assert again.log_end_offset == 3
    assert "rebuilding" not in caplog.text
