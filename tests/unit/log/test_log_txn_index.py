"""`TransactionIndex` (`.txnindex`): Kafka's 34-byte AbortedTxn entries, search, truncation, sanity check, and
the file's life with its segment."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.segment import LogSegment
from odradek.broker.log.txn_index import AbortedTxn, TransactionIndex
from odradek.broker.records.builder import build_batch, build_control_batch

NOW = 1_700_000_000_000


def test_entry_bytes_are_kafkas() -> None:
    # version int16 | producerId int64 | firstOffset int64 | lastOffset int64 | lastStableOffset int64
    entry = AbortedTxn(producer_id=0x0102030405060708, first_offset=5, last_offset=9, last_stable_offset=10)
    assert entry.encode() == bytes.fromhex("0000010203040506070800000000000000050000000000000009000000000000000a")
    assert len(entry.encode()) == 34


def test_append_search_and_reload(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    assert not index.path.exists()  # created at the first entry
    txns = [AbortedTxn(1, 0, 10, 11), AbortedTxn(2, 5, 20, 21), AbortedTxn(3, 30, 40, 41)]
    for txn in txns:
        index.append(txn)
    assert index.path.read_bytes() == b"".join(t.encode() for t in txns)
    reloaded = TransactionIndex(index.path, 0)
    assert reloaded.all_aborted_txns() == tuple(txns)
    result = reloaded.collect_aborted_txns(12, 45)
    assert result.aborted_transactions == (txns[1], txns[2]) and not result.is_complete
    result = reloaded.collect_aborted_txns(0, 15)
    # The second entry's LSO (21) reaches the end of the range: no later segment can hold an overlapping one.
    assert result.aborted_transactions == (txns[0], txns[1]) and result.is_complete
    # An LSO equal to the end of the range completes the search (Kafka's >=): txns[1] is not looked at.
    assert reloaded.collect_aborted_txns(0, 11).aborted_transactions == (txns[0],)


def test_last_offsets_must_increase(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "x.txnindex", 0)
    index.append(AbortedTxn(1, 0, 10, 11))
    with pytest.raises(ValueError, match="must increase"):
        index.append(AbortedTxn(2, 3, 10, 11))


def test_truncate_drops_entries_whose_marker_is_cut(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "x.txnindex", 0)
    for txn in (AbortedTxn(1, 0, 10, 11), AbortedTxn(2, 5, 20, 21)):
        index.append(txn)
    index.truncate_to(20)
    assert index.all_aborted_txns() == (AbortedTxn(1, 0, 10, 11),)
    assert index.path.stat().st_size == 34
    index.append(AbortedTxn(3, 12, 15, 16))  # the last offset is 10 again after the truncation
    assert [t.producer_id for t in TransactionIndex(index.path, 0).all_aborted_txns()] == [1, 3]


def test_torn_entry_is_ignored_and_overwritten(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "x.txnindex", 0)
    index.append(AbortedTxn(1, 0, 10, 11))
    with index.path.open("ab") as f:
        f.write(b"\x00" * 7)
    torn = TransactionIndex(index.path, 0)
    assert torn.all_aborted_txns() == (AbortedTxn(1, 0, 10, 11),)
    torn.append(AbortedTxn(2, 11, 12, 13))
    assert index.path.stat().st_size == 68


def test_sanity_check(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000100.txnindex"
    index = TransactionIndex(path, 100)
    index.append(AbortedTxn(1, 50, 120, 121))  # may start in an earlier segment
    assert TransactionIndex(path, 100).sanity_check()
    path.write_bytes(AbortedTxn(1, 0, 99, 100).encode())  # ends before the segment starts
    assert not TransactionIndex(path, 100).sanity_check()
    path.write_bytes(struct.pack(">hqqqq", 1, 1, 100, 101, 102))  # unknown version
    assert not TransactionIndex(path, 100).sanity_check()


def test_txnindex_lives_and_dies_with_its_segment(tmp_path: Path) -> None:
    segment = LogSegment(tmp_path, 0)
    segment.txn_index.append(AbortedTxn(1, 0, 3, 4))
    segment.change_suffix(".deleted")
    assert segment.txn_index.path.name == "00000000000000000000.txnindex.deleted"
    assert segment.txn_index.path.exists()
    segment.delete()
    assert not list(tmp_path.iterdir())


def test_corrupt_txnindex_is_rebuilt_on_open(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = Log.open(path, LogConfig(), now_ms=NOW)
    log.append_as_leader(
        bytearray(
            build_batch([(b"k", b"v", (), NOW)], producer_id=4, producer_epoch=0, base_sequence=0, transactional=True)
        ),
        0,
        now_ms=NOW,
    )
    log.append_as_leader(bytearray(build_control_batch(False, 4, 0, timestamp=NOW)), 0, now_ms=NOW)
    expected = log.collect_aborted_transactions(0, 2)
    assert expected == [AbortedTxn(4, 0, 1, 2)]
    log.close()
    index = path / "00000000000000000000.txnindex"
    index.write_bytes(struct.pack(">hqqqq", 9, 4, 0, 1, 2))  # an unknown version: not sane
    reopened = Log.open(path, LogConfig(), had_clean_shutdown=True, now_ms=NOW)
    assert reopened.collect_aborted_transactions(0, 2) == expected
    assert index.read_bytes() == expected[0].encode()


def test_truncated_log_truncates_its_txnindex(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), now_ms=NOW)
    for pid in (1, 2):
        log.append_as_leader(
            bytearray(
                build_batch(
                    [(b"k", b"v", (), NOW)], producer_id=pid, producer_epoch=0, base_sequence=0, transactional=True
                )
            ),
            0,
            now_ms=NOW,
        )
        log.append_as_leader(bytearray(build_control_batch(False, pid, 0, timestamp=NOW)), 0, now_ms=NOW)
    assert len(log.collect_aborted_transactions(0, 4)) == 2
    log.truncate_to(3)  # the second marker (offset 3) is gone
    assert log.collect_aborted_transactions(0, 4) == [AbortedTxn(1, 0, 1, 2)]
    assert (tmp_path / "t-0" / "00000000000000000000.txnindex").stat().st_size == 34
