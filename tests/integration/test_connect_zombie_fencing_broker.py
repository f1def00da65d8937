"""KIP-618 leader-side zombie fencing on a real broker: after tasks.max is reduced, the transactional id of a removed
task is fenced, so a zombie holding it cannot commit.

One `connect-distributed` worker (its own process, the group's leader) with `exactly.once.source.support=enabled`
runs a test source connector with one task per `tasks.max` (a plugin in `plugin.path`). The test plays the zombie of
task 3: a transactional producer with task 3's id `<group.id>-<connector>-3` (its init_transactions takes the id
over, as a task on a partitioned worker would still hold it) opens a transaction and writes a record. Then tasks.max
goes from 4 to 2: the leader fences the previous generation's four ids before the two new tasks start, and the
zombie's commit fails with a fenced error; its record is never visible to read_committed readers. The task count
record (`tasks-fencing-<connector>`) in the config topic says 2 afterwards, and the two new tasks run.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from connect_support import DistributedConnectProcess
from it_support import BrokerProcess, ck_create_topic, unique_topic, wait_for

GROUP_WAIT_S = 60.0
TASKS_WAIT_S = 60.0

PLUGIN = '''
"""Test plugin: one task per tasks.max, each producing a numbered record every 0.2 s."""
import time

from odradek.connect.api.connector import SourceConnector, SourceTask
from odradek.connect.api.data import STRING_SCHEMA
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.configdef import ConfigDef, ConfigType


class NumberedSourceConnector(SourceConnector):
    def version(self): return "1.0"
    def config(self): return ConfigDef().define("topic", ConfigType.STRING)
    def start(self, props): self.props = props
    def task_class(self): return NumberedSourceTask
    def task_configs(self, max_tasks): return [{**self.props, "task.number": str(i)} for i in range(max_tasks)]
    def stop(self): pass


class NumberedSourceTask(SourceTask):
    def version(self): return "1.0"
    def start(self, props):
        self.number, self.topic, self.polls = int(props["task.number"]), props["topic"], 0
    def poll(self):
        self.polls += 1
        time.sleep(0.2)
        return [SourceRecord(self.topic, 0, None, None, STRING_SCHEMA, f"t{self.number}-{self.polls}",
                             source_partition={"task": self.number}, source_offset={"polls": self.polls})]
    def stop(self): pass
'''


def _config_records(bootstrap: str, topic: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, payload) of the config topic's records, in order (read_committed, from the start; tombstones left out)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-fence-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    out: list[tuple[str, dict[str, Any]]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        deadline = time.monotonic() + 10
        position = 0
        while time.monotonic() < deadline and position < high:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            position = msg.offset() + 1
            if msg.value() is not None:
                out.append((msg.key().decode(), json.loads(msg.value())["payload"]))
    finally:
        consumer.close()
    return out


def _task_count_records(bootstrap: str, topic: str) -> list[int]:
    """The `tasks-fencing-numbered` records' task counts, in order."""
    return [int(v["task-count"]) for k, v in _config_records(bootstrap, topic) if k == "tasks-fencing-numbered"]


def _signed_fence(worker: DistributedConnectProcess, bootstrap: str, topic: str, connector: str) -> int:
    """PUT /connectors/<connector>/fence signed with the cluster's session key (from the config topic), as a
    worker sends it; the answer's status."""
    import urllib.error
    import urllib.request

    from odradek.connect.rest.signature import sign

    key = [v for k, v in _config_records(bootstrap, topic) if k == "session-key"][-1]
    signature = sign(str(key["algorithm"]), base64.b64decode(str(key["key"])), b"")
    request = urllib.request.Request(
        f"{worker.url}/connectors/{connector}/fence", data=b"", method="PUT", headers=signature.headers()
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)


def _running_tasks(worker: DistributedConnectProcess) -> list[int]:
    code, body, _ = worker.rest("GET", "/connectors/numbered/status")
    if code != 200:
        return []
    return sorted(t["id"] for t in body["tasks"] if t["state"] == "RUNNING")


def _committed_values(bootstrap: str, topic: str) -> list[str]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-fence-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    out: list[str] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        deadline = time.monotonic() + 20
        position = 0
        while time.monotonic() < deadline and position < high - 1:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            position = msg.offset()
            out.append(msg.value().decode())
    finally:
        consumer.close()
    return out


def test_reducing_tasks_max_fences_a_removed_tasks_transactional_id(tmp_path: Path, broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaException, Producer

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "numbered_source.py").write_text(PLUGIN, encoding="utf-8")
    topic = unique_topic("fence-out")
    ck_create_topic(broker.bootstrap, topic, 1)
    prefix = unique_topic("connect-fence")
    worker = DistributedConnectProcess(
        tmp_path / "worker",
        broker.bootstrap,
        prefix,
        {"exactly.once.source.support": "enabled", "plugin.path": str(plugins)},
    )
    zombie: Any = None
    try:
        worker.start()
        config = {"connector.class": "numbered_source.NumberedSourceConnector", "topic": topic, "tasks.max": "4"}
        assert wait_for(
            lambda: worker.rest("PUT", "/connectors/numbered/config", config)[0] in (200, 201),
            timeout=GROUP_WAIT_S,
            interval=0.5,
        )
        wait_for(lambda: _running_tasks(worker) == [0, 1, 2, 3], timeout=TASKS_WAIT_S, what="four tasks running")
        assert _task_count_records(broker.bootstrap, f"{prefix}-configs")[-1:] == [4]

        # The zombie of task 3: its transactional id, a transaction open with one record.
        zombie = Producer(
            {"bootstrap.servers": broker.bootstrap, "transactional.id": f"{prefix}-numbered-3", "log_level": 0}
        )
        zombie.init_transactions(30)
        zombie.begin_transaction()
        zombie.produce(topic, b"zombie-record", partition=0)
        assert zombie.flush(30) == 0

        code, body, _ = worker.rest("PUT", "/connectors/numbered/config", {**config, "tasks.max": "2"})
        assert code == 200, body
        wait_for(
            lambda: _task_count_records(broker.bootstrap, f"{prefix}-configs")[-1:] == [2],
            timeout=TASKS_WAIT_S,
            what="the task count record of the new generation",
        )
        with pytest.raises(KafkaException) as failure:
            zombie.commit_transaction(30)
        error = failure.value.args[0]
        assert error.fatal() or "fenced" in str(error).lower(), error
        assert "fenc" in str(error).lower() or "epoch" in str(error).lower(), error

        wait_for(lambda: _running_tasks(worker) == [0, 1], timeout=TASKS_WAIT_S, what="the two new tasks running")
        # The internal endpoint: signed by the session key in a sessioned group (Kafka's 400 without it).
        code, body, _ = worker.rest("PUT", "/connectors/numbered/fence")
        assert (code, body["message"]) == (400, "Internal request missing required signature"), body
        configs = f"{prefix}-configs"
        assert _signed_fence(worker, broker.bootstrap, configs, "numbered") == 204  # nothing pending: no-op round
        assert _signed_fence(worker, broker.bootstrap, configs, "nope") == 404
        assert _task_count_records(broker.bootstrap, configs)[-1:] == [2]
        values = _committed_values(broker.bootstrap, topic)
        assert "zombie-record" not in values and any(v.startswith("t0-") for v in values)
        assert worker.stop() == 0
    finally:
        worker.cleanup()
