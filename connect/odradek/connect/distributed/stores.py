"""Distributed mode's backing stores over compacted topics, with Kafka's keys and value formats, so a topic written
by Apache Kafka's Connect workers reads the same here (Kafka's KafkaBasedLog, KafkaConfigBackingStore,
KafkaOffsetBackingStore, KafkaStatusBackingStore).

Topics (created if missing, `cleanup.policy=compact`): `config.storage.topic` (1 partition, it orders every config
write), `offset.storage.topic` (`offset.storage.partitions`, 25), `status.storage.topic` (`status.storage.partitions`,
5), each with its `*.replication.factor`. Records are produced with `acks=all` and librdkafka's `murmur2_random`
partitioner (Java's default partitioner), so a key lands on the partition Java Connect workers would pick.

Config topic (values: JsonConverter with schemas, as Kafka writes them):
- `connector-<name>`: `{"properties": map<string,string>}`, null when the connector is deleted;
- `task-<name>-<n>`: `{"properties": map<string,string>}`; buffered until
- `commit-<name>`: `{"tasks": int32}`, which applies the connector's task configs 0..tasks-1 at once;
- `target-state-<name>`: `{"state": string, "state.v2": optional string}`; STOPPED is written `state=PAUSED,
  state.v2=STOPPED` so older readers see PAUSED (Kafka's rule);
- `restart-connector-<name>`: `{"include-tasks": boolean, "only-failed": boolean}` (KIP-745);
- `session-key`: `{"key": string (base64), "algorithm": string, "creation-timestamp": int64}` (KIP-507);
- `tasks-fencing-<name>`: `{"task-count": int32}` (KIP-618's task count record), written by the leader once the
  transactional ids of the connector's previous task generation are fenced. A `commit-<name>` read makes the
  connector "pending fencing" (and its task config generation one more) until a task count record follows it.
Offsets topic: key `["<connector>",{partition}]`, value `{offset}`, schemaless JSON; null value deletes.
Status topic: `status-connector-<c>` / `status-task-<c>-<n>`: `{"state": string, "trace": optional string,
"worker_id": string, "generation": int32}`; null when the connector is deleted.

Each log is read from the beginning at start and then continuously by one thread (`KafkaBasedLog`);
`read_to_end()` returns once every record below the end offsets taken at the call has been applied. The `Log`
protocol is what the stores need, so unit tests run them on an in-memory log.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from odradek.connect.api.data import Schema, Struct, map_of, optional_of, primitive, struct_of
from odradek.connect.api.data import Type as SchemaType
from odradek.connect.api.errors import ConnectException
from odradek.connect.converters.json import JsonConverter
from odradek.connect.runtime.clients import kafka_admin
from odradek.connect.runtime.offsets import partition_of
from odradek.connect.runtime.states import (
    STATUS_TRANSITIONS,
    ConnectorTaskId,
    State,
    Status,
    StatusBackingStore,
    StatusEvent,
    TargetState,
)

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 30.0
# A log's reader callback: (key, value, offset) of each record, in offset order.
Consumer = Callable[[bytes | None, bytes | None, int], None]


class Log(Protocol):
    def start(self, consume: Consumer) -> None: ...

    def send(self, key: bytes, value: bytes | None) -> None: ...

    def flush(self) -> None: ...

    def read_to_end(self, timeout_s: float = READ_TIMEOUT_S) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int


class KafkaBasedLog:
    """One compacted topic: created if missing, read from the start by a thread, written with acks=all."""

    def __init__(self, spec: TopicSpec, producer: dict[str, Any], consumer: dict[str, Any], admin: dict[str, Any]):
        self.spec = spec
        self.producer_config = {**producer, "acks": "all", "partitioner": "murmur2_random"}
        self.consumer_config = {
            **consumer,
            "group.id": f"odradek-connect-log-{spec.name}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
        self.admin_config = admin
        self._cond = threading.Condition()
        self._applied: dict[int, int] = {}
        self._stopping = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._producer: Any = None
        self._send_errors: list[Any] = []
        self._ends_client: Any = None
        self._ends_lock = threading.Lock()
        self._consumer: Any = None

    def _create_topic(self) -> None:
        admin_module = kafka_admin()
        admin = admin_module.AdminClient(self.admin_config)
        metadata = admin.list_topics(timeout=READ_TIMEOUT_S)
        if self.spec.name in metadata.topics:
            return
        topic = admin_module.NewTopic(
            self.spec.name,
            num_partitions=self.spec.partitions,
            replication_factor=self.spec.replication_factor,
            config={"cleanup.policy": "compact"},
        )
        try:
            admin.create_topics([topic], request_timeout=READ_TIMEOUT_S)[self.spec.name].result(READ_TIMEOUT_S)
            log.info("Created topic %s (%d partitions, compacted)", self.spec.name, self.spec.partitions)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ConnectException(f"Error while attempting to create topic {self.spec.name}: {exc}") from exc

    def start(self, consume: Consumer) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

        self._create_topic()
        self._producer = Producer(self.producer_config)
        self._consumer = Consumer(self.consumer_config)
        # End offsets are asked through a second client: a librdkafka call on the consumer while its reader thread
        # polls blocks until the poll returns, and that could be forever on an idle topic.
        self._ends_client = Consumer(self.consumer_config)
        metadata = self._consumer.list_topics(self.spec.name, timeout=READ_TIMEOUT_S)
        partitions = sorted(metadata.topics[self.spec.name].partitions)
        if not partitions:
            raise ConnectException(f"Topic {self.spec.name} has no partitions")
        self._tps = [TopicPartition(self.spec.name, p, OFFSET_BEGINNING) for p in partitions]
        self._consumer.assign(self._tps)
        self._applied = {p: 0 for p in partitions}
        self._thread = threading.Thread(target=self._run, args=(consume,), name=f"log-{self.spec.name}", daemon=True)
        self._thread.start()
        self.read_to_end()

    def _run(self, consume: Consumer) -> None:
        while not self._stopping:
            try:
                msg = self._consumer.poll(0.1)
                if msg is None:
                    # compaction may leave no record at end-1: the consumer's position counts as read too
                    positions = self._consumer.position(self._tps)
                    with self._cond:
                        for tp in positions:
                            if tp.offset >= 0:
                                self._applied[tp.partition] = max(self._applied.get(tp.partition, 0), tp.offset)
                        self._cond.notify_all()
                    continue
                if msg.error():
                    log.warning("Error reading %s: %s", self.spec.name, msg.error())
                    continue
                consume(msg.key(), msg.value(), msg.offset())
                with self._cond:
                    self._applied[msg.partition()] = msg.offset() + 1
                    self._cond.notify_all()
            except Exception as exc:  # a consume callback bug must not end the reader silently
                log.error("Reader of %s failed on a record", self.spec.name, exc_info=exc)

    def send(self, key: bytes, value: bytes | None) -> None:
        self._producer.produce(self.spec.name, value, key, on_delivery=self._on_delivery)
        self._producer.poll(0)

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._send_errors.append(err)

    def flush(self) -> None:
        if self._producer.flush(READ_TIMEOUT_S) > 0:
            raise ConnectException(f"Timed out writing to {self.spec.name}")
        if self._send_errors:
            error, self._send_errors = self._send_errors[0], []
            raise ConnectException(f"Failed to write to {self.spec.name}: {error}")

    def read_to_end(self, timeout_s: float = READ_TIMEOUT_S) -> None:
        ends = {}
        with self._ends_lock:
            for tp in self._tps:
                _low, high = self._ends_client.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
                ends[tp.partition] = high
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while any(self._applied.get(p, 0) < end for p, end in ends.items()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectException(f"Timed out reading {self.spec.name} to its end")
                self._cond.wait(min(left, 0.1))

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join(5)
        if self._producer is not None:
            self._producer.flush(5)
        for client in (self._consumer, self._ends_client):
            if client is not None:
                client.close()


# -- value formats ---------------------------------------------------------------------------------------------


def _json_converter() -> JsonConverter:
    converter = JsonConverter()
    converter.configure({"schemas.enable": "true", "converter.type": "value"}, False)
    return converter


STRING = primitive(SchemaType.STRING)
PROPERTIES_V0 = struct_of([("properties", map_of(STRING, STRING))])
COMMIT_V0 = struct_of([("tasks", primitive(SchemaType.INT32))])
TARGET_STATE_V1 = struct_of([("state", STRING), ("state.v2", optional_of(STRING))])
RESTART_V0 = struct_of(
    [("include-tasks", primitive(SchemaType.BOOLEAN)), ("only-failed", primitive(SchemaType.BOOLEAN))]
)
TASK_COUNT_V0 = struct_of([("task-count", primitive(SchemaType.INT32))])
SESSION_KEY_V0 = struct_of(
    [("key", STRING), ("algorithm", STRING), ("creation-timestamp", primitive(SchemaType.INT64))]
)
STATUS_V0 = struct_of(
    [
        ("state", STRING),
        ("trace", optional_of(STRING)),
        ("worker_id", STRING),
        ("generation", primitive(SchemaType.INT32)),
    ]
)


def encode(schema: Schema, values: Mapping[str, Any]) -> bytes:
    out = _json_converter().from_connect_data("", schema, Struct(schema, dict(values)))
    assert out is not None
    return out


def decode(value: bytes | None) -> dict[str, Any] | None:
    """A JsonConverter envelope's payload as a dict (schemaless values accepted too); None for a tombstone."""
    if value is None:
        return None
    node = json.loads(value)
    if isinstance(node, dict) and set(node) == {"schema", "payload"}:
        node = node["payload"]
    return dict(node) if isinstance(node, dict) else None


# -- config ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionKey:
    """The cluster's key for signing internal requests; `creation_timestamp` in ms since the epoch."""

    key: bytes
    algorithm: str
    creation_timestamp: int


@dataclass(slots=True)
class ClusterConfigState:
    """What the config topic says (Kafka's ClusterConfigState); `offset` is the config topic offset after the last
    record applied (Kafka's: the next offset to read), -1 before any record; workers exchange it in their metadata."""

    offset: int = -1
    connectors: dict[str, dict[str, str]] = field(default_factory=dict)
    targets: dict[str, TargetState] = field(default_factory=dict)
    tasks: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    session_key: SessionKey | None = None
    # KIP-618: the last task count record per connector, the number of task config commits read per connector
    # (its generation, from 0) and the connectors whose latest commit no task count record followed yet.
    task_count_records: dict[str, int] = field(default_factory=dict)
    task_config_generations: dict[str, int] = field(default_factory=dict)
    pending_fencing: set[str] = field(default_factory=set)

    def task_ids(self) -> list[ConnectorTaskId]:
        return [
            ConnectorTaskId(c, i)
            for c, configs in self.tasks.items()
            if c in self.connectors
            for i in range(len(configs))
        ]


class ConfigUpdateListener(Protocol):
    def on_connector_config_update(self, name: str) -> None: ...

    def on_task_config_update(self, name: str) -> None: ...

    def on_target_state_change(self, name: str) -> None: ...

    def on_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None: ...

    def on_task_count_record(self, name: str) -> None: ...


class KafkaConfigBackingStore:
    """The config topic as a `ClusterConfigState` (read under `lock`) plus the writes the leader makes."""

    def __init__(self, log_: Log, listener: ConfigUpdateListener) -> None:
        self.log = log_
        self.listener = listener
        self.lock = threading.RLock()
        self.state = ClusterConfigState()
        self._pending: dict[str, dict[int, dict[str, str]]] = {}

    def start(self) -> None:
        self.log.start(self._consume)

    def stop(self) -> None:
        self.log.stop()

    def _consume(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        text = (key or b"").decode("utf-8", "replace")
        try:
            payload = decode(value)
        except ValueError:
            log.error("Ignoring an unreadable config record %s", text)
            return
        notify: Callable[[], None] | None = None
        with self.lock:
            self.state.offset = offset + 1
            if text.startswith("connector-"):
                name = text[len("connector-") :]
                if payload is None:
                    self.state.connectors.pop(name, None)
                    self.state.tasks.pop(name, None)
                    self.state.targets.pop(name, None)
                    self.state.task_count_records.pop(name, None)
                    self.state.task_config_generations.pop(name, None)
                    self.state.pending_fencing.discard(name)
                else:
                    self.state.connectors[name] = {str(k): str(v) for k, v in payload["properties"].items()}
                    self.state.targets.setdefault(name, TargetState.STARTED)
                notify = lambda: self.listener.on_connector_config_update(name)  # noqa: E731
            elif text.startswith("task-"):
                name, _, number = text[len("task-") :].rpartition("-")
                if payload is not None and number.isdigit():
                    props = {str(k): str(v) for k, v in payload["properties"].items()}
                    self._pending.setdefault(name, {})[int(number)] = props
            elif text.startswith("commit-"):
                name = text[len("commit-") :]
                count = int(payload["tasks"]) if payload else 0
                pending = self._pending.pop(name, {})
                if all(i in pending for i in range(count)):
                    self.state.tasks[name] = [pending[i] for i in range(count)]
                    generations = self.state.task_config_generations
                    generations[name] = generations.get(name, -1) + 1
                    self.state.pending_fencing.add(name)
                    notify = lambda: self.listener.on_task_config_update(name)  # noqa: E731
                else:
                    log.error(
                        "Ignoring the task configs of %s: the commit names %d tasks, not all were read", name, count
                    )
            elif text.startswith("target-state-"):
                name = text[len("target-state-") :]
                if payload is not None:
                    raw = payload.get("state.v2") or payload.get("state") or "STARTED"
                    self.state.targets[name] = TargetState(str(raw))
                    notify = lambda: self.listener.on_target_state_change(name)  # noqa: E731
            elif text == "session-key":
                if payload is not None:
                    self.state.session_key = SessionKey(
                        base64.b64decode(str(payload["key"])),
                        str(payload["algorithm"]),
                        int(payload["creation-timestamp"]),
                    )
            elif text.startswith("tasks-fencing-"):
                name = text[len("tasks-fencing-") :]
                if payload is not None:
                    self.state.task_count_records[name] = int(payload["task-count"])
                    self.state.pending_fencing.discard(name)
                    notify = lambda: self.listener.on_task_count_record(name)  # noqa: E731
            elif text.startswith("restart-connector-"):
                name = text[len("restart-connector-") :]
                if payload is not None:
                    include, only = bool(payload.get("include-tasks")), bool(payload.get("only-failed"))
                    notify = lambda: self.listener.on_restart_request(name, include, only)  # noqa: E731
        if notify is not None:
            notify()

    def snapshot(self) -> ClusterConfigState:
        with self.lock:
            return ClusterConfigState(
                self.state.offset,
                {k: dict(v) for k, v in self.state.connectors.items()},
                dict(self.state.targets),
                {k: [dict(c) for c in v] for k, v in self.state.tasks.items()},
                self.state.session_key,
                dict(self.state.task_count_records),
                dict(self.state.task_config_generations),
                set(self.state.pending_fencing),
            )

    # -- writes (the leader only) --

    def _write(self, records: list[tuple[str, bytes | None]]) -> None:
        for key, value in records:
            self.log.send(key.encode("utf-8"), value)
        self.log.flush()
        self.log.read_to_end()

    def put_connector_config(self, name: str, config: Mapping[str, str], target: TargetState | None = None) -> None:
        records: list[tuple[str, bytes | None]] = []
        if target is not None:
            records.append((f"target-state-{name}", target_state_value(target)))
        records.append((f"connector-{name}", encode(PROPERTIES_V0, {"properties": dict(config)})))
        self._write(records)

    def remove_connector_config(self, name: str) -> None:
        self._write([(f"connector-{name}", None), (f"target-state-{name}", None)])

    def put_task_configs(self, name: str, configs: Sequence[Mapping[str, str]]) -> None:
        records: list[tuple[str, bytes | None]] = [
            (f"task-{name}-{i}", encode(PROPERTIES_V0, {"properties": dict(c)})) for i, c in enumerate(configs)
        ]
        records.append((f"commit-{name}", encode(COMMIT_V0, {"tasks": len(configs)})))
        self._write(records)

    def put_task_count_record(self, name: str, count: int) -> None:
        """KIP-618: the connector's previous task generation is fenced; its current `count` tasks may start."""
        self._write([(f"tasks-fencing-{name}", encode(TASK_COUNT_V0, {"task-count": count}))])

    def put_target_state(self, name: str, target: TargetState) -> None:
        self._write([(f"target-state-{name}", target_state_value(target))])

    def put_session_key(self, key: SessionKey) -> None:
        value = {
            "key": base64.b64encode(key.key).decode("ascii"),
            "algorithm": key.algorithm,
            "creation-timestamp": key.creation_timestamp,
        }
        self._write([("session-key", encode(SESSION_KEY_V0, value))])

    def put_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        value = encode(RESTART_V0, {"include-tasks": include_tasks, "only-failed": only_failed})
        self._write([(f"restart-connector-{name}", value)])


def target_state_value(target: TargetState) -> bytes:
    legacy = TargetState.PAUSED if target is TargetState.STOPPED else target
    return encode(TARGET_STATE_V1, {"state": legacy.value, "state.v2": target.value})


# -- offsets ---------------------------------------------------------------------------------------------------


class KafkaOffsetBackingStore:
    """Source offsets in the offsets topic; the same interface as the standalone offset file."""

    def __init__(self, log_: Log) -> None:
        self.log = log_
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}

    def start(self) -> None:
        self.log.start(self._consume)

    def stop(self) -> None:
        self.log.stop()

    def _consume(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        if key is None:
            return
        text = _canonical(key)
        with self._lock:
            if value is None:
                self._data.pop(text, None)
            else:
                self._data[text] = _canonical(value)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            text = self._data.get(key)
        return None if text is None else dict(json.loads(text))

    def set(self, values: Mapping[str, Mapping[str, Any] | None]) -> None:
        for key, data in self.records(values):
            self.log.send(key, data)
        self.cache(values)
        self.log.flush()

    @property
    def topic(self) -> str:
        """The offsets topic (`offset.storage.topic`), which exactly-once source tasks write in their transactions."""
        spec = getattr(self.log, "spec", None)
        return str(spec.name) if spec is not None else ""

    @staticmethod
    def records(values: Mapping[str, Mapping[str, Any] | None]) -> list[tuple[bytes, bytes | None]]:
        """(key, value) of the offsets topic records for `values` (see the module docstring)."""
        return [(key.encode("utf-8"), None if value is None else _compact_json(value)) for key, value in values.items()]

    def cache(self, values: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Make written offsets visible at once to this worker's tasks, as Kafka's store updates its cache."""
        with self._lock:
            for key, value in values.items():
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = _compact_json(value).decode()

    def connector_offsets(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        with self._lock:
            items = list(self._data.items())
        out = []
        for key, value in items:
            try:
                owner, partition = partition_of(key)
            except (ValueError, TypeError):
                continue
            if owner == connector:
                out.append((partition, dict(json.loads(value))))
        return out


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True).encode()


def _canonical(data: bytes) -> str:
    """Compact JSON with sorted keys, the form `offset_key` produces (Java writers may order keys otherwise)."""
    return json.dumps(json.loads(data), separators=(",", ":"), sort_keys=True)


# -- statuses --------------------------------------------------------------------------------------------------


class KafkaStatusBackingStore(StatusBackingStore):
    """Statuses of every worker: this worker's changes are written to the status topic, everybody's are read back.

    A record read back replaces the one held unless it is older: a lower `generation` (the group generation of the
    writer) than the one held for an instance run by another worker is stale (Kafka's rule), so an old owner's late
    UNASSIGNED does not hide the new owner's RUNNING.
    """

    def __init__(self, worker_id: str, log_: Log) -> None:
        super().__init__(worker_id)
        self.log = log_
        self.generation = 0

    def start(self) -> None:
        self.log.start(self._consume)

    def stop(self) -> None:
        self.log.stop()

    def record(self, key: str | ConnectorTaskId, event: StatusEvent, trace: str | None = None) -> None:
        name = f"status-connector-{key}" if isinstance(key, str) else f"status-task-{key.connector}-{key.task}"
        with self._lock:
            table: dict[object, Status] = self.connectors if isinstance(key, str) else self.tasks  # type: ignore[assignment]
            current = table.get(key)
            if event is StatusEvent.DELETION:
                table.pop(key, None)
                value = None
            else:
                if event is StatusEvent.SHUTDOWN and current is not None and current.state is State.FAILED:
                    return
                state = STATUS_TRANSITIONS[event]
                status = Status(state, self.worker_id, trace if state is State.FAILED else None, self.generation)
                table[key] = status
                value = encode(STATUS_V0, _status_json(status))
        try:
            self.log.send(name.encode("utf-8"), value)
        except Exception as exc:
            log.error("Failed to write status %s", name, exc_info=exc)

    def _consume(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        text = (key or b"").decode("utf-8", "replace")
        parsed: str | ConnectorTaskId | None = None
        if text.startswith("status-connector-"):
            parsed = text[len("status-connector-") :]
        elif text.startswith("status-task-"):
            connector, _, number = text[len("status-task-") :].rpartition("-")
            if number.isdigit():
                parsed = ConnectorTaskId(connector, int(number))
        if parsed is None:
            return
        payload = decode(value)
        with self._lock:
            table: dict[object, Status] = self.connectors if isinstance(parsed, str) else self.tasks  # type: ignore[assignment]
            if payload is None:
                if isinstance(parsed, str):
                    table.pop(parsed, None)
                return
            status = Status(
                State(str(payload["state"])),
                str(payload["worker_id"]),
                payload.get("trace"),
                int(payload.get("generation", 0)),
            )
            current = table.get(parsed)
            if current is not None and current.worker_id != status.worker_id and status.generation < current.generation:
                return
            table[parsed] = status


def _status_json(status: Status) -> dict[str, Any]:
    return {
        "state": status.state.value,
        "trace": status.trace,
        "worker_id": status.worker_id,
        "generation": status.generation,
    }
