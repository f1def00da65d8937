"""KIP-618 exactly-once source: connector config validation, the transaction boundaries on a given clock, and
ExactlyOnceWorkerSourceTask's transaction (records, then their source offsets, then the commit) with a fake
transactional confluent-kafka Producer (no broker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import confluent_kafka
import pytest
from odradek.connect.api.connector import SourceTask
from odradek.connect.api.data import STRING_SCHEMA
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.connector import validate
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.converters.simple import SimpleHeaderConverter, StringConverter
from odradek.connect.distributed.stores import KafkaOffsetBackingStore
from odradek.connect.plugins import Plugins
from odradek.connect.runtime.errors import RetryWithToleranceOperator
from odradek.connect.runtime.exactly_once_source_task import (
    ExactlyOnceWorkerSourceTask,
    TransactionBoundary,
    TransactionBoundaryManager,
    boundary_manager,
    transactional_id,
)
from odradek.connect.runtime.states import ConnectorTaskId, StatusEvent, TargetState
from odradek.connect.runtime.worker_task import TaskSetup
from odradek.connect.transforms.base import TransformationChain

PLUGINS = Plugins(entry_points=False)
TIMEOUT_S = 10.0
NOT_ENABLED = "This worker does not have exactly-once source support enabled."


def errors_of(props: dict[str, str], enabled: bool) -> dict[str, list[str]]:
    result = validate(PLUGINS, {"name": "c", "topic": "t", **props}, enabled)
    return {c["value"]["name"]: c["value"]["errors"] for c in result.infos["configs"] if c["value"]["errors"]} | {
        "_count": [str(result.error_count)]
    }


# -- validation -----------------------------------------------------------------------------------------------


def test_required_needs_an_enabled_worker_and_a_supporting_connector() -> None:
    file_source = {"connector.class": "FileStreamSource", "file": "/tmp/in.txt"}
    assert errors_of({**file_source, "exactly.once.support": "required"}, True) == {"_count": ["0"]}
    assert errors_of({**file_source, "exactly.once.support": "requested"}, False) == {"_count": ["0"]}
    assert errors_of({**file_source, "exactly.once.support": "required"}, False)["exactly.once.support"] == [
        NOT_ENABLED
    ]
    stdin = errors_of({"connector.class": "FileStreamSource", "exactly.once.support": "REQUIRED"}, True)
    assert stdin["exactly.once.support"] == [
        "The connector does not support exactly-once semantics with the provided configuration."
    ]
    silent = errors_of({"connector.class": "JdbcSource", "exactly.once.support": "required"}, True)
    assert silent["exactly.once.support"][0].startswith(
        "The connector does not implement the API required for preflight validation of exactly-once source support."
    )
    bad = errors_of({**file_source, "exactly.once.support": "maybe"}, True)
    assert bad["exactly.once.support"] == [
        "Invalid value maybe for configuration exactly.once.support: String must be one of (case insensitive): "
        "requested, required"
    ]


def test_transaction_boundary_values_and_refusals() -> None:
    file_source = {"connector.class": "FileStreamSource", "file": "/tmp/in.txt"}
    ok = {"transaction.boundary": "interval", "transaction.boundary.interval.ms": "250"}
    assert errors_of({**file_source, **ok}, True) == {"_count": ["0"]}
    connector = errors_of({**file_source, "transaction.boundary": "connector"}, True)
    assert connector["transaction.boundary"] == [
        "The connector does not support connector-defined transaction boundaries with the given configuration. "
        "Please reconfigure it to use a different transaction boundary definition."
    ]
    negative = errors_of({**file_source, "transaction.boundary.interval.ms": "-1"}, True)
    assert negative["transaction.boundary.interval.ms"] == [
        "Invalid value -1 for configuration transaction.boundary.interval.ms: Value must be at least 0"
    ]
    topic = errors_of({**file_source, "offsets.storage.topic": "own-offsets"}, True)
    assert "not implemented" in topic["offsets.storage.topic"][0]


def test_a_connector_that_can_define_boundaries_is_still_refused_with_a_clear_message() -> None:
    from odradek.connect.api.connector import ConnectorTransactionBoundaries
    from odradek.connect.config.connector import _source_errors, base_config_def
    from odradek.connect.connectors.file import FileStreamSourceConnector
    from odradek.connect.plugins import PluginType

    class Defining(FileStreamSourceConnector):
        def can_define_transaction_boundaries(self, config: Mapping[str, str]) -> ConnectorTransactionBoundaries:
            return ConnectorTransactionBoundaries.SUPPORTED

    props = {"name": "c", "connector.class": "x", "transaction.boundary": "connector"}
    values = {v.name: v for v in base_config_def(PluginType.SOURCE).validate(props)}
    _source_errors(Defining(), props, values, True)
    assert values["transaction.boundary"].errors[0].startswith("Connector-defined transaction boundaries")


def test_worker_setting() -> None:
    base = {"bootstrap.servers": "127.0.0.1:9"}
    assert not WorkerConfig.parse(base).exactly_once_source_enabled
    preparing = WorkerConfig.parse({**base, "exactly.once.source.support": "preparing"})
    assert not preparing.exactly_once_source_enabled and preparing.exactly_once_read_committed
    enabled = WorkerConfig.parse({**base, "exactly.once.source.support": "enabled"})
    assert enabled.exactly_once_source_enabled and enabled.exactly_once_read_committed
    with pytest.raises(Exception, match=r"exactly\.once\.source\.support"):
        WorkerConfig.parse({**base, "exactly.once.source.support": "sometimes"})


# -- boundaries -----------------------------------------------------------------------------------------------


def test_poll_boundary_commits_after_every_batch() -> None:
    manager = TransactionBoundaryManager(TransactionBoundary.POLL, 60000, 0)
    assert manager.should_commit_after_batch(0) and manager.should_commit_after_batch(1)


def test_interval_boundary_on_the_given_clock() -> None:
    manager = boundary_manager({"transaction.boundary": "interval"}, 1000, 0)  # offset.flush.interval.ms
    assert manager.interval_ms == 1000
    assert not manager.should_commit_after_batch(999)
    assert manager.should_commit_after_batch(1000)
    manager.committed(1200)
    assert not manager.should_commit_after_batch(2199)
    assert manager.should_commit_after_batch(2200)
    explicit = boundary_manager(
        {"transaction.boundary": "interval", "transaction.boundary.interval.ms": "250"}, 1000, 0
    )
    assert explicit.interval_ms == 250 and explicit.boundary is TransactionBoundary.INTERVAL
    assert boundary_manager({}, 1000, 0).boundary is TransactionBoundary.POLL
    with pytest.raises(ConnectException):
        boundary_manager({"transaction.boundary": "connector"}, 1000, 0)


# -- the task ---------------------------------------------------------------------------------------------------


class FakeMsg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class TxnProducer:
    """Records the transactional calls; delivers on flush (as a transaction's records are, before its commit)."""

    instances: list[TxnProducer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.calls: list[tuple[Any, ...]] = []
        self.pending: list[tuple[str, Any]] = []
        self.fail_commit = False
        TxnProducer.instances.append(self)

    def init_transactions(self, timeout: float) -> None:
        self.calls.append(("init",))

    def begin_transaction(self) -> None:
        self.calls.append(("begin",))

    def produce(self, topic: str, value: Any = None, key: Any = None, on_delivery: Any = None, **kw: Any) -> None:
        self.calls.append(("produce", topic, key, value))
        if on_delivery is not None:
            self.pending.append((topic, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        done, self.pending = self.pending, []
        for topic, callback in done:
            callback(None, FakeMsg(topic))
        return 0

    def commit_transaction(self, timeout: float) -> None:
        if self.fail_commit:
            raise confluent_kafka.KafkaException("commit failed")
        self.calls.append(("commit",))

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append(("abort",))


class MemoryLog:
    spec = type("Spec", (), {"name": "offs"})()


class Batches(SourceTask):
    """Two batches of two records of one source partition, then nothing."""

    def __init__(self) -> None:
        self.polls = 0

    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def poll(self) -> list[SourceRecord] | None:
        self.polls += 1
        if self.polls > 2:
            time.sleep(0.01)
            return None
        n = self.polls
        return [
            SourceRecord(
                "out",
                None,
                None,
                None,
                STRING_SCHEMA,
                f"r{n}-{i}",
                source_partition={"p": 1},
                source_offset={"n": n * 10 + i},
            )
            for i in range(2)
        ]

    def stop(self) -> None:
        pass


@pytest.fixture(autouse=True)
def txn_producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    TxnProducer.instances.clear()
    monkeypatch.setattr(confluent_kafka, "Producer", TxnProducer)
    yield


def make_task(
    connector_config: dict[str, str] | None = None, client: dict[str, str] | None = None
) -> tuple[ExactlyOnceWorkerSourceTask, KafkaOffsetBackingStore, list[Any]]:
    events: list[Any] = []
    store = KafkaOffsetBackingStore(MemoryLog())  # type: ignore[arg-type]
    setup = TaskSetup(
        ConnectorTaskId("src", 0),
        connector_config or {},
        {},
        StringConverter(),
        StringConverter(),
        SimpleHeaderConverter(),
        TransformationChain(),
        RetryWithToleranceOperator(0, 100, False, []),
        client or {},
        50,
        1000,
        lambda tid, event, trace: events.append((event, trace)),
        lambda topic: None,
    )
    return ExactlyOnceWorkerSourceTask(setup, TargetState.STARTED, Batches(), store, "grp"), store, events


def run_until(task: ExactlyOnceWorkerSourceTask, condition: Any) -> None:
    task.start()
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
    task.stop()
    assert task.await_stop(TIMEOUT_S)


def test_transactional_producer_settings() -> None:
    assert transactional_id("connect-cluster", "src", 3) == "connect-cluster-src-3"
    task, _, _ = make_task(client={"transactional.id": "mine", "enable.idempotence": "false", "linger.ms": "7"})
    config = task.producer_config()
    assert config["transactional.id"] == "grp-src-0"
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["linger.ms"] == "7" and config["partitioner"] == "murmur2_random"
    # librdkafka refuses message.timeout.ms > transaction.timeout.ms on a transactional producer
    assert config["message.timeout.ms"] == config["transaction.timeout.ms"] == 60000


def test_each_poll_batch_is_one_transaction_with_its_offsets() -> None:
    task, store, events = make_task()
    run_until(task, lambda: task.transactions_committed >= 2)
    calls = TxnProducer.instances[0].calls
    key = b'["src",{"p":1}]'
    assert calls[:11] == [
        ("init",),
        ("begin",),
        ("produce", "out", None, b"r1-0"),
        ("produce", "out", None, b"r1-1"),
        ("produce", "offs", key, b'{"n":11}'),
        ("commit",),
        ("begin",),
        ("produce", "out", None, b"r2-0"),
        ("produce", "out", None, b"r2-1"),
        ("produce", "offs", key, b'{"n":21}'),
        ("commit",),
    ]
    # empty polls open no transaction; stopping had nothing to commit
    assert calls[11:] == [] and task.transactions_committed == 2
    assert store.get('["src",{"p":1}]') == {"n": 21}
    assert not [e for e in events if e[0] is StatusEvent.FAILURE]


def test_a_failed_commit_aborts_fails_the_task_and_keeps_the_offsets_out() -> None:
    task, store, events = make_task()
    original = TxnProducer.__init__

    def failing(self: TxnProducer, config: dict[str, Any]) -> None:
        original(self, config)
        self.fail_commit = True

    TxnProducer.__init__ = failing  # type: ignore[method-assign]
    try:
        task.start()
        assert task.await_stop(TIMEOUT_S)
    finally:
        TxnProducer.__init__ = original  # type: ignore[method-assign]
    calls = TxnProducer.instances[0].calls
    assert ("commit",) not in calls and calls[-1] == ("abort",)
    assert [e for e in events if e[0] is StatusEvent.FAILURE]
    assert "Failed to commit the transaction" in str(events[-1][1])
    assert store.get('["src",{"p":1}]') is None


def test_interval_boundary_commits_several_polls_at_once() -> None:
    now = [0.0]
    task, _store, _ = make_task({"transaction.boundary": "interval", "transaction.boundary.interval.ms": "1000"})
    task.clock_ms = lambda: now[0]
    task.boundaries.last_commit_ms = 0
    gate = threading.Event()

    def later() -> None:
        while TxnProducer.instances == [] or len(TxnProducer.instances[0].calls) < 5:
            time.sleep(0.01)
        time.sleep(0.1)  # the other polls happen meanwhile; nothing committed before the interval passes
        assert ("commit",) not in TxnProducer.instances[0].calls
        now[0] = 1000
        gate.set()

    helper = threading.Thread(target=later)
    helper.start()
    run_until(task, lambda: gate.is_set() and task.transactions_committed >= 1)
    helper.join(TIMEOUT_S)
    calls = TxnProducer.instances[0].calls
    assert [c[0] for c in calls[:7]] == ["init", "begin", "produce", "produce", "produce", "produce", "produce"]
    assert calls[6] == ("produce", "offs", b'["src",{"p":1}]', b'{"n":21}') and calls[7] == ("commit",)


@pytest.mark.parametrize(("support", "isolation"), [("disabled", None), ("preparing", "read_committed")])
def test_offsets_topic_is_read_committed_with_exactly_once(support: str, isolation: str | None) -> None:
    from odradek.connect.main import ConnectDistributed

    worker = ConnectDistributed(
        {
            "bootstrap.servers": "127.0.0.1:9",
            "config.storage.topic": "c",
            "offset.storage.topic": "o",
            "status.storage.topic": "s",
            "exactly.once.source.support": support,
        }
    )
    assert worker._log("offset", "offset.storage.partitions").consumer_config.get("isolation.level") == isolation
    assert "isolation.level" not in worker._log("config", None).consumer_config
