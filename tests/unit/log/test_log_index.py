from pathlib import Path

import pytest
from odradek.broker.log.offset_index import OffsetIndex
from odradek.broker.log.time_index import TimeIndex


def test_offset_index_lookup_and_truncate(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "00000000000000000100.index", 100, 1024)
    assert index.lookup(150) == (100, 0)
    for i in range(10):
        index.append(100 + i * 10, i * 4096)
    assert index.lookup(99) == (100, 0)
    assert index.lookup(100) == (100, 0)
    assert index.lookup(125) == (120, 2 * 4096)
    assert index.lookup(10_000) == (190, 9 * 4096)
    with pytest.raises(ValueError):
        index.append(190, 99999)
    index.truncate_to(150)
    assert index.entries == 5
    assert index.lookup(10_000) == (140, 4 * 4096)
    index.close()
    assert (tmp_path / "00000000000000000100.index").stat().st_size == 40
    reopened = OffsetIndex(tmp_path / "00000000000000000100.index", 100, 1024)
    assert reopened.lookup(145) == (140, 4 * 4096)
    assert reopened.sanity_check(10**9)


def test_offset_index_full_and_torn_entry(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000000.index"
    index = OffsetIndex(path, 0, 16)
    index.append(1, 10)
    index.append(2, 20)
    assert index.is_full
    with pytest.raises(ValueError):
        index.append(3, 30)
    index.close()
    with path.open("ab") as f:
        f.write(b"\x00\x00\x00")
    reopened = OffsetIndex(path, 0, 1024)
    assert reopened.entries == 2
    assert not reopened.sanity_check(100)
    reopened.append(5, 50)
    reopened.close()
    assert path.stat().st_size == 24


def test_time_index_monotonic(tmp_path: Path) -> None:
    index = TimeIndex(tmp_path / "00000000000000000000.timeindex", 0, 1200)
    assert index.last_entry() == (-1, 0)
    index.maybe_append(1000, 5)
    index.maybe_append(1000, 6)  # not larger: skipped
    index.maybe_append(900, 7)  # smaller: skipped
    index.maybe_append(2000, 9)
    assert index.entries == 2
    assert index.lookup(999) == (-1, 0)
    assert index.lookup(1500) == (1000, 5)
    assert index.lookup(5000) == (2000, 9)
    index.truncate_to(9)
    assert index.last_entry() == (1000, 5)
    index.close()
    assert TimeIndex(tmp_path / "00000000000000000000.timeindex", 0, 1200).entries == 1
