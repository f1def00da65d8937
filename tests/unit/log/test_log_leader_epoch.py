from pathlib import Path

from odradek.broker.log.leader_epoch_cache import LeaderEpochFileCache


def make(tmp_path: Path, *entries: tuple[int, int]) -> LeaderEpochFileCache:
    cache = LeaderEpochFileCache.in_dir(tmp_path)
    for epoch, offset in entries:
        cache.assign(epoch, offset)
    return cache


def test_file_format_and_reload(tmp_path: Path) -> None:
    cache = make(tmp_path, (0, 0), (2, 10), (5, 30))
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n0 0\n2 10\n5 30\n"
    assert LeaderEpochFileCache.in_dir(tmp_path).entries() == [(0, 0), (2, 10), (5, 30)]
    assert cache.latest_epoch == 5


def test_assign_ignores_same_epoch_and_removes_non_monotonic(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 0), (1, 5))
    assert cache.entries() == [(1, 0)]
    cache.assign(3, 10)
    cache.assign(2, 8)  # lower epoch: history above it is removed
    assert cache.entries() == [(1, 0), (2, 8)]
    cache.assign(4, 6)  # start offset not increasing: (2, 8) goes
    assert cache.entries() == [(1, 0), (4, 6)]


def test_end_offset_for(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 0), (3, 10), (6, 25))
    assert cache.end_offset_for(-1, 100) == (-1, -1)
    assert cache.end_offset_for(6, 100) == (6, 100)
    assert cache.end_offset_for(7, 100) == (-1, -1)
    assert cache.end_offset_for(1, 100) == (1, 10)
    assert cache.end_offset_for(2, 100) == (1, 10)
    assert cache.end_offset_for(4, 100) == (3, 25)
    assert cache.end_offset_for(0, 100) == (0, 0)


def test_truncation(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 0), (3, 10), (6, 25))
    cache.truncate_from_end(25)
    assert cache.entries() == [(1, 0), (3, 10)]
    cache.truncate_from_end(100)
    assert cache.entries() == [(1, 0), (3, 10)]
    cache.truncate_from_start(12)
    assert cache.entries() == [(3, 12)]
    cache.truncate_from_start(5)
    assert cache.entries() == [(3, 12)]
    assert cache.epoch_for_offset(11) is None
    assert cache.epoch_for_offset(40) == 3
    assert LeaderEpochFileCache.in_dir(tmp_path).entries() == [(3, 12)]
