"""`ProducerStateManager.validate_batch` against a table of Kafka's ProducerAppendInfo decisions (checkProducerEpoch,
checkSequence, appendDataBatch) and UnifiedLog.analyzeAndValidateProducerState's duplicate detection; the
duplicate path of `Log.append_as_leader`; producer expiration."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.producer_state import (
    DUPLICATE_SEQUENCE_NUMBER,
    INVALID_PRODUCER_EPOCH,
    INVALID_TXN_STATE,
    OUT_OF_ORDER_SEQUENCE_NUMBER,
    TRANSACTION_COORDINATOR_FENCED,
    AppendOrigin,
    BatchMetadata,
    DuplicateBatch,
    ProducerStateEntry,
    ProducerStateError,
    ProducerStateManager,
)
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import read_header
from odradek.broker.records.builder import build_batch, build_control_batch

NOW = 1_700_000_000_000
PID = 42
MAX = 2**31 - 1


def batch(epoch: int, seq: int, n: int = 1, txn: bool = False, pid: int = PID) -> bytes:
    records = [(b"k", b"v", (), NOW) for _ in range(n)]
    return build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=txn)


def manager_with(entry: ProducerStateEntry | None) -> ProducerStateManager:
    state = ProducerStateManager()
    if entry is not None:
        state.producers[entry.producer_id] = entry
    return state


def entry(epoch: int, *seq_ranges: tuple[int, int], txn_first: int | None = None) -> ProducerStateEntry:
    batches = tuple(
        BatchMetadata(first, last, 100 + i * 10, 100 + i * 10 + last - first, NOW)
        for i, (first, last) in enumerate(seq_ranges)
    )
    return ProducerStateEntry(PID, epoch, batches, -1, NOW, txn_first)


# (case, state before, incoming batch (epoch, first seq, record count), Kafka's answer: None accepted, else code)
TABLE: list[tuple[str, ProducerStateEntry | None, tuple[int, int, int], int | None]] = [
    ("unknown producer, sequence 0", None, (0, 0, 1), None),
    ("unknown producer, any sequence (Kafka 2.5+: no UNKNOWN_PRODUCER_ID)", None, (3, 17, 2), None),
    ("next sequence", entry(0, (0, 4)), (0, 5, 3), None),
    ("gap", entry(0, (0, 4)), (0, 6, 1), OUT_OF_ORDER_SEQUENCE_NUMBER),
    ("sequence behind, not a retained batch", entry(0, (0, 4)), (0, 2, 1), OUT_OF_ORDER_SEQUENCE_NUMBER),
    ("duplicate of the last batch", entry(0, (0, 4)), (0, 0, 5), DUPLICATE_SEQUENCE_NUMBER),
    ("duplicate of an older retained batch", entry(0, (0, 1), (2, 3), (4, 5)), (0, 2, 2), DUPLICATE_SEQUENCE_NUMBER),
    (
        "same first sequence, other length: not a duplicate",
        entry(0, (0, 1), (2, 3)),
        (0, 2, 3),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
    ),
    ("old epoch", entry(2, (0, 4)), (1, 5, 1), INVALID_PRODUCER_EPOCH),
    ("old epoch repeating a batch of that epoch", entry(2, (0, 4)), (1, 0, 5), INVALID_PRODUCER_EPOCH),
    ("epoch bump at sequence 0 (KIP-360)", entry(0, (0, 4)), (1, 0, 1), None),
    ("epoch bump at another sequence", entry(0, (0, 4)), (1, 5, 1), OUT_OF_ORDER_SEQUENCE_NUMBER),
    ("sequence wraps at 2**31 - 1", entry(0, (MAX - 1, MAX)), (0, 0, 1), None),
    ("wrap must start at 0", entry(0, (MAX - 1, MAX)), (0, 1, 1), OUT_OF_ORDER_SEQUENCE_NUMBER),
    ("same epoch, no batches (markers only): sequence 0", entry(0), (0, 0, 1), None),
    ("same epoch, no batches: other sequence", entry(0), (0, 3, 1), OUT_OF_ORDER_SEQUENCE_NUMBER),
    ("state without an epoch (all data deleted): any sequence", entry(-1), (0, 9, 1), None),
    ("state without an epoch, same (no) epoch: any sequence", entry(-1, (0, 0)), (-1, 9, 1), None),
]


@pytest.mark.parametrize(("case", "before", "incoming", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_validation_table(
    case: str, before: ProducerStateEntry | None, incoming: tuple[int, int, int], expected: int | None
) -> None:
    state = manager_with(before)
    epoch, seq, n = incoming
    data = batch(epoch, seq, n)
    info = state.prepare(AppendOrigin.CLIENT)
    if expected is None:
        info.append(read_header(data), 500, data)
        assert info.entries[PID].producer_epoch == epoch
        assert info.entries[PID].last_sequence == (seq + n - 1) % (MAX + 1)
        return
    with pytest.raises(ProducerStateError) as raised:
        info.append(read_header(data), 500, data)
    assert raised.value.error_code == expected, case
    if expected == DUPLICATE_SEQUENCE_NUMBER:
        assert isinstance(raised.value, DuplicateBatch)
        assert before is not None
        assert raised.value.batch in before.batches
        assert (raised.value.batch.first_sequence, raised.value.batch.last_sequence) == (seq, seq + n - 1)
    assert info.entries == {}  # a refused batch changes nothing


def test_batches_of_one_append_are_checked_against_each_other() -> None:
    state = manager_with(entry(0, (0, 0)))
    info = state.prepare(AppendOrigin.CLIENT)
    first, second, gap = batch(0, 1, 2), batch(0, 3, 1), batch(0, 5, 1)
    info.append(read_header(first), 10, first)
    info.append(read_header(second), 12, second)
    with pytest.raises(ProducerStateError) as raised:
        info.append(read_header(gap), 13, gap)
    assert raised.value.error_code == OUT_OF_ORDER_SEQUENCE_NUMBER


def test_an_unknown_producer_is_not_sequence_checked_within_its_first_append() -> None:
    """Kafka checks sequences against the state before the append (currentEntry): a producer it did not know
    may send batches with gaps in that first append."""
    state = ProducerStateManager()
    info = state.prepare(AppendOrigin.CLIENT)
    first, gap = batch(0, 7, 2), batch(0, 20, 1)
    info.append(read_header(first), 0, first)
    info.append(read_header(gap), 2, gap)
    assert info.entries[PID].last_sequence == 20


def test_non_transactional_batch_during_a_transaction_is_invalid_txn_state() -> None:
    state = manager_with(entry(0, (0, 0), txn_first=100))
    data = batch(0, 1)
    with pytest.raises(ProducerStateError) as raised:
        state.prepare(AppendOrigin.CLIENT).append(read_header(data), 101, data)
    assert raised.value.error_code == INVALID_TXN_STATE
    transactional = batch(0, 1, txn=True)
    state.prepare(AppendOrigin.CLIENT).append(read_header(transactional), 101, transactional)


def test_coordinator_batches_get_the_epoch_check_only() -> None:
    state = manager_with(entry(3, (0, 0)))
    out_of_order = batch(3, 7)
    state.prepare(AppendOrigin.COORDINATOR).append(read_header(out_of_order), 101, out_of_order)
    old = batch(2, 1)
    with pytest.raises(ProducerStateError) as raised:
        state.prepare(AppendOrigin.COORDINATOR).append(read_header(old), 101, old)
    assert raised.value.error_code == INVALID_PRODUCER_EPOCH
    state.prepare(AppendOrigin.REPLICATION).append(read_header(old), 101, old)  # followers never refuse


def test_markers_of_an_older_epoch_or_coordinator_are_refused() -> None:
    state = ProducerStateManager()
    state.producers[PID] = ProducerStateEntry(PID, 5, (), 7, NOW, 100)
    old_epoch = build_control_batch(True, PID, 4, coordinator_epoch=7, timestamp=NOW)
    with pytest.raises(ProducerStateError) as raised:
        state.prepare(AppendOrigin.COORDINATOR).append(read_header(old_epoch), 200, old_epoch)
    assert raised.value.error_code == INVALID_PRODUCER_EPOCH
    zombie = build_control_batch(True, PID, 5, coordinator_epoch=6, timestamp=NOW)
    with pytest.raises(ProducerStateError) as raised:
        state.prepare(AppendOrigin.COORDINATOR).append(read_header(zombie), 200, zombie)
    assert raised.value.error_code == TRANSACTION_COORDINATOR_FENCED
    good = build_control_batch(True, PID, 5, coordinator_epoch=7, timestamp=NOW)
    info = state.prepare(AppendOrigin.COORDINATOR)
    info.append(read_header(good), 200, good)
    assert info.completed_txns[0].first_offset == 100


def test_error_codes_are_kafkas() -> None:
    assert OUT_OF_ORDER_SEQUENCE_NUMBER == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert DUPLICATE_SEQUENCE_NUMBER == ErrorCode.DUPLICATE_SEQUENCE_NUMBER
    assert INVALID_PRODUCER_EPOCH == ErrorCode.INVALID_PRODUCER_EPOCH
    assert INVALID_TXN_STATE == ErrorCode.INVALID_TXN_STATE
    assert TRANSACTION_COORDINATOR_FENCED == ErrorCode.TRANSACTION_COORDINATOR_FENCED


def test_a_duplicate_append_returns_the_original_offsets_and_writes_nothing(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), now_ms=NOW)
    log.append_as_leader(bytearray(batch(0, 0, 3)), 0, now_ms=NOW)  # 0-2
    log.append_as_leader(bytearray(batch(0, 3, 2)), 0, now_ms=NOW)  # 3-4
    log.append_as_leader(bytearray(batch(0, 0, 1, pid=7)), 0, now_ms=NOW)  # 5, another producer
    size = log.size_in_bytes
    info = log.append_as_leader(bytearray(batch(0, 0, 3)), 0, now_ms=NOW)
    assert info.duplicate
    assert (info.first_offset, info.last_offset) == (0, 2)
    info = log.append_as_leader(bytearray(batch(0, 3, 2)), 0, now_ms=NOW)
    assert (info.first_offset, info.last_offset, info.duplicate) == (3, 4, True)
    assert log.log_end_offset == 6 and log.size_in_bytes == size
    with pytest.raises(ProducerStateError) as raised:
        log.append_as_leader(bytearray(batch(0, 9)), 0, now_ms=NOW)
    assert raised.value.error_code == OUT_OF_ORDER_SEQUENCE_NUMBER
    info = log.append_as_leader(bytearray(batch(0, 5)), 0, now_ms=NOW)
    assert (info.first_offset, info.duplicate) == (6, False)


def test_idle_producers_expire_unless_in_a_transaction() -> None:
    state = ProducerStateManager()
    state.producers[1] = ProducerStateEntry(1, 0, (), -1, NOW, None)
    state.producers[2] = ProducerStateEntry(2, 0, (), -1, NOW + 10, None)
    state.producers[3] = ProducerStateEntry(3, 0, (), -1, NOW, 5)
    assert state.remove_expired_producers(NOW + 100, 100) == 1
    assert set(state.producers) == {2, 3}
    assert state.remove_expired_producers(NOW + 109, 100) == 0
    assert state.remove_expired_producers(NOW + 110, 100) == 1
    assert set(state.producers) == {3}
