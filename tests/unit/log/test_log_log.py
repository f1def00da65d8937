import os
from pathlib import Path

import pytest
from log_batches import build_batch, simple_batch
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log, OffsetOutOfRange
from odradek.broker.records.batch import iter_batches

NOW = 1_700_000_000_000


def open_log(tmp_path: Path, config: LogConfig | None = None, **kwargs: object) -> Log:
    return Log.open(tmp_path / "topic-0", config or LogConfig(), now_ms=NOW, **kwargs)  # type: ignore[arg-type]


def offsets_in(data: bytes) -> list[tuple[int, int]]:
    return [(h.base_offset, h.last_offset) for h in iter_batches(data)]


def read_all(log: Log) -> bytes:
    out, offset = b"", log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 30).read_bytes()
        out += data
        offset = list(iter_batches(data))[-1].next_offset
    return out


def test_append_assigns_offsets_and_reads_back(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    info = log.append_as_leader(simple_batch(3), leader_epoch=4, now_ms=NOW)
    assert (info.first_offset, info.last_offset, info.batch_count) == (0, 2, 1)
    info = log.append_as_leader(simple_batch(2) + simple_batch(5), leader_epoch=4, now_ms=NOW)
    assert (info.first_offset, info.last_offset, info.batch_count) == (3, 9, 2)
    assert log.log_end_offset == 10
    data = log.read(0, 1 << 20).read_bytes()
    assert offsets_in(data) == [(0, 2), (3, 4), (5, 9)]
    assert [h.partition_leader_epoch for h in iter_batches(data)] == [4, 4, 4]
    assert offsets_in(log.read(4, 1 << 20).read_bytes()) == [(3, 4), (5, 9)]
    assert log.read(10, 1000).size == 0
    assert log.epoch_cache.entries() == [(4, 0)]
    slice_ = log.read(5, 1 << 20).slice
    assert slice_ is not None and slice_.first_offset == 5
    assert os.pread(slice_.file.fileno(), slice_.size, slice_.position) == slice_.read_bytes()


def test_read_limits(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    batch = simple_batch(2)
    for _ in range(4):
        log.append_as_leader(bytearray(batch), 0, now_ms=NOW)
    size = len(batch)
    assert log.read(0, 10).size == 10  # a partial batch, as Kafka sends
    assert log.read(0, 10, min_one_message=True).size == size
    assert log.read(0, 0).size == 0
    assert offsets_in(log.read(0, 1 << 20, max_offset=4).read_bytes()) == [(0, 1), (2, 3)]
    assert log.read(4, 1 << 20, max_offset=4).size == 0
    with pytest.raises(OffsetOutOfRange) as err:
        log.read(9, 100)
    assert err.value.error_code == 1
    log.maybe_increment_log_start_offset(2)
    with pytest.raises(OffsetOutOfRange):
        log.read(1, 100)
    with pytest.raises(OffsetOutOfRange):
        log.maybe_increment_log_start_offset(9)


def test_roll_by_size_and_reads_across_segments(tmp_path: Path) -> None:
    batch = simple_batch(1, value_size=100)
    config = LogConfig(segment_bytes=len(batch) * 3, index_interval_bytes=1)
    log = open_log(tmp_path, config)
    for _ in range(10):
        log.append_as_leader(bytearray(batch), 0, now_ms=NOW)
    assert [s.base_offset for s in log.segments] == [0, 3, 6, 9]
    names = sorted(p.name for p in (tmp_path / "topic-0").iterdir())
    assert "00000000000000000003.log" in names and "00000000000000000003.index" in names
    assert "00000000000000000003.timeindex" in names
    # A read stops at the segment end; the next read continues in the next segment.
    assert offsets_in(log.read(1, 1 << 20).read_bytes()) == [(1, 1), (2, 2)]
    assert offsets_in(log.read(3, 1 << 20).read_bytes()) == [(3, 3), (4, 4), (5, 5)]
    for offset in range(10):
        assert offsets_in(log.read(offset, 1, min_one_message=True).read_bytes()) == [(offset, offset)]


def test_roll_by_time_and_index_full(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(segment_ms=1000))
    log.append_as_leader(build_batch([(b"k", b"v", NOW)]), 0, now_ms=NOW)
    log.append_as_leader(build_batch([(b"k", b"v", NOW + 500)]), 0, now_ms=NOW + 500)
    assert log.num_segments == 1
    log.append_as_leader(build_batch([(b"k", b"v", NOW + 1500)]), 0, now_ms=NOW + 1500)
    assert [s.base_offset for s in log.segments] == [0, 2]
    small = open_log(tmp_path / "b", LogConfig(segment_index_bytes=16, index_interval_bytes=1))
    for _ in range(6):
        small.append_as_leader(simple_batch(1), 0, now_ms=NOW)
    assert small.num_segments > 1
    assert all(s.offset_index.entries <= 2 for s in small.segments)


def test_restart_clean_and_unclean(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=2000, index_interval_bytes=100)
    log = open_log(tmp_path, config)
    for i in range(40):
        log.append_as_leader(build_batch([(b"k", b"x" * 50, NOW + i)]), 2, now_ms=NOW)
    before = read_all(log)
    log.flush()
    segments = log.num_segments
    log.close()
    for clean in (True, False):
        again = open_log(tmp_path, config, recovery_point=0, had_clean_shutdown=clean)
        assert again.log_end_offset == 40
        assert again.num_segments == segments
        assert again.recovery_point == (40 if clean else 0)
        assert read_all(again) == before
        assert offsets_in(again.read(17, 1 << 30).read_bytes())[0] == (17, 17)
        assert again.offset_for_timestamp(NOW + 25)[:2] == (25, NOW + 25)  # type: ignore[index]
        assert again.epoch_cache.entries() == [(2, 0)]
        again.close()


def test_indexes_rebuilt_when_deleted(tmp_path: Path) -> None:
    config = LogConfig(index_interval_bytes=50)
    log = open_log(tmp_path, config)
    for i in range(20):
        log.append_as_leader(build_batch([(b"k", b"x" * 50, NOW + i)]), 0, now_ms=NOW)
    entries = [log.active_segment.offset_index.entry(i) for i in range(log.active_segment.offset_index.entries)]
    log.close()
    (tmp_path / "topic-0" / "00000000000000000000.index").unlink()
    again = open_log(tmp_path, config, had_clean_shutdown=True)
    rebuilt = again.active_segment.offset_index
    assert [rebuilt.entry(i) for i in range(rebuilt.entries)] == entries
    assert again.log_end_offset == 20


def test_offset_for_timestamp(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(segment_bytes=300, index_interval_bytes=1))
    assert log.offset_for_timestamp(-3) is None
    for i in range(10):
        ts = NOW + (5000 if i == 6 else i * 10)
        log.append_as_leader(build_batch([(b"a", b"1", ts), (b"b", b"2", ts + 1)]), 3, now_ms=NOW)
    assert log.num_segments > 2
    assert log.offset_for_timestamp(-2) == (0, -1, 3)
    assert log.offset_for_timestamp(-1) == (20, -1, 3)
    assert log.offset_for_timestamp(-3) == (13, NOW + 5001, 3)
    assert log.offset_for_timestamp(NOW + 21) == (5, NOW + 21, 3)
    assert log.offset_for_timestamp(NOW + 22) == (6, NOW + 30, 3)
    assert log.offset_for_timestamp(NOW + 70) == (12, NOW + 5000, 3)
    assert log.offset_for_timestamp(NOW + 10**6) is None
    log.maybe_increment_log_start_offset(7)
    assert log.offset_for_timestamp(0) == (7, NOW + 31, 3)


def test_truncate(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(segment_bytes=300))
    for epoch in range(6):
        log.append_as_leader(simple_batch(2), epoch, now_ms=NOW)
    assert log.log_end_offset == 12
    assert log.truncate_to(12) is False
    assert log.truncate_to(6)
    assert log.log_end_offset == 6
    assert log.epoch_cache.entries() == [(0, 0), (1, 2), (2, 4)]
    assert offsets_in(read_all(log)) == [(0, 1), (2, 3), (4, 5)]
    info = log.append_as_leader(simple_batch(1), 7, now_ms=NOW)
    assert info.first_offset == 6
    log.truncate_fully_and_start_at(100)
    assert (log.log_start_offset, log.log_end_offset, log.num_segments) == (100, 100, 1)
    assert log.epoch_cache.entries() == []
    assert log.append_as_leader(simple_batch(1), 8, now_ms=NOW).first_offset == 100


def test_follower_append(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append_as_follower(build_batch([(b"k", b"v", NOW)] * 3, base_offset=0, leader_epoch=1), now_ms=NOW)
    log.append_as_follower(build_batch([(b"k", b"v", NOW)], base_offset=10, leader_epoch=2), now_ms=NOW)
    assert log.log_end_offset == 11
    assert log.epoch_cache.entries() == [(1, 0), (2, 10)]
    with pytest.raises(Exception, match="below the log end offset"):
        log.append_as_follower(build_batch([(b"k", b"v", NOW)], base_offset=5), now_ms=NOW)
