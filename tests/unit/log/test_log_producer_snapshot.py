"""Producer snapshots: Kafka's `<offset>.snapshot` format as golden bytes, and the log taking them at rolls and
clean close, loading them at open (replaying the log after them), and dropping them with truncation, retention
and DeleteRecords."""

from __future__ import annotations

import shutil
from pathlib import Path

import crc32c
import pytest
from odradek.broker.log import files
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.producer_state import (
    BatchMetadata,
    CorruptSnapshotError,
    ProducerStateEntry,
    ProducerStateError,
    entries_from_snapshot,
    snapshot_bytes,
)
from odradek.broker.records.builder import build_batch, build_control_batch

NOW = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=200)


def data(pid: int, epoch: int, seq: int, n: int = 3, txn: bool = False) -> bytearray:
    records = [(b"k%d" % i, b"v" * 30, (), NOW + i) for i in range(n)]
    return bytearray(build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=txn))


# ProducerSnapshot.json v1: version int16, crc uint32 (CRC-32C of what follows), entries int32 count, then per
# entry ProducerId int64, Epoch int16, LastSequence int32, LastOffset int64, OffsetDelta int32, Timestamp int64,
# CoordinatorEpoch int32, CurrentTxnFirstOffset int64.
GOLDEN_BODY = bytes.fromhex(
    "00000002"
    # producer 7, epoch 3, last seq 11, last offset 40, delta 4, timestamp 0x018bcfe56800, coordinator -1, no txn
    "0000000000000007"
    "0003"
    "0000000b"
    "0000000000000028"
    "00000004"
    "0000018bcfe56800"
    "ffffffff"
    "ffffffffffffffff"
    # producer 9, epoch 0, no batch (-1, -1, 0), timestamp 0x018bcfe56800, coordinator 2, txn open at offset 50
    "0000000000000009"
    "0000"
    "ffffffff"
    "ffffffffffffffff"
    "00000000"
    "0000018bcfe56800"
    "00000002"
    "0000000000000032"
)
GOLDEN = bytes.fromhex("0001") + crc32c.crc32c(GOLDEN_BODY).to_bytes(4, "big") + GOLDEN_BODY
ENTRIES = [
    ProducerStateEntry(7, 3, (BatchMetadata(7, 11, 36, 40, NOW),), -1, NOW, None),
    ProducerStateEntry(9, 0, (), 2, NOW, 50),
]


def test_snapshot_golden_bytes() -> None:
    assert NOW == 0x018BCFE56800
    assert snapshot_bytes(ENTRIES) == GOLDEN
    assert entries_from_snapshot(GOLDEN) == ENTRIES


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # torn
        lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # a flipped bit: CRC
        lambda b: b"\x00\x02" + b[2:],  # another version
        lambda b: b"",
    ],
)
def test_a_damaged_snapshot_is_refused(damage: object) -> None:
    assert callable(damage)
    with pytest.raises(CorruptSnapshotError):
        entries_from_snapshot(damage(GOLDEN))


def test_sequences_of_a_wrapped_batch_survive_a_snapshot() -> None:
    wrapped = [ProducerStateEntry(1, 0, (BatchMetadata(2**31 - 2, 1, 10, 13, NOW),), -1, NOW, None)]
    assert entries_from_snapshot(snapshot_bytes(wrapped)) == wrapped


def fill(log: Log, pids: range, rounds: int, first_round: int = 0) -> None:
    """`rounds` batches of 3 records per producer, interleaved; several segments (segment.bytes 600)."""
    for r in range(first_round, first_round + rounds):
        for pid in pids:
            log.append_as_leader(data(pid, 0, r * 3), 0, now_ms=NOW)


def state_of(log: Log) -> dict[int, tuple[int, int, int]]:
    return {p.producer_id: (p.producer_epoch, p.last_sequence, p.last_data_offset) for p in log.active_producers()}


def test_a_roll_takes_a_snapshot_at_the_new_segment_base(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, now_ms=NOW)
    fill(log, range(1, 4), 4)
    bases = [s.base_offset for s in log.segments]
    assert len(bases) > 2
    assert log.snapshot_offsets == bases[1:]
    for offset in log.snapshot_offsets:  # each holds the producers below its offset
        entries = entries_from_snapshot(files.snapshot_file(log.dir, offset).read_bytes())
        assert all(e.last_data_offset < offset for e in entries)
    log.close()
    assert log.snapshot_offsets[-1] == log.log_end_offset  # the clean close's


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("keep_snapshots", [True, False])
def test_reopen_with_or_without_snapshots_gives_the_same_state(
    tmp_path: Path, clean: bool, keep_snapshots: bool
) -> None:
    path = tmp_path / "t-0"
    log = Log.open(path, CONFIG, now_ms=NOW)
    fill(log, range(1, 5), 5)
    log.append_as_leader(data(9, 0, 0, txn=True), 0, now_ms=NOW)
    expected, unstable = state_of(log), log.first_unstable_offset
    recovery_point = log.segments[-2].base_offset
    log.flush(recovery_point)
    log.close(snapshot=clean)
    if not keep_snapshots:
        for offset in files.snapshot_offsets(path):
            files.snapshot_file(path, offset).unlink()
    reopened = Log.open(path, CONFIG, recovery_point=recovery_point, had_clean_shutdown=clean, now_ms=NOW)
    assert state_of(reopened) == expected
    assert reopened.first_unstable_offset == unstable
    with pytest.raises(ProducerStateError):  # the sequences go on where they were
        reopened.append_as_leader(data(1, 0, 16), 0, now_ms=NOW)
    assert reopened.append_as_leader(data(1, 0, 15), 0, now_ms=NOW).first_offset == reopened.log_end_offset - 3
    assert reopened.append_as_leader(data(1, 0, 15), 0, now_ms=NOW).duplicate


def test_a_corrupt_latest_snapshot_falls_back_to_an_older_one(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = Log.open(path, CONFIG, now_ms=NOW)
    fill(log, range(1, 4), 4)
    expected = state_of(log)
    log.close()
    latest = files.snapshot_file(path, files.snapshot_offsets(path)[-1])
    latest.write_bytes(latest.read_bytes()[:-3])  # torn (snapshots are not fsynced)
    reopened = Log.open(path, CONFIG, had_clean_shutdown=True, now_ms=NOW)
    assert state_of(reopened) == expected
    assert not latest.exists()


def test_a_snapshot_above_the_recovered_log_is_not_used(tmp_path: Path) -> None:
    """After a power loss the data below a roll's snapshot may be gone: recovery truncates, the snapshot above
    the new log end would claim batches that are not there."""
    path = tmp_path / "t-0"
    log = Log.open(path, CONFIG, now_ms=NOW)
    fill(log, range(1, 3), 6)
    last_base = log.segments[-1].base_offset
    log.close(snapshot=False)
    assert last_base in files.snapshot_offsets(path)
    # The tail of the second-to-last segment is lost, as is the whole last one (unflushed).
    segments = sorted(path.glob("*.log"))
    segments[-1].unlink()
    with segments[-2].open("r+b") as f:
        f.truncate(segments[-2].stat().st_size - 10)
    reopened = Log.open(path, CONFIG, recovery_point=0, had_clean_shutdown=False, now_ms=NOW)
    end = reopened.log_end_offset
    assert end < last_base
    assert all(offset <= end for offset in reopened.snapshot_offsets)
    assert all(p.last_data_offset < end for p in reopened.active_producers())


def test_truncation_drops_snapshots_above_and_reloads(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, now_ms=NOW)
    fill(log, range(1, 3), 6)
    middle = log.segments[1].base_offset
    assert max(log.snapshot_offsets) > middle
    log.truncate_to(middle + 3)  # inside the second segment: the snapshot at its base, then a replay
    assert max(log.snapshot_offsets) == middle
    truncated = state_of(log)
    # The same folder replayed from the log start, without snapshots, gives the same state.
    copy = tmp_path / "c-0"
    shutil.copytree(log.dir, copy)
    for offset in files.snapshot_offsets(copy):
        files.snapshot_file(copy, offset).unlink()
    assert state_of(Log.open(copy, CONFIG, had_clean_shutdown=True, now_ms=NOW)) == truncated
    assert all(last < middle + 3 for _, _, last in truncated.values())


def test_retention_and_delete_records_drop_old_snapshots_but_keep_producer_state(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = Log.open(path, CONFIG, now_ms=NOW)
    fill(log, range(1, 3), 3)
    log.append_as_leader(data(5, 0, 0), 0, now_ms=NOW)  # producer 5 writes once
    fill(log, range(1, 3), 3, first_round=3)
    log.update_high_watermark(log.log_end_offset)
    keep_from = log.segments[-1].base_offset
    log.maybe_increment_log_start_offset(keep_from)
    log.delete_old_segments(now_ms=NOW)
    assert log.segments[0].base_offset == keep_from
    assert min(log.snapshot_offsets) >= keep_from
    log.close()
    reopened = Log.open(path, CONFIG, had_clean_shutdown=True, now_ms=NOW, log_start_offset=keep_from)
    assert 5 in {p.producer_id for p in reopened.active_producers()}  # kept past its data, as Kafka does
    assert reopened.append_as_leader(data(5, 0, 0), 0, now_ms=NOW).duplicate


def test_truncate_fully_deletes_every_snapshot(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, now_ms=NOW)
    fill(log, range(1, 3), 3)
    assert log.snapshot_offsets
    log.truncate_fully_and_start_at(1000)
    assert log.snapshot_offsets == []
    assert log.active_producers() == []


def test_open_transactions_come_back_from_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = Log.open(path, CONFIG, now_ms=NOW)
    log.append_as_leader(data(3, 0, 0, txn=True), 0, now_ms=NOW)
    fill(log, range(1, 2), 5)
    log.close()
    reopened = Log.open(path, CONFIG, had_clean_shutdown=True, now_ms=NOW)
    assert reopened.first_unstable_offset == 0
    reopened.append_as_leader(bytearray(build_control_batch(False, 3, 0, 0, NOW)), 0, now_ms=NOW)
    assert reopened.first_unstable_offset is None


def test_expired_producers_are_forgotten_and_may_start_anywhere(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, now_ms=NOW)
    log.append_as_leader(data(1, 0, 0), 0, now_ms=NOW)  # batch timestamps NOW .. NOW + 2
    log.append_as_leader(data(2, 0, 0, txn=True), 0, now_ms=NOW)  # an open transaction keeps producer 2
    assert log.remove_expired_producers(NOW + 1000, 1000) == 0
    assert log.remove_expired_producers(NOW + 1002, 1000) == 1
    assert [p.producer_id for p in log.active_producers()] == [2]
    assert log.append_as_leader(data(1, 0, 40), 0, now_ms=NOW).first_offset == 6  # unknown again: any sequence
