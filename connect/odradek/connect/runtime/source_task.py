"""WorkerSourceTask: poll -> transformations -> converters -> confluent_kafka.Producer; offsets after delivery.

Per record: the SMT chain (stage TRANSFORMATION), then the key, value and header converters (KEY_CONVERTER,
VALUE_CONVERTER, HEADER_CONVERTER), each through the RetryWithToleranceOperator. A record dropped by an SMT or
skipped by a tolerated error counts as done at once (its offset may be committed, as Kafka's recordDropped).
Without transformations a record takes a fast path (`_convert_fast`): the converters are called directly (bytes
passed as they are by ByteArrayConverter), and only a record whose conversion raised goes through the operator.

Offsets: every record is registered in `SubmittedRecords` when sent; the producer's delivery callback marks it
acked and calls `commit_record`. Every `offset.flush.interval.ms`, and when the task stops, the offsets whose
records and all earlier ones of the same source partition were acked are written to the offset store, then the
task's `commit()` runs. A record the broker refused fails the task (errors.tolerance=none) or is skipped (all).
Offsets are thus at-least-once: a crash between delivery and the offset write replays those records.

The producer gets Kafka's source-task defaults (`acks=all`, one request in flight per connection so retries keep
order, unlimited delivery timeout), then the worker's `producer.*` settings, then the connector's
`producer.override.*` ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from odradek.connect.api.connector import SourceTask
from odradek.connect.api.data import Type
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SourceRecord
from odradek.connect.converters.simple import passes_bytes
from odradek.connect.runtime import tracing
from odradek.connect.runtime.errors import Stage, Tolerated
from odradek.connect.runtime.offsets import (
    OffsetBackingStore,
    OffsetStorageReaderImpl,
    SubmittedRecords,
    offset_key,
)
from odradek.connect.runtime.states import TargetState
from odradek.connect.runtime.worker_task import TaskSetup, WorkerTask

log = logging.getLogger(__name__)

# Kafka Connect's producer settings for source tasks; `partitioner=murmur2_random` is the Java producer's default
# partitioner, so a keyed record lands on the partition Kafka Connect would write it to (librdkafka's default,
# consistent_random, hashes keys with CRC32), with exactly-once or without.
PRODUCER_DEFAULTS = {
    "partitioner": "murmur2_random",
    "acks": "all",
    "max.in.flight.requests.per.connection": 1,
    "message.timeout.ms": 2147483647,
    "linger.ms": 5,
}
BUFFER_FULL_WAIT_S = 0.1


class SourceTaskContextImpl:
    def __init__(self, config: dict[str, str], reader: OffsetStorageReaderImpl) -> None:
        self._config = config
        self._reader = reader

    def configs(self) -> dict[str, str]:
        return dict(self._config)

    def offset_storage_reader(self) -> OffsetStorageReaderImpl:
        return self._reader


class WorkerSourceTask(WorkerTask):
    def __init__(self, setup: TaskSetup, target: TargetState, task: SourceTask, store: OffsetBackingStore) -> None:
        super().__init__(setup, target)
        self.task = task
        self.store = store
        self.submitted = SubmittedRecords()
        self.producer: Any = None
        self.send_error: BaseException | None = None
        self.last_commit = time.monotonic()
        self.records_sent = 0
        self.records_polled = 0
        self.fast_records = 0  # records converted by `_convert_fast`
        # ByteArrayConverter's bytes are the record's own (converters.simple.passes_bytes): no call per record.
        self._key_passes_bytes = passes_bytes(setup.key_converter)
        self._value_passes_bytes = passes_bytes(setup.value_converter)
        # The offset key of the last record's source partition: tasks send runs of records of one partition, and
        # the key (a JSON text) costs more to build than the rest of the record's bookkeeping.
        self._last_partition: dict[str, Any] | None = None
        self._last_partition_key = ""

    def producer_config(self) -> dict[str, Any]:
        return {**PRODUCER_DEFAULTS, "client.id": f"connector-producer-{self.id}", **self.setup.client_config}

    def initialize_and_start(self) -> None:
        from confluent_kafka import Producer

        self.producer = Producer(self.producer_config())
        self.start_task()

    def start_task(self) -> None:
        """The task's initialize() and start(), once the producer exists."""
        reader = OffsetStorageReaderImpl(self.store, self.id.connector)
        self.task.initialize(SourceTaskContextImpl(self.setup.task_config, reader))
        self.task.start(dict(self.setup.task_config))

    def interrupt(self) -> None:
        try:
            self.task.stop()
        except Exception as exc:
            log.warning("%s stop() raised: %s", self, exc)
        self.task_stopped = True

    def execute(self) -> None:
        while not self.stopping:
            if self.paused():
                self.producer.poll(0)
                self.wait_while_paused()
                continue
            records = self.task.poll()
            if records:
                self.records_polled += len(records)
            for record in records or ():
                if self.stopping:
                    break
                self._send(record)
            self.producer.poll(0)
            self._raise_send_error()
            if self.commit_due():
                self.commit_offsets()

    def commit_due(self) -> bool:
        """Whether to commit after this poll's batch: every `offset.flush.interval.ms` (the exactly-once task
        commits at its transaction boundary instead)."""
        return time.monotonic() - self.last_commit >= self.setup.offset_flush_interval_ms / 1000

    def _convert(self, record: SourceRecord) -> tuple[SourceRecord, bytes | None, bytes | None, list[Any]] | None:
        """The transformed record and its bytes, or None when an SMT dropped it or a tolerated error skipped it."""
        ctx = {**self.error_context(), "source_record": record}
        s, op = self.setup, self.setup.operator
        transformed = op.execute(Stage.TRANSFORMATION, s.chain, lambda: s.chain.apply(record), ctx)
        if transformed is None or isinstance(transformed, Tolerated):
            return None
        out = transformed
        key = op.execute(
            Stage.KEY_CONVERTER,
            s.key_converter,
            lambda: s.key_converter.from_connect_data(out.topic, out.key_schema, out.key),
            ctx,
        )
        value = op.execute(
            Stage.VALUE_CONVERTER,
            s.value_converter,
            lambda: s.value_converter.from_connect_data(out.topic, out.value_schema, out.value),
            ctx,
        )
        headers = op.execute(
            Stage.HEADER_CONVERTER,
            s.header_converter,
            lambda: [
                (h.key, s.header_converter.from_connect_header(out.topic, h.key, h.schema, h.value))
                for h in out.headers
            ],
            ctx,
        )
        if isinstance(key, Tolerated) or isinstance(value, Tolerated) or isinstance(headers, Tolerated):
            return None
        return out, key, value, headers

    def fast_path(self) -> bool:
        """Whether `_send` may convert records without the operator: no transformations to apply.

        Converters are functions of their input, so a record whose direct conversion raised is converted again,
        from the start, by `_convert` (the operator's retries, tolerance and reporting, exactly as on the
        per-record path). Transformations are left out because they may keep state."""
        return not self.setup.chain.stages

    def _convert_fast(self, record: SourceRecord) -> tuple[SourceRecord, bytes | None, bytes | None, list[Any]] | None:
        """`_convert` for an empty chain (which returns the record itself): the converters called directly."""
        s = self.setup
        topic = record.topic
        try:
            key, schema = record.key, record.key_schema
            if not (
                self._key_passes_bytes
                and (key is None or type(key) is bytes)
                and (schema is None or schema.type is Type.BYTES)
            ):
                key = s.key_converter.from_connect_data(topic, schema, key)
            value, schema = record.value, record.value_schema
            if not (
                self._value_passes_bytes
                and (value is None or type(value) is bytes)
                and (schema is None or schema.type is Type.BYTES)
            ):
                value = s.value_converter.from_connect_data(topic, schema, value)
            headers = (
                [
                    (h.key, s.header_converter.from_connect_header(topic, h.key, h.schema, h.value))
                    for h in record.headers
                ]
                if record.headers
                else []
            )
        except Exception:
            failed = True
        else:
            failed = False
        if failed:
            # Outside the except clause, so that the operator's exception has no __context__ from this attempt.
            return self._convert(record)
        self.fast_records += 1
        return record, key, value, headers

    def _partition_key(self, partition: Mapping[str, Any] | None) -> str:
        """offset_key of `partition`, reused while records keep the same (equal) source partition."""
        partition = partition or {}
        if partition != self._last_partition:
            self._last_partition_key = offset_key(self.id.connector, partition)
            self._last_partition = dict(partition)  # a copy: the task may change its dict later
        return self._last_partition_key

    def _send(self, record: SourceRecord) -> None:
        partition_key = self._partition_key(record.source_partition)
        converted = self._convert_fast(record) if self.fast_path() else self._convert(record)
        submitted = self.submitted.submit(partition_key, record.source_offset)
        if converted is None:
            submitted.acked = True
            self._commit_record(record, None)
            return
        transformed, key, value, headers = converted

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                if self.setup.operator.tolerate_all:
                    log.error(
                        "%s failed to send record to topic '%s': %s; skipped (errors.tolerance=all)",
                        self,
                        transformed.topic,
                        err,
                    )
                    submitted.acked = True
                elif self.send_error is None:
                    self.send_error = ConnectException(
                        f"Unrecoverable exception from producer send callback: {err.str()}"
                    )
                return
            submitted.acked = True
            self.records_sent += 1
            self.setup.on_topic(msg.topic())
            self._commit_record(record, msg)

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": delivered}
        if headers:  # no headers and an empty list make the same record; the list costs librdkafka a conversion
            kwargs["headers"] = headers
        if transformed.kafka_partition is not None:
            kwargs["partition"] = transformed.kafka_partition
        if transformed.timestamp is not None:
            kwargs["timestamp"] = transformed.timestamp
        if not tracing.enabled():  # no span to open: spare the context manager per record
            self._produce(transformed.topic, kwargs)
            return
        with tracing.publish_span(transformed.topic, headers, **{"connect.connector": self.id.connector}) as sent:
            kwargs["headers"] = sent
            self._produce(transformed.topic, kwargs)

    def _produce(self, topic: str, kwargs: dict[str, Any]) -> None:
        deadline = time.monotonic() + self.setup.offset_flush_timeout_ms / 1000 + 60
        while True:
            try:
                self.producer.produce(topic, **kwargs)
                return
            except BufferError:
                # librdkafka's queue is full: serve delivery callbacks until there is room (bounded).
                if self.stopping or time.monotonic() > deadline:
                    raise ConnectException("Producer queue stayed full; could not send record") from None
                self.producer.poll(BUFFER_FULL_WAIT_S)

    def _commit_record(self, record: SourceRecord, msg: Any) -> None:
        try:
            self.task.commit_record(record, msg)
        except Exception as exc:
            log.error("%s Exception thrown while calling task.commitRecord(): %s", self, exc)

    def _raise_send_error(self) -> None:
        if self.send_error is not None:
            raise self.send_error

    def commit_offsets(self) -> bool:
        """Write the committable offsets, then call the task's commit(). Returns False if records are missing."""
        self.last_commit = time.monotonic()
        if self.producer is not None:
            self.producer.poll(0)
        offsets = self.submitted.committable()
        if offsets:
            self.store.set(offsets)
        try:
            self.task.commit()
        except Exception as exc:
            log.error("%s Exception thrown while calling task.commit(): %s", self, exc)
        return self.submitted.outstanding() == 0

    def close(self) -> None:
        if self.producer is not None:
            remaining = self.producer.flush(self.setup.offset_flush_timeout_ms / 1000)
            if remaining:
                log.warning(
                    "%s %d records were not acknowledged before shutdown; their offsets are not committed",
                    self,
                    remaining,
                )
            if not self.failed or self.send_error is None:
                self.commit_offsets()
        if not getattr(self, "task_stopped", False):
            try:
                self.task.stop()
            except Exception as exc:
                log.warning("%s stop() raised: %s", self, exc)
        self.setup.chain.close()
        self.setup.operator.close()
