"""Simulated power loss: what was fsynced survives, the rest may go, and what is served stays a consistent prefix.

SIGKILL keeps the page cache, so the broker here runs under `powerloss_launcher.py`, which journals every fsync
(and truncation, and inode removal) the broker makes. After SIGKILL, `simulate_power_loss` cuts every file in the
data dir to the length it had at its last fsync, optionally leaving a torn tail (zeros, garbage, or a prefix of
the lost bytes cut anywhere): the model is in the launcher's docstring (file data is lost unless fsynced;
namespace operations are durable at once, as in LazyFS). The broker is then restarted normally, and checked with
confluent-kafka (`check.crcs=true`):

- `log.flush.interval.messages=1`: the append fsyncs before the produce is acknowledged, so every acknowledged
  record is still there (Kafka's `flush.messages`), and each segment file was covered by an fsync of its partition
  folder (Kafka's LocalLog.flush rule for new segments);
- default lazy flushing (rolled segments flushed by the background flusher, recovery points checkpointed): every
  record below the last flush point observed in the journal is there, later ones may be gone, and the log is a
  contiguous prefix of what was produced from offset 0, with ListOffsets latest equal to the records served and
  new produces continuing at that offset.

See ../shared/notes/reliability.md section 2.3, "lose un-fsynced writes".
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from it_support import BrokerProcess, ck_create_topic, ck_produce, ck_watermarks, wait_for
from powerloss_launcher import LostBytes, read_journal, simulate_power_loss

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LAUNCHER = Path(__file__).with_name("powerloss_launcher.py")
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"


class ShimmedBroker(BrokerProcess):
    """A broker process started under the fsync journal (`powerloss_launcher.py`) while `shim` is True."""

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None) -> None:
        super().__init__(workdir, overrides, metrics=False)
        self.journal = workdir / "fsync-journal.jsonl"
        self.shim = True

    def _command(self) -> list[str]:
        cmd = super()._command()
        if not self.shim:
            return cmd
        assert cmd[1:3] == ["-m", "odradek.broker"], cmd
        return [cmd[0], str(LAUNCHER), "--journal", str(self.journal), *cmd[3:]]

    def power_loss(self, torn: str | None, seed: int = 0) -> list[LostBytes]:
        """SIGKILL, then keep only what was fsynced (see the launcher). Later starts run without the shim."""
        self.kill()
        lost = simulate_power_loss(self.log_dir, self.journal, torn, random.Random(seed))
        self.shim = False
        return lost


@pytest.fixture
def shimmed_factory(tmp_path: Path) -> Iterator[Callable[..., ShimmedBroker]]:
    started: list[ShimmedBroker] = []

    def make(overrides: dict[str, str] | None = None) -> ShimmedBroker:
        proc = ShimmedBroker(tmp_path / f"broker{len(started)}", overrides)
        started.append(proc)
        proc.start()
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


def _read_all(bootstrap: str, topic: str, partition: int, end: int, timeout: float = 15.0) -> list[Any]:
    """Every record in [0, end) with CRC checks on; fails on any consumer error (a CRC error included)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"pl-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "check.crcs": True,
        }
    )
    out: list[Any] = []
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        deadline = time.monotonic() + timeout
        at_eof = False
        while not (at_eof and len(out) >= end) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == -191:  # _PARTITION_EOF
                    at_eof = True
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            at_eof = False
            out.append(msg)
    finally:
        consumer.close()
    assert len(out) == end, f"read {len(out)} records of {topic}[{partition}], the log end offset is {end}"
    return out


def _check_prefix(broker: BrokerProcess, topic: str, partition: int, sent: list[bytes]) -> int:
    """The partition holds exactly sent[:n] at offsets 0..n-1 (n = ListOffsets latest) and takes new records at
    n. Returns n."""
    low, high = ck_watermarks(broker.bootstrap, topic, partition)
    assert low == 0
    assert 0 <= high <= len(sent), f"log end offset {high}, only {len(sent)} records were ever sent"
    got = _read_all(broker.bootstrap, topic, partition, high)
    assert [m.offset() for m in got] == list(range(high)), "offsets are not contiguous from 0"
    bad = [m.offset() for m in got if m.value() != sent[m.offset()]]
    assert not bad, f"records served that were not produced at those offsets: {bad[:5]}"
    [(_, offset, _)] = ck_produce(broker.bootstrap, topic, [b"after-power-loss"], partition=partition)
    assert offset == high
    assert ck_watermarks(broker.bootstrap, topic, partition) == (0, high + 1)
    return high


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.log"))


# -- (a) flush.messages=1: every acknowledged record survives -------------------------------------------------


@pytest.mark.parametrize("torn", [None, "garbage", "partial"])
def test_flush_every_message_keeps_every_acknowledged_record(shimmed_factory: Any, torn: str | None) -> None:
    broker: ShimmedBroker = shimmed_factory({"log.flush.interval.messages": "1"})
    topic = "pl-flush-each"
    partitions = 2
    ck_create_topic(broker.bootstrap, topic, partitions=partitions)
    sent: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    acked: dict[int, dict[int, bytes]] = {p: {} for p in range(partitions)}
    failed: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acked[msg.partition()][msg.offset()] = msg.value()
        else:
            failed.append(err)

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 2,
            "enable.idempotence": False,
            "retries": 0,
            "message.timeout.ms": 5000,
        }
    )
    rng = random.Random(5)
    deadline = time.monotonic() + 30
    killed = False
    for i in range(4000):
        p = i % partitions
        value = f"a-{i:05d}-".encode() + rng.randbytes(rng.randint(10, 200))
        sent[p].append(value)
        producer.produce(topic, value=value, partition=p, on_delivery=on_delivery)
        producer.poll(0)
        if i % 100 == 99:
            producer.poll(0.02)
        if sum(map(len, acked.values())) >= 1000:  # kill with records still in flight
            lost = broker.power_loss(torn, seed=i)
            killed = True
            break
        assert time.monotonic() < deadline, "producing took too long"
    if not killed:
        assert producer.flush(15) == 0
        lost = broker.power_loss(torn)
    producer.purge()
    producer.flush(5)
    total_acked = sum(map(len, acked.values()))
    assert total_acked >= 1000, f"only {total_acked} acknowledged before the power loss"

    # The shim saw the log being fsynced, and the segment files were made durable in their folders.
    journal = read_journal(broker.journal)
    for p in range(partitions):
        folder = broker.partition_dir(topic, p)
        names = {Path(r["path"]).name for r in journal.fsyncs if Path(r["path"]).parent == folder}
        assert any(n.endswith(".log") for n in names), f"{folder.name}: no segment was ever fsynced"
        segments = {s.name for s in _segments(folder)}
        missing = segments - journal.synced_entries(folder)
        assert not missing, f"{folder.name}: no fsync of the folder covered {sorted(missing)}"
    print(f"{total_acked} acknowledged; power loss cut {[(x.path.name, x.size_before, x.size_after) for x in lost]}")

    broker.restart()
    for p in range(partitions):
        if not acked[p]:
            continue
        stored = _check_prefix(broker, topic, p, sent[p])
        last = max(acked[p])
        assert stored > last, f"partition {p}: log end offset {stored}, last acknowledged offset {last}"
        changed = [off for off, value in acked[p].items() if sent[p][off] != value]
        assert not changed, f"partition {p}: acknowledged offsets do not match the send order: {changed[:5]}"
    assert broker.stop() == 0


# -- (b) lazy flushing: a consistent prefix up to at least the last flush -------------------------------------


def _produce_batches(bootstrap: str, topic: str, batches: int, per_batch: int, tag: str) -> list[bytes]:
    values: list[bytes] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 50})
    rng = random.Random(tag)
    for b in range(batches):
        for i in range(per_batch):
            value = f"{tag}{b}-{i}-".encode() + rng.randbytes(80)
            values.append(value)
            producer.produce(topic, value=value, partition=0)
        assert producer.flush(15) == 0
    return values


def _checkpointed_recovery_point(log_dir: Path, topic: str) -> int:
    try:
        lines = (log_dir / RECOVERY_POINT_CHECKPOINT).read_text().splitlines()
    except FileNotFoundError:
        return -1
    for line in lines[2:]:
        fields = line.split()
        if len(fields) == 3 and fields[0] == topic and fields[1] == "0":
            return int(fields[2])
    return -1


@pytest.mark.parametrize("torn", [None, "zeros", "garbage", "partial"])
def test_lazy_flush_keeps_a_consistent_prefix_up_to_the_last_flush(shimmed_factory: Any, torn: str | None) -> None:
    broker: ShimmedBroker = shimmed_factory({"log.flush.offset.checkpoint.interval.ms": "200"})
    topic = "pl-lazy"
    ck_create_topic(broker.bootstrap, topic, config={"segment.bytes": "8192"})
    folder = broker.partition_dir(topic)

    # A: enough to roll several segments. The background flusher fsyncs each rolled segment (nothing else: the
    # topic has no flush.messages / flush.ms), and the recovery point is checkpointed.
    sent = _produce_batches(broker.bootstrap, topic, batches=30, per_batch=10, tag="A")
    assert len(_segments(folder)) >= 3

    def flushed_up_to() -> int | None:
        """The base offset of the active segment once every earlier segment is fsynced whole, and checkpointed."""
        *sealed, active = _segments(folder)
        journal = read_journal(broker.journal)
        for segment in sealed:
            if journal.synced_size(segment) != segment.stat().st_size:
                return None
        flushed = int(active.name.split(".")[0])
        return flushed if _checkpointed_recovery_point(broker.log_dir, topic) >= flushed else None

    flush_point = wait_for(flushed_up_to, timeout=10, what="the rolled segments fsynced and checkpointed")
    assert 0 < flush_point < len(sent)

    # B: acknowledged, not flushed (unless the flusher runs in the few ms before the kill; the checks below only
    # rely on the flush point). B rolls one more segment: a power loss then takes the unflushed rolled segment's
    # data while the next segment's file survives, which must not leave a hole in the offsets.
    segments_before = len(_segments(folder))
    for b in range(10):
        sent += _produce_batches(broker.bootstrap, topic, batches=1, per_batch=10, tag=f"B{b}-")
        if len(_segments(folder)) > segments_before:
            break
    assert len(_segments(folder)) > segments_before, "B did not roll a segment"
    sent += _produce_batches(broker.bootstrap, topic, batches=1, per_batch=10, tag="C")
    assert ck_watermarks(broker.bootstrap, topic) == (0, len(sent))
    lost = broker.power_loss(torn, seed=len(sent))
    lost_segments = [x for x in lost if x.path.parent == folder and x.path.suffix == ".log"]
    assert lost_segments, "the power loss took nothing from the segments: the test would prove nothing"
    print(f"flush point {flush_point}, {len(sent)} sent; cut {[(x.path.name, x.durable, x.size_after) for x in lost]}")

    broker.restart()
    served = _check_prefix(broker, topic, 0, sent)
    assert served >= flush_point, f"only {served} records after the power loss, {flush_point} were flushed"
    if torn in (None, "zeros", "garbage"):
        # Nothing after the durable prefix can pass a CRC check, so exactly the fsynced batches remain.
        assert served < len(sent)
    if torn in ("zeros", "garbage"):
        assert "Corruption found in" in broker.output()
    assert broker.stop() == 0
