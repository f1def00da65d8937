"""WorkerSinkTask with a fake confluent-kafka Consumer (no broker): offsets committed only for batches put()
accepted, retriable puts redelivered, and a stop during retries committing nothing undelivered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import confluent_kafka
import pytest
from odradek.connect.api.connector import SinkTask
from odradek.connect.api.errors import RetriableException
from odradek.connect.api.records import SinkRecord
from odradek.connect.converters.simple import SimpleHeaderConverter, StringConverter
from odradek.connect.runtime.errors import RetryWithToleranceOperator
from odradek.connect.runtime.sink_task import WorkerSinkTask
from odradek.connect.runtime.states import ConnectorTaskId, StatusEvent, TargetState
from odradek.connect.runtime.worker_task import TaskSetup
from odradek.connect.transforms.base import TransformationChain

TIMEOUT_S = 10.0


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self._t, self._p, self._o, self._v = topic, partition, offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return self._v

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return 1, 1000


class FakeConsumer:
    """Delivers `messages` once, then nothing; records commits, pauses and seeks."""

    instances: list[FakeConsumer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.messages: list[FakeMessage] = []
        self.commits: list[list[tuple[str, int, int]]] = []
        self.paused: list[Any] = []
        self.closed = False
        self.on_assign: Any = None
        self.assigned = False
        FakeConsumer.instances.append(self)

    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None) -> None:
        self.topics, self.on_assign = topics, on_assign

    def consume(self, num_messages: int = 1, timeout: float = 1.0) -> list[FakeMessage]:
        if not self.assigned:
            self.assigned = True
            self.on_assign(self, [confluent_kafka.TopicPartition("t", 0)])
        out, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        if not out:
            time.sleep(min(timeout, 0.02))
        return out

    def commit(self, offsets: list[Any], asynchronous: bool = True) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def pause(self, partitions: list[Any]) -> None:
        self.paused.append([(p.topic, p.partition) for p in partitions])

    def resume(self, partitions: list[Any]) -> None:
        pass

    def seek(self, tp: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class RecordingSink(SinkTask):
    def __init__(self, retriable_failures: int = 0) -> None:
        self.failures_left = retriable_failures
        self.received: list[str] = []
        self.puts = 0

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        if records:
            self.puts += 1
        if records and self.failures_left:
            self.failures_left -= 1
            self.context.timeout(10)
            raise RetriableException("not now")
        self.received += [r.value for r in records]

    def stop(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fake_consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeConsumer.instances.clear()
    monkeypatch.setattr(confluent_kafka, "Consumer", FakeConsumer)
    yield


def make_task(
    sink: RecordingSink, messages: list[FakeMessage], client_config: dict[str, Any] | None = None
) -> tuple[WorkerSinkTask, list[Any]]:
    events: list[Any] = []
    key, value = StringConverter(), StringConverter()
    setup = TaskSetup(
        ConnectorTaskId("c", 0),
        {"topics": "t"},
        {},
        key,
        value,
        SimpleHeaderConverter(),
        TransformationChain(),
        RetryWithToleranceOperator(0, 100, False, []),
        dict(client_config or {}),
        60_000,
        1000,
        lambda tid, event, trace: events.append((event, trace)),
        lambda topic: None,
    )
    task = WorkerSinkTask(setup, TargetState.STARTED, sink)
    original_init = task.initialize_and_start

    def init() -> None:
        original_init()
        FakeConsumer.instances[-1].messages = list(messages)

    task.initialize_and_start = init  # type: ignore[method-assign]
    return task, events


def wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_records_put_then_offsets_committed_on_stop() -> None:
    sink = RecordingSink()
    task, events = make_task(sink, [FakeMessage("t", 0, i, f"v{i}".encode()) for i in range(3)])
    task.start()
    wait(lambda: sink.received == ["v0", "v1", "v2"], "records put")
    task.stop()
    assert task.await_stop(TIMEOUT_S)
    consumer = FakeConsumer.instances[-1]
    assert consumer.commits == [[("t", 0, 3)]] and consumer.closed
    assert consumer.config["group.id"] == "connect-c" and consumer.config["enable.auto.commit"] is False
    assert [e for e, _ in events] == [StatusEvent.STARTUP, StatusEvent.SHUTDOWN]


@pytest.mark.parametrize(("client_config", "backoff_ms"), [({}, 10), ({"fetch.queue.backoff.ms": 500}, 500)])
def test_consumer_refetches_soon_after_its_queue_was_full(client_config: dict[str, Any], backoff_ms: int) -> None:
    """librdkafka's default waits 1 s after its pre-fetch queue was full: a task slower than the fetches sat idle in
    consume() most of each second (100,000 records/s in bench/connect.py); the worker's settings still win."""
    task, _ = make_task(RecordingSink(), [], client_config)
    task.start()
    wait(lambda: FakeConsumer.instances and FakeConsumer.instances[-1].assigned, "consumer created")
    assert FakeConsumer.instances[-1].config["fetch.queue.backoff.ms"] == backoff_ms
    task.stop()
    assert task.await_stop(TIMEOUT_S)


def test_retriable_put_is_redelivered() -> None:
    sink = RecordingSink(retriable_failures=2)
    task, _ = make_task(sink, [FakeMessage("t", 0, 0, b"a"), FakeMessage("t", 0, 1, b"b")])
    task.start()
    wait(lambda: sink.received == ["a", "b"], "batch redelivered")
    assert sink.puts == 3
    assert FakeConsumer.instances[-1].paused  # paused while waiting to retry
    task.stop()
    assert task.await_stop(TIMEOUT_S)
    assert FakeConsumer.instances[-1].commits == [[("t", 0, 2)]]


def test_stop_during_retries_commits_nothing_undelivered() -> None:
    sink = RecordingSink(retriable_failures=10**6)
    task, _ = make_task(sink, [FakeMessage("t", 0, 0, b"a")])
    task.start()
    wait(lambda: sink.puts >= 2, "retrying")
    task.stop()
    assert task.await_stop(TIMEOUT_S)
    assert sink.received == [] and FakeConsumer.instances[-1].commits == []


def test_a_failing_put_fails_the_task_with_its_trace() -> None:
    class Broken(RecordingSink):
        def put(self, records: list[SinkRecord]) -> None:
            if records:
                raise ValueError("disk full")

    task, events = make_task(Broken(), [FakeMessage("t", 0, 0, b"a")])
    task.start()
    assert task.await_stop(TIMEOUT_S)
    event, trace = events[-1]
    assert event is StatusEvent.FAILURE
    assert "Exiting WorkerSinkTask due to unrecoverable exception." in trace and "ValueError: disk full" in trace
    assert FakeConsumer.instances[-1].commits == []


def test_paused_target_pauses_the_consumer() -> None:
    sink = RecordingSink()
    task, events = make_task(sink, [])
    task.start()
    wait(lambda: FakeConsumer.instances and FakeConsumer.instances[-1].assigned, "assigned")
    task.transition_to(TargetState.PAUSED)
    wait(lambda: FakeConsumer.instances[-1].paused, "consumer paused")
    assert StatusEvent.PAUSE in [e for e, _ in events]
    task.stop()
    assert task.await_stop(TIMEOUT_S)


def test_a_failed_task_stays_failed_when_paused() -> None:
    class Broken(RecordingSink):
        def put(self, records: list[SinkRecord]) -> None:
            if records:
                raise ValueError("disk full")

    task, events = make_task(Broken(), [FakeMessage("t", 0, 0, b"a")])
    task.start()
    assert task.await_stop(TIMEOUT_S)
    task.transition_to(TargetState.PAUSED)
    assert events[-1][0] is StatusEvent.FAILURE
