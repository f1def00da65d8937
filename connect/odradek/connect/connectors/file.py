"""FileStreamSource and FileStreamSink, Kafka's example connectors (org.apache.kafka.connect.file), same options.

Source: one task tails `file` (standard input when unset) and produces each line (without its `\\n` or `\\r\\n`) as
a STRING value with no key to `topic`, at most `batch.size` lines per poll. Its offset is the byte position after
the last line produced: source partition `{"filename": <file>}`, offset `{"position": <n>}`. On start the task seeks
to the stored position, so a restarted worker resumes without duplicates. An incomplete last line is not produced
until its newline arrives. A missing file is waited for (poll returns nothing), as Kafka does.

Sink: each task appends every record's value, as text, plus a newline to `file` (standard output when unset);
`flush` (called before each offset commit) flushes and fsyncs the file, so a committed offset means the lines are on
disk.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import IO, Any

from odradek.connect import VERSION
from odradek.connect.api.connector import (
    ExactlyOnceSupport,
    SinkTask,
    SourceConnector,
    SourceTask,
    Task,
    TopicPartition,
)
from odradek.connect.api.data import STRING_SCHEMA
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SinkRecord, SourceRecord
from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance, NonEmptyList, Range
from odradek.connect.connectors.base import CheckedSinkConnector
from odradek.connect.converters.simple import _text

FILENAME_FIELD = "filename"
POSITION_FIELD = "position"
IDLE_WAIT_S = 1.0
READ_CHUNK = 1 << 16


def source_config_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            "file",
            ConfigType.STRING,
            None,
            None,
            Importance.HIGH,
            "Source filename. If not specified, the standard input will be used",
        )
        .define(
            "topic",
            ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            documentation="The topic to publish data to",
        )
        .define(
            "batch.size",
            ConfigType.INT,
            2000,
            Range.at_least(1),
            Importance.LOW,
            "The maximum number of records the source task can read from the file each time it is polled",
        )
    )


def sink_config_def() -> ConfigDef:
    return ConfigDef().define(
        "file",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "Destination filename. If not specified, the standard output will be used",
    )


class FileStreamSourceConnector(SourceConnector):
    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return source_config_def()

    def start(self, props: dict[str, str]) -> None:
        parsed = source_config_def().parse(props)
        if len(parsed["topic"]) != 1:
            raise ConnectException(
                "'topic' in FileStreamSourceConnector configuration requires definition of a single topic"
            )
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        # One file is read by one task, whatever tasks.max says.
        return [dict(self.props)]

    def stop(self) -> None:
        pass

    def exactly_once_support(self, connector_config: Mapping[str, str]) -> ExactlyOnceSupport:
        # Kafka's rule: a file can be read again from a committed position, standard input cannot.
        return ExactlyOnceSupport.SUPPORTED if connector_config.get("file") else ExactlyOnceSupport.UNSUPPORTED

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        for partition, offset in offsets.items():
            if offset is None:
                continue
            position = offset.get(POSITION_FIELD) if isinstance(offset, dict) else None
            if isinstance(position, bool) or not isinstance(position, int) or position < 0:
                raise ConnectException(
                    f"The value for the '{POSITION_FIELD}' key in the offset is expected to be a "
                    f"non-negative integer, found {position!r} for partition {dict(partition)}"
                )
        return True


class FileStreamSourceTask(SourceTask):
    def __init__(self) -> None:
        self.stream: IO[bytes] | None = None
        self.position = 0
        self.buffer = b""
        self.stopping = threading.Event()

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        parsed = source_config_def().parse(props)
        self.filename: str | None = parsed["file"] or None
        self.topic: str = parsed["topic"][0]
        self.batch_size: int = parsed["batch.size"]
        self.partition = {FILENAME_FIELD: self.filename} if self.filename else None
        if self.filename is None:
            self.stream = sys.stdin.buffer

    def _open(self) -> bool:
        assert self.filename is not None and self.partition is not None
        try:
            self.stream = open(self.filename, "rb")  # noqa: SIM115 - kept open across polls, closed in stop()
        except FileNotFoundError:
            return False
        stored = self.context.offset_storage_reader().offset(self.partition) if self.context else None
        if stored is not None:
            position = stored.get(POSITION_FIELD)
            if not isinstance(position, int):
                raise ConnectException(f"Offset position is the incorrect type: {type(position).__name__}")
            self.stream.seek(position)
            self.position = position
        return True

    def poll(self) -> list[SourceRecord] | None:
        if self.stream is None and not self._open():
            self.stopping.wait(IDLE_WAIT_S)
            return None
        assert self.stream is not None
        records: list[SourceRecord] = []
        buffer, start = self.buffer, 0  # lines are cut at `start`, not copied off the buffer's front one by one
        while len(records) < self.batch_size:
            newline = buffer.find(b"\n", start)
            if newline < 0:
                chunk = self.stream.read(READ_CHUNK) if self.filename else self.stream.readline()
                if not chunk:
                    break
                buffer, start = buffer[start:] + chunk, 0
                continue
            line = buffer[start:newline]
            self.position += newline + 1 - start
            start = newline + 1
            text = line[:-1] if line.endswith(b"\r") else line
            records.append(
                SourceRecord(
                    self.topic,
                    None,
                    None,
                    None,
                    STRING_SCHEMA,
                    text.decode("utf-8", errors="replace"),
                    source_partition=self.partition,
                    source_offset={POSITION_FIELD: self.position} if self.partition else None,
                )
            )
        self.buffer = buffer[start:]
        if not records:
            self.stopping.wait(IDLE_WAIT_S)
            return None
        return records

    def stop(self) -> None:
        self.stopping.set()
        if self.stream is not None and self.filename is not None:
            self.stream.close()


class FileStreamSinkConnector(CheckedSinkConnector):
    def config_def(self) -> ConfigDef:
        return sink_config_def()

    def task_class(self) -> type[Task]:
        return FileStreamSinkTask


class FileStreamSinkTask(SinkTask):
    def __init__(self) -> None:
        self.out: IO[str] | None = None

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        filename = sink_config_def().parse(props)["file"]
        self.owned = bool(filename)
        self.out = open(filename, "a", encoding="utf-8") if filename else sys.stdout  # noqa: SIM115

    def put(self, records: list[SinkRecord]) -> None:
        assert self.out is not None
        if not records:
            return
        # One write per batch; a str value (StringConverter's) is its own text, as `_text` would return it.
        self.out.write(
            "\n".join([v if type(v) is str else "null" if v is None else _text(v) for v in [r.value for r in records]])
            + "\n"
        )

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        if self.out is not None:
            self.out.flush()
            if self.owned:
                os.fsync(self.out.fileno())

    def stop(self) -> None:
        if self.out is not None and self.owned:
            self.out.close()
        self.out = None
