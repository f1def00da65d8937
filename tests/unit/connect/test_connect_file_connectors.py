"""FileStreamSource and FileStreamSink without a broker: lines, byte positions as offsets, resuming from a stored
offset, partial lines, batch sizes, the single-task rule and offset validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from odradek.connect.api.data import STRING_SCHEMA
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SinkRecord
from odradek.connect.connectors.file import (
    FileStreamSinkConnector,
    FileStreamSinkTask,
    FileStreamSourceConnector,
    FileStreamSourceTask,
)


class Reader:
    def __init__(self, stored: dict[str, Any] | None) -> None:
        self.stored = stored
        self.asked: list[Any] = []

    def offset(self, partition: Any) -> dict[str, Any] | None:
        self.asked.append(partition)
        return self.stored


class Context:
    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.reader = Reader(stored)

    def offset_storage_reader(self) -> Reader:
        return self.reader

    def configs(self) -> dict[str, str]:
        return {}


def source(path: Path, stored: dict[str, Any] | None = None, batch: int = 2000) -> FileStreamSourceTask:
    task = FileStreamSourceTask()
    task.initialize(Context(stored))  # type: ignore[arg-type]
    task.start({"file": str(path), "topic": "lines", "batch.size": str(batch)})
    return task


def test_lines_with_byte_positions(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("é1\r\nb\npartial".encode())
    task = source(path)
    records = task.poll() or []
    assert [r.value for r in records] == ["é1", "b"]
    assert [r.source_offset for r in records] == [{"position": 5}, {"position": 7}]
    assert records[0].source_partition == {"filename": str(path)} and records[0].value_schema == STRING_SCHEMA
    assert records[0].topic == "lines" and records[0].key is None
    task.stopping.set()  # no idle wait in the next polls
    assert task.poll() is None  # "partial" has no newline yet
    with open(path, "ab") as out:
        out.write(b" done\n")
    [last] = task.poll() or []
    assert last.value == "partial done" and last.source_offset == {"position": 20}
    task.stop()


def test_resumes_from_stored_position_and_honours_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a\nb\nc\nd\n", encoding="utf-8")
    task = source(path, {"position": 2}, batch=2)
    assert [r.value for r in task.poll() or []] == ["b", "c"]
    assert [r.value for r in task.poll() or []] == ["d"]
    assert task.context.offset_storage_reader().asked == [{"filename": str(path)}]
    task.stop()


def test_missing_file_is_waited_for(tmp_path: Path) -> None:
    task = source(tmp_path / "later.txt")
    task.stopping.set()
    assert task.poll() is None
    (tmp_path / "later.txt").write_text("x\n", encoding="utf-8")
    assert [r.value for r in task.poll() or []] == ["x"]
    task.stop()


def test_source_connector_rules() -> None:
    connector = FileStreamSourceConnector()
    with pytest.raises(ConnectException, match="requires definition of a single topic"):
        connector.start({"file": "f", "topic": "a,b"})
    connector.start({"file": "f", "topic": "a", "tasks.max": "4"})
    assert len(connector.task_configs(4)) == 1
    assert connector.alter_offsets({}, {(("filename", "f"),): {"position": 3}, (("filename", "g"),): None})
    with pytest.raises(ConnectException, match="non-negative integer"):
        connector.alter_offsets({}, {(("filename", "f"),): {"position": "3"}})


def test_sink_appends_values_and_flushes(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    connector = FileStreamSinkConnector()
    connector.start({"file": str(path), "topics": "t"})
    assert len(connector.task_configs(3)) == 3
    task = FileStreamSinkTask()
    task.start({"file": str(path)})
    task.put(
        [SinkRecord("t", 0, None, None, None, v, kafka_offset=i) for i, v in enumerate(["a", 1, None, {"k": [1]}])]
    )
    task.flush({("t", 0): 4})
    assert path.read_text(encoding="utf-8") == 'a\n1\nnull\n{"k":[1]}\n'
    task.stop()


def test_lines_across_read_chunks_keep_their_positions(tmp_path: Path) -> None:
    from odradek.connect.connectors.file import READ_CHUNK

    # Lines of 1 to 300 bytes over more than three read chunks, so lines straddle chunk boundaries.
    lines = [("x" * (1 + (i * 37) % 300)).encode() for i in range(3 * READ_CHUNK // 150 + 50)]
    path = tmp_path / "in.txt"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    task = source(path, batch=700)
    task.stopping.set()  # no idle wait at the end
    got: list[Any] = []
    while (batch := task.poll()) is not None:
        assert len(batch) <= 700
        got.extend(batch)
    assert [r.value.encode() for r in got] == lines
    ends, position = [], 0
    for line in lines:
        position += len(line) + 1
        ends.append({"position": position})
    assert [r.source_offset for r in got] == ends and position > 3 * READ_CHUNK
    task.stop()
