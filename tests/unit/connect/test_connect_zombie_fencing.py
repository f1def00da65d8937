"""KIP-618 zombie fencing in distributed mode without a broker: the config topic's task count records, the leader's
fencing rounds (which ids, when, in which order with the records) and tasks held until their generation is fenced.

The stores run on the in-memory log of test_connect_distributed_stores; the worker's fencing (`fence_producers`) and
task starts are recorded instead of reaching a broker."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from odradek.connect.api.errors import BadRequestException, ConflictException, ConnectException, NotFoundException
from odradek.connect.config.providers import ConfigTransformer
from odradek.connect.config.worker import WorkerConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # kafka-python's importlib.resources use
    from odradek.connect.distributed.herder import DistributedHerder
from odradek.connect.distributed.protocol import ConnectProtocolCompatibility
from odradek.connect.distributed.stores import KafkaConfigBackingStore, KafkaOffsetBackingStore, KafkaStatusBackingStore
from odradek.connect.plugins import Plugins
from odradek.connect.rest.server import FORWARDED
from odradek.connect.runtime import zombie_fencing
from odradek.connect.runtime.standalone import StandaloneHerder
from odradek.connect.runtime.states import ConnectorTaskId, TargetState
from odradek.connect.runtime.worker import Worker
from test_connect_distributed_stores import MemoryLog

SOURCE = {"name": "c", "connector.class": "FileStreamSource", "file": "/dev/null", "topic": "t", "tasks.max": "4"}
SINK = {"name": "k", "connector.class": "FileStreamSink", "file": "/dev/null", "topics": "t", "tasks.max": "4"}


class RecordingLog(MemoryLog):
    """A MemoryLog that also notes each key written in `events` (shared with the fencing recorder)."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events

    def send(self, key: bytes, value: bytes | None) -> None:
        self.events.append(("write", key.decode()))
        super().send(key, value)


class RejoinCounter:
    """The group member as the herder's config event handling uses it."""

    def __init__(self) -> None:
        self.rejoins = 0

    def request_rejoin(self) -> None:
        self.rejoins += 1


class Cluster:
    """One DistributedHerder (leader or follower) on a recording config log, fencing and task starts recorded."""

    def __init__(self, exactly_once: str = "enabled", fail_fencing: bool = False) -> None:
        self.events: list[Any] = []
        config = WorkerConfig.parse(
            {
                "group.id": "g",
                "config.storage.topic": "c",
                "offset.storage.topic": "o",
                "status.storage.topic": "s",
                "exactly.once.source.support": exactly_once,
            }
        )
        plugins = Plugins(())
        statuses = KafkaStatusBackingStore("w1:8083", MemoryLog())
        self.worker = Worker(
            "w1:8083", config, plugins, KafkaOffsetBackingStore(MemoryLog()), statuses, ConfigTransformer({})
        )
        self.fail_fencing = fail_fencing

        def fence_producers(client_config: Any, ids: list[str]) -> None:
            self.events.append(("fence", tuple(ids)))
            if self.fail_fencing:
                raise ConnectException("broker unreachable")

        self.worker.fence_producers = fence_producers  # type: ignore[method-assign]
        self.worker.start_task = self.start_task  # type: ignore[method-assign]
        self.herder = DistributedHerder(self.worker, plugins, statuses, config, "http://w1:8083/")
        self.log = RecordingLog(self.events)
        self.store = KafkaConfigBackingStore(self.log, self.herder)
        self.store.start()
        self.herder.config_store = self.store
        self.herder.member = RejoinCounter()  # type: ignore[assignment]

    def start_task(self, task_id: ConnectorTaskId, *args: Any) -> bool:
        self.events.append(("start", str(task_id)))
        return True

    def become(self, member: str, leader: str) -> None:
        h = self.herder
        h.member_id, h.leader_id, h.leader_url = member, leader, f"http://{leader}/"
        h.protocol_in_use, h.rebalancing = ConnectProtocolCompatibility.COMPATIBLE, False

    def create(self, config: dict[str, str]) -> None:
        self.store.put_connector_config(config["name"], config)
        with self.herder.lock:
            self.herder._mirror()

    def drain(self) -> None:
        """What the herder thread does with the queued config events."""
        while self.herder.events:
            self.herder._handle(*self.herder.events.popleft())

    def fences(self) -> list[tuple[str, ...]]:
        return [e[1] for e in self.events if e[0] == "fence"]


def configs(n: int) -> list[dict[str, str]]:
    return [{"task": str(i)} for i in range(n)]


def test_the_store_tracks_task_count_records_generations_and_pending_fencing() -> None:
    cluster = Cluster()
    store = cluster.store
    cluster.create(SOURCE)
    state = store.snapshot()
    assert state.pending_fencing == set() and state.task_count_records == {} and state.task_config_generations == {}
    store.put_task_configs("c", configs(2))
    state = store.snapshot()
    assert state.pending_fencing == {"c"} and state.task_config_generations == {"c": 0}
    store.put_task_count_record("c", 2)
    assert cluster.log.records[-1][0] == b"tasks-fencing-c"
    assert b'"task-count":2' in (cluster.log.records[-1][1] or b"")  # Kafka's field name, JsonConverter envelope
    state = store.snapshot()
    assert state.pending_fencing == set() and state.task_count_records == {"c": 2}
    store.put_task_configs("c", configs(1))
    assert store.snapshot().pending_fencing == {"c"} and store.snapshot().task_config_generations == {"c": 1}
    fresh = MemoryLog()  # a worker reading the topic from the start
    fresh.records = list(cluster.log.records)
    replayed = KafkaConfigBackingStore(fresh, Cluster().herder)
    replayed.start()
    assert replayed.snapshot().task_count_records == {"c": 2} and replayed.snapshot().pending_fencing == {"c"}
    store.remove_connector_config("c")
    state = store.snapshot()
    assert state.pending_fencing == set() and state.task_count_records == {} and state.task_config_generations == {}


def test_reducing_tasks_fences_every_id_of_the_previous_generation_before_the_count_record() -> None:
    cluster = Cluster()
    cluster.become("m1", "m1")
    cluster.create(SOURCE)
    cluster.herder._write_tasks("c", configs(4))
    assert cluster.fences() == []  # the first generation: nothing ran transactionally before it
    assert cluster.store.state.task_count_records == {"c": 4} and cluster.store.state.pending_fencing == set()
    cluster.events.clear()
    cluster.herder._write_tasks("c", configs(2))  # tasks.max 4 -> 2
    ids = tuple(f"g-c-{i}" for i in range(4))  # the removed tasks 2 and 3 too
    writes = [e for e in cluster.events if e[0] == "write"]
    assert cluster.fences() == [ids]
    order = [e if e[0] == "fence" else e[1] for e in cluster.events]
    assert order == ["task-c-0", "task-c-1", "commit-c", ("fence", ids), "tasks-fencing-c"], writes
    assert cluster.store.state.task_count_records == {"c": 2}


def test_one_task_to_one_task_writes_the_record_without_fencing() -> None:
    cluster = Cluster()
    cluster.become("m1", "m1")
    cluster.create(SOURCE)
    cluster.herder._write_tasks("c", configs(1))
    cluster.herder._write_tasks("c", [{"task": "changed"}])
    assert cluster.fences() == []  # the new task's own init_transactions fences the old one
    assert cluster.store.state.task_count_records == {"c": 1} and cluster.store.state.pending_fencing == set()
    cluster.herder._write_tasks("c", configs(3))  # 1 -> 3: the old single task is fenced
    assert cluster.fences() == [("g-c-0",)]


def test_tasks_committed_before_any_count_record_are_fenced_too() -> None:
    """A connector whose tasks ran before task count records existed (no record yet) still has its committed
    generation fenced when its task configs change (a superset of Kafka's rule, which fences only recorded ones)."""
    cluster = Cluster()
    cluster.become("m1", "m1")
    cluster.create(SOURCE)
    cluster.store.put_task_configs("c", configs(3))  # written without a fencing round
    cluster.herder._write_tasks("c", configs(2))
    assert cluster.fences() == [("g-c-0", "g-c-1", "g-c-2")]


@pytest.mark.parametrize("mode", ["disabled", "preparing"])
def test_no_fencing_without_exactly_once_source_support(mode: str) -> None:
    cluster = Cluster(exactly_once=mode)
    cluster.become("m1", "m1")
    cluster.create(SOURCE)
    cluster.herder._write_tasks("c", configs(4))
    cluster.herder._write_tasks("c", configs(2))
    assert cluster.fences() == [] and cluster.store.state.task_count_records == {}


def test_sink_connectors_are_not_fenced_and_their_tasks_not_held() -> None:
    cluster = Cluster()
    cluster.become("m1", "m1")
    cluster.create(SINK)
    cluster.herder._write_tasks("k", configs(4))
    cluster.herder._write_tasks("k", configs(2))
    assert cluster.fences() == [] and cluster.store.state.task_count_records == {}
    with cluster.herder.lock:
        cluster.herder._mirror()
        cluster.herder._start_task_here(ConnectorTaskId("k", 0))
    assert ("start", "k-0") in cluster.events


def assign_and_start(h: Any, count: int) -> list[ConnectorTaskId]:
    """Connector c's tasks 0..count-1 assigned to this worker and started here (as a rebalance would)."""
    tasks = [ConnectorTaskId("c", i) for i in range(count)]
    with h.lock:
        h.assigned_tasks.update(tasks)
        for task_id in tasks:
            h._start_task_here(task_id)
    return tasks


def test_a_new_generations_tasks_wait_for_the_count_record() -> None:
    """Ordering before task start: a worker holds the tasks of a connector pending fencing, and starts them when
    the task count record (written after the fencing) is read."""
    cluster = Cluster()
    cluster.become("m2", "m1")  # a follower: the leader writes the config topic
    cluster.create(SOURCE)
    h = cluster.herder
    cluster.store.put_task_configs("c", configs(2))  # the leader's commit
    cluster.drain()
    tasks = assign_and_start(h, 2)
    assert [e for e in cluster.events if e[0] == "start"] == []
    assert h.held_tasks == set(tasks) and "c" in h.fence_at  # a fence request is scheduled
    cluster.store.put_task_count_record("c", 2)  # the leader's record, after its fencing round
    cluster.drain()
    starts = [e[1] for e in cluster.events if e[0] == "start"]
    assert starts == ["c-0", "c-1"] and h.held_tasks == set()
    assert cluster.events.index(("write", "tasks-fencing-c")) < cluster.events.index(("start", "c-0"))


def test_a_held_task_no_longer_assigned_is_dropped_when_the_record_arrives() -> None:
    cluster = Cluster()
    cluster.become("m2", "m1")
    cluster.create(SOURCE)
    h = cluster.herder
    cluster.store.put_task_configs("c", configs(2))
    cluster.drain()
    with h.lock:
        h.assigned_tasks.add(ConnectorTaskId("c", 1))
        h._start_task_here(ConnectorTaskId("c", 1))
        h.assigned_tasks.clear()  # revoked meanwhile
    cluster.store.put_task_count_record("c", 2)
    cluster.drain()
    assert [e for e in cluster.events if e[0] == "start"] == [] and h.held_tasks == set()


def test_a_failed_round_holds_the_tasks_and_a_fence_request_completes_it() -> None:
    cluster = Cluster()
    cluster.become("m1", "m1")
    cluster.create(SOURCE)
    h = cluster.herder
    h._write_tasks("c", configs(4))
    cluster.fail_fencing = True
    h._write_tasks("c", configs(2))  # the configs are written, the fencing fails: no count record
    assert cluster.store.state.pending_fencing == {"c"} and cluster.store.state.task_count_records == {"c": 4}
    cluster.fail_fencing = False
    cluster.events.clear()
    h.fence_zombie_source_tasks("c")  # PUT /connectors/c/fence (a held task's worker asks)
    assert cluster.fences() == [tuple(f"g-c-{i}" for i in range(4))]
    assert cluster.store.state.task_count_records == {"c": 2} and cluster.store.state.pending_fencing == set()
    cluster.events.clear()
    h.fence_zombie_source_tasks("c")  # nothing pending: no fencing, no write
    assert cluster.events == []


def test_the_fence_endpoint_answers_kafkas_errors() -> None:
    cluster = Cluster()
    h = cluster.herder
    cluster.create(SOURCE)
    cluster.create(SINK)
    h.rebalancing = True
    with pytest.raises(ConflictException):  # no leader known (a rebalance)
        h.fence_zombie_source_tasks("c")
    cluster.become("m1", "m1")
    with pytest.raises(NotFoundException, match="Connector nope not found"):
        h.fence_zombie_source_tasks("nope")
    with pytest.raises(BadRequestException, match="Connector k is not a source connector"):
        h.fence_zombie_source_tasks("k")
    cluster.become("m2", "m1")
    token = FORWARDED.set(True)
    try:
        with pytest.raises(ConflictException, match="conflicting operation"):  # forwarded to a non-leader
            h.fence_zombie_source_tasks("c")
    finally:
        FORWARDED.reset(token)
    cluster.become("m1", "m1")
    h.protocol_in_use = ConnectProtocolCompatibility.SESSIONED
    with pytest.raises(BadRequestException, match="missing required signature"):
        h.fence_zombie_source_tasks("c")


def test_a_standalone_worker_does_not_serve_fencing() -> None:
    with pytest.raises(NotFoundException):
        StandaloneHerder.fence_zombie_source_tasks(None, "c")  # type: ignore[arg-type]


def test_worker_fences_the_connectors_ids_with_its_producer_settings() -> None:
    cluster = Cluster()
    seen: list[Any] = []
    cluster.worker.fence_producers = lambda config, ids: seen.append((config, ids))  # type: ignore[method-assign]
    cluster.worker.fence_zombies("c", 3, {**SOURCE, "producer.override.linger.ms": "7"})
    ((config, ids),) = seen
    assert ids == ["g-c-0", "g-c-1", "g-c-2"] and config["linger.ms"] == "7" and "bootstrap.servers" in config


def test_fence_producers_runs_each_id_and_names_the_failures() -> None:
    done: list[str] = []

    def fence(config: Any, tid: str, timeout: float) -> None:
        done.append(tid)
        if tid.endswith("1"):
            raise RuntimeError("fenced failed")

    with pytest.raises(ConnectException, match=r"1 of 3 transactional ids: a-1: fenced failed"):
        zombie_fencing.fence_producers({}, ["a-0", "a-1", "a-2"], fence)
    assert sorted(done) == ["a-0", "a-1", "a-2"]
    zombie_fencing.fence_producers({}, [], fence)  # nothing to fence: no call
    assert len(done) == 3


def test_target_state_stop_then_resume_fences_the_stopped_generation() -> None:
    cluster = Cluster()
    cluster.become("m1", "m1")
    cluster.create(SOURCE)
    h = cluster.herder
    h._write_tasks("c", configs(3))
    h._set_target("c", TargetState.STOPPED)  # zero task configs committed
    assert cluster.store.state.pending_fencing == {"c"}
    h._write_tasks("c", configs(2))  # resumed: the recorded 3 are fenced
    assert cluster.fences() == [("g-c-0", "g-c-1", "g-c-2")]


def test_every_local_task_restarts_held_on_a_new_generation_even_with_an_unchanged_config() -> None:
    """The fencing round fences all the previous generation's ids, so a task whose config did not change must not
    keep running with its fenced producer: it restarts (held until the count record) like the others."""
    cluster = Cluster()
    cluster.become("m2", "m1")
    cluster.create(SOURCE)
    h = cluster.herder
    cluster.store.put_task_configs("c", configs(2))
    cluster.store.put_task_count_record("c", 2)
    cluster.drain()
    tasks = assign_and_start(h, 2)
    assert [e[1] for e in cluster.events if e[0] == "start"] == ["c-0", "c-1"]
    stopped: list[Any] = []

    def stop(ids: list[ConnectorTaskId]) -> None:
        for task_id in ids:
            stopped.append(task_id)
            h.worker.tasks.pop(task_id, None)

    h.worker.stop_and_await_tasks = stop  # type: ignore[method-assign]
    h.worker.tasks = {t: object() for t in tasks}  # type: ignore[misc]  # both running
    cluster.events.clear()
    cluster.store.put_task_configs("c", [configs(2)[0], {"task": "changed"}])  # task 0's config is the same
    cluster.drain()
    assert stopped == tasks and h.held_tasks == set(tasks)
    assert [e for e in cluster.events if e[0] == "start"] == []
