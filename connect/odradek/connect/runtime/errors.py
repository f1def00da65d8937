"""Error handling of converters, SMTs and sink puts (Kafka's RetryWithToleranceOperator and error reporters).

- `errors.retry.timeout` (ms, 0 = no retry, -1 = forever) and `errors.retry.delay.max.ms`: a stage raising
  `RetriableException` is retried with exponential backoff (300 ms doubling, capped) until the timeout passes.
- `errors.tolerance=none`: the first failure raises `ConnectException("Tolerance exceeded in error handler")` with
  the original error as its cause, which fails the task (nothing is reported: the trace is in the task status).
  `all`: the record is skipped and reported; `execute` then returns `TOLERATED`.
- Reporters: `errors.log.enable` logs each failure (with the record when `errors.log.include.messages`);
  `errors.deadletterqueue.topic.name` (sink connectors) produces the original consumed record, same key, value and
  headers, to the DLQ topic, created if missing with one partition and
  `errors.deadletterqueue.topic.replication.factor`; with `errors.deadletterqueue.context.headers.enable` it adds
  Kafka's headers, all UTF-8 strings: `__connect.errors.topic`, `.partition`, `.offset`, `.connector.name`,
  `.task.id`, `.stage`, `.class.name`, `.exception.class.name`, `.exception.message`, `.exception.stacktrace`.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from odradek.connect.api.errors import ConnectException, RetriableException

log = logging.getLogger(__name__)

T = TypeVar("T")

HEADER_PREFIX = "__connect.errors."
INITIAL_BACKOFF_MS = 300
DLQ_PARTITIONS = 1
CLIENT_TIMEOUT_S = 30.0


class Stage(enum.Enum):
    """Kafka's error stages (the value of `__connect.errors.stage`)."""

    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"
    KAFKA_CONSUME = "KAFKA_CONSUME"


def class_name(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def format_trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip("\n")


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """The raw consumed record a sink failure refers to (what goes to the DLQ)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()

    @classmethod
    def of(cls, msg: Any) -> ConsumedRecord:
        """The record of a consumed confluent_kafka Message."""
        return cls(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), tuple(msg.headers() or ()))


@dataclass(frozen=True, slots=True)
class ErrorContext:
    connector: str
    task_id: int
    stage: Stage
    executing_class: str
    error: BaseException
    consumed: ConsumedRecord | None = None
    source_record: Any = None


class ErrorReporter(Protocol):
    def report(self, context: ErrorContext) -> None: ...

    def close(self) -> None: ...


class LogReporter:
    def __init__(self, include_messages: bool) -> None:
        self.include_messages = include_messages

    def report(self, context: ErrorContext) -> None:
        where = ""
        if context.consumed is not None:
            c = context.consumed
            where = f", where consumed record is {{topic='{c.topic}', partition={c.partition}, offset={c.offset}}}"
            if self.include_messages:
                where += f" key={c.key!r} value={c.value!r}"
        elif context.source_record is not None and self.include_messages:
            where = f", where source record is = {context.source_record!r}"
        log.error(
            "Error encountered in task %s-%d. Executing stage '%s' with class '%s'%s.",
            context.connector,
            context.task_id,
            context.stage.value,
            context.executing_class,
            where,
            exc_info=context.error,
        )

    def close(self) -> None:
        pass


def context_headers(context: ErrorContext) -> list[tuple[str, bytes]]:
    """Kafka's DeadLetterQueueReporter.populateContextHeaders, in its order."""
    consumed = context.consumed
    assert consumed is not None
    headers = [
        ("topic", consumed.topic),
        ("partition", str(consumed.partition)),
        ("offset", str(consumed.offset)),
        ("connector.name", context.connector),
        ("task.id", str(context.task_id)),
        ("stage", context.stage.value),
        ("class.name", context.executing_class),
        ("exception.class.name", class_name(context.error)),
    ]
    if str(context.error):
        headers.append(("exception.message", str(context.error)))
    headers.append(("exception.stacktrace", format_trace(context.error)))
    return [(HEADER_PREFIX + key, value.encode("utf-8")) for key, value in headers]


class DeadLetterQueueReporter:
    """Produces failed sink records to the DLQ topic (see module docstring); the topic is created on first use."""

    def __init__(
        self,
        topic: str,
        replication_factor: int,
        context_headers_enabled: bool,
        producer_config: Mapping[str, Any],
        admin_config: Mapping[str, Any],
    ) -> None:
        self.topic = topic
        self.replication_factor = replication_factor
        self.context_headers_enabled = context_headers_enabled
        self.producer_config = dict(producer_config)
        self.admin_config = dict(admin_config)
        self.producer: Any = None
        self.errors: list[str] = []

    def _ensure(self) -> Any:
        if self.producer is None:
            from confluent_kafka import Producer
            from odradek.connect.runtime.clients import kafka_admin

            admin = kafka_admin().AdminClient(self.admin_config)
            new_topic = kafka_admin().NewTopic(
                self.topic, num_partitions=DLQ_PARTITIONS, replication_factor=self.replication_factor
            )
            futures = admin.create_topics([new_topic], request_timeout=CLIENT_TIMEOUT_S)
            try:
                futures[self.topic].result(timeout=CLIENT_TIMEOUT_S)
            except Exception as exc:  # TOPIC_ALREADY_EXISTS is the usual case after the first run
                if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise ConnectException(
                        f"Could not initialize dead letter queue with topic={self.topic}: {exc}"
                    ) from exc
            self.producer = Producer(self.producer_config)
        return self.producer

    def report(self, context: ErrorContext) -> None:
        if context.consumed is None:
            return
        producer = self._ensure()
        headers: list[tuple[str, bytes | None]] = list(context.consumed.headers)
        if self.context_headers_enabled:
            headers += context_headers(context)

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                self.errors.append(str(err))
                log.error("Could not produce message to dead letter queue. topic=%s: %s", self.topic, err)

        consumed = context.consumed
        producer.produce(self.topic, key=consumed.key, value=consumed.value, headers=headers, on_delivery=delivered)
        producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        if self.producer is not None:
            self.producer.flush(timeout_s)

    def close(self) -> None:
        self.flush(CLIENT_TIMEOUT_S)


class ToleranceExceeded(ConnectException):
    pass


class Tolerated:
    """What `execute` returns when the operation failed and the failure was tolerated (record to be skipped)."""

    _instance: Tolerated | None = None

    def __new__(cls) -> Tolerated:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TOLERATED"


TOLERATED = Tolerated()


class RetryWithToleranceOperator:
    """Runs a stage with retries and tolerance (see the module docstring)."""

    def __init__(
        self,
        retry_timeout_ms: int,
        retry_delay_max_ms: int,
        tolerate_all: bool,
        reporters: list[ErrorReporter],
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.retry_timeout_ms = retry_timeout_ms
        self.retry_delay_max_ms = retry_delay_max_ms
        self.tolerate_all = tolerate_all
        self.reporters = reporters
        self._stop = threading.Event()
        self.sleep = sleep or (lambda seconds: not self._stop.wait(seconds))
        self.total_failures = 0
        self.tolerated_failures = 0

    def stop(self) -> None:
        """Interrupt a retry backoff (task stopping)."""
        self._stop.set()

    def execute(
        self, stage: Stage, executing: Any, operation: Callable[[], T], context: dict[str, Any]
    ) -> T | Tolerated:
        """Run `operation`; return its result, or TOLERATED when its failure was tolerated (raise otherwise).

        `context` carries `connector`, `task_id` and optionally `consumed` / `source_record` for the reporters.
        """
        deadline = None if self.retry_timeout_ms < 0 else time.monotonic() + self.retry_timeout_ms / 1000
        backoff_ms = INITIAL_BACKOFF_MS
        while True:
            try:
                return operation()
            except RetriableException as exc:
                if deadline is not None and time.monotonic() + backoff_ms / 1000 > deadline:
                    return self._failed(stage, executing, exc, context)
                if not self.sleep(backoff_ms / 1000):
                    return self._failed(stage, executing, exc, context)
                backoff_ms = min(backoff_ms * 2, self.retry_delay_max_ms)
            except Exception as exc:
                return self._failed(stage, executing, exc, context)

    def _failed(self, stage: Stage, executing: Any, exc: BaseException, context: dict[str, Any]) -> Tolerated:
        # As Kafka: an intolerable failure fails the task at once (its trace goes to the status); only tolerated
        # failures reach the log and DLQ reporters.
        self.total_failures += 1
        if not self.tolerate_all:
            raise ToleranceExceeded("Tolerance exceeded in error handler") from exc
        self.tolerated_failures += 1
        consumed, source = context.get("consumed"), context.get("source_record")
        self.report(
            ErrorContext(context["connector"], context["task_id"], stage, class_name(executing), exc, consumed, source)
        )
        return TOLERATED

    def report(self, context: ErrorContext) -> None:
        for reporter in self.reporters:
            try:
                reporter.report(context)
            except Exception as exc:
                log.error("error reporter %s failed: %s", class_name(reporter), exc)
                if not self.tolerate_all:
                    raise

    def close(self) -> None:
        for reporter in self.reporters:
            reporter.close()
