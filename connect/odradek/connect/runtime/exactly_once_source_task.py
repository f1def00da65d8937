"""ExactlyOnceWorkerSourceTask: a source task whose records and source offsets are written in one transaction
(KIP-618; Kafka's ExactlyOnceWorkerSourceTask), run by a distributed worker with `exactly.once.source.support=enabled`.

Producer: the source-task producer settings (source_task.PRODUCER_DEFAULTS, then the worker's `producer.*`, then the
connector's `producer.override.*`), then, not overridable: `transactional.id=<group.id>-<connector>-<task>` (Kafka's
DistributedConfig.transactionalProducerId), `enable.idempotence=true` and `acks=all`. PRODUCER_DEFAULTS'
`partitioner=murmur2_random` (Java's default partitioner, the one the worker's offsets-topic writer uses) puts an
offset key on the partition the worker's own writes and Java workers pick, so compaction keeps the latest;
`transaction.timeout.ms` 60000
(Kafka's default) and, unless set, `message.timeout.ms` equal to it (librdkafka requires it not to exceed it).

Life of a transaction: `init_transactions()` at start fences the previous instance of the same task (any worker):
the broker bumps the id's producer epoch and aborts its open transaction, so a zombie can no longer write. The first
record sent (or offset to commit) begins a transaction. At each boundary the producer is flushed (every record of
the transaction acknowledged, their `commit_record` called), the committable source offsets (`SubmittedRecords`'
in-order rule) are produced to the worker's offsets topic by the same producer, and `commit_transaction()` makes
records and offsets visible together to read_committed readers; the offsets then enter the worker's offset cache.
Any failure (a record the broker refused, a commit that failed, a fenced producer) aborts the open transaction and
fails the task, as Kafka's; stopping commits the open transaction, failing aborts it.

Boundaries (`transaction.boundary`, see `TransactionBoundaryManager`): `poll` after every batch a poll returned
(and after records the SMTs dropped), `interval` once `transaction.boundary.interval.ms` (default: the worker's
`offset.flush.interval.ms`) passed since the last commit, checked after every poll.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from odradek.connect.api.connector import SourceTask
from odradek.connect.api.errors import ConnectException
from odradek.connect.runtime.offsets import TransactionalOffsetStore
from odradek.connect.runtime.source_task import PRODUCER_DEFAULTS, WorkerSourceTask
from odradek.connect.runtime.states import TargetState
from odradek.connect.runtime.worker_task import TaskSetup

log = logging.getLogger(__name__)

TRANSACTION_TIMEOUT_S = 60.0  # bound of init/commit/abort calls (librdkafka retries inside it)
TRANSACTION_TIMEOUT_MS = 60000  # transaction.timeout.ms unless the worker's producer.* sets it (Kafka's default)


def transactional_id(group_id: str, connector: str, task: int) -> str:
    """Kafka's DistributedConfig.transactionalProducerId: `<group.id>-<connector>-<task>`."""
    return f"{group_id}-{connector}-{task}"


class TransactionBoundary(enum.Enum):
    """`transaction.boundary` (Kafka's SourceTask.TransactionBoundary); CONNECTOR is refused by validation."""

    POLL = "poll"
    INTERVAL = "interval"
    CONNECTOR = "connector"


@dataclass(slots=True)
class TransactionBoundaryManager:
    """When to commit: after each poll batch (`POLL`) or once `interval_ms` passed since the last commit
    (`INTERVAL`). Times are milliseconds of the caller's clock (`now_ms`), so tests pass them."""

    boundary: TransactionBoundary
    interval_ms: int
    last_commit_ms: float

    def should_commit_after_batch(self, now_ms: float) -> bool:
        """Called after every poll (with or without records)."""
        if self.boundary is TransactionBoundary.POLL:
            return True
        return now_ms - self.last_commit_ms >= self.interval_ms

    def committed(self, now_ms: float) -> None:
        self.last_commit_ms = now_ms


def boundary_manager(
    config: dict[str, str], offset_flush_interval_ms: int, now_ms: float
) -> TransactionBoundaryManager:
    """The manager for a connector config (already validated: CONNECTOR never reaches a task)."""
    boundary = TransactionBoundary(str(config.get("transaction.boundary") or "poll").lower())
    if boundary is TransactionBoundary.CONNECTOR:
        raise ConnectException("transaction.boundary=connector is not implemented (docs/not-implemented.md)")
    raw = config.get("transaction.boundary.interval.ms")
    interval = int(raw) if raw not in (None, "") else offset_flush_interval_ms
    return TransactionBoundaryManager(boundary, interval, now_ms)


class ExactlyOnceWorkerSourceTask(WorkerSourceTask):
    def __init__(
        self,
        setup: TaskSetup,
        target: TargetState,
        task: SourceTask,
        store: TransactionalOffsetStore,
        group_id: str,
        clock_ms: Callable[[], float] = lambda: time.monotonic() * 1000,
    ) -> None:
        super().__init__(setup, target, task, store)
        self.offsets_store = store
        self.transactional_id = transactional_id(group_id, setup.task_id.connector, setup.task_id.task)
        self.clock_ms = clock_ms
        self.boundaries = boundary_manager(setup.connector_config, setup.offset_flush_interval_ms, clock_ms())
        self.transaction_open = False
        self.transactions_committed = 0
        self.transactions_aborted = 0

    def producer_config(self) -> dict[str, Any]:
        config = {
            **PRODUCER_DEFAULTS,
            "client.id": f"connector-producer-{self.id}",
            **self.setup.client_config,
            "transactional.id": self.transactional_id,
            "enable.idempotence": True,
            "acks": "all",
        }
        # librdkafka refuses a transactional producer whose message.timeout.ms exceeds transaction.timeout.ms:
        # the source-task default (unlimited) becomes the transaction timeout, unless the worker set one.
        transaction_timeout = int(config.get("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS))
        config["transaction.timeout.ms"] = transaction_timeout
        if (
            "message.timeout.ms" not in self.setup.client_config
            and "delivery.timeout.ms" not in self.setup.client_config
        ):
            config["message.timeout.ms"] = transaction_timeout
        return config

    def initialize_and_start(self) -> None:
        from confluent_kafka import Producer

        overridden = [k for k in ("transactional.id", "enable.idempotence", "acks") if k in self.setup.client_config]
        if overridden:
            log.warning("%s ignores %s: exactly-once source tasks set them", self, ", ".join(overridden))
        self.producer = Producer(self.producer_config())
        # Fences the previous instance of this task: its epoch is bumped and its open transaction aborted.
        self.producer.init_transactions(TRANSACTION_TIMEOUT_S)
        self.start_task()

    def commit_due(self) -> bool:
        return self.boundaries.should_commit_after_batch(self.clock_ms())

    def _produce(self, topic: str, kwargs: dict[str, Any]) -> None:
        self._begin()
        super()._produce(topic, kwargs)

    def _begin(self) -> None:
        if not self.transaction_open:
            self.producer.begin_transaction()
            self.transaction_open = True

    def commit_offsets(self) -> bool:
        """Commit the open transaction with the source offsets of its records; raise (the task fails) on failure.

        Returns True: once the commit returns, every record of the transaction was delivered."""
        if self.failed:
            self.abort()
            return False
        self.boundaries.committed(self.clock_ms())
        try:
            if self.producer.flush(self.setup.offset_flush_timeout_ms / 1000) > 0:
                raise ConnectException("Records of the transaction were not acknowledged in offset.flush.timeout.ms")
            self._raise_send_error()
            offsets = self.submitted.committable()
            if not offsets and not self.transaction_open:
                return True
            self._begin()
            for key, value in self.offsets_store.records(offsets):
                self.producer.produce(self.offsets_store.topic, value, key)
            self.producer.commit_transaction(TRANSACTION_TIMEOUT_S)
        except Exception as exc:
            self.abort()
            if isinstance(exc, ConnectException):
                raise
            raise ConnectException(f"Failed to commit the transaction of {self}: {exc}") from exc
        self.transaction_open = False
        self.transactions_committed += 1
        self.offsets_store.cache(offsets)
        try:
            self.task.commit()
        except Exception as exc:
            log.error("%s Exception thrown while calling task.commit(): %s", self, exc)
        return True

    def abort(self) -> None:
        """Abort the open transaction (best effort: a fenced producer cannot, and its transaction is already
        aborted by the broker)."""
        if not self.transaction_open or self.producer is None:
            return
        self.transaction_open = False
        try:
            self.producer.abort_transaction(TRANSACTION_TIMEOUT_S)
            self.transactions_aborted += 1
            log.info("%s aborted its open transaction", self)
        except Exception as exc:
            log.warning("%s could not abort its transaction: %s", self, exc)

    def close(self) -> None:
        if self.failed:
            self.abort()
        super().close()
