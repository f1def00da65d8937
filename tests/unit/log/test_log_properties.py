"""Hypothesis: whatever the segment and index sizes, every appended batch reads back at its offsets, before and
after an unclean restart, and truncation keeps exactly the batches below the target."""

import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from log_batches import build_batch
from odradek.broker.log.cleaner import clean_log
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.records.batch import iter_batches

NOW = 1_700_000_000_000


def all_batches(log: Log) -> list[bytes]:
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 30).read_bytes()
        headers = list(iter_batches(data))
        out += [data[h.position : h.position + h.size] for h in headers]
        offset = headers[-1].next_offset
    return out


sizes = st.lists(st.tuples(st.integers(1, 5), st.integers(0, 300)), min_size=1, max_size=30)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=sizes,
    segment_bytes=st.integers(100, 3000),
    index_interval=st.integers(1, 2000),
    truncate_at=st.integers(0, 200),
)
def test_append_read_restart_truncate(
    tmp_path_factory: object,
    batches: list[tuple[int, int]],
    segment_bytes: int,
    index_interval: int,
    truncate_at: int,
) -> None:
    directory = tmp_path_factory.mktemp("p") / "p-0"  # type: ignore[attr-defined]
    config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=index_interval, segment_index_bytes=64)
    log = Log.open(directory, config, now_ms=NOW)
    expected = []
    for count, value_size in batches:
        batch = build_batch([(b"k", b"v" * value_size, NOW + i) for i in range(count)])
        info = log.append_as_leader(batch, 1, now_ms=NOW)
        expected.append((info.first_offset, bytes(batch)))
    assert all_batches(log) == [b for _, b in expected]
    for first, data in expected:
        assert log.read(first, 1, min_one_message=True).read_bytes() == data
    end = log.log_end_offset
    log.close()
    again = Log.open(directory, config, recovery_point=0, had_clean_shutdown=False, now_ms=NOW)
    try:
        assert again.log_end_offset == end
        assert all_batches(again) == [b for _, b in expected]
        target = min(truncate_at, end)
        again.truncate_to(target)
        kept = [b for first, b in expected if first < target and first + next(iter_batches(b)).record_count <= target]
        assert all_batches(again) == kept
    finally:
        again.close()


def test_cleaner_thread_while_appending(tmp_path: Path) -> None:
    config = LogConfig(cleanup_policy=("compact",), segment_bytes=500, min_cleanable_dirty_ratio=0.01)
    log = Log.open(tmp_path / "c-0", config, now_ms=NOW)
    stop = threading.Event()
    errors: list[BaseException] = []

    def cleaner() -> None:
        try:
            for _ in range(200):
                if stop.is_set():
                    return
                clean_log(log, NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=cleaner)
    thread.start()
    for i in range(400):
        log.append_as_leader(build_batch([(b"k%d" % (i % 7), b"v" * 20, NOW + i)]), 0, now_ms=NOW)
        log.read(log.log_start_offset, 1 << 16)
    stop.set()
    thread.join(timeout=30)
    assert not errors
    assert log.log_end_offset == 400
    offsets = [h.last_offset for b in all_batches(log) for h in iter_batches(b)]
    assert offsets == sorted(set(offsets)) and offsets[-1] == 399
    log.close()
