"""Connectors and tasks: the plugin lifecycle of Kafka Connect (org.apache.kafka.connect.connector/source/sink).

Connector lifecycle, driven by the worker: `initialize(context)`, `start(props)`, then `task_configs(max_tasks)`
(one dict per task to run, at most `max_tasks`), and `stop()`. A connector may call
`context.request_task_reconfiguration()` when its inputs change (the worker then asks `task_configs` again) or
`context.raise_error(exc)` to go FAILED.

Task lifecycle, each task in its own thread:
- SourceTask: `initialize(context)`, `start(props)`, repeated `poll()` (a list of SourceRecord, or None/[] when idle;
  poll should block briefly rather than spin), `commit_record(record, metadata)` per acknowledged record, `commit()`
  after the worker flushed offsets, `stop()` (called from another thread: make poll return soon).
- SinkTask: `initialize(context)`, `start(props)`, `open(partitions)`, repeated `put(records)`, `pre_commit(offsets)`
  (default: `flush(offsets)` then return them: the offsets the worker may commit to the consumer group, where an
  offset is the next record to read), `close(partitions)`, `stop()`.

Raising `RetriableException` from `put` makes the worker retry the same batch; any other exception fails the task.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from odradek.connect.api.records import JsonPrimitive, SinkRecord, SourceRecord
from odradek.connect.config.configdef import ConfigDef, ConfigValue

TopicPartition = tuple[str, int]
"""(topic, partition)."""


class ConnectorContext(Protocol):
    def request_task_reconfiguration(self) -> None: ...

    def raise_error(self, exc: BaseException) -> None: ...


class OffsetStorageReader(Protocol):
    """Read a source connector's committed offsets: partition map -> offset map (None when none stored)."""

    def offset(self, partition: Mapping[str, JsonPrimitive]) -> dict[str, Any] | None: ...

    def offsets(
        self, partitions: Sequence[Mapping[str, JsonPrimitive]]
    ) -> list[tuple[Mapping[str, JsonPrimitive], dict[str, Any] | None]]: ...


class SourceConnectorContext(ConnectorContext, Protocol):
    def offset_storage_reader(self) -> OffsetStorageReader: ...


class SourceTaskContext(Protocol):
    def configs(self) -> dict[str, str]: ...

    def offset_storage_reader(self) -> OffsetStorageReader: ...


class ErrantRecordReporter(Protocol):
    """Send a record the task could not handle to the DLQ / error log, honouring errors.tolerance."""

    def report(self, record: SinkRecord, error: BaseException) -> None: ...


class SinkTaskContext(Protocol):
    def configs(self) -> dict[str, str]: ...

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Rewind or skip: the consumer seeks these partitions to these offsets before the next put()."""

    def timeout(self, timeout_ms: int) -> None:
        """After a RetriableException, wait this long before redelivering the batch."""

    def assignment(self) -> set[TopicPartition]: ...

    def pause(self, *partitions: TopicPartition) -> None: ...

    def resume(self, *partitions: TopicPartition) -> None: ...

    def request_commit(self) -> None: ...

    def errant_record_reporter(self) -> ErrantRecordReporter | None: ...


class Connector(abc.ABC):
    """Base of SourceConnector and SinkConnector. Subclasses declare `config()` (a ConfigDef) and `task_class()`."""

    context: Any = None

    def initialize(self, context: ConnectorContext) -> None:
        self.context = context

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def start(self, props: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def task_class(self) -> type[Task]: ...

    @abc.abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def config(self) -> ConfigDef: ...

    def validate(self, connector_configs: Mapping[str, str]) -> list[ConfigValue]:
        """Per-key validation results (default: `config().validate(...)`); override for cross-key checks."""
        return self.config().validate(connector_configs)


class ExactlyOnceSupport(enum.Enum):
    """What a source connector says of exactly-once delivery with a given config (Kafka's ExactlyOnceSupport)."""

    SUPPORTED = "SUPPORTED"
    UNSUPPORTED = "UNSUPPORTED"


class ConnectorTransactionBoundaries(enum.Enum):
    """Whether a source connector can define its own transaction boundaries (Kafka's ConnectorTransactionBoundaries)."""

    SUPPORTED = "SUPPORTED"
    UNSUPPORTED = "UNSUPPORTED"


class SourceConnector(Connector):
    def exactly_once_support(self, connector_config: Mapping[str, str]) -> ExactlyOnceSupport | None:
        """KIP-618: whether this connector can deliver exactly once with `connector_config`.

        None (the default) means the connector does not say; `exactly.once.support=required` then fails validation,
        `requested` does not."""
        return None

    def can_define_transaction_boundaries(self, connector_config: Mapping[str, str]) -> ConnectorTransactionBoundaries:
        """KIP-618: whether `transaction.boundary=connector` is usable (default UNSUPPORTED)."""
        return ConnectorTransactionBoundaries.UNSUPPORTED

    def alter_offsets(
        self, connector_config: Mapping[str, str], offsets: Mapping[tuple[tuple[str, Any], ...], dict[str, Any] | None]
    ) -> bool:
        """KIP-875 hook: return True if the connector accepts the new offsets (default: it does not say)."""
        return False


class SinkConnector(Connector):
    TOPICS_CONFIG = "topics"

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        return False


class Task(abc.ABC):
    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def start(self, props: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class SourceTask(Task):
    context: Any = None

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    @abc.abstractmethod
    def poll(self) -> list[SourceRecord] | None: ...

    def commit(self) -> None:
        """Called after the worker committed the offsets of acknowledged records (default: nothing)."""

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        """Called once per record acknowledged by the broker (`metadata` is the confluent-kafka Message), or
        with None when a transformation dropped it."""


class SinkTask(Task):
    context: Any = None

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    def open(self, partitions: list[TopicPartition]) -> None:
        """Partitions newly assigned to this task."""

    def close(self, partitions: list[TopicPartition]) -> None:
        """Partitions revoked: flush what is buffered for them."""

    @abc.abstractmethod
    def put(self, records: list[SinkRecord]) -> None: ...

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything put() so far durable (default: nothing)."""

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The offsets that may be committed (next offset to read per partition); default flush then return them."""
        self.flush(current_offsets)
        return dict(current_offsets)
