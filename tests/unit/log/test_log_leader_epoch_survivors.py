"""LeaderEpochFileCache cases found by mutation testing (docs/mutation-testing.md): each test kills mutants of
log/leader_epoch_cache.py that the other tests let survive (named in the docstrings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.broker.log.checkpoint import CorruptCheckpoint
from odradek.broker.log.leader_epoch_cache import LEADER_EPOCH_CHECKPOINT, LeaderEpochFileCache


def make(tmp_path: Path, *entries: tuple[int, int]) -> LeaderEpochFileCache:
    cache = LeaderEpochFileCache.in_dir(tmp_path)
    for epoch, offset in entries:
        assert cache.assign(epoch, offset)
    return cache


def reloaded(tmp_path: Path) -> list[tuple[int, int]]:
    return LeaderEpochFileCache.in_dir(tmp_path).entries()


@pytest.mark.parametrize(("epoch", "start_offset"), [(-1, 5), (3, -1), (-1, -1)])
def test_assign_refuses_a_negative_epoch_or_start_offset(tmp_path: Path, epoch: int, start_offset: int) -> None:
    """assign: `epoch < 0 or start_offset < 0` (mutated to `and`), and the message naming the entry."""
    cache = make(tmp_path, (1, 0))
    with pytest.raises(ValueError, match=rf"\({epoch}, {start_offset}\)"):
        cache.assign(epoch, start_offset)
    assert cache.entries() == [(1, 0)]


def test_assign_reports_whether_the_cache_changed(tmp_path: Path) -> None:
    """assign's return values (True/False swapped), and `<=` for a repeated (epoch, start offset) (mutated to
    `<`, which rewrites the same entry and reports a change)."""
    cache = LeaderEpochFileCache.in_dir(tmp_path)
    assert cache.assign(1, 0) is True
    assert cache.assign(1, 0) is False
    assert cache.assign(1, 7) is False
    assert cache.assign(2, 7) is True
    assert cache.entries() == [(1, 0), (2, 7)]


def test_assign_removes_an_older_entry_of_the_same_epoch(tmp_path: Path) -> None:
    """assign removes entries with epoch >= the new one (mutated to `>`): epoch 2 moves down to offset 5."""
    cache = make(tmp_path, (2, 0), (3, 10))
    assert cache.assign(2, 5)
    assert cache.entries() == [(2, 5)]
    assert reloaded(tmp_path) == [(2, 5)]


def test_assign_removes_an_entry_with_the_same_start_offset(tmp_path: Path) -> None:
    """assign removes entries with start offset >= the new one (mutated to `>`): two epochs cannot start at
    one offset."""
    cache = make(tmp_path, (1, 0), (3, 10))
    assert cache.assign(4, 10)
    assert cache.entries() == [(1, 0), (4, 10)]


def test_truncate_from_end_to_zero_removes_every_entry(tmp_path: Path) -> None:
    """truncate_from_end(0) is a truncation of the whole log, not an invalid offset (`< 0` mutated to `<= 0`)."""
    cache = make(tmp_path, (0, 0), (2, 10))
    cache.truncate_from_end(0)
    assert cache.entries() == []
    assert reloaded(tmp_path) == []
    cache.truncate_from_end(-1)  # an undefined offset changes nothing
    assert cache.entries() == []


def test_truncate_from_start_moves_the_first_entry_up_and_keeps_the_rest(tmp_path: Path) -> None:
    """truncate_from_start inside the first epoch: that entry's start moves up (the `removed == 1 and ...` guard
    mutated to `or` or `!=`), and the later entries stay after it (insert at 0 mutated to 1)."""
    cache = make(tmp_path, (0, 0), (2, 10), (4, 20))
    cache.truncate_from_start(5)
    assert cache.entries() == [(0, 5), (2, 10), (4, 20)]
    assert reloaded(tmp_path) == [(0, 5), (2, 10), (4, 20)]
    cache.truncate_from_start(15)
    assert cache.entries() == [(2, 15), (4, 20)]


def test_a_malformed_checkpoint_entry_is_named_in_the_error(tmp_path: Path) -> None:
    """The CorruptCheckpoint message names the file and the entry (mutated to None or another join)."""
    (tmp_path / LEADER_EPOCH_CHECKPOINT).write_text("0\n1\n3 10 99\n")
    with pytest.raises(CorruptCheckpoint, match=r"leader-epoch-checkpoint: malformed entry '3 10 99'"):
        LeaderEpochFileCache.in_dir(tmp_path)


def test_delete_removes_the_file_and_tolerates_a_missing_one(tmp_path: Path) -> None:
    """delete: `missing_ok=True` (mutated to False/None); no other unit test calls delete."""
    cache = make(tmp_path, (0, 0))
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).exists()
    cache.delete()
    assert not (tmp_path / LEADER_EPOCH_CHECKPOINT).exists()
    cache.delete()
