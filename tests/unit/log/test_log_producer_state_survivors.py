"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), log/producer_state.py and
log/txn_index.py: what a transaction marker leaves in the producer's entry, `ProducerAppendInfo.current`, completed
transactions below a new log start offset, and the bounds of a `.txnindex` search. Each test's docstring names the
mutants it kills."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from odradek.broker.log.producer_state import AppendOrigin, ProducerStateError, ProducerStateManager
from odradek.broker.log.txn_index import AbortedTxn, CorruptIndex, TransactionIndex, TxnIndexSearchResult
from odradek.broker.records.batch import read_header
from odradek.broker.records.builder import build_batch, build_control_batch

NOW = 1_700_000_000_000
PID = 5


def data(offset: int, epoch: int = 0, txn: bool = True) -> bytearray:
    records = [(b"k", b"v", (), NOW)]
    return bytearray(
        build_batch(
            records, base_offset=offset, producer_id=PID, producer_epoch=epoch, base_sequence=0, transactional=txn
        )
    )


def marker(offset: int, commit: bool, epoch: int, coordinator_epoch: int, timestamp: int) -> bytearray:
    return bytearray(
        build_control_batch(
            commit, PID, epoch, coordinator_epoch=coordinator_epoch, base_offset=offset, timestamp=timestamp
        )
    )


def replay(manager: ProducerStateManager, buf: bytearray) -> None:
    manager.replay(read_header(buf, 0), buf, None)


def test_producer_state_error_carries_code_and_message() -> None:
    """The hook's refusal carries Kafka's error code and a message (kills the three mutants of its __init__)."""
    error = ProducerStateError(47, "epoch 3 is fenced")
    assert (error.error_code, error.message, str(error)) == (47, "epoch 3 is fenced", "epoch 3 is fenced")


def test_a_marker_sets_the_producer_epoch_coordinator_epoch_and_timestamp() -> None:
    """After a marker the producer's entry has the marker's producer epoch, the highest coordinator epoch seen (the
    marker's when it is higher) and the marker's timestamp; the transaction is closed (kills `epoch = None`, the
    coordinator-epoch choice mutated to always / never / the other way round, and `None` for the epoch,
    coordinator epoch and timestamp of the new entry)."""
    manager = ProducerStateManager()
    replay(manager, data(0, epoch=0))
    replay(manager, marker(1, commit=False, epoch=1, coordinator_epoch=4, timestamp=NOW + 9))
    entry = manager.producers[PID]
    assert (entry.producer_epoch, entry.coordinator_epoch, entry.last_timestamp) == (1, 4, NOW + 9)
    assert entry.current_txn_first_offset is None
    replay(manager, data(2, epoch=1))
    replay(manager, marker(3, commit=True, epoch=1, coordinator_epoch=2, timestamp=NOW + 20))  # an older coordinator
    assert manager.producers[PID].coordinator_epoch == 4


def test_append_info_current_sees_its_own_pending_entries_first() -> None:
    """`ProducerAppendInfo.current` answers the entry this append computed, else the manager's (kills the six
    mutants of `current`, which no test called)."""
    manager = ProducerStateManager()
    replay(manager, data(0, epoch=0))
    info = manager.prepare(AppendOrigin.CLIENT)
    assert info.current(PID) == manager.producers[PID]
    assert info.current(99) is None
    buf = data(1, epoch=2)
    info.append(read_header(buf, 0), 1, buf)
    pending = info.current(PID)
    assert pending is not None and pending.producer_epoch == 2
    assert manager.producers[PID].producer_epoch == 0  # not applied yet


def test_completed_transactions_below_a_new_log_start_offset_are_forgotten() -> None:
    """A completed transaction whose marker is not yet below the HW holds the first unstable offset until the log
    start offset passes its marker (kills `on_high_watermark_updated(None)` in on_log_start_offset_incremented)."""
    manager = ProducerStateManager()
    replay(manager, data(0))
    replay(manager, marker(1, commit=True, epoch=0, coordinator_epoch=0, timestamp=NOW))
    assert manager.first_unstable_offset == 0  # unreplicated: the HW has not passed the marker
    manager.on_log_start_offset_incremented(1)
    assert manager.first_unstable_offset == 0  # the marker (1) is not below 1
    manager.on_log_start_offset_incremented(2)
    assert manager.first_unstable_offset is None


def test_txnindex_search_excludes_a_transaction_starting_at_the_upper_bound(tmp_path: Path) -> None:
    """`collect_aborted_txns(fetch, upper)` covers [fetch, upper): a transaction starting at `upper` is not in it;
    the index iterates its entries; a search that did not reach an LSO at the bound is not complete (kills
    `first_offset < upper` -> `<=`, `iter(None)`, and `False` -> `None` for is_complete)."""
    index = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    txns = [AbortedTxn(1, 0, 4, 5), AbortedTxn(2, 10, 12, 13)]
    for txn in txns:
        index.append(txn)
    assert list(index) == txns
    result = index.collect_aborted_txns(0, 10)
    assert result.aborted_transactions == (txns[0],)
    assert index.collect_aborted_txns(11, 20) == TxnIndexSearchResult((txns[1],), False)
    assert index.collect_aborted_txns(11, 20).is_complete is False


def test_a_data_batch_records_its_sequences_and_timestamp() -> None:
    """A data batch's metadata keeps its first sequence, and the entry the batch's max timestamp (kills
    `BatchMetadata(None, ...)` and `None` for the entry's last timestamp in _data_batch)."""
    manager = ProducerStateManager()
    buf = bytearray(
        build_batch([(b"k", b"v", (), NOW + i) for i in range(3)], producer_id=PID, producer_epoch=0, base_sequence=7)
    )
    replay(manager, buf)
    entry = manager.producers[PID]
    (batch,) = entry.batches
    assert (batch.first_sequence, batch.last_sequence, batch.first_offset, batch.last_offset) == (7, 9, 0, 2)
    assert batch.timestamp == entry.last_timestamp == NOW + 2


def test_a_marker_keeps_the_batches_of_its_own_epoch_only() -> None:
    """A marker at the producer's epoch keeps its batch metadata; one with a new epoch drops it (kills the
    `entry.producer_epoch == epoch` test of _end_txn mutated to always / `!=`)."""
    manager = ProducerStateManager()
    replay(manager, data(0, epoch=0))
    replay(manager, marker(1, commit=True, epoch=0, coordinator_epoch=0, timestamp=NOW))
    assert len(manager.producers[PID].batches) == 1
    replay(manager, data(2, epoch=0))
    replay(manager, marker(3, commit=False, epoch=1, coordinator_epoch=0, timestamp=NOW))
    assert manager.producers[PID].batches == ()


def test_txnindex_sanity_and_file_mode(tmp_path: Path) -> None:
    """An entry whose marker is the segment's first offset is sane; the file is created rw-r--r-- (kills `>=` ->
    `>` in sanity_check, and the mode 0o644 dropped or mutated)."""
    index = TransactionIndex(tmp_path / "00000000000000000010.txnindex", 10)
    index.append(AbortedTxn(1, 5, 10, 11))
    assert index.sanity_check()
    umask = os.umask(0)
    os.umask(umask)
    assert index.path.stat().st_mode & 0o777 == 0o644 & ~umask


def test_txnindex_flush_and_unknown_versions(tmp_path: Path) -> None:
    """flush() fsyncs an existing .txnindex and is a no-op before the first entry; an entry of an unknown version is
    CorruptIndex naming the version and the file (kills the mutants of flush's os.open / fsync / close arguments,
    and `CorruptIndex(None)`)."""
    index = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    index.flush()
    index.append(AbortedTxn(1, 0, 4, 5))
    index.flush()
    raw = bytearray(index.path.read_bytes())
    raw[0:2] = (7).to_bytes(2, "big")  # the entry's version
    index.path.write_bytes(bytes(raw))
    with pytest.raises(CorruptIndex, match=f"unexpected aborted transaction version 7 in {index.path}"):
        TransactionIndex(index.path, 0).all_aborted_txns()
