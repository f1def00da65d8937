"""Torn and corrupt tails (notes/reliability.md 2.3 a-d): recovery truncates at the first bad batch."""

import os
import random
from pathlib import Path

import pytest
from log_batches import build_batch
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
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
