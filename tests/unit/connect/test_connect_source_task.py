"""WorkerSourceTask with a fake confluent-kafka Producer (no broker): offsets written only after delivery,
delivery failures failing the task (errors.tolerance=none) or skipped (all), SMTs dropping records."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from odradek.connect.api.connector import SourceTask
from odradek.connect.api.data import STRING_SCHEMA
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.connector import build_transformation_chain
from odradek.connect.converters.simple import SimpleHeaderConverter, StringConverter
from odradek.connect.plugins import Plugins
from odradek.connect.runtime.errors import RetryWithToleranceOperator
from odradek.connect.runtime.offsets import FileOffsetBackingStore, OffsetStorageReaderImpl
from odradek.connect.runtime.source_task import WorkerSourceTask
from odradek.connect.runtime.states import ConnectorTaskId, StatusEvent, TargetState
from odradek.connect.runtime.worker_task import TaskSetup
from odradek.connect.transforms.base import TransformationChain

TIMEOUT_S = 10.0


class FakeError:
    def str(self) -> str:
        return "Broker: Message size too large"

    def __str__(self) -> str:
        return self.str()


class FakeMsg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class FakeProducer:
    instances: list[FakeProducer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.pending: list[tuple[str, Any]] = []
        self.sent: list[tuple[str, bytes | None]] = []
        self.deliver = threading.Event()
        self.fail = False
        FakeProducer.instances.append(self)

    def produce(
        self,
        topic: str,
        key: Any = None,
        value: Any = None,
        headers: Any = None,
        on_delivery: Any = None,
        **kwargs: Any,
    ) -> None:
        self.sent.append((topic, value))
        self.pending.append((topic, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        if not self.deliver.is_set():
            return 0
        done, self.pending = self.pending, []
        for topic, callback in done:
            callback(FakeError() if self.fail else None, FakeMsg(topic))
        return len(done)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return len(self.pending)


class CountingSource(SourceTask):
    def __init__(self, batches: int = 1) -> None:
        self.batches = batches
        self.polls = 0
        self.committed: list[Any] = []

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def poll(self) -> list[SourceRecord] | None:
        self.polls += 1
        if self.polls > self.batches:
            time.sleep(0.01)
            return None
        return [
            SourceRecord(
                "out",
                None,
                None,
                None,
                STRING_SCHEMA,
                f"r{self.polls}-{i}",
                source_partition={"p": 1},
                source_offset={"n": self.polls * 10 + i},
            )
            for i in range(3)
        ]

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        self.committed.append((record.value, metadata))

    def stop(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeProducer.instances.clear()
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    yield


def make_task(
    tmp_path: Path, source: SourceTask, tolerate: bool = False, chain: TransformationChain | None = None
) -> tuple[WorkerSourceTask, FileOffsetBackingStore, list[Any]]:
    events: list[Any] = []
    store = FileOffsetBackingStore(tmp_path / "offsets.json")
    setup = TaskSetup(
        ConnectorTaskId("src", 0),
        {},
        {},
        StringConverter(),
        StringConverter(),
        SimpleHeaderConverter(),
        chain or TransformationChain(),
        RetryWithToleranceOperator(0, 100, tolerate, []),
        {},
        50,
        1000,
        lambda tid, event, trace: events.append((event, trace)),
        lambda topic: None,
    )
    return WorkerSourceTask(setup, TargetState.STARTED, source, store), store, events


def wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def stored(store: FileOffsetBackingStore) -> dict[str, Any] | None:
    return OffsetStorageReaderImpl(store, "src").offset({"p": 1})


def test_offsets_are_written_only_after_delivery(tmp_path: Path) -> None:
    source = CountingSource()
    task, store, events = make_task(tmp_path, source)
    task.start()
    wait(lambda: FakeProducer.instances and len(FakeProducer.instances[-1].sent) == 3, "records sent")
    time.sleep(0.2)  # several flush intervals pass with nothing acknowledged
    assert stored(store) is None and source.committed == []
    FakeProducer.instances[-1].deliver.set()
    wait(lambda: stored(store) == {"n": 12}, "offset of the last acknowledged record")
    assert [value for value, _ in source.committed] == ["r1-0", "r1-1", "r1-2"]
    task.stop()
    assert task.await_stop(TIMEOUT_S)
    producer = FakeProducer.instances[-1]
    assert producer.config["acks"] == "all" and producer.config["client.id"] == "connector-producer-src-0"
    assert [e for e, _ in events] == [StatusEvent.STARTUP, StatusEvent.SHUTDOWN]


def test_delivery_failure_fails_the_task_without_committing(tmp_path: Path) -> None:
    task, store, events = make_task(tmp_path, CountingSource())
    task.start()
    wait(lambda: FakeProducer.instances and FakeProducer.instances[-1].sent, "sent")
    FakeProducer.instances[-1].fail = True
    FakeProducer.instances[-1].deliver.set()
    assert task.await_stop(TIMEOUT_S)
    event, trace = events[-1]
    assert event is StatusEvent.FAILURE
    assert "Unrecoverable exception from producer send callback: Broker: Message size too large" in trace
    assert stored(store) is None


def test_delivery_failure_tolerated_skips_and_commits(tmp_path: Path) -> None:
    task, store, _ = make_task(tmp_path, CountingSource(), tolerate=True)
    task.start()
    wait(lambda: FakeProducer.instances and FakeProducer.instances[-1].sent, "sent")
    FakeProducer.instances[-1].fail = True
    FakeProducer.instances[-1].deliver.set()
    wait(lambda: stored(store) == {"n": 12}, "skipped records committed")
    task.stop()
    assert task.await_stop(TIMEOUT_S)


def test_records_dropped_by_an_smt_count_as_done(tmp_path: Path) -> None:
    chain = build_transformation_chain(
        Plugins(entry_points=False), {"transforms": "drop", "transforms.drop.type": "Filter"}
    )
    source = CountingSource()
    task, store, _ = make_task(tmp_path, source, chain=chain)
    task.start()
    wait(lambda: stored(store) == {"n": 12}, "dropped records committed")
    assert FakeProducer.instances[-1].sent == []
    assert [metadata for _, metadata in source.committed] == [None, None, None]
    task.stop()
    assert task.await_stop(TIMEOUT_S)


class PartitionHopper(SourceTask):
    """Records of partitions {"p": 1}, {"p": 2}, {"p": 1}, then a batch of one dict object changed in place
    ({"p": 3}) after an earlier batch of it ({"p": 4}) was sent: each offset must land under its own partition."""

    def __init__(self) -> None:
        self.polls = 0
        self.shared: dict[str, Any] = {"p": 4}

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def record(self, partition: dict[str, Any], n: int) -> SourceRecord:
        return SourceRecord("out", None, None, None, STRING_SCHEMA, f"v{n}", source_partition=partition,
                            source_offset={"n": n})  # fmt: skip

    def poll(self) -> list[SourceRecord] | None:
        self.polls += 1
        if self.polls == 1:
            return [self.record({"p": 1}, 1), self.record({"p": 2}, 2), self.record({"p": 1}, 3)]
        if self.polls == 2:
            return [self.record(self.shared, 4)]
        if self.polls == 3:
            self.shared["p"] = 3  # the same dict, now another partition
            return [self.record(self.shared, 5)]
        time.sleep(0.01)
        return None

    def stop(self) -> None:
        pass


def test_offsets_of_interleaved_and_reused_partitions_are_kept_apart(tmp_path: Path) -> None:
    source = PartitionHopper()
    task, store, _ = make_task(tmp_path, source)
    task.start()
    wait(lambda: FakeProducer.instances and len(FakeProducer.instances[-1].sent) == 5, "records sent")
    FakeProducer.instances[-1].deliver.set()
    reader = OffsetStorageReaderImpl(store, "src")
    wait(lambda: reader.offset({"p": 3}) is not None, "offsets written")
    task.stop()
    assert task.await_stop(TIMEOUT_S)
    assert [reader.offset({"p": p}) for p in (1, 2, 3, 4)] == [{"n": 3}, {"n": 2}, {"n": 5}, {"n": 4}]


def test_source_task_producers_partition_keys_as_kafka_connects_java_producer(tmp_path: Path) -> None:
    """Every source task's producer uses Java's default partitioner (librdkafka's `murmur2_random`), so a keyed
    record lands where Kafka Connect would put it, with exactly-once on or off; a worker's `producer.*` still wins."""
    task, _, _ = make_task(tmp_path, CountingSource())
    assert task.producer_config()["partitioner"] == "murmur2_random"
    task.setup = dataclasses.replace(task.setup, client_config={"partitioner": "consistent_random"})
    assert task.producer_config()["partitioner"] == "consistent_random"
