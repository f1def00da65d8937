"""DistributedHerder without a broker: the leader's assignment bytes, leader-only writes and the 409 rules.

The config and status stores run on the in-memory log of test_connect_distributed_stores; no group member is
attached (the callbacks the member would make are called directly).
"""

from __future__ import annotations

import warnings

import pytest
from odradek.connect.api.errors import AlreadyExistsException, ConflictException
from odradek.connect.config.providers import ConfigTransformer
from odradek.connect.config.worker import WorkerConfig

with warnings.catch_warnings():
    # kafka-python 3.0 (the group client) loads its JSON specs with the deprecated importlib.resources.read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    from odradek.connect.distributed.herder import NO_LEADER, NOT_LEADER_AFTER_FORWARD, DistributedHerder
from odradek.connect.distributed.protocol import (
    ConnectAssignment,
    ConnectProtocolCompatibility,
    WorkerState,
    deserialize_assignment,
)
from odradek.connect.distributed.stores import KafkaConfigBackingStore, KafkaOffsetBackingStore, KafkaStatusBackingStore
from odradek.connect.plugins import Plugins
from odradek.connect.rest.server import FORWARDED
from odradek.connect.runtime.states import ConnectorTaskId
from odradek.connect.runtime.worker import Worker
from test_connect_distributed_stores import MemoryLog

SESSIONED = ConnectProtocolCompatibility.SESSIONED
SINK = {"name": "c", "connector.class": "FileStreamSink", "topics": "t", "file": "/dev/null", "tasks.max": "2"}


@pytest.fixture
def herder() -> DistributedHerder:
    config = WorkerConfig.parse({"config.storage.topic": "c", "offset.storage.topic": "o", "status.storage.topic": "s"})
    plugins = Plugins(())
    statuses = KafkaStatusBackingStore("w1:8083", MemoryLog())
    worker = Worker("w1:8083", config, plugins, KafkaOffsetBackingStore(MemoryLog()), statuses, ConfigTransformer({}))
    out = DistributedHerder(worker, plugins, statuses, config, "http://w1:8083/")
    store = KafkaConfigBackingStore(MemoryLog(), out)
    store.start()
    out.config_store = store
    return out


def become(herder: DistributedHerder, member: str, leader: str) -> None:
    herder.member_id, herder.leader_id, herder.leader_url = member, leader, f"http://{leader}/"
    herder.protocol_in_use, herder.rebalancing = SESSIONED, False


def test_writes_are_refused_409_while_no_leader_is_known(herder: DistributedHerder) -> None:
    with pytest.raises(ConflictException, match=NO_LEADER.replace(".", r"\.")):
        herder.put_connector_config("c", SINK, False)


def test_the_leader_writes_the_config_topic_and_refuses_duplicates(herder: DistributedHerder) -> None:
    become(herder, "m1", "m1")
    created, info = herder.put_connector_config("c", SINK, False)
    assert created and info["name"] == "c" and info["type"] == "sink"
    assert herder.connectors() == ["c"]
    assert herder.config_store is not None
    log = herder.config_store.log
    assert [k for k, _ in log.records] == [b"connector-c"]  # type: ignore[attr-defined]
    with pytest.raises(AlreadyExistsException):
        herder.put_connector_config("c", SINK, False)
    herder.stop_connector("c")  # STOPPED: the target state, then zero task configs (Kafka's stopConnector)
    assert [k for k, _ in log.records][1:] == [b"target-state-c", b"commit-c"]  # type: ignore[attr-defined]
    assert herder.connector_info("c")["tasks"] == []


def test_a_forwarded_request_reaching_a_follower_is_409_not_forwarded_again(herder: DistributedHerder) -> None:
    become(herder, "m2", "m1")
    token = FORWARDED.set(True)
    try:
        with pytest.raises(ConflictException, match=r"conflicting operation"):
            herder.delete_connector_config("c")
    finally:
        FORWARDED.reset(token)
    assert NOT_LEADER_AFTER_FORWARD.startswith("Cannot complete request because of a conflicting operation")


def test_perform_assignment_encodes_kafkas_assignment_for_each_member(herder: DistributedHerder) -> None:
    become(herder, "m1", "m1")
    herder.put_connector_config("c", SINK, False)
    assert herder.config_store is not None
    herder.config_store.put_task_configs("c", [{"t": "0"}, {"t": "1"}])
    members = {"m1": WorkerState("http://w1:8083/", 0), "m2": WorkerState("http://w2:8083/", 0)}
    out = herder.perform_assignment("m1", SESSIONED, members)
    decoded = {m: deserialize_assignment(b) for m, b in out.items()}
    assert out["m1"][:2] == b"\x00\x02"  # sessioned assignments are version 2
    assert {a.leader for a in decoded.values()} == {"m1"}
    assert {a.leader_url for a in decoded.values()} == {"http://w1:8083/"}
    assert {a.config_offset for a in decoded.values()} == {herder.config_store.state.offset}
    assert sorted(c for a in decoded.values() for c in a.connectors) == ["c"]
    assert sorted(t for a in decoded.values() for t in a.tasks) == [ConnectorTaskId("c", 0), ConnectorTaskId("c", 1)]
    # a member reporting what it runs keeps it: nothing new, nothing revoked
    running = {
        m: WorkerState(s.url, 0, ConnectAssignment(connectors=decoded[m].connectors, tasks=decoded[m].tasks))
        for m, s in members.items()
    }
    again = {m: deserialize_assignment(b) for m, b in herder.perform_assignment("m1", SESSIONED, running).items()}
    assert all(a.is_empty() for a in again.values())


def test_the_config_topics_replay_before_attach_is_left_to_start() -> None:
    """At start-up the config store replays its topic into the herder before main.py attaches it (the member needs
    the herder); those callbacks used to assert in `_mirror`. They are ignored: start() mirrors the whole state."""
    config = WorkerConfig.parse({"config.storage.topic": "c", "offset.storage.topic": "o", "status.storage.topic": "s"})
    plugins = Plugins(())
    statuses = KafkaStatusBackingStore("w1:8083", MemoryLog())
    worker = Worker("w1:8083", config, plugins, KafkaOffsetBackingStore(MemoryLog()), statuses, ConfigTransformer({}))
    herder = DistributedHerder(worker, plugins, statuses, config, "http://w1:8083/")
    log = MemoryLog()
    writer = KafkaConfigBackingStore(log, herder)
    writer.start()
    herder.config_store = writer
    writer.put_connector_config("c", SINK)
    writer.put_task_configs("c", [SINK])
    writer.put_restart_request("c", True, False)
    fresh = DistributedHerder(worker, plugins, statuses, config, "http://w1:8083/")
    replaying = KafkaConfigBackingStore(log, fresh)
    replaying.start()  # replays the connector config (and restart request) before any attach
    assert not fresh.events, "nothing queued from the replay"
    fresh.config_store = replaying
    with fresh.lock:
        fresh._mirror()
    assert "c" in fresh.configs, "the state is there once attached"
