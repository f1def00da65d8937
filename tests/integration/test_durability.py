"""Durability with real processes: SIGKILL keeps every acknowledged record; a torn or corrupt tail, or a corrupt
batch in the middle of the log, is truncated at the last intact batch on restart (later segments deleted); a
corrupt batch below the recovery point is not rescanned (as in Kafka; the client's CRC check catches it); SIGTERM
exits 0 and leaves `.kafka_cleanshutdown`. Power loss is in test_power_loss.py.

Each test starts its own broker (function scope) so it can kill it and edit its files. The segment edits follow
../shared/notes/reliability.md section 2.3 (a) to (d).
"""

from __future__ import annotations

import random
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_produce, ck_watermarks, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SEGMENT = "00000000000000000000.log"
CLEAN_SHUTDOWN = ".kafka_cleanshutdown"


def _batches(segment: Path) -> list[tuple[int, int, int, int]]:
    """(position, size, base offset, record count) of each whole batch header chain in a segment file."""
    data = segment.read_bytes()
    out = []
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        size = 12 + length
        if length < 49 or pos + size > len(data):
            break
        (count,) = struct.unpack_from(">i", data, pos + 57)
        out.append((pos, size, base, count))
        pos += size
    return out


def _produce_batches(bootstrap: str, topic: str, batches: int, per_batch: int) -> list[bytes]:
    """`batches` separate batches (flush after each) to partition 0; returns every value in offset order."""
    values: list[bytes] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 50})
    for b in range(batches):
        for i in range(per_batch):
            value = f"b{b}-r{i}-".encode() + bytes(random.Random(b * 1000 + i).randbytes(40))
            values.append(value)
            producer.produce(topic, value=value, partition=0)
        assert producer.flush(15) == 0
    return values


def test_acknowledged_records_survive_sigkill(broker_factory: Any) -> None:
    broker: BrokerProcess = broker_factory()
    topic = "durable"
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    acked: list[tuple[int, int, bytes]] = []
    failed: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            failed.append(err)

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 2,
            "enable.idempotence": False,
            "message.timeout.ms": 5000,
            "retries": 0,
        }
    )
    total = 6000
    killed_at = None
    deadline = time.monotonic() + 60
    for i in range(total):
        producer.produce(topic, value=f"rec-{i:06d}".encode(), partition=i % 3, on_delivery=on_delivery)
        producer.poll(0)
        if i % 200 == 199:
            producer.poll(0.05)
        # Kill while records are in flight, once a good share has been acknowledged.
        if killed_at is None and len(acked) >= 2000:
            broker.kill()
            killed_at = i
        assert time.monotonic() < deadline
        if killed_at is not None:
            break
    if killed_at is None:  # everything went out before 2000 acks arrived: flush, then kill
        producer.flush(15)
        broker.kill()
    producer.purge()
    producer.flush(10)
    assert len(acked) >= 2000, f"only {len(acked)} acknowledged before the kill"
    print(f"killed after {killed_at} sends, {len(acked)} acked, {len(failed)} failed")

    broker.restart()
    by_partition: dict[int, dict[int, bytes]] = {0: {}, 1: {}, 2: {}}
    for p, off, value in acked:
        by_partition[p][off] = value
    for p, expected in by_partition.items():
        if not expected:
            continue
        last = max(expected)
        low, high = ck_watermarks(broker.bootstrap, topic, p)
        assert low == 0 and high > last, f"partition {p}: log end {high}, last acknowledged offset {last}"
        stored = {m.offset(): m.value() for m in ck_consume(broker.bootstrap, topic, last + 1, partition=p)}
        missing = [off for off, v in expected.items() if stored.get(off) != v]
        assert not missing, f"partition {p}: {len(missing)} acknowledged records lost or changed, e.g. {missing[:5]}"

    # The restarted broker takes writes after what it recovered.
    [(p, off, _)] = ck_produce(broker.bootstrap, topic, [b"after-restart"], partition=0)
    assert off == ck_watermarks(broker.bootstrap, topic, 0)[1] - 1
    assert broker.stop() == 0


def _torn_tail_setup(broker_factory: Any) -> tuple[BrokerProcess, str, list[bytes], Path, tuple[int, int, int, int]]:
    broker: BrokerProcess = broker_factory()
    topic = "torn"
    ck_create_topic(broker.bootstrap, topic)
    values = _produce_batches(broker.bootstrap, topic, batches=6, per_batch=10)
    assert ck_watermarks(broker.bootstrap, topic) == (0, 60)
    broker.kill()
    segment = broker.partition_dir(topic) / SEGMENT
    batches = _batches(segment)
    assert [b[2] for b in batches] == [0, 10, 20, 30, 40, 50], batches
    assert batches[-1][0] + batches[-1][1] == segment.stat().st_size
    return broker, topic, values, segment, batches[-1]


def _check_recovered(broker: BrokerProcess, topic: str, values: list[bytes], end: int) -> None:
    broker.restart()
    assert ck_watermarks(broker.bootstrap, topic) == (0, end)
    got = ck_consume(broker.bootstrap, topic, end)
    assert [m.offset() for m in got] == list(range(end))
    assert [m.value() for m in got] == values[:end]
    acked = ck_produce(broker.bootstrap, topic, [b"new-1", b"new-2"])
    assert [off for _, off, _ in acked] == [end, end + 1]
    got = ck_consume(broker.bootstrap, topic, 2, offset=end)
    assert [m.value() for m in got] == [b"new-1", b"new-2"]
    # And it survives another unclean stop.
    broker.kill()
    broker.restart()
    assert ck_watermarks(broker.bootstrap, topic) == (0, end + 2)


def test_torn_tail_truncated_mid_batch(broker_factory: Any) -> None:
    broker, topic, values, segment, (pos, size, base, _) = _torn_tail_setup(broker_factory)
    cut = pos + random.Random(7).randint(1, size - 1)
    with open(segment, "r+b") as f:
        f.truncate(cut)
    _check_recovered(broker, topic, values, base)


def test_corrupt_byte_in_last_batch(broker_factory: Any) -> None:
    broker, topic, values, segment, (pos, size, base, _) = _torn_tail_setup(broker_factory)
    target = pos + random.Random(11).randint(21, size - 1)  # CRC-32C covers [21, end) of the batch
    data = bytearray(segment.read_bytes())
    data[target] ^= 0xFF
    segment.write_bytes(bytes(data))
    _check_recovered(broker, topic, values, base)


def test_zeros_appended_after_last_batch(broker_factory: Any) -> None:
    broker, topic, values, segment, _ = _torn_tail_setup(broker_factory)
    with open(segment, "ab") as f:
        f.write(b"\x00" * 4096)  # a preallocated page that never got data
    _check_recovered(broker, topic, values, 60)


def _all_batches(folder: Path) -> list[tuple[Path, tuple[int, int, int, int]]]:
    """(segment, (position, size, base offset, record count)) of every batch in a partition folder, in order."""
    return [(segment, batch) for segment in sorted(folder.glob("*.log")) for batch in _batches(segment)]


def _flip(segment: Path, position: int) -> None:
    data = bytearray(segment.read_bytes())
    data[position] ^= 0xFF
    segment.write_bytes(bytes(data))


def _consume_checked(bootstrap: str, topic: str, check_crcs: bool, end: int) -> tuple[dict[int, bytes], list[str]]:
    """Read [0, end) (bounded): the records delivered by offset and the consumer errors, as strings."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"crc-{random.random()}",
            "enable.auto.commit": False,
            "check.crcs": check_crcs,
        }
    )
    got: dict[int, bytes] = {}
    errors: list[str] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and (not got or max(got) < end - 1):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                errors.append(str(msg.error()))
                if len(errors) > 50:
                    break
                continue
            got[msg.offset()] = msg.value()
    finally:
        consumer.close()
    return got, errors


def test_corrupt_middle_batch_truncates_there_and_drops_later_segments(broker_factory: Any) -> None:
    """Section 2.3 (d): after an unclean stop recovery scans from the recovery point (0 here: no checkpoint has
    been written yet), truncates at the first batch whose CRC-32C fails and deletes every later segment, as
    Kafka's LogLoader; the records before it are served, nothing from it on, and appends continue there."""
    broker: BrokerProcess = broker_factory()
    topic = "middle"
    ck_create_topic(broker.bootstrap, topic, config={"segment.bytes": "2000"})
    values = _produce_batches(broker.bootstrap, topic, batches=12, per_batch=10)
    assert ck_watermarks(broker.bootstrap, topic) == (0, 120)
    broker.kill()
    folder = broker.partition_dir(topic)
    segments = sorted(folder.glob("*.log"))
    assert len(segments) >= 4, segments
    assert not (broker.log_dir / "recovery-point-offset-checkpoint").exists()
    # A batch in a middle segment, not its first: records before it in the same segment must stay.
    middle = segments[len(segments) // 2]
    batches = _batches(middle)
    assert len(batches) >= 2, batches
    pos, size, base, _ = batches[1]
    _flip(middle, pos + random.Random(3).randint(21, size - 1))  # CRC-32C covers [21, end) of the batch

    broker.restart()
    assert ck_watermarks(broker.bootstrap, topic) == (0, base)
    assert sorted(folder.glob("*.log")) == [s for s in segments if s <= middle], "later segments not deleted"
    assert f"Corruption found in segment {int(middle.name.split('.')[0])}" in broker.output()
    got = ck_consume(broker.bootstrap, topic, base, extra={"check.crcs": True})
    assert [m.offset() for m in got] == list(range(base))
    assert [m.value() for m in got] == values[:base]
    acked = ck_produce(broker.bootstrap, topic, [b"new-1", b"new-2"])
    assert [off for _, off, _ in acked] == [base, base + 1]
    got = ck_consume(broker.bootstrap, topic, 2, offset=base, extra={"check.crcs": True})
    assert [m.value() for m in got] == [b"new-1", b"new-2"]
    broker.kill()
    broker.restart()
    assert ck_watermarks(broker.bootstrap, topic) == (0, base + 2)


def test_corrupt_batch_below_the_recovery_point_is_not_rescanned(broker_factory: Any) -> None:
    """Data that was flushed (below the recovery point, or anything after a clean stop) is not verified again at
    start-up, as in Kafka, and fetches send segment bytes as they are (zero copy): a byte flipped there later
    (bit rot, an edit) reaches the client, whose CRC check (check.crcs) is what catches it. Forcing a full
    rescan (no clean-shutdown marker, no recovery-point checkpoint) truncates at that batch. docs/broker.md
    describes this."""
    broker: BrokerProcess = broker_factory()
    topic = "flushed"
    ck_create_topic(broker.bootstrap, topic, config={"segment.bytes": "2000"})
    values = _produce_batches(broker.bootstrap, topic, batches=8, per_batch=10)
    assert broker.stop() == 0  # clean: everything flushed, recovery point 80 checkpointed
    folder = broker.partition_dir(topic)
    segments = sorted(folder.glob("*.log"))
    assert len(segments) >= 3, segments
    first = segments[0]
    batches = _batches(first)
    assert len(batches) >= 2, batches
    pos, size, base, count = batches[1]
    # The last byte of a record is its header count (0); the one before is the last byte of its value.
    _flip(first, pos + size - 2)
    bad_offset = base + count - 1
    altered = bytearray(values[bad_offset])
    altered[-1] ^= 0xFF

    broker.restart()  # clean shutdown marker: no recovery at all
    assert ck_watermarks(broker.bootstrap, topic) == (0, 80)
    got, errors = _consume_checked(broker.bootstrap, topic, check_crcs=False, end=80)
    assert got.get(bad_offset) == bytes(altered), "the broker served the flipped byte; check.crcs=false takes it"
    got, errors = _consume_checked(broker.bootstrap, topic, check_crcs=True, end=80)
    assert any("crc" in e.lower() for e in errors), errors
    assert all(got[o] == values[o] for o in got), "a record failing its CRC check was delivered"
    assert not any(base <= o <= bad_offset for o in got)

    # Unclean stop: recovery starts at the segment holding the checkpointed recovery point (80), so the
    # corrupt batch in the first segment is still not looked at.
    broker.kill()
    broker.restart()
    assert "Corruption found" not in broker.output()
    assert ck_watermarks(broker.bootstrap, topic) == (0, 80)

    # A full rescan, forced by removing the marker and the recovery-point checkpoint, truncates there.
    assert broker.stop() == 0
    (broker.log_dir / CLEAN_SHUTDOWN).unlink()
    (broker.log_dir / "recovery-point-offset-checkpoint").unlink()
    broker.restart()
    assert ck_watermarks(broker.bootstrap, topic) == (0, base)
    assert sorted(folder.glob("*.log")) == [first]
    assert "Corruption found in segment 0" in broker.output()
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, base, extra={"check.crcs": True})] == values[:base]


def test_sigterm_exits_zero_and_writes_clean_shutdown_marker(broker_factory: Any) -> None:
    broker: BrokerProcess = broker_factory()
    topic = "clean"
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [b"a", b"b", b"c"])
    assert not (broker.log_dir / CLEAN_SHUTDOWN).exists()
    assert broker.stop() == 0
    assert (broker.log_dir / CLEAN_SHUTDOWN).exists()

    broker.restart()
    # Kafka removes the marker once the logs are loaded, so a later crash is not taken for a clean stop.
    wait_for(lambda: not (broker.log_dir / CLEAN_SHUTDOWN).exists(), timeout=10, what="marker removed")
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 3)] == [b"a", b"b", b"c"]
    assert broker.stop() == 0
    assert (broker.log_dir / CLEAN_SHUTDOWN).exists()


def test_sigterm_does_not_wait_for_idle_connections_or_parked_joins(broker_factory: Any) -> None:
    """An idle client connection and a JoinGroup parked in a rebalance must not hold the shutdown for
    shutdown.timeout.ms: idle connections are closed, the coordinator resigns (the join gets NOT_COORDINATOR)."""
    import time

    from confluent_kafka import Consumer, Producer

    broker: BrokerProcess = broker_factory({"group.initial.rebalance.delay.ms": "60000"})
    ck_create_topic(broker.bootstrap, "idle")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("idle", b"x")
    assert producer.flush(10) == 0  # the producer's connection stays open and idle
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "parked"})
    consumer.subscribe(["idle"])
    deadline = time.monotonic() + 10
    while "preparing to rebalance group parked" not in broker.output() and time.monotonic() < deadline:
        consumer.poll(0.1)  # the JoinGroup now waits for the 60 s initial rebalance delay
    assert "preparing to rebalance group parked" in broker.output()
    started = time.monotonic()
    try:
        assert broker.stop(timeout=10) == 0
    finally:
        consumer.close()
        del producer
    assert time.monotonic() - started < 5
