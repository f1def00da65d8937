"""The tasks without clusters: record conversion and offset sync emission of MirrorSourceTask, checkpoint selection
of MirrorCheckpointTask, heartbeat records (fake clients in place of confluent-kafka)."""

from __future__ import annotations

from typing import Any

import pytest
from odradek.mirror import checkpoint as checkpoint_module
from odradek.mirror.checkpoint import MirrorCheckpointTask, OffsetSyncReader
from odradek.mirror.config import MirrorConfig
from odradek.mirror.formats import Checkpoint, Heartbeat, OffsetSync
from odradek.mirror.heartbeat import MirrorHeartbeatTask
from odradek.mirror.offsets import OffsetSyncStore
from odradek.mirror.source import MirrorSourceTask, should_replicate_topic

BASE = {"source.cluster.alias": "A", "target.cluster.alias": "B", "offset.lag.max": "3"}


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, ts: int = 1000) -> None:
        self._t, self._p, self._o, self._ts = topic, partition, offset, ts

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes:
        return b"k%d" % self._o

    def value(self) -> bytes:
        return b"v%d" % self._o

    def headers(self) -> list[tuple[str, bytes | None]]:
        return [("h", b"1"), ("h", None)]

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def error(self) -> None:
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[OffsetSync] = []

    def produce(self, topic: str, key: bytes, value: bytes, partition: int, on_delivery: Any) -> None:
        assert topic == "mm2-offset-syncs.B.internal" and partition == 0
        self.sent.append(OffsetSync.deserialize(key, value))
        on_delivery(None, None)

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0


def source_task() -> tuple[MirrorSourceTask, FakeProducer]:
    task = MirrorSourceTask()
    task.mirror = MirrorConfig.parse(BASE)
    producer = FakeProducer()
    task.sync_producer = producer
    return task, producer


def test_convert_keeps_key_value_headers_timestamp_and_partition() -> None:
    task, _ = source_task()
    record = task.convert(FakeMessage("orders", 2, 41, ts=1234))
    assert (record.topic, record.kafka_partition, record.key, record.value, record.timestamp) == (
        "A.orders",
        2,
        b"k41",
        b"v41",
        1234,
    )
    assert [(h.key, h.value) for h in record.headers] == [("h", b"1"), ("h", None)]
    assert record.source_partition == {"cluster": "A", "topic": "orders", "partition": 2}
    assert record.source_offset == {"offset": 41}


def test_offset_syncs_sent_when_due_and_delayed_ones_at_commit() -> None:
    task, producer = source_task()
    for upstream in range(0, 6):
        record = task.convert(FakeMessage("orders", 0, upstream))
        task.commit_record(record, FakeMessage("A.orders", 0, upstream + 100))
    # offset.lag.max=3: the first record, then when the downstream is 3 past the last sync + 1.
    assert [(s.upstream_offset, s.downstream_offset) for s in producer.sent] == [(0, 100), (4, 104)]
    task.commit()
    assert (producer.sent[-1].upstream_offset, producer.sent[-1].downstream_offset) == (5, 105)
    task.commit()
    assert len(producer.sent) == 3  # nothing new to send
    task.commit_record(task.convert(FakeMessage("orders", 0, 6)), None)  # dropped record: no sync
    assert len(producer.sent) == 3


class DeferredProducer(FakeProducer):
    """Delivery reports wait for poll(), as librdkafka's do; counts the polls."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[Any] = []
        self.polls = 0

    def produce(self, topic: str, key: bytes, value: bytes, partition: int, on_delivery: Any) -> None:
        super().produce(topic, key, value, partition, lambda err, msg: self.reports.append(on_delivery))

    def poll(self, _timeout: float) -> int:
        self.polls += 1
        done, self.reports = self.reports, []
        for report in done:
            report(None, None)
        return len(done)


def test_offset_sync_reports_are_served_without_a_poll_per_record() -> None:
    task = MirrorSourceTask()
    task.mirror = MirrorConfig.parse({**BASE, "offset.lag.max": "1"})
    task.sync_producer = producer = DeferredProducer()
    for upstream in range(40):
        task.commit_record(task.convert(FakeMessage("orders", 0, upstream)), FakeMessage("A.orders", 0, upstream))
    # A sync every second record (offset.lag.max=1): each is sent, with one poll after it, none for the others.
    assert [s.upstream_offset for s in producer.sent] == list(range(0, 40, 2))
    assert producer.polls == len(producer.sent) and task.outstanding == 0
    task.commit()  # the last record's delayed sync, and every report served
    assert producer.sent[-1].upstream_offset == 39 and task.outstanding == 0


def test_topics_replicated_exclude_internal_and_cycles() -> None:
    config = MirrorConfig.parse(BASE)
    assert should_replicate_topic(config, "orders")
    assert should_replicate_topic(config, "heartbeats")
    assert should_replicate_topic(config, "C.heartbeats")
    assert not should_replicate_topic(config, "B.orders")  # came from the target
    assert not should_replicate_topic(config, "mm2-offset-syncs.A.internal")
    assert not should_replicate_topic(config, "__consumer_offsets")
    assert not should_replicate_topic(MirrorConfig.parse({**BASE, "topics": "pay.*"}), "orders")


def test_checkpoints_for_group(monkeypatch: pytest.MonkeyPatch) -> None:
    store = OffsetSyncStore()
    store.read_to_end_done()
    store.handle(OffsetSync("orders", 0, 10, 110))
    committed = {("orders", 0): (15, "m"), ("orders", 1): (3, ""), ("other", 0): (5, "")}
    monkeypatch.setattr(checkpoint_module, "committed_offsets", lambda _admin, _group: committed)
    task = MirrorCheckpointTask()
    task.mirror = MirrorConfig.parse({**BASE, "topics": "orders"})
    task.reader = OffsetSyncReader({}, "mm2-offset-syncs.B.internal", store)
    assert task.checkpoints_for_group("g") == [Checkpoint("g", "A.orders", 0, 15, 111, "m")]
    assert task.checkpoints_for_group("g") == []  # unchanged: not emitted again
    committed[("orders", 0)] = (9, "")  # behind the only sync: cannot translate, nothing emitted
    assert task.checkpoints_for_group("g") == []
    assert task.checkpoints["g"][("A.orders", 0)].downstream_offset == 111


def test_heartbeat_record() -> None:
    task = MirrorHeartbeatTask()
    task.start(dict(BASE))
    records = task.poll() or []
    assert len(records) == 1 and records[0].topic == "heartbeats" and records[0].kafka_partition == 0
    heartbeat = Heartbeat.deserialize(records[0].key, records[0].value)
    assert (heartbeat.source_alias, heartbeat.target_alias) == ("A", "B")
    assert task.poll() is None  # not due again before emit.heartbeats.interval.seconds


class FakeFuture:
    def result(self, timeout: float) -> None:
        return None


class FakeTargetAdmin:
    def __init__(self) -> None:
        self.altered: dict[str, list[tuple[str, int, int]]] = {}

    def alter_consumer_group_offsets(self, request: list[Any], request_timeout: float) -> dict[str, FakeFuture]:
        for item in request:
            self.altered[item.group_id] = [(tp.topic, tp.partition, tp.offset) for tp in item.topic_partitions]
        return {item.group_id: FakeFuture() for item in request}


def test_group_offsets_synced_into_empty_or_absent_groups_only_forwards(monkeypatch: pytest.MonkeyPatch) -> None:
    states = {"empty": "EMPTY", "busy": "STABLE"}
    target_committed = {"empty": {("A.t", 0): (50, ""), ("A.t", 1): (5, "")}}
    monkeypatch.setattr(checkpoint_module, "list_groups", lambda _admin: list(states.items()))
    monkeypatch.setattr(checkpoint_module, "committed_offsets", lambda _admin, g: target_committed.get(g, {}))
    monkeypatch.setattr(checkpoint_module.admin, "partition_counts", lambda _admin: {"A.t": 2})
    task = MirrorCheckpointTask()
    task.target_admin = FakeTargetAdmin()
    for group in ("empty", "busy", "absent"):
        task.checkpoints[group] = {
            ("A.t", 0): Checkpoint(group, "A.t", 0, 100, 40),
            ("A.t", 1): Checkpoint(group, "A.t", 1, 100, 40),
            ("A.t", 7): Checkpoint(group, "A.t", 7, 100, 40),  # no such partition on the target
        }
    task.sync_group_offsets()
    assert task.target_admin.altered == {
        "empty": [("A.t", 1, 40)],  # partition 0 is at 50 on the target: never moved back to 40
        "absent": [("A.t", 0, 40), ("A.t", 1, 40)],
    }  # "busy" has members: left alone


@pytest.mark.parametrize(
    ("next_offset", "low", "high", "offset", "reported"),
    [
        (10, 0, 20, 10, False),  # inside
        (20, 0, 20, 20, False),  # at the end: nothing new yet
        (10, 10, 20, 10, False),  # exactly at the log start
        (5, 10, 20, 10, True),  # retention deleted 5..9 before they were copied
        (30, 0, 20, -2, True),  # the partition is shorter than what was copied: re-created
    ],
)
def test_resume_decision(next_offset: int, low: int, high: int, offset: int, reported: bool) -> None:
    from odradek.mirror.source import resume_decision

    decision = resume_decision(next_offset, low, high)
    assert decision.offset == offset
    assert (decision.gap is not None) is reported


class FakeConsumer:
    """Messages librdkafka already fetched; records how long each call was allowed to wait."""

    def __init__(self, messages: list[FakeMessage]) -> None:
        self.queue = list(messages)
        self.waits: list[tuple[str, float]] = []

    def poll(self, timeout: float) -> FakeMessage | None:
        self.waits.append(("poll", timeout))
        return self.queue.pop(0) if self.queue else None

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.waits.append(("consume", timeout))
        if timeout > 0 and len(self.queue) < num_messages:
            raise AssertionError("consume(n, timeout) would wait for n records")
        out, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return out


def test_poll_returns_what_was_fetched_without_waiting_for_a_full_batch() -> None:
    task, _ = source_task()
    task.consumer = FakeConsumer([FakeMessage("orders", 0, offset) for offset in range(3)])
    records = task.poll() or []
    assert [r.source_offset for r in records] == [{"offset": 0}, {"offset": 1}, {"offset": 2}]
    assert task.consumer.waits == [("poll", 1.0), ("consume", 0)]  # consumer.poll.timeout.ms for the first only
    assert task.poll() == []  # nothing fetched: one bounded wait
    assert task.consumer.waits[-1] == ("poll", 1.0)
