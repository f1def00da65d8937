"""WorkerSinkTask: confluent_kafka.Consumer -> converters -> transformations -> put; offsets via pre_commit.

The consumer is in group `connect-<connector>` (Kafka's name), subscribed to `topics` or to `topics.regex`, with
auto commit off and `auto.offset.reset=earliest` (Kafka's sink defaults), `CONSUMER_FETCH_DEFAULTS` (no 1 s pause
after librdkafka's pre-fetch queue was full), then the worker's `consumer.*` and the
connector's `consumer.override.*` settings. Per consumed record: KEY_CONVERTER, VALUE_CONVERTER,
HEADER_CONVERTER, then TRANSFORMATION, each through the RetryWithToleranceOperator; a tolerated failure sends the
raw record to the reporters (log, DLQ) and skips it. Each poll's batch goes to `put` (also when empty, as in Kafka,
so tasks can flush on their own timers). Without transformations the batch takes a fast path (`_convert_batch`):
the converters are called directly (StringConverter and ByteArrayConverter read inline) and only a record whose
conversion raised goes through the operator, from its first stage, so results, reports and failures are the same.

`put` raising RetriableException: the consumer's partitions are paused and the same batch is redelivered after
`context.timeout(ms)` (default 1 s) until it succeeds or the task stops; any other exception fails the task
("Exiting WorkerSinkTask due to unrecoverable exception."). Errors inside `put` are not covered by
errors.tolerance, as in Kafka; a task reports them itself through `context.errant_record_reporter()`.

Offsets: `current` holds, per partition, the offset after the last record of the last batch put() accepted
(skipped records included). Every
`offset.flush.interval.ms`, when the task asks (`request_commit`), on partition revocation and on stop, the worker
calls `pre_commit(current)` and commits what it returns synchronously to the group. A record is therefore
committed only after the task flushed it: at-least-once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from odradek.connect.api.connector import SinkTask, TopicPartition
from odradek.connect.api.errors import ConnectException, RetriableException
from odradek.connect.api.records import Header, SinkRecord
from odradek.connect.converters.simple import direct_reading
from odradek.connect.runtime import tracing
from odradek.connect.runtime.clients import CONSUMER_FETCH_DEFAULTS
from odradek.connect.runtime.errors import (
    ConsumedRecord,
    ErrorContext,
    Stage,
    ToleranceExceeded,
    Tolerated,
    class_name,
)
from odradek.connect.runtime.sink_record import TIMESTAMP_TYPES, LazySinkRecord, RecordDecoder, lazy_record
from odradek.connect.runtime.states import TargetState
from odradek.connect.runtime.worker_task import TaskSetup, WorkerTask

log = logging.getLogger(__name__)

_new = object.__new__
_set_m = vars(LazySinkRecord)["_m"].__set__  # the slot's member descriptor: a C-level store

CONSUMER_DEFAULTS = {
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": False,
    **CONSUMER_FETCH_DEFAULTS,
}
POLL_TIMEOUT_S = 0.5
MAX_BATCH = 500
DEFAULT_RETRY_BACKOFF_MS = 1000


class ErrantRecordReporterImpl:
    def __init__(self, worker_task: WorkerSinkTask) -> None:
        self.worker_task = worker_task

    def report(self, record: SinkRecord, error: BaseException) -> None:
        self.worker_task.report_errant(record, error)


class SinkTaskContextImpl:
    def __init__(self, worker_task: WorkerSinkTask) -> None:
        self.worker_task = worker_task
        self.offsets: dict[TopicPartition, int] = {}
        self.timeout_ms = DEFAULT_RETRY_BACKOFF_MS
        self.commit_requested = False

    def configs(self) -> dict[str, str]:
        return dict(self.worker_task.setup.task_config)

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.offsets.update(offsets)

    def timeout(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def assignment(self) -> set[TopicPartition]:
        return set(self.worker_task.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        self.worker_task.pause_partitions(partitions, by_task=True)

    def resume(self, *partitions: TopicPartition) -> None:
        self.worker_task.resume_partitions(partitions, by_task=True)

    def request_commit(self) -> None:
        self.commit_requested = True

    def errant_record_reporter(self) -> ErrantRecordReporterImpl | None:
        return self.worker_task.errant_reporter


class WorkerSinkTask(WorkerTask):
    def __init__(self, setup: TaskSetup, target: TargetState, task: SinkTask) -> None:
        super().__init__(setup, target)
        self.task = task
        self.consumer: Any = None
        self.assigned: set[TopicPartition] = set()
        self.task_paused: set[TopicPartition] = set()
        self.consumer_paused = False
        self.current: dict[TopicPartition, int] = {}
        # Offsets of the batch being delivered: they join `current` only once put() accepted the batch, so a stop
        # during a retry never commits records the task did not take.
        self.pending: dict[TopicPartition, int] = {}
        self.last_committed: dict[TopicPartition, int] = {}
        self.in_flight: dict[tuple[str, int, int], ConsumedRecord] = {}
        self.last_commit = time.monotonic()
        self.context = SinkTaskContextImpl(self)
        cfg = setup.connector_config
        has_reporting = bool(cfg.get("errors.deadletterqueue.topic.name", "").strip()) or (
            cfg.get("errors.log.enable", "false").strip().lower() == "true"
        )
        self.errant_reporter = ErrantRecordReporterImpl(self) if has_reporting else None
        self.records_put = 0
        self.records_read = 0
        self.commits_completed = 0
        self.commits_skipped = 0
        self.fast_batches = 0  # consume() batches converted by the fast path of _convert_batch
        self.lazy_batches = 0  # of which as LazySinkRecords
        self.decoder = RecordDecoder(setup, self.error_context)
        self.closing = False
        self.group_id = f"connect-{self.id.connector}"

    # -- partitions -------------------------------------------------------------------------------------------

    def _tps(self, partitions: Any) -> list[Any]:
        from confluent_kafka import TopicPartition as KafkaTopicPartition

        return [KafkaTopicPartition(t, p) for t, p in partitions]

    def pause_partitions(self, partitions: Any, by_task: bool = False) -> None:
        wanted = [tp for tp in partitions if tp in self.assigned]
        if by_task:
            self.task_paused.update(wanted)
        if wanted and self.consumer is not None:
            self.consumer.pause(self._tps(wanted))

    def resume_partitions(self, partitions: Any, by_task: bool = False) -> None:
        wanted = [tp for tp in partitions if tp in self.assigned]
        if by_task:
            self.task_paused.difference_update(wanted)
        elif self.task_paused:
            wanted = [tp for tp in wanted if tp not in self.task_paused]
        if wanted and self.consumer is not None and not (self.consumer_paused and not by_task):
            self.consumer.resume(self._tps(wanted))

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        new = [(p.topic, p.partition) for p in partitions]
        self.assigned.update(new)
        self.task.open(new)
        if self.consumer_paused:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        if self.closing:
            return  # close() already committed and closed the task's partitions
        revoked = [(p.topic, p.partition) for p in partitions]
        self.commit_offsets(revoked)
        self.task.close(revoked)
        for tp in revoked:
            self.assigned.discard(tp)
            self.current.pop(tp, None)
            self.pending.pop(tp, None)
            self.task_paused.discard(tp)

    # -- lifecycle ------------------------------------------------------------------------------------------

    def initialize_and_start(self) -> None:
        from confluent_kafka import Consumer

        cfg = self.setup.connector_config
        config = {
            **CONSUMER_DEFAULTS,
            "group.id": f"connect-{self.id.connector}",
            "client.id": f"connector-consumer-{self.id}",
            **self.setup.client_config,
        }
        self.group_id = str(config["group.id"])
        self.consumer = Consumer(config)
        topics = [t.strip() for t in cfg.get("topics", "").split(",") if t.strip()]
        regex = cfg.get("topics.regex", "").strip()
        subscription = topics or [regex if regex.startswith("^") else "^" + regex]
        self.task.initialize(self.context)
        self.task.start(dict(self.setup.task_config))
        self.consumer.subscribe(subscription, on_assign=self._on_assign, on_revoke=self._on_revoke)

    def interrupt(self) -> None:
        pass

    def execute(self) -> None:
        while not self.stopping:
            self._follow_target_state()
            messages = self.consumer.consume(num_messages=MAX_BATCH, timeout=POLL_TIMEOUT_S)
            if self.paused() and messages:
                # Fetched just before the pause took effect: rewind so they are read again on resume.
                self._rewind(messages)
                continue
            batch = self._convert_batch(messages)
            traced = [m.headers() or () for m in messages if m.error() is None] if tracing.enabled() else []
            with tracing.put_span(self.id.connector, self.id.task, self.group_id, traced):
                self._deliver(batch)
            self._apply_requested_offsets()
            due = time.monotonic() - self.last_commit >= self.setup.offset_flush_interval_ms / 1000
            if due or self.context.commit_requested:
                self.commit_offsets()

    def _follow_target_state(self) -> None:
        if self.paused() and not self.consumer_paused:
            self.consumer_paused = True
            if self.assigned:
                self.consumer.pause(self._tps(self.assigned))
        elif not self.paused() and self.consumer_paused:
            self.consumer_paused = False
            self.resume_partitions(list(self.assigned))

    def _rewind(self, messages: list[Any]) -> None:
        from confluent_kafka import TopicPartition as KafkaTopicPartition

        first: dict[TopicPartition, int] = {}
        for m in messages:
            if m.error() is None:
                first.setdefault((m.topic(), m.partition()), m.offset())
        for (topic, partition), offset in first.items():
            self.consumer.seek(KafkaTopicPartition(topic, partition, offset))

    def fast_path(self) -> bool:
        """Whether `_convert_batch` may convert records without the operator (no transformations to apply).

        Converters are functions of their input, so a record whose direct conversion raised is converted again,
        from the start, on the per-record path (`_convert_stages`): retries, tolerance, log and DLQ reporting are
        exactly the operator's. Transformations are left out because they may keep state (a second apply of a
        stage that already ran once would not be the same)."""
        return not self.setup.chain.stages

    def lazy(self) -> bool:
        """Whether the fast path hands out LazySinkRecords (runtime/sink_record.py): under errors.tolerance=none,
        where a conversion failing when the task reads a field fails the task as the eager conversion would."""
        return not self.setup.operator.tolerate_all

    def _lazy_batch(self, messages: list[Any]) -> list[SinkRecord]:
        """The fast path's LazySinkRecords: per message only the record (two slot stores); the offsets, the
        topics and the read count per batch, from the Messages' accessors mapped in C. A batch holding an error
        message (rare) or kept for an ErrantRecordReporter takes `_lazy_batch_per_record`."""
        self.fast_batches += 1
        self.lazy_batches += 1
        if not messages:
            return []
        kind = type(messages[0])  # confluent_kafka.Message: a consume() batch holds nothing else
        if self.errant_reporter is not None or any(map(kind.error, messages)):
            return self._lazy_batch_per_record(messages)
        new, set_m, cls = _new, _set_m, self.decoder.record_class
        out: list[SinkRecord] = []
        append = out.append
        for msg in messages:
            record = new(cls)
            set_m(record, msg)
            append(record)
        # The last offset per partition (a dict keeps the last value given for a key), with the Messages' own
        # methods (one type per batch) mapped in C.
        topics, partitions, offsets = (
            map(kind.topic, messages),
            map(kind.partition, messages),
            map(kind.offset, messages),
        )
        last = dict(zip(zip(topics, partitions, strict=True), offsets, strict=True))
        pending = self.pending
        for tp, offset in last.items():
            pending[tp] = offset + 1
        for topic in sorted({topic for topic, _ in last}):
            self.setup.on_topic(topic)
        self.records_read += len(out)
        return out

    def _lazy_batch_per_record(self, messages: list[Any]) -> list[SinkRecord]:
        """`_lazy_batch` one message at a time: error messages skipped (a fatal one fails the task), the raw
        records kept for the ErrantRecordReporter."""
        decoder, pending, in_flight = self.decoder, self.pending, self.in_flight
        keep_consumed = self.errant_reporter is not None
        out: list[SinkRecord] = []
        last_topic = None
        for msg in messages:
            if msg.error() is not None:
                self._consumer_error(msg)
                continue
            out.append(lazy_record(msg, decoder))
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            pending[(topic, partition)] = offset + 1
            if topic != last_topic:
                self.setup.on_topic(topic)
                last_topic = topic
            if keep_consumed:
                in_flight[(topic, partition, offset)] = ConsumedRecord.of(msg)
        self.records_read += len(out)
        return out

    def _convert_batch(self, messages: list[Any]) -> list[SinkRecord]:
        """The SinkRecords of one consume(): `_convert` per message, or the same conversion without the operator.

        The fast path calls the converters directly, builds a header tuple only for records with headers, keeps
        the raw record (for an ErrantRecordReporter) only when one exists, and names each topic to `on_topic`
        once per run of records of that topic (it only adds the topic to a set). On any exception from a
        converter the record goes through `_convert_stages`, as every record does on the per-record path."""
        if not self.fast_path():
            return [r for r in map(self._convert, messages) if r is not None]
        if self.lazy():
            return self._lazy_batch(messages)
        self.fast_batches += 1
        s = self.setup
        key_to, value_to, header_to = (
            s.key_converter.to_connect_data,
            s.value_converter.to_connect_data,
            s.header_converter.to_connect_header,
        )
        # StringConverter / ByteArrayConverter read inline (converters.simple.direct_reading): no call, no
        # SchemaAndValue per record part.
        key_direct, value_direct = direct_reading(s.key_converter), direct_reading(s.value_converter)
        keep_consumed = self.errant_reporter is not None
        pending, in_flight, timestamp_types = self.pending, self.in_flight, TIMESTAMP_TYPES
        out: list[SinkRecord] = []
        last_topic = None
        for msg in messages:
            if msg.error() is not None:
                self._consumer_error(msg)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            self.records_read += 1
            pending[(topic, partition)] = offset + 1
            if topic != last_topic:
                s.on_topic(topic)
                last_topic = topic
            try:
                raw_key, raw_value, raw_headers = msg.key(), msg.value(), msg.headers()
                if key_direct is None:
                    key = key_to(topic, raw_key)
                    key_schema, key_value = key.schema, key.value
                else:
                    key_schema, encoding = key_direct
                    key_value = raw_key.decode(encoding) if encoding and raw_key is not None else raw_key
                if value_direct is None:
                    value = value_to(topic, raw_value)
                    value_schema, value_value = value.schema, value.value
                else:
                    value_schema, encoding = value_direct
                    value_value = raw_value.decode(encoding) if encoding and raw_value is not None else raw_value
                headers = (
                    tuple(Header(k, sv.schema, sv.value) for k, v in raw_headers for sv in (header_to(topic, k, v),))
                    if raw_headers
                    else ()
                )
            except Exception:
                failed = True
            else:
                failed = False
            if failed:
                # Outside the except clause: the per-record path's own exception must not get this one as its
                # __context__ (the DLQ's stack trace header would differ).
                record = self._convert_stages(msg, topic, partition, offset)
                if record is not None:
                    out.append(record)
                continue
            ts_type, ts = msg.timestamp()
            out.append(
                SinkRecord(
                    topic,
                    partition,
                    key_schema,
                    key_value,
                    value_schema,
                    value_value,
                    ts if ts_type != 0 else None,
                    headers,
                    offset,
                    timestamp_types.get(ts_type, "CreateTime"),
                    topic,
                    partition,
                    offset,
                )
            )
            if keep_consumed:
                in_flight[(topic, partition, offset)] = ConsumedRecord.of(msg)
        return out

    def _consumer_error(self, msg: Any) -> None:
        if msg.error().fatal():
            raise ConnectException(f"Consumer failed: {msg.error()}")
        log.warning("%s consumer error: %s", self, msg.error())

    def _convert(self, msg: Any) -> SinkRecord | None:
        """One message through the per-record path: bookkeeping, then `_convert_stages`."""
        if msg.error() is not None:
            self._consumer_error(msg)
            return None
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        tp = (topic, partition)
        self.records_read += 1
        self.pending[tp] = offset + 1
        self.setup.on_topic(topic)
        return self._convert_stages(msg, topic, partition, offset)

    def _convert_stages(self, msg: Any, topic: str, partition: int, offset: int) -> SinkRecord | None:
        """KEY_CONVERTER, VALUE_CONVERTER, HEADER_CONVERTER and TRANSFORMATION, each through the operator."""
        consumed = ConsumedRecord.of(msg)
        ctx = {**self.error_context(), "consumed": consumed}
        s, op = self.setup, self.setup.operator
        key = op.execute(
            Stage.KEY_CONVERTER, s.key_converter, lambda: s.key_converter.to_connect_data(topic, msg.key()), ctx
        )
        if isinstance(key, Tolerated):
            return None
        value = op.execute(
            Stage.VALUE_CONVERTER, s.value_converter, lambda: s.value_converter.to_connect_data(topic, msg.value()), ctx
        )
        if isinstance(value, Tolerated):
            return None
        headers = op.execute(
            Stage.HEADER_CONVERTER,
            s.header_converter,
            lambda: tuple(
                Header(k, sv.schema, sv.value)
                for k, v in consumed.headers
                for sv in (s.header_converter.to_connect_header(topic, k, v),)
            ),
            ctx,
        )
        if isinstance(headers, Tolerated):
            return None
        ts_type, ts = msg.timestamp()
        record = SinkRecord(
            topic,
            partition,
            key.schema,
            key.value,
            value.schema,
            value.value,
            ts if ts_type != 0 else None,
            headers,
            kafka_offset=offset,
            timestamp_type=TIMESTAMP_TYPES.get(ts_type, "CreateTime"),
            original_topic=topic,
            original_kafka_partition=partition,
            original_kafka_offset=offset,
        )
        transformed = op.execute(Stage.TRANSFORMATION, s.chain, lambda: s.chain.apply(record), ctx)
        if transformed is None or isinstance(transformed, Tolerated):
            return None
        if self.errant_reporter is not None:  # only report_errant reads it
            self.in_flight[(topic, partition, offset)] = consumed
        return transformed

    def _deliver(self, batch: list[SinkRecord]) -> None:
        while not self.stopping:
            try:
                self.task.put(batch)
                self.records_put += len(batch)
                self.in_flight.clear()
                self.current.update({tp: o for tp, o in self.pending.items() if tp in self.assigned})
                self.pending.clear()
                return
            except ToleranceExceeded:
                raise  # a LazySinkRecord's conversion failed in put(): the task fails as the eager conversion's would
            except RetriableException as exc:
                log.warning(
                    "%s RetriableException from SinkTask; redelivering the batch in %d ms: %s",
                    self,
                    self.context.timeout_ms,
                    exc,
                )
                self.pause_partitions(list(self.assigned))
                deadline = time.monotonic() + self.context.timeout_ms / 1000
                while not self.stopping and time.monotonic() < deadline:
                    # Keep polling (nothing is returned while paused) so the group keeps us as a member.
                    self.consumer.consume(num_messages=1, timeout=min(0.2, max(0.0, deadline - time.monotonic())))
                self.resume_partitions(list(self.assigned))
            except Exception as exc:
                raise ConnectException("Exiting WorkerSinkTask due to unrecoverable exception.") from exc

    def report_errant(self, record: SinkRecord, error: BaseException) -> None:
        """ErrantRecordReporter: report a record put() could not handle; fails the task under tolerance none."""
        key = (
            record.original_topic or record.topic,
            record.original_kafka_partition or 0,
            record.original_kafka_offset if record.original_kafka_offset is not None else record.kafka_offset,
        )
        consumed = self.in_flight.get(key)
        op = self.setup.operator
        op.total_failures += 1
        if not op.tolerate_all:
            raise ConnectException("Tolerance exceeded in error handler") from error
        op.tolerated_failures += 1
        op.report(ErrorContext(self.id.connector, self.id.task, Stage.TASK_PUT, class_name(self.task), error, consumed))

    def _apply_requested_offsets(self) -> None:
        from confluent_kafka import TopicPartition as KafkaTopicPartition

        if not self.context.offsets:
            return
        for (topic, partition), offset in self.context.offsets.items():
            if (topic, partition) in self.assigned:
                self.consumer.seek(KafkaTopicPartition(topic, partition, offset))
                self.current[(topic, partition)] = offset
        self.context.offsets.clear()

    def commit_offsets(self, only: list[TopicPartition] | None = None) -> None:
        from confluent_kafka import TopicPartition as KafkaTopicPartition

        self.last_commit = time.monotonic()
        self.context.commit_requested = False
        current = {tp: o for tp, o in self.current.items() if only is None or tp in only}
        if not current:
            return
        try:
            committable = self.task.pre_commit(dict(current))
        except Exception as exc:
            log.error("%s Offset commit failed, rewinding to last committed offsets: %s", self, exc)
            self.commits_skipped += 1
            return
        changed = {tp: o for tp, o in committable.items() if self.last_committed.get(tp) != o and tp in self.assigned}
        if not changed:
            self.commits_skipped += 1
            return
        try:
            self.consumer.commit(
                offsets=[KafkaTopicPartition(t, p, o) for (t, p), o in changed.items()], asynchronous=False
            )
        except Exception as exc:
            log.error("%s Commit of offsets failed: %s", self, exc)
            self.commits_skipped += 1
            return
        self.last_committed.update(changed)
        self.commits_completed += 1

    def close(self) -> None:
        try:
            if self.consumer is not None and not self.failed:
                self.commit_offsets()
        finally:
            try:
                if self.assigned:
                    self.task.close(sorted(self.assigned))
                self.task.stop()
            finally:
                self.closing = True
                if self.consumer is not None:
                    self.consumer.close()
                self.setup.chain.close()
                self.setup.operator.close()
