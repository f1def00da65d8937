from pathlib import Path

from log_batches import build_batch
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log

NOW = 1_700_000_000_000
DAY = 24 * 3600 * 1000


def filled(tmp_path: Path, config: LogConfig, count: int = 10, ts_step: int = 0) -> Log:
    log = Log.open(tmp_path / "t-0", config, now_ms=NOW)
    for i in range(count):
        log.append_as_leader(build_batch([(b"k", b"v" * 50, NOW + i * ts_step)]), 0, now_ms=NOW)
    return log


def files_with(log: Log, suffix: str) -> list[str]:
    return sorted(p.name for p in log.dir.iterdir() if p.name.endswith(suffix))


def test_retention_by_time_and_delayed_delete(tmp_path: Path) -> None:
    batch_size = len(build_batch([(b"k", b"v" * 50, NOW)]))
    config = LogConfig(segment_bytes=batch_size * 2, retention_ms=DAY, file_delete_delay_ms=1000)
    log = filled(tmp_path, config, ts_step=DAY // 4)
    assert log.num_segments == 5
    # segment i holds timestamps NOW + (2i + 1) * DAY/4 at most
    removed = log.delete_old_segments(NOW + 2 * DAY, high_watermark=log.log_end_offset)
    assert removed == 2
    assert log.log_start_offset == 4
    assert len(files_with(log, ".log.deleted")) == 2
    assert log.delete_expired_files(NOW + 2 * DAY + 999) == 0
    assert log.delete_expired_files(NOW + 2 * DAY + 1000) == 2
    assert files_with(log, ".deleted") == []
    assert log.read(4, 1 << 20).size > 0


def test_retention_by_size_and_high_watermark(tmp_path: Path) -> None:
    batch_size = len(build_batch([(b"k", b"v" * 50, NOW)]))
    config = LogConfig(segment_bytes=batch_size * 2, retention_bytes=batch_size * 5, retention_ms=-1)
    log = filled(tmp_path, config)
    assert log.delete_old_segments(NOW, high_watermark=3) == 1  # only segments wholly below the HW
    assert log.delete_old_segments(NOW, high_watermark=10) == 1
    assert log.size_in_bytes == batch_size * 6
    assert log.log_start_offset == 4


def test_retention_deletes_everything_and_rolls(tmp_path: Path) -> None:
    config = LogConfig(retention_ms=1000)
    log = filled(tmp_path, config, count=3)
    assert log.delete_old_segments(NOW + 10_000) == 1
    assert (log.log_start_offset, log.log_end_offset, log.num_segments) == (3, 3, 1)
    assert log.append_as_leader(build_batch([(b"k", b"v", NOW)]), 0).first_offset == 3


def test_log_start_offset_retention_also_for_compact(tmp_path: Path) -> None:
    batch_size = len(build_batch([(b"k", b"v" * 50, NOW)]))
    config = LogConfig(segment_bytes=batch_size * 2, cleanup_policy=("compact",), retention_ms=1)
    log = filled(tmp_path, config)
    log.maybe_increment_log_start_offset(5)
    assert log.delete_old_segments(NOW + 10 * DAY) == 2  # segments [0,2) and [2,4); [4,6) holds offset 5
    assert log.segments[0].base_offset == 4
    assert log.log_start_offset == 5
