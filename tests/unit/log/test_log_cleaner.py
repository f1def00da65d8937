from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from log_batches import Record, build_batch
from odradek.broker.log.cleaner import clean_log
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.records.batch import iter_batches
from odradek.broker.records.record import iter_records

NOW = 1_700_000_000_000
DAY = 24 * 3600 * 1000


def compact_log(directory: Path, **overrides: object) -> Log:
    config = LogConfig(
        cleanup_policy=("compact",),
        segment_bytes=400,
        min_cleanable_dirty_ratio=0.01,
        **overrides,  # type: ignore[arg-type]
    )
    return Log.open(directory, config, now_ms=NOW)


def read_records(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    out = []
    for segment in log.segments:
        data = segment.read_batch_bytes(0, segment.size)
        for header in iter_batches(data):
            batch = data[header.position : header.position + header.size]
            hdr = next(iter_batches(batch))
            for r in iter_records(batch, hdr):
                out.append((r.offset, r.key, r.value))
    return out


def test_latest_value_per_key_kept(tmp_path: Path) -> None:
    log = compact_log(tmp_path / "c-0")
    for i in range(30):
        log.append_as_leader(build_batch([(b"k%d" % (i % 3), b"v%d" % i, NOW + i)]), 0, now_ms=NOW)
    stats = clean_log(log, NOW)
    assert stats.cleaned and stats.keys == 3
    records = read_records(log)
    offsets = [o for o, _, _ in records]
    # The active segment is untouched; below it, one record per key.
    active_base = log.active_segment.base_offset
    below = [(o, k) for o, k, _ in records if o < active_base]
    assert len({k for _, k in below}) == len(below)
    assert offsets == sorted(offsets)
    assert log.log_end_offset == 30
    for o in range(27, 30):
        assert o in offsets
    assert list((tmp_path / "c-0").glob("*.cleaned")) == []
    assert list((tmp_path / "c-0").glob("*.swap")) == []
    assert (tmp_path / "cleaner-offset-checkpoint").read_text().startswith("0\n1\nc 0 ")
    # Reads still work across the cleaned segments, from any offset that remains.
    for o in offsets:
        assert log.read(o, 1 << 20).size > 0


def test_tombstones_removed_after_delete_retention(tmp_path: Path) -> None:
    log = compact_log(tmp_path / "c-0", delete_retention_ms=DAY)
    log.append_as_leader(build_batch([(b"a", b"1", NOW), (b"b", b"2", NOW)]), 0, now_ms=NOW)
    log.append_as_leader(build_batch([(b"a", None, NOW + 1)]), 0, now_ms=NOW)
    for i in range(10):
        log.append_as_leader(build_batch([(b"z%d" % i, b"x" * 40, NOW + 2)]), 0, now_ms=NOW)
    assert clean_log(log, NOW).cleaned
    keys = [(k, v) for _, k, v in read_records(log)]
    assert (b"a", None) in keys and all(not (k == b"a" and v is not None) for k, v in keys)
    stats = clean_log(log, NOW + DAY - 1)
    assert (b"a", None) in [(k, v) for _, k, v in read_records(log)]
    stats = clean_log(log, NOW + DAY + 1)
    assert stats.cleaned and stats.tombstones_removed == 1
    assert b"a" not in [k for _, k, _ in read_records(log)]
    assert b"b" in [k for _, k, _ in read_records(log)]


def test_dirty_ratio_and_compaction_lag(tmp_path: Path) -> None:
    log = Log.open(
        tmp_path / "c-0",
        LogConfig(cleanup_policy=("compact",), segment_bytes=400, min_compaction_lag_ms=DAY),
        now_ms=NOW,
    )
    for i in range(20):
        log.append_as_leader(build_batch([(b"k", b"v%d" % i, NOW)]), 0, now_ms=NOW)
    assert not clean_log(log, NOW + 1000).cleaned  # within min.compaction.lag.ms
    assert clean_log(log, NOW + DAY + 1).cleaned
    stats = clean_log(log, NOW + DAY + 2)
    assert not stats.cleaned and stats.dirty_ratio == 0.0


def test_restart_after_cleaning_and_interrupted_swap(tmp_path: Path) -> None:
    log = compact_log(tmp_path / "c-0")
    for i in range(30):
        log.append_as_leader(build_batch([(b"k%d" % (i % 2), b"v%d" % i, NOW + i)]), 0, now_ms=NOW)
    clean_log(log, NOW)
    before = read_records(log)
    log.close()
    again = compact_log(tmp_path / "c-0")
    assert read_records(again) == before
    again.close()


keys = st.sampled_from([b"a", b"b", b"c", b"d", b"e"])
values = st.one_of(st.none(), st.binary(min_size=1, max_size=30))
batches = st.lists(st.lists(st.tuples(keys, values), min_size=1, max_size=4), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches, codec=st.sampled_from([0, 1, 2, 3, 4]))
def test_compaction_invariants(
    tmp_path_factory: object, batches: list[list[tuple[bytes, bytes | None]]], codec: int
) -> None:
    directory = tmp_path_factory.mktemp("c") / "c-0"  # type: ignore[attr-defined]
    log = compact_log(directory, delete_retention_ms=DAY)
    try:
        latest: dict[bytes, tuple[int, bytes | None]] = {}
        offset = 0
        for batch in batches:
            records: list[Record] = [(k, v, NOW + offset + i) for i, (k, v) in enumerate(batch)]
            log.append_as_leader(build_batch(records, codec=codec), 0, now_ms=NOW)
            for k, v in batch:
                latest[k] = (offset, v)
                offset += 1
        before = {o: (k, v) for o, k, v in read_records(log)}
        active_base = log.active_segment.base_offset
        last_below: dict[bytes, int] = {}
        for o, (k, _) in sorted(before.items()):
            if o < active_base:
                last_below[k] = o
        clean_log(log, NOW, force=True)
        after = read_records(log)
        offsets = [o for o, _, _ in after]
        assert offsets == sorted(set(offsets))
        assert log.active_segment.base_offset == active_base
        after_map = {o: (k, v) for o, k, v in after}
        # Every surviving record is unchanged at its original offset.
        assert all(before[o] == kv for o, kv in after_map.items())
        # Below the active segment exactly the latest record of each key survives (tombstones too, for now).
        assert sorted(o for o in after_map if o < active_base) == sorted(last_below.values())
        # The active segment is untouched; so every key's latest value overall is still there.
        assert [o for o in before if o >= active_base] == [o for o in offsets if o >= active_base]
        for off, _ in latest.values():
            assert off in after_map
        # After delete.retention.ms the tombstones below the active segment are gone, nothing else.
        clean_log(log, NOW + DAY + 1, force=True)
        final = {o: (k, v) for o, k, v in read_records(log)}
        expected = sorted(o for o in last_below.values() if before[o][1] is not None)
        assert sorted(o for o in final if o < active_base) == expected
        assert [o for o in final if o >= active_base] == [o for o in before if o >= active_base]
    finally:
        log.close()


def test_an_aborted_transactional_record_does_not_compact_away_the_older_record_of_its_key(tmp_path: Path) -> None:
    """__consumer_offsets holds TxnOffsetCommit records: an aborted one must leave the committed offset before it
    (Kafka's cleaner keeps aborted records out of its offset map)."""
    from odradek.broker.log.producer_state import AppendOrigin
    from odradek.broker.records.builder import build_batch as build_txn_batch
    from odradek.broker.records.builder import build_control_batch

    log = compact_log(tmp_path / "o-0")
    log.append_as_leader(build_batch([(b"offset", b"committed", NOW)]), 0, now_ms=NOW)
    aborted = build_txn_batch(
        [(b"offset", b"aborted", (), NOW)], producer_id=7, producer_epoch=0, base_sequence=0, transactional=True
    )
    log.append_as_leader(bytearray(aborted), 0, origin=AppendOrigin.COORDINATOR, now_ms=NOW)
    marker = build_control_batch(False, 7, 0, 0, 0, NOW)
    log.append_as_leader(bytearray(marker), 0, origin=AppendOrigin.COORDINATOR, now_ms=NOW)
    for i in range(20):
        log.append_as_leader(build_batch([(b"z%d" % i, b"x" * 40, NOW + 2)]), 0, now_ms=NOW)
    log.update_high_watermark(log.log_end_offset)
    assert clean_log(log, NOW).cleaned
    records = read_records(log)
    assert (0, b"offset", b"committed") in records
    assert (1, b"offset", b"aborted") in records  # transactional batches are kept as they are
