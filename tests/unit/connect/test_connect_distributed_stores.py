"""The distributed backing stores over an in-memory log: Kafka's keys and value formats, and how records apply."""

from __future__ import annotations

import json
from typing import Any

from odradek.connect.distributed.stores import (
    STATUS_V0,
    ClusterConfigState,
    Consumer,
    KafkaConfigBackingStore,
    KafkaOffsetBackingStore,
    KafkaStatusBackingStore,
    encode,
)
from odradek.connect.runtime.offsets import offset_key
from odradek.connect.runtime.states import ConnectorTaskId, State, StatusEvent, TargetState

CONFIG_SCHEMA = {
    "type": "struct",
    "fields": [
        {
            "type": "map",
            "keys": {"type": "string", "optional": False},
            "values": {"type": "string", "optional": False},
            "optional": False,
            "field": "properties",
        }
    ],
    "optional": False,
}


class MemoryLog:
    """A log whose sends are applied at once, in order, to the consumer (as one reader would)."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.consume: Consumer | None = None

    def start(self, consume: Consumer) -> None:
        self.consume = consume
        for offset, (key, value) in enumerate(self.records):
            consume(key, value, offset)

    def send(self, key: bytes, value: bytes | None) -> None:
        self.records.append((key, value))
        if self.consume is not None:
            self.consume(key, value, len(self.records) - 1)

    def flush(self) -> None:
        pass

    def read_to_end(self, timeout_s: float = 0) -> None:
        pass

    def stop(self) -> None:
        pass


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    def on_connector_config_update(self, name: str) -> None:
        self.seen.append(("connector", name))

    def on_task_config_update(self, name: str) -> None:
        self.seen.append(("tasks", name))

    def on_target_state_change(self, name: str) -> None:
        self.seen.append(("target", name))

    def on_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        self.seen.append(("restart", name, str(include_tasks), str(only_failed)))


def record(log: MemoryLog, key: str) -> Any:
    values = [v for k, v in log.records if k == key.encode()]
    return None if values[-1] is None else json.loads(values[-1])


def test_config_writes_use_kafkas_keys_and_envelopes() -> None:
    log, events = MemoryLog(), Events()
    store = KafkaConfigBackingStore(log, events)
    store.start()
    store.put_connector_config("c", {"connector.class": "FileStreamSink"}, TargetState.PAUSED)
    store.put_task_configs("c", [{"t": "0"}, {"t": "1"}])
    assert [k.decode() for k, _ in log.records] == [
        "target-state-c",
        "connector-c",
        "task-c-0",
        "task-c-1",
        "commit-c",
    ]
    assert record(log, "connector-c") == {
        "schema": CONFIG_SCHEMA,
        "payload": {"properties": {"connector.class": "FileStreamSink"}},
    }
    assert record(log, "commit-c")["payload"] == {"tasks": 2}
    assert record(log, "target-state-c")["payload"] == {"state": "PAUSED", "state.v2": "PAUSED"}
    state = store.snapshot()
    assert state.connectors == {"c": {"connector.class": "FileStreamSink"}}
    assert state.tasks == {"c": [{"t": "0"}, {"t": "1"}]}
    assert state.targets == {"c": TargetState.PAUSED}
    assert state.offset == 5  # the next offset to read, as Kafka's ClusterConfigState.offset()
    assert events.seen == [("target", "c"), ("connector", "c"), ("tasks", "c")]


def test_stopped_is_written_paused_for_old_readers_and_read_as_stopped() -> None:
    log = MemoryLog()
    store = KafkaConfigBackingStore(log, Events())
    store.start()
    store.put_connector_config("c", {"k": "v"})
    store.put_target_state("c", TargetState.STOPPED)
    assert record(log, "target-state-c")["payload"] == {"state": "PAUSED", "state.v2": "STOPPED"}
    assert store.snapshot().targets["c"] is TargetState.STOPPED


def test_task_configs_apply_only_at_their_commit_and_a_tombstone_removes_the_connector() -> None:
    log = MemoryLog()
    store = KafkaConfigBackingStore(log, Events())
    store.start()
    store.put_connector_config("c", {"k": "v"})
    log.send(b"task-c-0", encode_properties({"a": "1"}))
    assert store.snapshot().tasks == {}
    log.send(b"commit-c", b'{"schema":null,"payload":{"tasks":1}}')
    assert store.snapshot().tasks == {"c": [{"a": "1"}]}
    # a commit naming more tasks than were written is ignored (Kafka: inconsistent connector)
    log.send(b"commit-c", b'{"tasks":2}')
    assert store.snapshot().tasks == {"c": [{"a": "1"}]}
    store.remove_connector_config("c")
    assert store.snapshot() == ClusterConfigState(store.snapshot().offset, {}, {}, {})


def test_a_restarted_reader_rebuilds_the_same_state() -> None:
    log = MemoryLog()
    first = KafkaConfigBackingStore(log, Events())
    first.start()
    first.put_connector_config("a", {"k": "1"})
    first.put_task_configs("a", [{"x": "y"}])
    first.put_restart_request("a", True, False)
    events = Events()
    second = KafkaConfigBackingStore(log, events)
    second.start()
    assert second.snapshot() == first.snapshot()
    assert ("restart", "a", "True", "False") in events.seen


def encode_properties(props: dict[str, str]) -> bytes:
    from odradek.connect.distributed.stores import PROPERTIES_V0

    return encode(PROPERTIES_V0, {"properties": props})


def test_offsets_are_schemaless_json_keyed_like_the_standalone_file() -> None:
    log = MemoryLog()
    store = KafkaOffsetBackingStore(log)
    store.start()
    key = offset_key("src", {"filename": "/tmp/in"})
    store.set({key: {"position": 42}})
    assert log.records == [(b'["src",{"filename":"/tmp/in"}]', b'{"position":42}')]
    assert store.get(key) == {"position": 42}
    # a Java worker's record, keys in another order, reads the same
    log.send(b'["src", {"filename": "/tmp/other"}]', b'{"position": 7}')
    assert sorted(p["filename"] for p, _ in store.connector_offsets("src")) == ["/tmp/in", "/tmp/other"]
    store.set({key: None})
    assert log.records[-1] == (key.encode(), None) and store.get(key) is None


def test_statuses_are_shared_and_an_old_generation_does_not_overwrite_a_newer_owner() -> None:
    log = MemoryLog()
    mine = KafkaStatusBackingStore("w1:8083", log)
    mine.start()
    mine.generation = 4
    task = ConnectorTaskId("c", 0)
    mine.record(task, StatusEvent.STARTUP)
    assert record(log, "status-task-c-0")["payload"] == {
        "state": "RUNNING",
        "trace": None,
        "worker_id": "w1:8083",
        "generation": 4,
    }
    theirs = KafkaStatusBackingStore("w2:8083", log)
    theirs.start()
    assert theirs.task(task) is not None and theirs.task(task).state is State.RUNNING  # type: ignore[union-attr]
    stale = {"state": "UNASSIGNED", "trace": None, "worker_id": "w0:8083", "generation": 3}
    log.send(b"status-task-c-0", encode(STATUS_V0, stale))
    assert theirs.task(task).worker_id == "w1:8083"  # type: ignore[union-attr]
    mine.record("c", StatusEvent.STARTUP)
    mine.record("c", StatusEvent.DELETION)
    assert log.records[-1] == (b"status-connector-c", None)
    assert theirs.connector("c") is None
