"""S3 sink (Confluent's io.confluent.connect.s3.S3SinkConnector, same keys, object names and delivery), with boto3.

Object key, as Confluent's TopicPartitionWriter names committed files:
`<topics.dir>/<topic>/<encoded partition>/<topic>+<kafka partition>+<start offset>.<extension>`, where the start
offset is the Kafka offset of the object's first record zero-padded to `filename.offset.zero.pad.width` (10), the
encoded partition comes from `partitioner.class` (odradek.connect.connectors.partitioner) and the extension from
`format.class` (`.json`, or `format.bytearray.extension`, `.bin`; plus `.gz` with `s3.compression.type=gzip`). Keys
are joined with `directory.delim` (`/`) and the name fields with `file.delim` (`+`). E.g.
`topics/orders/partition=3/orders+3+0000001200.json`.

Object content: JsonFormat writes each record value as JSON without schema (JsonConverter, schemas.enable=false), one
per line, each line ending in `\\n`; ByteArrayFormat writes the value's bytes followed by
`format.bytearray.separator` (default `\\n`).

Rotation, per Kafka partition (Confluent's rules): records are buffered in one file per encoded partition; all files
of the partition are uploaded ("committed") together when the partition holds `flush.size` records, when a record's
timestamp (`timestamp.extractor`) is `rotate.interval.ms` or more after the first buffered record's (that record
starts the next files), or when a time-based encoded partition changes under `rotate.interval.ms`, or on the wall
clock every `rotate.schedule.interval.ms` (checked on every put, also the empty ones the worker makes).

Exactly once: `pre_commit` returns, per partition, only the offset after the last uploaded record, so the consumer
group never passes a record that is not in S3. Buffers are dropped on close (revocation, stop, crash), and the
worker resumes from the committed offset: the same records then form the same files, so an object uploaded before
a crash but not committed is overwritten with identical bytes, and no record is missing or doubled. This holds for
deterministic partitioning and rotation (Default and Field partitioners, TimeBased with Record or RecordField,
flush.size and rotate.interval.ms); Wallclock timestamps and rotate.schedule.interval.ms depend on timing. Objects
go up in one PUT (or one multipart upload above `s3.part.size`), so a reader never sees part of an object. When an
upload fails (after boto3's own retries), the partition's buffers are dropped and the consumer rewound to the
first buffered record, after `s3.retry.backoff.ms`. A record that cannot be partitioned or encoded (a missing
partition field, a non-bytes value for ByteArrayFormat) goes to the errant record reporter (DLQ) when the connector
has one and is skipped; otherwise the task fails.
"""

from __future__ import annotations

import gzip
import io
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from odradek.connect import VERSION
from odradek.connect.api.connector import SinkTask, Task, TopicPartition
from odradek.connect.api.errors import ConnectException, DataException
from odradek.connect.api.records import SinkRecord
from odradek.connect.config.configdef import ConfigDef
from odradek.connect.connectors import partitioner as parts
from odradek.connect.connectors.base import CheckedSinkConnector
from odradek.connect.connectors.s3_config import JSON_FORMAT, S3SinkConfig, cross_key_errors, s3_config_def
from odradek.connect.converters.json import JsonConverter

log = logging.getLogger(__name__)


class RecordWriter:
    """Turns record values into the bytes of an object (format.class)."""

    def __init__(self, config: S3SinkConfig) -> None:
        self.config = config
        self.json = JsonConverter()
        self.json.configure({"schemas.enable": "false"})

    def encode(self, record: SinkRecord) -> bytes:
        if self.config.format_class == JSON_FORMAT:
            data = self.json.from_connect_data(record.topic, record.value_schema, record.value)
            return (data or b"null") + b"\n"
        value = record.value
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, bytes | bytearray):
            raise DataException(f"ByteArrayFormat needs bytes values, got {type(value).__name__}")
        return bytes(value) + self.config.bytearray_separator


def object_key(config: S3SinkConfig, topic: str, encoded_partition: str, partition: int, start_offset: int) -> str:
    """`<topics.dir>/<topic>/<encoded>/<topic>+<partition>+<offset zero-padded>.<ext>` (Confluent's fileKey)."""
    d, f = config.directory_delim, config.file_delim
    name = f"{topic}{f}{partition}{f}{start_offset:0{config.zero_pad}d}{config.extension}"
    prefix = d.join(part for part in (config.topics_dir, topic, encoded_partition) if part)
    return f"{prefix}{d}{name}"


@dataclass(slots=True)
class OpenFile:
    start_offset: int
    data: bytearray = field(default_factory=bytearray)


@dataclass(slots=True)
class TopicPartitionWriter:
    """What is buffered for one Kafka partition: one open file per encoded partition (Confluent's
    TopicPartitionWriter). `committed` is the offset after the last uploaded record (None before the first)."""

    files: dict[str, OpenFile] = field(default_factory=dict)
    record_count: int = 0
    base_timestamp: int | None = None
    current_encoded: str | None = None
    next_offset: int | None = None
    committed: int | None = None

    def first_buffered_offset(self) -> int | None:
        return min((f.start_offset for f in self.files.values()), default=None)

    def reset(self) -> None:
        self.files.clear()
        self.record_count = 0
        self.base_timestamp = None
        self.current_encoded = None


class S3SinkConnector(CheckedSinkConnector):
    def task_class(self) -> type[Task]:
        return S3SinkTask

    def config_def(self) -> ConfigDef:
        return s3_config_def()

    def checks(self, parsed: Mapping[str, Any]) -> dict[str, str]:
        return cross_key_errors(parsed)

    def check(self, props: Mapping[str, str]) -> None:
        S3SinkConfig.parse(props)  # the typed config: partitioner and format checks beyond the key rules


def make_s3_client(config: S3SinkConfig) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    credentials = (
        {"aws_access_key_id": config.access_key, "aws_secret_access_key": config.secret_key}
        if config.access_key
        else {}
    )
    return session.client(
        "s3",
        region_name=config.region,
        endpoint_url=config.endpoint,
        config=Config(
            retries={"max_attempts": config.retries + 1, "mode": "standard"},
            s3={"addressing_style": "path" if config.path_style else "auto"},
        ),
        **credentials,
    )


class S3SinkTask(SinkTask):
    """Buffers records per Kafka partition and encoded partition; uploads on rotation; see the module docstring."""

    def __init__(
        self,
        client_factory: Callable[[S3SinkConfig], Any] = make_s3_client,
        wallclock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.client_factory = client_factory
        self.wallclock_ms = wallclock_ms
        self.writers: dict[TopicPartition, TopicPartitionWriter] = {}
        self.stopping = threading.Event()
        self.uploads = 0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self.config = S3SinkConfig.parse(props)
        self.client = self.client_factory(self.config)
        self.record_writer = RecordWriter(self.config)
        self.extract = parts.timestamp_extractor(
            self.config.timestamp_extractor, self.config.timestamp_field, self.wallclock_ms
        )
        self.partitioner = self._partitioner()
        self.time_based = isinstance(self.partitioner, parts.TimeBasedPartitioner)
        self.next_scheduled = self._next_schedule(self.wallclock_ms())

    def _partitioner(self) -> parts.Partitioner:
        c = self.config
        if c.partitioner_class == parts.DEFAULT_PARTITIONER:
            return parts.DefaultPartitioner()
        if c.partitioner_class == parts.FIELD_PARTITIONER:
            return parts.FieldPartitioner(c.partition_fields)
        return parts.TimeBasedPartitioner(c.path_format, c.partition_duration_ms, parts.zone(c.timezone), self.extract)

    def _next_schedule(self, now_ms: int) -> int | None:
        interval = self.config.rotate_schedule_interval_ms
        return (now_ms // interval + 1) * interval if interval > 0 else None

    def open(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.writers[tp] = TopicPartitionWriter()

    def close(self, partitions: list[TopicPartition]) -> None:
        # Uncommitted buffers are dropped, not uploaded: the next owner reads them again from the committed offset.
        for tp in partitions:
            self.writers.pop(tp, None)

    def put(self, records: list[SinkRecord]) -> None:
        failed: set[TopicPartition] = set()
        writers = self.writers
        for record in records:
            # Each field read once per record (a runtime's record may compute them on access).
            tp, offset = (record.topic, record.kafka_partition or 0), record.kafka_offset
            if tp in failed:
                continue
            writer = writers.get(tp)
            if writer is None:
                writer = writers[tp] = TopicPartitionWriter()
            if writer.next_offset is not None and offset < writer.next_offset:
                continue  # redelivered after a rewind that overlaps what is already buffered
            if not self._write(tp, writer, record, offset):
                failed.add(tp)
        now = self.wallclock_ms()
        if self.next_scheduled is not None and now >= self.next_scheduled:
            self.next_scheduled = self._next_schedule(now)
            for tp, writer in self.writers.items():
                if tp not in failed and writer.record_count > 0 and not self._commit(tp, writer):
                    failed.add(tp)
        if failed:
            # Give S3 a moment before the records are read again (bounded, interruptible by stop()).
            self.stopping.wait(self.config.retry_backoff_ms / 1000)

    def _write(self, tp: TopicPartition, writer: TopicPartitionWriter, record: SinkRecord, offset: int) -> bool:
        """Add one record (at `offset`), rotating before (time) or after (size) it; False when an upload failed."""
        if record.value is None:
            if self.config.ignore_nulls:
                writer.next_offset = offset + 1
                if writer.record_count == 0:
                    writer.committed = writer.next_offset
                return True
            raise ConnectException(
                f"Null valued records are not writeable with current behavior.on.null.values 'settings' "
                f"({tp[0]}-{tp[1]}@{offset})"
            )
        try:
            encoded = self.partitioner.encode_partition(record)
            timestamp = self.extract(record) if self.config.rotate_interval_ms > 0 else None
            data = self.record_writer.encode(record)
        except DataException as exc:
            self._errant(writer, record, exc, offset)
            return True
        if self._rotate_on_time(writer, encoded, timestamp) and not self._commit(tp, writer):
            return False
        if writer.record_count == 0:
            writer.base_timestamp = timestamp
        writer.current_encoded = encoded
        open_file = writer.files.get(encoded)
        if open_file is None:
            open_file = writer.files[encoded] = OpenFile(offset)
        open_file.data += data
        writer.record_count += 1
        writer.next_offset = offset + 1
        return not (writer.record_count >= self.config.flush_size and not self._commit(tp, writer))

    def _errant(self, writer: TopicPartitionWriter, record: SinkRecord, exc: DataException, offset: int) -> None:
        """A record that cannot be partitioned or encoded: to the error reporter (DLQ) and skipped, or the task
        fails when the connector has none (errors.tolerance does not cover put(), as in Kafka)."""
        reporter = self.context.errant_record_reporter() if self.context is not None else None
        if reporter is None:
            raise exc
        reporter.report(record, exc)
        writer.next_offset = offset + 1
        if writer.record_count == 0:
            writer.committed = writer.next_offset

    def _rotate_on_time(self, writer: TopicPartitionWriter, encoded: str, timestamp: int | None) -> bool:
        if writer.record_count == 0 or timestamp is None or writer.base_timestamp is None:
            return False
        moved = self.time_based and encoded != writer.current_encoded
        return moved or timestamp - writer.base_timestamp >= self.config.rotate_interval_ms

    def _commit(self, tp: TopicPartition, writer: TopicPartitionWriter) -> bool:
        """Upload every open file of the partition, in start-offset order; on failure drop the buffers and rewind."""
        try:
            for encoded, open_file in sorted(writer.files.items(), key=lambda item: item[1].start_offset):
                self._upload(object_key(self.config, tp[0], encoded, tp[1], open_file.start_offset), open_file.data)
        except Exception as exc:
            rewind = writer.first_buffered_offset()
            log.warning("S3 upload for %s-%d failed; reading again from offset %s: %s", tp[0], tp[1], rewind, exc)
            writer.reset()
            writer.next_offset = rewind
            if rewind is not None and self.context is not None:
                self.context.offset({tp: rewind})
            return False
        writer.committed = writer.next_offset
        writer.reset()
        return True

    def _upload(self, key: str, data: bytearray) -> None:
        from boto3.s3.transfer import TransferConfig

        body = gzip.compress(bytes(data), mtime=0) if self.config.gzip else bytes(data)
        if len(body) <= self.config.part_size:
            self.client.put_object(Bucket=self.config.bucket, Key=key, Body=body)
        else:
            transfer = TransferConfig(
                multipart_threshold=self.config.part_size, multipart_chunksize=self.config.part_size
            )
            self.client.upload_fileobj(io.BytesIO(body), self.config.bucket, key, Config=transfer)
        self.uploads += 1

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Per partition, the offset after the last uploaded record; a partition with nothing buffered commits the
        worker's offset (records skipped before put); a partition with buffered records and no upload yet is left
        out (its committed offset stays where it is)."""
        out: dict[TopicPartition, int] = {}
        for tp, offset in current_offsets.items():
            writer = self.writers.get(tp)
            if writer is None:
                continue
            if writer.record_count == 0 and (writer.next_offset is None or writer.next_offset <= offset):
                out[tp] = offset
            elif writer.committed is not None:
                out[tp] = writer.committed
        return out

    def stop(self) -> None:
        self.stopping.set()
        self.writers.clear()
