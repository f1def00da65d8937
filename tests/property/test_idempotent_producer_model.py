"""Idempotent producers against a simple model, under Hypothesis: random streams of client batches of a few
producers (the next batch, retries of any earlier batch, gaps, old epochs, epoch bumps at sequence 0 or not,
reopens of the log) appended to a real `Log`. The model keeps every batch ever accepted (no 5-batch window, no
offsets arithmetic shortcuts; only a clean reopen forgets all but each producer's last batch, as a snapshot
does) and decides as Kafka documents: a retry of one of the producer's last five batches
of its current epoch gets the original offsets; an older epoch is INVALID_PRODUCER_EPOCH; a new epoch must start
at 0; otherwise the sequence must follow. The log must decide the same, return the same offsets, and hold
exactly the accepted batches."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.producer_state import (
    INVALID_PRODUCER_EPOCH,
    OUT_OF_ORDER_SEQUENCE_NUMBER,
    ProducerStateError,
)
from odradek.broker.records.batch import iter_batches
from odradek.broker.records.builder import build_batch

NOW = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=700, index_interval_bytes=100)
PIDS = (1, 2)

# (kind, producer, argument): next (n records), retry (index back into the producer's sent batches), resend
# (index back into its accepted batches: around the 5-batch window), gap (size),
# old (epoch decrement), bump (first sequence of the new epoch), reopen (clean or not)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("next"), st.sampled_from(PIDS), st.integers(1, 3)),
        st.tuples(st.just("retry"), st.sampled_from(PIDS), st.integers(1, 8)),
        st.tuples(st.just("resend"), st.sampled_from(PIDS), st.integers(1, 7)),
        st.tuples(st.just("gap"), st.sampled_from(PIDS), st.integers(1, 3)),
        st.tuples(st.just("old"), st.sampled_from(PIDS), st.integers(1, 2)),
        st.tuples(st.just("bump"), st.sampled_from(PIDS), st.sampled_from([0, 0, 1, 4])),
        st.tuples(st.just("reopen"), st.just(0), st.integers(0, 1)),
    ),
    max_size=40,
)


@dataclass
class Accepted:
    epoch: int
    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int


@dataclass
class Producer:
    epoch: int = 0
    next_sequence: int = 0
    accepted: list[Accepted] = field(default_factory=list)  # every batch the log took, in order
    # Batches before this index are forgotten for duplicate detection: a snapshot keeps only a producer's last
    # batch (Kafka's ProducerSnapshot format), so after a clean reopen, which loads the snapshot taken at the log
    # end, a retry of an older batch is out of order, as in Kafka.
    window_start: int = 0


@dataclass
class Model:
    producers: dict[int, Producer] = field(default_factory=dict)
    end: int = 0

    def decide(self, pid: int, epoch: int, first: int, count: int) -> tuple[str, int | None]:
        """("append", None), ("duplicate", original first offset) or ("error", code)."""
        producer = self.producers.get(pid)
        if producer is None or not producer.accepted:
            return "append", None  # unknown to the log: any sequence
        current = producer.accepted[-1]
        last = first + count - 1
        known = producer.accepted[producer.window_start :]
        same_epoch = [a for a in known if a.epoch == current.epoch][-5:]
        for batch in same_epoch:
            if epoch == current.epoch and (batch.first_sequence, batch.last_sequence) == (first, last):
                return "duplicate", batch.first_offset
        if epoch < current.epoch:
            return "error", INVALID_PRODUCER_EPOCH
        if epoch > current.epoch:
            return ("append", None) if first == 0 else ("error", OUT_OF_ORDER_SEQUENCE_NUMBER)
        if first == current.last_sequence + 1:
            return "append", None
        return "error", OUT_OF_ORDER_SEQUENCE_NUMBER


def batch(pid: int, epoch: int, first: int, count: int) -> bytearray:
    records = [(b"k", b"p%d-e%d-s%d" % (pid, epoch, first + i), (), NOW) for i in range(count)]
    return bytearray(build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=first))


def stored(log: Log) -> list[tuple[int, int, int, int]]:
    """Every batch of the log (a read stays within one segment: read on from where the last one ended)."""
    found: list[tuple[int, int, int, int]] = []
    offset = 0
    while offset < log.log_end_offset:
        headers = list(iter_batches(log.read(offset, 1 << 24).read_bytes()))
        assert headers, f"nothing read at offset {offset}"
        found += [(h.producer_id, h.producer_epoch, h.base_sequence, h.base_offset) for h in headers]
        offset = headers[-1].next_offset
    return found


WINDOW_EDGES = [("next", 1, 1)] * 7 + [("resend", 1, 5), ("resend", 1, 6), ("resend", 1, 7)]


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(ops)
@example(WINDOW_EDGES)  # the 5th batch back is still recognised, the 6th is not
def test_the_log_decides_as_the_model(operations: list[tuple[str, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t-0"
        log = Log.open(path, CONFIG, now_ms=NOW)
        model = Model()
        sent: dict[int, list[tuple[int, int, int]]] = {pid: [] for pid in PIDS}  # what each producer sent
        try:
            for kind, pid, arg in operations:
                if kind == "reopen":
                    # Clean: the snapshot at the log end is loaded. Unclean from recovery point 0: every segment
                    # is recovered, so the whole log is replayed and every batch is known again.
                    log.close(snapshot=arg == 1)
                    log = Log.open(path, CONFIG, recovery_point=0, had_clean_shutdown=arg == 1, now_ms=NOW)
                    for p in model.producers.values():
                        p.window_start = max(len(p.accepted) - 1, 0) if arg == 1 else 0
                    continue
                producer = model.producers.setdefault(pid, Producer())
                if kind == "next":
                    epoch, first, count = producer.epoch, producer.next_sequence, arg
                elif kind == "retry":
                    if not sent[pid]:
                        continue
                    epoch, first, count = sent[pid][-min(arg, len(sent[pid]))]
                elif kind == "resend":
                    if not producer.accepted:
                        continue
                    again = producer.accepted[-min(arg, len(producer.accepted))]
                    epoch, first = again.epoch, again.first_sequence
                    count = again.last_sequence - again.first_sequence + 1
                elif kind == "gap":
                    epoch, first, count = producer.epoch, producer.next_sequence + arg, 1
                elif kind == "old":
                    epoch, first, count = producer.epoch - arg, producer.next_sequence, 1
                    if epoch < 0:
                        continue
                else:
                    epoch, first, count = producer.epoch + 1, arg, 1
                sent[pid].append((epoch, first, count))
                expected, detail = model.decide(pid, epoch, first, count)
                try:
                    info = log.append_as_leader(batch(pid, epoch, first, count), 0, now_ms=NOW)
                except ProducerStateError as exc:
                    assert (expected, detail) == ("error", exc.error_code), (kind, epoch, first, count)
                    continue
                if info.duplicate:
                    assert (expected, detail) == ("duplicate", info.first_offset), (kind, epoch, first, count)
                    continue
                assert expected == "append", (kind, epoch, first, count, expected, detail)
                assert info.first_offset == model.end
                producer.accepted.append(Accepted(epoch, first, first + count - 1, model.end, model.end + count - 1))
                producer.epoch, producer.next_sequence = epoch, first + count
                model.end += count
            expected_log = sorted(
                (pid, a.epoch, a.first_sequence, a.first_offset)
                for pid, p in model.producers.items()
                for a in p.accepted
            )
            assert sorted(stored(log)) == expected_log
        finally:
            log.close()
