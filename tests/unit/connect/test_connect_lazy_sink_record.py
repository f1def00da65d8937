"""LazySinkRecord (runtime/sink_record.py): the same SinkRecord for plugins, converted only when a field is read."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
from typing import Any

import pytest
from confluent_kafka import Message
from odradek.connect.api.data import OPTIONAL_STRING_SCHEMA, SchemaAndValue
from odradek.connect.api.errors import DataException, RetriableException
from odradek.connect.api.records import SinkRecord
from odradek.connect.converters.simple import ByteArrayConverter, SimpleHeaderConverter, StringConverter
from odradek.connect.runtime.errors import RetryWithToleranceOperator, ToleranceExceeded
from odradek.connect.runtime.sink_record import LazySinkRecord
from odradek.connect.runtime.sink_task import WorkerSinkTask
from odradek.connect.runtime.states import ConnectorTaskId, TargetState
from odradek.connect.runtime.worker_task import TaskSetup
from odradek.connect.transforms.base import TransformationChain
from test_connect_fast_path import BAD_UTF8, ListSink, ReadingSink, json_converter, random_messages

FIELDS = [f.name for f in dataclasses.fields(SinkRecord)]


class CountingConverter:
    """A StringConverter subclass's behaviour without being one (so it is not read inline): counts its calls."""

    def __init__(self, fail_times: int = 0, error: type[Exception] = RetriableException) -> None:
        self.calls = 0
        self.fail_times = fail_times
        self.error = error

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise self.error("not yet")
        return SchemaAndValue(OPTIONAL_STRING_SCHEMA, None if value is None else value.decode())


def setup(key: Any, value: Any, tolerate: bool = False, retry_timeout_ms: int = 0) -> TaskSetup:
    return TaskSetup(
        ConnectorTaskId("c", 0),
        {"topics": "a,b"},
        {},
        key,
        value,
        SimpleHeaderConverter(),
        TransformationChain(),
        RetryWithToleranceOperator(retry_timeout_ms, 1, tolerate, [], sleep=lambda s: True),
        {},
        60_000,
        1000,
        lambda tid, event, trace: None,
        set().add,
    )


def task_for(s: TaskSetup, sink: Any = None) -> WorkerSinkTask:
    task = WorkerSinkTask(s, TargetState.STARTED, sink or ListSink())
    task.assigned = {("a", 0), ("a", 1), ("b", 0)}
    return task


def eager_records(messages: list[Any], value_converter: Any) -> list[SinkRecord]:
    task = task_for(setup(StringConverter(), value_converter, tolerate=True))  # tolerance all: eager conversion
    assert not task.lazy()
    return task._convert_batch(messages)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("converter", [StringConverter, json_converter, ByteArrayConverter])
def test_lazy_records_equal_the_eager_ones(seed: int, converter: Any) -> None:
    messages = random_messages(random.Random(seed), 200, bad=0.0)
    task = task_for(setup(StringConverter(), converter()))
    lazy = task._convert_batch(messages)
    eager = eager_records(messages, converter())
    assert task.lazy_batches == 1 and all(type(r) is not SinkRecord for r in lazy)
    assert all(isinstance(r, SinkRecord) and isinstance(r, LazySinkRecord) for r in lazy)
    assert lazy == eager and eager == lazy  # both directions of ==
    assert [repr(r) for r in lazy] == [repr(r) for r in eager]
    for mine, theirs in zip(lazy, eager, strict=True):
        assert [getattr(mine, f) for f in FIELDS] == [getattr(theirs, f) for f in FIELDS]
        assert dataclasses.asdict(mine) == dataclasses.asdict(theirs)
        try:
            expected = hash(theirs)
        except TypeError:  # a dict value or a list header: unhashable in both
            with pytest.raises(TypeError):
                hash(mine)
        else:
            assert hash(mine) == expected
    assert task.pending == {("a", 0): 1 + max(m.offset() for m in messages if m.topic() == "a" and m.partition() == 0),
                            ("a", 1): 1 + max(m.offset() for m in messages if m.topic() == "a" and m.partition() == 1),
                            ("b", 0): 1 + max(m.offset() for m in messages if m.topic() == "b")}  # fmt: skip
    assert task.records_read == 200


def test_lazy_record_keeps_sink_record_semantics() -> None:
    msg = Message(topic="a", partition=1, offset=7, key=b"k", value=b"v", headers=[("h", b"1")], timestamp=(1, 5))
    record = task_for(setup(StringConverter(), StringConverter()))._convert_batch([msg])[0]
    eager = SinkRecord("a", 1, OPTIONAL_STRING_SCHEMA, "k", OPTIONAL_STRING_SCHEMA, "v", 5, record.headers, 7,
                       "CreateTime", "a", 1, 7)  # fmt: skip
    assert record == eager and {record: 1}[eager] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.value = "w"  # type: ignore[misc]
    changed = record.new_record(value="w", topic="t2")
    assert type(changed) is SinkRecord and changed.value == "w" and changed.topic == "t2" and changed.key == "k"
    assert changed.original_topic == "a" and changed.kafka_offset == 7
    replaced = dataclasses.replace(record, key="x")
    assert type(replaced) is SinkRecord and replaced == dataclasses.replace(eager, key="x")
    assert type(copy.copy(record)) is SinkRecord and copy.copy(record) == eager
    assert pickle.loads(pickle.dumps(record)) == eager
    assert record.headers[0].key == "h" and record.headers[0].value == 1
    no_ts = Message(topic="a", partition=0, offset=1, key=None, value=None, headers=None, timestamp=(0, -1))
    lazy = task_for(setup(StringConverter(), StringConverter()))._convert_batch([no_ts])[0]
    assert lazy.timestamp is None and lazy.timestamp_type == "NoTimestampType" and lazy.value is None


def test_converters_run_only_when_a_field_is_read_and_once_per_record() -> None:
    keys, values = CountingConverter(), CountingConverter()
    task = task_for(setup(keys, values))
    messages = random_messages(random.Random(3), 50, bad=0.0)
    records = task._convert_batch(messages)
    assert keys.calls == 0 and values.calls == 0  # building the records converted nothing
    assert [r.value for r in records] == [None if m.value() is None else m.value().decode() for m in messages]
    assert keys.calls == 0 and values.calls == 50
    assert [r.value_schema for r in records] and [r.value for r in records] and values.calls == 50  # kept
    records[0].key  # noqa: B018
    assert keys.calls == 1


def test_json_value_is_decoded_once_and_kept() -> None:
    msg = Message(topic="a", partition=0, offset=0, key=None, value=b'{"n": 1}', timestamp=(1, 1))
    record = task_for(setup(StringConverter(), json_converter()))._convert_batch([msg])[0]
    record.value["n"] = 2  # a plugin changing the decoded dict sees its change on the next read
    assert record.value == {"n": 2} and record.value is record.value


def test_a_task_that_never_reads_an_undecodable_key_does_not_fail() -> None:
    msg = Message(topic="a", partition=0, offset=0, key=BAD_UTF8, value=b"text", timestamp=(1, 1))
    sink = ListSink()
    task = task_for(setup(StringConverter(), StringConverter()), sink)
    task._deliver(task._convert_batch([msg]))
    assert [r.value for r in sink.received] == ["text"] and task.current == {("a", 0): 1}


@pytest.mark.parametrize("field", ["key", "key_schema", "value", "value_schema"])
def test_an_undecodable_field_read_in_put_fails_the_task_with_the_eager_error(field: str) -> None:
    bad = {"key": BAD_UTF8, "value": b"v"} if field.startswith("key") else {"key": b"k", "value": BAD_UTF8}
    msg = Message(topic="a", partition=0, offset=0, timestamp=(1, 1), **bad)

    class FieldSink(ListSink):
        def put(self, records: list[SinkRecord]) -> None:
            for r in records:
                getattr(r, field)

    task = task_for(setup(StringConverter(), StringConverter()), FieldSink())
    with pytest.raises(ToleranceExceeded, match="Tolerance exceeded in error handler") as failure:
        task._deliver(task._convert_batch([msg]))
    assert isinstance(failure.value.__cause__, DataException)
    assert task.setup.operator.total_failures == 1 and task.current == {}  # nothing of the batch committed


def test_a_retriable_conversion_is_retried_by_the_operator_when_read() -> None:
    values = CountingConverter(fail_times=2)
    task = task_for(setup(StringConverter(), values, retry_timeout_ms=60_000), ReadingSink())
    msg = Message(topic="a", partition=0, offset=0, key=None, value=b"v", timestamp=(1, 1))
    task._deliver(task._convert_batch([msg]))
    assert values.calls == 3 and task.setup.operator.total_failures == 0 and task.current == {("a", 0): 1}


def test_tolerance_all_keeps_the_eager_conversion() -> None:
    task = task_for(setup(StringConverter(), StringConverter(), tolerate=True))
    msg = Message(topic="a", partition=0, offset=0, key=None, value=BAD_UTF8, timestamp=(1, 1))
    assert task._convert_batch([msg]) == [] and task.lazy_batches == 0
    assert task.setup.operator.tolerated_failures == 1
