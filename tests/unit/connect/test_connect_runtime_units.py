"""Runtime pieces without a broker: in-order source offset commits, the offset file, retries and tolerance, the
DLQ context headers, the status table, and putting config-provider references back into task configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from odradek.connect.api.errors import DataException, RetriableException
from odradek.connect.runtime.errors import (
    TOLERATED,
    ConsumedRecord,
    ErrorContext,
    RetryWithToleranceOperator,
    Stage,
    ToleranceExceeded,
    context_headers,
)
from odradek.connect.runtime.offsets import (
    FileOffsetBackingStore,
    OffsetStorageReaderImpl,
    SubmittedRecords,
    offset_key,
)
from odradek.connect.runtime.states import (
    STATUS_TRANSITIONS,
    ConnectorTaskId,
    State,
    StatusBackingStore,
    StatusEvent,
)
from odradek.connect.runtime.worker import reverse_transform


def test_submitted_records_commit_only_contiguous_acks() -> None:
    records = SubmittedRecords()
    a1 = records.submit("A", {"position": 1})
    a2 = records.submit("A", {"position": 2})
    b1 = records.submit("B", {"position": 10})
    a2.acked = True
    b1.acked = True
    assert records.committable() == {"B": {"position": 10}}  # A's first record is not acked yet
    a1.acked = True
    assert records.committable() == {"A": {"position": 2}}
    assert records.committable() == {} and records.outstanding() == 0


def test_offset_file_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "offsets.json"
    store = FileOffsetBackingStore(path)
    key = offset_key("src", {"filename": "/a"})
    assert key == '["src",{"filename":"/a"}]'
    store.set({key: {"position": 7}})
    assert not (tmp_path / "offsets.json.tmp").exists()
    assert json.loads(path.read_text()) == {key: '{"position":7}'}
    reopened = FileOffsetBackingStore(path)
    assert OffsetStorageReaderImpl(reopened, "src").offset({"filename": "/a"}) == {"position": 7}
    assert OffsetStorageReaderImpl(reopened, "other").offset({"filename": "/a"}) is None
    assert reopened.connector_offsets("src") == [({"filename": "/a"}, {"position": 7})]
    reopened.set({key: None})
    assert FileOffsetBackingStore(path).connector_offsets("src") == []


class _Recorder:
    def __init__(self) -> None:
        self.reports: list[ErrorContext] = []

    def report(self, context: ErrorContext) -> None:
        self.reports.append(context)

    def close(self) -> None:
        pass


CTX = {"connector": "c", "task_id": 0}


def test_tolerance_none_raises_without_reporting() -> None:
    recorder = _Recorder()
    op = RetryWithToleranceOperator(0, 100, False, [recorder])

    def bad() -> None:
        raise DataException("bad")

    with pytest.raises(ToleranceExceeded, match="Tolerance exceeded in error handler") as info:
        op.execute(Stage.VALUE_CONVERTER, object(), bad, CTX)
    assert isinstance(info.value.__cause__, DataException)
    assert recorder.reports == []


def test_tolerance_all_reports_and_skips() -> None:
    recorder = _Recorder()
    op = RetryWithToleranceOperator(0, 100, True, [recorder])
    result = op.execute(Stage.TRANSFORMATION, object(), lambda: (_ for _ in ()).throw(ValueError("x")), CTX)
    assert result is TOLERATED and op.tolerated_failures == 1
    assert recorder.reports[0].stage is Stage.TRANSFORMATION


def test_retriable_errors_are_retried_until_timeout() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetriableException("later")
        return "ok"

    op = RetryWithToleranceOperator(60_000, 1000, False, [], sleep=lambda s: sleeps.append(s) or True)
    assert op.execute(Stage.TASK_PUT, object(), flaky, CTX) == "ok"
    assert sleeps == [0.3, 0.6]
    no_retry = RetryWithToleranceOperator(0, 1000, True, [], sleep=lambda s: True)
    assert (
        no_retry.execute(Stage.TASK_PUT, object(), lambda: (_ for _ in ()).throw(RetriableException("x")), CTX)
        is TOLERATED
    )


def test_dlq_context_headers_are_kafkas() -> None:
    consumed = ConsumedRecord("orders", 2, 17, b"k", b"v")
    try:
        raise DataException("cannot parse")
    except DataException as exc:
        error = exc
    headers = dict(context_headers(ErrorContext("conn", 1, Stage.VALUE_CONVERTER, "my.Converter", error, consumed)))
    assert list(headers) == [
        f"__connect.errors.{k}"
        for k in (
            "topic",
            "partition",
            "offset",
            "connector.name",
            "task.id",
            "stage",
            "class.name",
            "exception.class.name",
            "exception.message",
            "exception.stacktrace",
        )
    ]
    assert headers["__connect.errors.partition"] == b"2" and headers["__connect.errors.offset"] == b"17"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.exception.class.name"] == b"odradek.connect.api.errors.DataException"
    assert b"cannot parse" in headers["__connect.errors.exception.stacktrace"]


def test_status_table_and_failed_survives_shutdown() -> None:
    assert STATUS_TRANSITIONS[StatusEvent.STARTUP] is State.RUNNING
    assert {STATUS_TRANSITIONS[e] for e in StatusEvent} == set(State)
    store = StatusBackingStore("w:1")
    task = ConnectorTaskId("c", 0)
    store.record(task, StatusEvent.STARTUP)
    store.record(task, StatusEvent.FAILURE, "trace")
    store.record(task, StatusEvent.SHUTDOWN)
    status = store.task(task)
    assert (
        status is not None
        and status.state is State.FAILED
        and status.as_json() == {"state": "FAILED", "worker_id": "w:1", "trace": "trace"}
    )
    store.record(task, StatusEvent.RESTART)
    assert store.task(task) is not None and store.task(task).as_json() == {"state": "RESTARTING", "worker_id": "w:1"}  # type: ignore[union-attr]


def test_reverse_transform_keeps_references_out_of_task_configs() -> None:
    raw = {"password": "${file:/s:pw}", "file": "/x"}
    resolved = {"password": "hunter2", "file": "/x"}
    task = {"password": "hunter2", "file": "/x", "task.class": "T"}
    assert reverse_transform(raw, resolved, task) == {"password": "${file:/s:pw}", "file": "/x", "task.class": "T"}
