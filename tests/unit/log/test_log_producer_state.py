"""Producer state in the log (Kafka's ProducerStateManager): the step on append, truncation and recovery; the
last stable offset; the `.txnindex` of aborted transactions."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.producer_state import (
    NUM_BATCHES_TO_RETAIN,
    AppendOrigin,
    ProducerStateError,
    ProducerStateManager,
)
from odradek.broker.log.txn_index import AbortedTxn
from odradek.broker.records.batch import BatchHeader, read_header
from odradek.broker.records.builder import build_batch, build_control_batch

NOW = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=800, index_interval_bytes=200)


def data(pid: int = -1, epoch: int = -1, seq: int = -1, txn: bool = False, n: int = 2) -> bytearray:
    records = [(b"k%d" % i, b"v" * 30, (), NOW + i) for i in range(n)]
    return bytearray(build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=txn))


def marker(pid: int, commit: bool, epoch: int = 0) -> bytearray:
    return bytearray(build_control_batch(commit, pid, epoch, coordinator_epoch=3, timestamp=NOW))


def open_log(path: Path) -> Log:
    return Log.open(path, CONFIG, now_ms=NOW)


def test_lso_equals_high_watermark_without_transactions(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(), 0, now_ms=NOW)
    log.append_as_leader(data(pid=7, epoch=0, seq=0), 0, now_ms=NOW)
    log.update_high_watermark(3)
    assert log.first_unstable_offset is None
    assert log.last_stable_offset == log.high_watermark == 3
    entry = log.producer_state.producers[7]
    assert (entry.producer_epoch, entry.last_sequence, entry.last_data_offset) == (0, 1, 3)


def test_open_transaction_holds_the_lso_until_its_marker_is_below_the_high_watermark(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(), 0, now_ms=NOW)  # 0-1
    log.append_as_leader(data(pid=5, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 2-3, opens the transaction
    log.append_as_leader(data(pid=5, epoch=0, seq=2, txn=True), 0, now_ms=NOW)  # 4-5
    assert log.first_unstable_offset == 2
    assert log.last_stable_offset == 2  # the high watermark follows the log end (6)
    info = log.append_as_leader(marker(5, commit=True), 0, now_ms=NOW)  # 6
    assert info.first_offset == 6
    # The marker is below the high watermark (which follows the log end): the transaction is stable.
    assert info.last_stable_offset == log.last_stable_offset == 7
    assert log.producer_state.producers[5].current_txn_first_offset is None


def test_lso_waits_for_the_high_watermark_to_pass_the_marker(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.update_high_watermark(0)
    log.append_as_leader(data(pid=5, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 0-1
    log.append_as_leader(marker(5, commit=False), 0, now_ms=NOW)  # 2
    assert log.last_stable_offset == 0
    assert log.update_high_watermark(2) is False  # HW 2: the marker at 2 is not below it
    assert log.last_stable_offset == 0
    assert log.update_high_watermark(3) is True
    assert log.last_stable_offset == 3
    assert log.update_high_watermark(3) is False


def test_abort_goes_to_the_txnindex_with_the_lso(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(pid=1, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 0-1
    log.append_as_leader(data(pid=2, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 2-3
    log.append_as_leader(marker(1, commit=False), 0, now_ms=NOW)  # 4: pid 2 still open from 2
    log.append_as_leader(marker(2, commit=False), 0, now_ms=NOW)  # 5
    expected = [AbortedTxn(1, 0, 4, 2), AbortedTxn(2, 2, 5, 6)]
    assert log.collect_aborted_transactions(0, log.log_end_offset) == expected
    assert log.collect_aborted_transactions(5, 6) == expected[1:]
    assert log.active_segment.txn_index.path.name == "00000000000000000000.txnindex"
    assert log.active_segment.txn_index.path.stat().st_size == 2 * 34


def test_commit_writes_no_txnindex_entry(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(pid=1, epoch=0, seq=0, txn=True), 0, now_ms=NOW)
    log.append_as_leader(marker(1, commit=True), 0, now_ms=NOW)
    assert log.collect_aborted_transactions(0, log.log_end_offset) == []
    assert not log.active_segment.txn_index.path.exists()


def test_follower_append_tracks_producer_state(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "t-0")
    leader.append_as_leader(data(pid=9, epoch=1, seq=0, txn=True), 4, now_ms=NOW)
    follower = open_log(tmp_path / "f-0")
    follower.append_as_follower(leader.read(0, 1 << 20).read_bytes(), now_ms=NOW)
    assert follower.first_unstable_offset == 0
    assert follower.producer_state.producers[9].producer_epoch == 1


def test_truncation_rebuilds_producer_state(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(pid=3, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 0-1
    log.append_as_leader(marker(3, commit=False), 0, now_ms=NOW)  # 2
    log.append_as_leader(data(pid=4, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 3-4
    assert log.first_unstable_offset == 3
    log.truncate_to(3)  # the second transaction is gone
    assert log.first_unstable_offset is None
    assert 4 not in log.producer_state.producers
    log.truncate_to(2)  # the marker is gone: the first transaction is open again, its abort unindexed
    assert log.first_unstable_offset == 0
    assert log.last_stable_offset == 0
    assert log.collect_aborted_transactions(0, log.log_end_offset) == []


def test_truncate_fully_clears_producer_state(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(pid=3, epoch=0, seq=0, txn=True), 0, now_ms=NOW)
    log.truncate_fully_and_start_at(100)
    assert log.first_unstable_offset is None
    assert log.producer_state.producers == {}
    assert log.last_stable_offset == 100


@pytest.mark.parametrize("clean", [True, False])
def test_reopen_rebuilds_producer_state_and_txnindex(tmp_path: Path, clean: bool) -> None:
    path = tmp_path / "t-0"
    log = open_log(path)
    for pid in range(1, 8):  # several segments (segment.bytes 800)
        log.append_as_leader(data(pid=pid, epoch=0, seq=0, txn=True, n=5), 0, now_ms=NOW)
        log.append_as_leader(marker(pid, commit=pid % 2 == 0), 0, now_ms=NOW)
    log.append_as_leader(data(pid=20, epoch=2, seq=0, txn=True), 0, now_ms=NOW)
    open_from = log.first_unstable_offset
    aborted = log.collect_aborted_transactions(0, log.log_end_offset)
    assert len(aborted) == 4 and log.num_segments > 2
    log.close()
    for index in path.glob("*.txnindex"):
        index.unlink()  # recovery must rebuild them from the markers
    reopened = Log.open(path, CONFIG, recovery_point=0, had_clean_shutdown=clean, now_ms=NOW)
    assert reopened.first_unstable_offset == open_from
    assert reopened.producer_state.producers[20].producer_epoch == 2
    assert set(reopened.producer_state.producers) == {*range(1, 8), 20}
    if not clean:  # an unclean open recovers every segment from the recovery point, txnindex included
        assert reopened.collect_aborted_transactions(0, reopened.log_end_offset) == aborted


def test_recovery_rebuilds_only_what_survives_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = open_log(path)
    log.append_as_leader(data(pid=1, epoch=0, seq=0, txn=True), 0, now_ms=NOW)  # 0-1
    log.append_as_leader(marker(1, commit=False), 0, now_ms=NOW)  # 2
    log.close()
    segment = sorted(path.glob("*.log"))[-1]
    with segment.open("r+b") as f:
        f.truncate(segment.stat().st_size - 5)  # tear the marker
    reopened = Log.open(path, CONFIG, recovery_point=0, had_clean_shutdown=False, now_ms=NOW)
    assert reopened.log_end_offset == 2
    assert reopened.first_unstable_offset == 0
    assert reopened.collect_aborted_transactions(0, 2) == []


def test_nothing_changes_when_the_validation_hook_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(data(pid=1, epoch=0, seq=0), 0, now_ms=NOW)

    def refuse(self: ProducerStateManager, current: object, header: object, first_offset: int) -> None:
        raise ProducerStateError(45, "out of order")

    monkeypatch.setattr(ProducerStateManager, "validate_batch", refuse)
    before = log.producer_state.producers[1]
    with pytest.raises(ProducerStateError):
        log.append_as_leader(data(pid=1, epoch=0, seq=5), 0, now_ms=NOW)
    assert log.log_end_offset == 2
    assert log.producer_state.producers[1] == before
    # Replicated and coordinator-written batches are not checked by the hook.
    log.append_as_leader(data(pid=1, epoch=0, seq=2), 0, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    assert log.log_end_offset == 4


def header_of(pid: int, epoch: int, seq: int, n: int) -> tuple[BatchHeader, bytes]:
    batch = bytes(data(pid=pid, epoch=epoch, seq=seq, n=n))
    return read_header(batch), batch


def test_epoch_bump_resets_batch_metadata() -> None:
    state = ProducerStateManager()
    # A new epoch starts again at sequence 0 (Kafka's checkSequence refuses anything else).
    for i, (epoch, seq) in enumerate([(0, 0), (0, 2), (1, 0)]):
        header, batch = header_of(7, epoch, seq, 2)
        info = state.prepare(AppendOrigin.CLIENT)
        info.append(header, i * 2, batch)
        state.apply(info, i * 2 + 2, None)
    entry = state.producers[7]
    assert entry.producer_epoch == 1 and len(entry.batches) == 1
    assert entry.last_sequence == 1
    assert entry.last_data_offset == 5


def test_only_the_last_five_batches_are_kept() -> None:
    state = ProducerStateManager()
    info = state.prepare(AppendOrigin.CLIENT)
    for i in range(8):
        header, batch = header_of(7, 0, i, 1)
        info.append(header, i, batch)
    state.apply(info, 8, None)
    assert [b.first_offset for b in state.producers[7].batches] == list(range(8 - NUM_BATCHES_TO_RETAIN, 8))


def test_sequences_wrap_at_int32_max() -> None:
    state = ProducerStateManager()
    header, batch = header_of(7, 0, 2**31 - 1, 3)
    info = state.prepare(AppendOrigin.CLIENT)
    info.append(header, 0, batch)
    state.apply(info, 3, None)
    assert state.producers[7].last_sequence == 1
