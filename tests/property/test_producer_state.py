"""Producer state and the last stable offset against a model, through random appends, markers, high-watermark
moves, truncations and reopens (clean and unclean) of a real `Log` on disk."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.records.builder import build_batch, build_control_batch

NOW = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)
PIDS = (1, 2, 3)

Op = tuple[str, int]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("plain"), st.integers(1, 3)),
        st.tuples(st.just("txn"), st.sampled_from(PIDS)),
        st.tuples(st.just("commit"), st.sampled_from(PIDS)),
        st.tuples(st.just("abort"), st.sampled_from(PIDS)),
        st.tuples(st.just("hw"), st.integers(0, 4)),  # the high watermark goes to (log end - n)
        st.tuples(st.just("truncate"), st.integers(0, 4)),  # truncate to (log end - n)
        st.tuples(st.just("reopen"), st.integers(0, 1)),
    ),
    max_size=25,
)


@dataclass
class Model:
    """Batches as (kind, pid, first offset, last offset); state is derived by replaying them, as Kafka does."""

    batches: list[tuple[str, int, int, int]] = field(default_factory=list)
    hw: int | None = None  # None: follows the log end
    # Markers the high watermark has passed: their transactions stay stable even if the high watermark is later
    # set lower (as in Kafka, where only a truncation or a reload brings them back to be checked again).
    passed: set[int] = field(default_factory=set)
    lso_at_marker: dict[int, int] = field(default_factory=dict)  # what the .txnindex records for an abort

    def hw_moved(self, reload: bool = False) -> None:
        if reload:
            self.passed.clear()
        _, completed = self.replay()
        self.passed |= {marker for _, _, marker, _ in completed if marker < self.high_watermark}

    @property
    def end(self) -> int:
        return self.batches[-1][3] + 1 if self.batches else 0

    @property
    def high_watermark(self) -> int:
        return self.end if self.hw is None else min(self.hw, self.end)

    def replay(self) -> tuple[dict[int, int], list[tuple[int, int, int, bool]]]:
        ongoing: dict[int, int] = {}
        completed: list[tuple[int, int, int, bool]] = []  # pid, first, marker offset, aborted
        for kind, pid, first, _last in self.batches:
            if kind == "txn" and pid not in ongoing:
                ongoing[pid] = first
            elif kind in ("commit", "abort") and pid in ongoing:
                completed.append((pid, ongoing.pop(pid), first, kind == "abort"))
                others = [start for other, start in ongoing.items() if other != pid]
                self.lso_at_marker[first] = min(others) if others else first + 1
        return ongoing, completed

    def last_stable_offset(self) -> int:
        ongoing, completed = self.replay()
        hw = self.high_watermark
        firsts = [*ongoing.values(), *(first for _, first, marker, _ in completed if marker not in self.passed)]
        return min([hw, *firsts])

    def aborted(self) -> list[tuple[int, int, int, int]]:
        _, completed = self.replay()
        return [
            (pid, first, marker, self.lso_at_marker[marker]) for pid, first, marker, aborted in completed if aborted
        ]


def append(log: Log, model: Model, kind: str, value: int) -> None:
    if kind == "plain":
        records = [(b"k", b"v" * 20, (), NOW)] * value
        batch = build_batch(records)
    elif kind == "txn":
        # Each of the producer's batches continues its sequence (one record each), or it would be a duplicate.
        sequence = sum(1 for k, pid, _, _ in model.batches if k == "txn" and pid == value)
        batch = build_batch(
            [(b"k", b"v" * 20, (), NOW)],
            producer_id=value,
            producer_epoch=0,
            base_sequence=sequence,
            transactional=True,
        )
    else:
        batch = build_control_batch(kind == "commit", value, 0, timestamp=NOW)
    info = log.append_as_leader(bytearray(batch), 0, now_ms=NOW)
    model.batches.append((kind, value, info.first_offset, info.last_offset))
    model.hw_moved()
    assert info.last_stable_offset == model.last_stable_offset()


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(ops)
def test_last_stable_offset_follows_the_model(operations: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t-0"
        log = Log.open(path, CONFIG, now_ms=NOW)
        model = Model()
        try:
            for kind, value in operations:
                if kind in ("plain", "txn", "commit", "abort"):
                    append(log, model, kind, value)
                elif kind == "hw":
                    before = log.last_stable_offset
                    moved = log.update_high_watermark(max(0, model.end - value))
                    model.hw = max(0, model.end - value)
                    model.hw_moved()
                    assert moved == (log.last_stable_offset != before)
                elif kind == "truncate":
                    offset = max(0, model.end - value)
                    if log.truncate_to(offset):
                        kept = [b for b in model.batches if b[3] < offset]
                        model.batches = kept
                        if model.hw is not None:
                            model.hw = min(model.hw, model.end)
                else:
                    log.close()
                    log = Log.open(path, CONFIG, recovery_point=0, had_clean_shutdown=value == 1, now_ms=NOW)
                    model.hw = None  # a reopened log's high watermark follows its end until set
                    model.hw_moved(reload=True)
                assert log.log_end_offset == model.end
                assert log.last_stable_offset == model.last_stable_offset()
                aborted = [
                    (t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset)
                    for t in log.collect_aborted_transactions(0, model.end)
                ]
                assert aborted == model.aborted()
        finally:
            log.close()


def test_model_smoke() -> None:
    model = Model(batches=[("txn", 1, 0, 0), ("abort", 1, 1, 1)], hw=1)
    assert model.last_stable_offset() == 0
    assert model.aborted() == [(1, 0, 1, 2)]
