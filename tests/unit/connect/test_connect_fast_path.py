"""The sink and source tasks' fast paths (no operator per record when there are no transformations) give exactly
what the per-record path gives: records, offsets, failures counted, log/DLQ reports (DLQ records with Kafka's
context headers, stack traces included), the task failing at the same record under errors.tolerance=none; over
seeded random inputs with undecodable keys, values and headers. And the fast path is taken when it may be."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
from odradek.connect.api.data import OPTIONAL_BYTES_SCHEMA, OPTIONAL_STRING_SCHEMA
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import Header, SinkRecord, SourceRecord
from odradek.connect.converters.json import JsonConverter
from odradek.connect.converters.simple import ByteArrayConverter, SimpleHeaderConverter, StringConverter
from odradek.connect.runtime.errors import (
    DeadLetterQueueReporter,
    ErrorContext,
    RetryWithToleranceOperator,
    ToleranceExceeded,
)
from odradek.connect.runtime.offsets import FileOffsetBackingStore
from odradek.connect.runtime.sink_task import WorkerSinkTask
from odradek.connect.runtime.source_task import WorkerSourceTask
from odradek.connect.runtime.states import ConnectorTaskId, TargetState
from odradek.connect.runtime.worker_task import TaskSetup
from odradek.connect.transforms.base import TransformationChain, TransformationStage

SEEDS = range(12)
BAD_UTF8 = b"\xff\xfe"


class FakeMessage:
    """A confluent_kafka.Message as a sink task sees it."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None,
        timestamp: tuple[int, int],
    ) -> None:
        self._t, self._p, self._o, self._k, self._v, self._h, self._ts = (
            topic,
            partition,
            offset,
            key,
            value,
            headers,
            timestamp,
        )

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes | None:
        return self._v

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return None if self._h is None else list(self._h)

    def timestamp(self) -> tuple[int, int]:
        return self._ts


class RecordingProducer:
    """What the DLQ reporter (sink) or the task (source) produced; delivery callbacks run on poll()."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.callbacks: list[Any] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        callback = kwargs.pop("on_delivery", None)
        self.sent.append((topic, kwargs))
        if callback is not None:
            self.callbacks.append((topic, len(self.sent) - 1, callback))

    def poll(self, timeout: float = 0) -> int:
        done, self.callbacks = self.callbacks, []
        for topic, index, callback in done:
            callback(None, DeliveredMsg(topic, index))
        return len(done)

    def flush(self, timeout: float = 0) -> int:
        return self.poll()


class DeliveredMsg:
    def __init__(self, topic: str, offset: int) -> None:
        self._topic, self._offset = topic, offset

    def topic(self) -> str:
        return self._topic

    def offset(self) -> int:
        return self._offset

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeliveredMsg) and (self._topic, self._offset) == (other._topic, other._offset)

    def __hash__(self) -> int:
        return hash((self._topic, self._offset))


class RecordingReporter:
    def __init__(self) -> None:
        self.reports: list[tuple[Any, ...]] = []

    def report(self, context: ErrorContext) -> None:
        error = context.error
        cause = error.__cause__
        self.reports.append(
            (
                context.stage,
                context.executing_class,
                type(error).__name__,
                str(error),
                type(cause).__name__ if cause else None,
                context.consumed,
                context.source_record,
            )
        )

    def close(self) -> None:
        pass


def dlq_reporter() -> DeadLetterQueueReporter:
    reporter = DeadLetterQueueReporter("dlq", 1, True, {}, {})
    reporter.producer = RecordingProducer()  # _ensure() uses it: no admin client, no broker
    return reporter


def maybe_bad(rng: random.Random, text: str, bad: float) -> bytes | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.1 + bad:
        return BAD_UTF8 + text.encode()
    return text.encode()


def random_messages(rng: random.Random, n: int, bad: float) -> list[FakeMessage]:
    offsets = {("a", 0): 0, ("a", 1): 100, ("b", 0): 7}
    out = []
    for i in range(n):
        tp = rng.choice(sorted(offsets))
        offset = offsets[tp]
        offsets[tp] += 1
        headers = None
        if rng.random() < 0.4:
            headers = [(f"h{j}", maybe_bad(rng, rng.choice(["1", "true", "x", "2.5", "[1,2]"]), 0.0)) for j in range(2)]
        elif rng.random() < 0.1:
            headers = []
        value = maybe_bad(rng, json.dumps({"n": i, "s": "v" * rng.randrange(5)}), bad)
        if value is not None and rng.random() < bad / 2:
            value = b"{not json"  # decodes as text, fails as JSON
        ts = rng.choice([(0, -1), (1, 1000 + i), (2, 2000 + i)])
        out.append(FakeMessage(tp[0], tp[1], offset, maybe_bad(rng, f"k{i}", bad), value, headers, ts))
    return out


def sink_setup(
    value_converter: Any,
    tolerate: bool,
    reporters: list[Any],
    chain: TransformationChain,
    topics: set[str] | None = None,
) -> TaskSetup:
    return TaskSetup(
        ConnectorTaskId("c", 0),
        {"topics": "a,b", "errors.deadletterqueue.topic.name": "dlq"} if tolerate else {"topics": "a,b"},
        {},
        StringConverter(),
        value_converter,
        SimpleHeaderConverter(),
        chain,
        RetryWithToleranceOperator(0, 100, tolerate, reporters),
        {},
        60_000,
        1000,
        lambda tid, event, trace: None,
        (topics if topics is not None else set()).add,
    )


class ListSink:
    def __init__(self) -> None:
        self.received: list[SinkRecord] = []

    def put(self, records: list[SinkRecord]) -> None:
        self.received += records

    def pre_commit(self, offsets: dict[Any, int]) -> dict[Any, int]:
        return offsets


def json_converter() -> JsonConverter:
    converter = JsonConverter()
    converter.configure({"schemas.enable": "false"})
    return converter


class ReadingSink(ListSink):
    """Reads every field of every record before it takes the batch (a lazy record's conversions run here)."""

    def put(self, records: list[SinkRecord]) -> None:
        for record in records:
            for field in dataclasses.fields(SinkRecord):
                getattr(record, field.name)
        self.received += records


def run_sink(
    messages: list[FakeMessage],
    fast: bool,
    tolerate: bool,
    value_converter: Any,
    batch: int = 50,
    sink: ListSink | None = None,
) -> dict[str, Any]:
    """Convert and deliver `messages` in consume() batches; what a test compares between the two paths."""
    recorder, dlq, topics = RecordingReporter(), dlq_reporter(), set[str]()
    setup = sink_setup(value_converter, tolerate, [recorder, dlq], TransformationChain(), topics)
    sink = sink if sink is not None else ListSink()
    task = WorkerSinkTask(setup, TargetState.STARTED, sink)  # type: ignore[arg-type]
    task.assigned = {("a", 0), ("a", 1), ("b", 0)}
    if not fast:
        task.fast_path = lambda: False  # type: ignore[method-assign]
    failure = None
    in_flight: list[Any] = []
    try:
        for start in range(0, len(messages), batch):
            records = task._convert_batch(messages[start : start + batch])
            in_flight.append(dict(task.in_flight))
            task._deliver(records)
    except ToleranceExceeded as exc:
        failure = (str(exc), type(exc.__cause__).__name__, str(exc.__cause__))
    op = setup.operator
    return {
        "records": sink.received,
        "current": dict(task.current),
        "pending": dict(task.pending),
        "read": task.records_read,
        "in_flight": in_flight,
        "failures": (op.total_failures, op.tolerated_failures),
        "reports": recorder.reports,
        "dlq": dlq.producer.sent,
        "failure": failure,
        "fast_batches": task.fast_batches,
        "topics": topics,  # what the worker's topic tracking was told
    }


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("converter", [StringConverter, json_converter, ByteArrayConverter])
def test_sink_fast_path_equals_per_record_path_with_tolerated_failures(seed: int, converter: Any) -> None:
    messages = random_messages(random.Random(seed), 300, bad=0.05)
    fast = run_sink(messages, True, True, converter())
    slow = run_sink(messages, False, True, converter())
    assert fast["fast_batches"] == 6 and slow["fast_batches"] == 0
    fast.pop("fast_batches"), slow.pop("fast_batches")
    assert fast == slow
    assert fast["failure"] is None and len(fast["records"]) > 200 and fast["topics"] == {"a", "b"}
    if converter is not ByteArrayConverter:  # keys fail StringConverter everywhere; values as the converter reads
        assert fast["reports"] and len(fast["dlq"]) == len(fast["reports"])


@pytest.mark.parametrize("seed", SEEDS)
def test_sink_fast_path_fails_the_task_at_the_same_record_under_tolerance_none(seed: int) -> None:
    """Lazy records (tolerance none): a task that reads every field fails at the same record with the same error,
    having received and committed the same records. What differs by design: the failing batch's records are all
    counted as read and pending (the eager path stopped counting at the failing record)."""
    messages = random_messages(random.Random(seed), 300, bad=0.01)
    fast = run_sink(messages, True, False, json_converter(), sink=ReadingSink())
    slow = run_sink(messages, False, False, json_converter(), sink=ReadingSink())
    assert fast.pop("fast_batches") > 0 and slow.pop("fast_batches") == 0
    for differing in ("pending", "read", "in_flight"):
        fast.pop(differing), slow.pop(differing)
    assert fast == slow
    assert fast["failure"] is not None and fast["failure"][0] == "Tolerance exceeded in error handler"
    assert fast["reports"] == [] and fast["dlq"] == []


def test_sink_fast_path_converts_without_the_operator() -> None:
    messages = random_messages(random.Random(1), 200, bad=0.0)
    setup = sink_setup(StringConverter(), False, [], TransformationChain())
    calls: list[Any] = []
    original = setup.operator.execute
    setup.operator.execute = lambda *a: calls.append(a) or original(*a)  # type: ignore[method-assign]
    task = WorkerSinkTask(setup, TargetState.STARTED, ListSink())  # type: ignore[arg-type]
    records = task._convert_batch(messages)
    assert len(records) == 200 and calls == [] and task.fast_batches == 1
    assert task.in_flight == {}  # no ErrantRecordReporter: the raw records are not kept
    first = next(r for r in records if r.headers)
    assert all(isinstance(h, Header) for h in first.headers)


def test_sink_with_transformations_takes_the_per_record_path() -> None:
    chain = TransformationChain([TransformationStage("tag", Tag())])  # type: ignore[arg-type]
    messages = [FakeMessage("a", 0, i, None, b'{"n": 1}', None, (1, 5)) for i in range(3)]
    setup = sink_setup(json_converter(), False, [], chain)
    task = WorkerSinkTask(setup, TargetState.STARTED, ListSink())  # type: ignore[arg-type]
    records = task._convert_batch(messages)
    assert task.fast_batches == 0 and [r.value for r in records] == [{"n": 1, "f": "v"}] * 3


class Tag:
    """An SMT adding `f: v` to the value."""

    def apply(self, record: Any) -> Any:
        return record.new_record(value={**record.value, "f": "v"})

    def close(self) -> None:
        pass


# -- source -------------------------------------------------------------------------------------------------------


class CommitRecording:
    def __init__(self) -> None:
        self.committed: list[tuple[Any, Any]] = []

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        self.committed.append((record, metadata))


def random_source_records(rng: random.Random, n: int, bad: float) -> list[SourceRecord]:
    out = []
    for i in range(n):
        # ByteArrayConverter refuses a str; with failures asked for, the middle record is always one.
        failing = rng.random() < bad or (bad > 0 and i == n // 2)
        value: Any = f"not bytes {i}" if failing else rng.choice([f"v{i}".encode(), None, bytearray(b"ba")])
        # ByteArrayConverter also refuses a schema other than BYTES; None (schemaless) is accepted.
        schema = OPTIONAL_STRING_SCHEMA if rng.random() < bad / 2 else rng.choice([OPTIONAL_BYTES_SCHEMA, None])
        headers: tuple[Header, ...] = ()
        if rng.random() < 0.4:
            headers = (Header("h", OPTIONAL_STRING_SCHEMA, rng.choice(["x", "1", None])),)
        out.append(
            SourceRecord(
                rng.choice(["out", "other"]),
                rng.choice([None, 0, 1]),
                OPTIONAL_STRING_SCHEMA,
                rng.choice([None, f"k{i}"]),
                schema,
                value,
                rng.choice([None, 1000 + i]),
                headers,
                source_partition={"file": rng.choice(["x", "y"])},
                source_offset={"position": i},
            )
        )
    return out


def run_source(tmp_path: Path, records: list[SourceRecord], fast: bool, tolerate: bool) -> dict[str, Any]:
    recorder = RecordingReporter()
    setup = TaskSetup(
        ConnectorTaskId("src", 0),
        {},
        {},
        StringConverter(),
        ByteArrayConverter(),
        SimpleHeaderConverter(),
        TransformationChain(),
        RetryWithToleranceOperator(0, 100, tolerate, [recorder]),
        {},
        60_000,
        1000,
        lambda tid, event, trace: None,
        lambda topic: None,
    )
    store = FileOffsetBackingStore(tmp_path / f"offsets-{fast}.json")
    plugin = CommitRecording()
    task = WorkerSourceTask(setup, TargetState.STARTED, plugin, store)  # type: ignore[arg-type]
    task.producer = producer = RecordingProducer()
    if not fast:
        task.fast_path = lambda: False  # type: ignore[method-assign]
    failure = None
    try:
        for record in records:
            task._send(record)
    except ConnectException as exc:
        failure = (str(exc), type(exc.__cause__).__name__, str(exc.__cause__))
    producer.poll()
    op = setup.operator
    return {
        "sent": producer.sent,
        "committable": task.submitted.committable(),
        "committed": plugin.committed,
        "records_sent": task.records_sent,
        "failures": (op.total_failures, op.tolerated_failures),
        "reports": recorder.reports,
        "failure": failure,
        "fast_records": task.fast_records,
    }


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tolerate", [True, False])
def test_source_fast_path_equals_per_record_path(tmp_path: Path, seed: int, tolerate: bool) -> None:
    records = random_source_records(random.Random(seed), 200, bad=0.03 if tolerate else 0.01)
    fast = run_source(tmp_path, records, True, tolerate)
    slow = run_source(tmp_path, records, False, tolerate)
    assert fast.pop("fast_records") > 0 and slow.pop("fast_records") == 0
    assert fast == slow
    if tolerate:
        assert fast["failure"] is None and fast["reports"] and len(fast["sent"]) > 150
    else:
        assert fast["failure"] is not None and fast["reports"] == []


def test_source_fast_path_is_taken_for_every_convertible_record(tmp_path: Path) -> None:
    records = random_source_records(random.Random(3), 100, bad=0.0)
    result = run_source(tmp_path, records, True, False)
    assert result["fast_records"] == 100 and len(result["sent"]) == 100


def test_source_fast_path_passes_bytes_without_calling_byte_array_converter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    original = ByteArrayConverter.from_connect_data
    monkeypatch.setattr(ByteArrayConverter, "from_connect_data", lambda self, *a: calls.append(a) or original(self, *a))
    records = random_source_records(random.Random(4), 100, bad=0.0)
    result = run_source(tmp_path, records, True, False)
    # Only the bytearray values are converted (to bytes); bytes and None pass, with a BYTES schema or none.
    copied = [r.value for r in records if type(r.value) is bytearray]
    assert result["fast_records"] == 100 and [value for _, _, value in calls] == copied and copied
    calls.clear()
    assert run_source(tmp_path, records, False, False)["sent"] == result["sent"] and len(calls) == 100


@pytest.mark.parametrize("converter", [StringConverter, ByteArrayConverter])
def test_sink_fast_path_reads_string_and_bytes_without_calling_the_converter(
    converter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    original = converter.to_connect_data
    monkeypatch.setattr(converter, "to_connect_data", lambda self, *a: calls.append(a) or original(self, *a))
    messages = random_messages(random.Random(5), 100, bad=0.0)
    fast = run_sink(messages, True, False, converter())
    # The key converter is a StringConverter too: no call for either part.
    assert fast["fast_batches"] == 2 and calls == [] and len(fast["records"]) == 100
    slow = run_sink(messages, False, False, converter())
    assert slow["records"] == fast["records"] and len(calls) >= 100
