"""`odradek connect-standalone` end to end against a real Odradek broker (module-scoped `broker` fixture).

- FileStreamSource reads a file into a topic and FileStreamSink writes the topic to a file; after a SIGTERM and a
  restart on the same offset file, lines appended meanwhile arrive once, and no line is produced or written twice.
- A task that raises goes FAILED with its trace in the status while the other task of the connector, the other
  connectors and the REST API keep working; restarting only failed tasks (KIP-745) shows RESTARTING.
- errors.tolerance=all with a DLQ: records the value converter cannot read go to the DLQ topic, unchanged, with
  Kafka's `__connect.errors.*` context headers; with errors.tolerance=none the same record fails the task.
- KIP-875 sink offsets: stop, read the group offsets, rewind with PATCH, resume, the records are written again;
  DELETE resets them. The kafka-connect-py client from PyPI drives the same worker.
- A sink whose put() raises RetriableException gets the same batch again and loses nothing; records it reports
  through the errant record reporter reach the DLQ with stage TASK_PUT.
- A JSON connector file whose settings reference a file config provider: the worker uses the resolved value while
  the REST API shows the reference.
- Every `listeners` entry serves the API.
- A connector file that fails validation stops the worker with exit code 1 and Kafka's message;
  connect-distributed without its storage topics exits 1 with Kafka's missing-configuration message.
Every wait is bounded; each worker process is killed in a finalizer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connect_support import ConnectProcess, connect_env, write_properties
from it_support import (
    BrokerProcess,
    ck_consume,
    ck_create_topic,
    ck_produce,
    ck_watermarks,
    free_port,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

FAILING_PLUGIN = '''
"""Test plugin: task 0 produces a counter, task 1 raises on its third poll."""
import time

from odradek.connect.api.connector import SourceConnector, SourceTask
from odradek.connect.api.data import STRING_SCHEMA
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.configdef import ConfigDef, ConfigType


class HalfBrokenSourceConnector(SourceConnector):
    def version(self): return "1.0"
    def config(self): return ConfigDef().define("topic", ConfigType.STRING)
    def start(self, props): self.props = props
    def task_class(self): return HalfBrokenSourceTask
    def task_configs(self, max_tasks): return [{**self.props, "task.number": str(i)} for i in range(max_tasks)]
    def stop(self): pass


class HalfBrokenSourceTask(SourceTask):
    def version(self): return "1.0"
    def start(self, props):
        self.number, self.topic, self.polls = int(props["task.number"]), props["topic"], 0
    def poll(self):
        self.polls += 1
        if self.number == 1 and self.polls >= 3:
            raise RuntimeError("boom from task 1")
        time.sleep(0.05)
        return [SourceRecord(self.topic, 0, None, None, STRING_SCHEMA, f"t{self.number}-{self.polls}")]
    def stop(self): pass
'''


FLAKY_SINK_PLUGIN = '''
"""Test plugin: a sink whose put() raises RetriableException twice, and reports values "bad" as errant records."""
from odradek.connect.api.connector import SinkConnector, SinkTask
from odradek.connect.api.errors import RetriableException
from odradek.connect.config.configdef import ConfigDef, ConfigType


class FlakySinkConnector(SinkConnector):
    def version(self): return "1.0"
    def config(self): return ConfigDef().define("file", ConfigType.STRING)
    def start(self, props): self.props = props
    def task_class(self): return FlakySinkTask
    def task_configs(self, max_tasks): return [dict(self.props)]
    def stop(self): pass


class FlakySinkTask(SinkTask):
    def version(self): return "1.0"
    def start(self, props):
        self.out, self.failures = open(props["file"], "a"), 0
    def put(self, records):
        if records and self.failures < 2:
            self.failures += 1
            self.context.timeout(200)
            raise RetriableException(f"not yet ({self.failures})")
        for record in records:
            if record.value == "bad":
                self.context.errant_record_reporter().report(record, ValueError("bad value"))
            else:
                self.out.write(record.value + "\\n")
    def flush(self, offsets): self.out.flush()
    def stop(self): self.out.close()
'''


@pytest.fixture
def connect_factory(tmp_path: Path) -> Iterator[Callable[..., ConnectProcess]]:
    started: list[ConnectProcess] = []

    def make(bootstrap: str, extra: dict[str, str] | None = None, workdir: Path | None = None) -> ConnectProcess:
        proc = ConnectProcess(workdir or tmp_path / f"connect{len(started)}", bootstrap, extra)
        proc.workdir.mkdir(parents=True, exist_ok=True)
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def wait_lines(path: Path, count: int, timeout: float = 30.0) -> list[str]:
    wait_for(lambda: len(lines(path)) >= count, timeout=timeout, what=f"{count} lines in {path.name}")
    return lines(path)


def status_of(worker: ConnectProcess, name: str) -> dict[str, Any]:
    code, body, _ = worker.rest("GET", f"/connectors/{name}/status")
    assert code == 200, body
    return dict(body)


def test_file_source_to_sink_then_restart_resumes_without_duplicates(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    topic = unique_topic("connect-lines")
    ck_create_topic(broker.bootstrap, topic)
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    first = [f"line {i} ✓" for i in range(100)]
    source_file.write_text("".join(s + "\n" for s in first), encoding="utf-8")
    files = [
        write_properties(
            tmp_path / "source.properties",
            {"name": "file-source", "connector.class": "FileStreamSource", "file": str(source_file), "topic": topic},
        ),
        write_properties(
            tmp_path / "sink.properties",
            {
                "name": "file-sink",
                "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                "file": str(sink_file),
                "topics": topic,
            },
        ),
    ]
    worker = connect_factory(broker.bootstrap, workdir=tmp_path / "worker")
    worker.start(files)
    assert wait_lines(sink_file, 100) == first
    assert ck_watermarks(broker.bootstrap, topic) == (0, 100)
    wait_for(lambda: worker.rest("GET", "/connectors/file-source/offsets")[1]["offsets"], what="source offsets")
    _, offsets, _ = worker.rest("GET", "/connectors/file-source/offsets")
    size = len(source_file.read_bytes())
    assert offsets == {"offsets": [{"partition": {"filename": str(source_file)}, "offset": {"position": size}}]}
    assert worker.rest("GET", "/connectors/file-source/topics")[1] == {"file-source": {"topics": [topic]}}
    assert worker.rest("GET", "/connectors/file-sink/topics")[1] == {"file-sink": {"topics": [topic]}}
    assert worker.stop() == 0

    more = [f"more {i}" for i in range(50)]
    with open(source_file, "a", encoding="utf-8") as out:
        out.write("".join(s + "\n" for s in more))
    worker.start(files)
    assert wait_lines(sink_file, 150) == first + more
    time.sleep(1.5)  # a duplicate would arrive within the flush interval
    assert lines(sink_file) == first + more
    assert ck_watermarks(broker.bootstrap, topic) == (0, 150)
    values = [m.value().decode() for m in ck_consume(broker.bootstrap, topic, 150)]
    assert values == first + more
    assert worker.stop() == 0


def test_failing_task_is_failed_alone_and_restartable(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "half_broken.py").write_text(FAILING_PLUGIN, encoding="utf-8")
    topic = unique_topic("connect-half")
    ck_create_topic(broker.bootstrap, topic)
    worker = connect_factory(broker.bootstrap, {"plugin.path": str(plugins)}).start()
    code, body, _ = worker.rest(
        "POST",
        "/connectors",
        {
            "name": "half",
            "config": {"connector.class": "half_broken.HalfBrokenSourceConnector", "tasks.max": "2", "topic": topic},
        },
    )
    assert code == 201, body

    def failed() -> dict[str, Any] | None:
        status = status_of(worker, "half")
        states = {t["id"]: t["state"] for t in status["tasks"]}
        return status if states == {0: "RUNNING", 1: "FAILED"} else None

    status = wait_for(failed, timeout=20, what="task 1 FAILED, task 0 RUNNING")
    trace = status["tasks"][1]["trace"]
    assert "RuntimeError: boom from task 1" in trace and "Traceback" in trace
    assert status["connector"]["state"] == "RUNNING"
    code, task_status, _ = worker.rest("GET", "/connectors/half/tasks/1/status")
    assert code == 200 and task_status["state"] == "FAILED" and "boom from task 1" in task_status["trace"]
    # Task 0 keeps producing while task 1 is dead.
    produced = ck_watermarks(broker.bootstrap, topic)[1]
    wait_for(
        lambda: ck_watermarks(broker.bootstrap, topic)[1] > produced + 5, timeout=20, what="task 0 still producing"
    )
    assert worker.rest("GET", "/health")[1]["status"] == "healthy"

    code, body, _ = worker.rest("POST", "/connectors/half/restart?includeTasks=True&onlyFailed=True")
    assert code == 202, body
    assert body["connector"]["state"] == "RUNNING"
    assert [(t["id"], t["state"]) for t in body["tasks"]] == [(0, "RUNNING"), (1, "RESTARTING")]
    wait_for(failed, timeout=20, what="restarted task 1 failing again")
    assert worker.stop() == 0


def test_dead_letter_queue_holds_bad_records_with_context_headers(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    topic, dlq = unique_topic("connect-json"), unique_topic("connect-dlq")
    ck_create_topic(broker.bootstrap, topic)
    good = [b'{"a":1}', b'{"a":2}', b'{"a":3}']
    bad = [b"not json", b'{"a":']
    ck_produce(broker.bootstrap, topic, [good[0], bad[0], good[1], bad[1], good[2]])
    worker = connect_factory(broker.bootstrap).start()
    sink_file = tmp_path / "json-out.txt"
    config = {
        "connector.class": "FileStreamSink",
        "file": str(sink_file),
        "topics": topic,
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
    }
    code, body, _ = worker.rest("PUT", "/connectors/tolerant/config", config)
    assert code == 201, body
    assert wait_lines(sink_file, 3) == ['{"a":1}', '{"a":2}', '{"a":3}']
    records = ck_consume(broker.bootstrap, dlq, 2, timeout=30)
    assert [m.value() for m in records] == bad
    for message, offset in zip(records, (1, 3), strict=True):
        headers = {k: v.decode() for k, v in message.headers()}
        assert headers["__connect.errors.topic"] == topic
        assert headers["__connect.errors.partition"] == "0"
        assert headers["__connect.errors.offset"] == str(offset)
        assert headers["__connect.errors.connector.name"] == "tolerant"
        assert headers["__connect.errors.task.id"] == "0"
        assert headers["__connect.errors.stage"] == "VALUE_CONVERTER"
        assert headers["__connect.errors.class.name"] == "odradek.connect.converters.json.JsonConverter"
        assert headers["__connect.errors.exception.class.name"] == "odradek.connect.api.errors.DataException"
        assert "Converting byte[] to Kafka Connect data failed" in headers["__connect.errors.exception.message"]
        assert "Traceback" in headers["__connect.errors.exception.stacktrace"]
    assert status_of(worker, "tolerant")["tasks"][0]["state"] == "RUNNING"

    strict_file = tmp_path / "strict-out.txt"
    strict = {**config, "file": str(strict_file), "errors.tolerance": "none"}
    del strict["errors.deadletterqueue.topic.name"]
    assert worker.rest("PUT", "/connectors/strict/config", strict)[0] == 201
    status = wait_for(
        lambda: (s := status_of(worker, "strict"))["tasks"] and s["tasks"][0]["state"] == "FAILED" and s,
        timeout=20,
        what="strict task FAILED",
    )
    assert "Tolerance exceeded in error handler" in status["tasks"][0]["trace"]
    assert "DataException" in status["tasks"][0]["trace"]
    assert lines(strict_file) == ['{"a":1}'] or lines(strict_file) == []
    assert worker.stop() == 0


def test_sink_offsets_rewind_and_reset_on_a_stopped_connector(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    topic = unique_topic("connect-rewind")
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [f"r{i}".encode() for i in range(5)])
    worker = connect_factory(broker.bootstrap).start()
    sink_file = tmp_path / "rewind.txt"
    config = {"connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic}
    assert worker.rest("PUT", "/connectors/rewind/config", config)[0] == 201
    assert wait_lines(sink_file, 5) == [f"r{i}" for i in range(5)]
    code, body, _ = worker.rest(
        "PATCH",
        "/connectors/rewind/offsets",
        {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 2}}]},
    )
    assert code == 400 and body["message"].startswith("Connectors must be in the STOPPED state")
    assert worker.rest("PUT", "/connectors/rewind/stop")[0] == 204
    assert status_of(worker, "rewind")["connector"]["state"] == "STOPPED"
    assert status_of(worker, "rewind")["tasks"] == []
    expected = {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]}
    assert worker.rest("GET", "/connectors/rewind/offsets")[1] == expected
    code, body, _ = worker.rest(
        "PATCH",
        "/connectors/rewind/offsets",
        {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 2}}]},
    )
    assert code == 200, body
    assert body["message"].startswith("The offsets for this connector have been altered successfully")
    assert worker.rest("PUT", "/connectors/rewind/resume")[0] == 202
    assert wait_lines(sink_file, 8) == [f"r{i}" for i in range(5)] + ["r2", "r3", "r4"]
    assert worker.rest("PUT", "/connectors/rewind/stop")[0] == 204
    code, body, _ = worker.rest("DELETE", "/connectors/rewind/offsets")
    assert code == 200 and "have been reset successfully" in body["message"], body
    assert worker.rest("GET", "/connectors/rewind/offsets")[1] == {"offsets": []}
    assert worker.stop() == 0


def test_kafka_connect_py_client(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    from kafka_connect import KafkaConnect

    topic = unique_topic("connect-client")
    ck_create_topic(broker.bootstrap, topic)
    worker = connect_factory(broker.bootstrap).start()
    client = KafkaConnect(url=worker.url)
    assert client.get_cluster_info()["version"]
    sink_file = tmp_path / "client.txt"
    config = {"connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic, "tasks.max": "2"}
    created = client.create_connector({"name": "py-sink", "config": config})
    assert created["name"] == "py-sink" and created["type"] == "sink"
    assert created["tasks"] == [{"connector": "py-sink", "task": 0}, {"connector": "py-sink", "task": 1}]
    assert client.list_connectors() == ["py-sink"]
    assert client.list_connectors(expand="status")["py-sink"]["status"]["connector"]["state"] == "RUNNING"
    assert client.list_connectors(state="running") == ["py-sink"]
    assert client.get_connector_config("py-sink")["file"] == str(sink_file)
    assert client.update_connector("py-sink", {**config, "tasks.max": "1"})["tasks"] == [
        {"connector": "py-sink", "task": 0}
    ]
    wait_for(lambda: client.get_connector_status("py-sink")["tasks"], what="task status")
    assert client.restart_connector("py-sink") is None
    restarted = client.restart_connector("py-sink", include_tasks=True, only_failed=False)
    assert restarted["connector"]["state"] == "RESTARTING"
    client.pause_connector("py-sink")
    wait_for(lambda: client.get_connector_status("py-sink")["tasks"][0]["state"] == "PAUSED", what="paused")
    client.resume_connector("py-sink")
    wait_for(lambda: client.get_connector_status("py-sink")["tasks"][0]["state"] == "RUNNING", what="resumed")
    assert client.list_connector_tasks("py-sink")[0]["id"] == {"connector": "py-sink", "task": 0}
    assert client.get_connector_task_status("py-sink", 0)["state"] == "RUNNING"
    client.restart_connector_task("py-sink", 0)
    ck_produce(broker.bootstrap, topic, [b"hello"])
    assert wait_lines(sink_file, 1) == ["hello"]
    assert client.list_connector_topics("py-sink") == {"py-sink": {"topics": [topic]}}
    client.reset_connector_topics("py-sink")
    plugins = {p["class"] for p in client.list_connector_plugins()}
    assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in plugins
    validation = client.validate_connector_config("FileStreamSink", {"connector.class": "FileStreamSink", "name": "x"})
    assert validation["error_count"] == 2  # neither topics nor topics.regex
    client.stop_connector("py-sink")
    wait_for(lambda: client.get_connector_status("py-sink")["connector"]["state"] == "STOPPED", what="stopped")
    client.delete_connector("py-sink")
    assert client.list_connectors() == []
    assert worker.stop() == 0


def test_invalid_connector_file_stops_the_worker(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    bad = write_properties(
        tmp_path / "bad.properties", {"name": "bad", "connector.class": "FileStreamSource", "tasks.max": "zero"}
    )
    worker = connect_factory(broker.bootstrap)
    proc = worker.launch([bad])
    assert proc.wait(timeout=60) == 1
    out = worker.output()
    assert "Connector configuration is invalid and contains the following 2 error(s):" in out
    assert "Invalid value zero for configuration tasks.max: Not a number of type INT" in out
    assert 'Missing required configuration "topic" which has no default value.' in out


def test_connect_distributed_without_storage_topics_exits_1(tmp_path: Path) -> None:
    props = write_properties(tmp_path / "w.properties", {"bootstrap.servers": "127.0.0.1:1"})
    done = subprocess.run(
        [sys.executable, "-m", "odradek.cli", "connect-distributed", str(props)],
        env=connect_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert 'Missing required configuration "config.storage.topic"' in done.stderr


def test_retriable_put_redelivers_and_errant_records_reach_the_dlq(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "flaky_sink.py").write_text(FLAKY_SINK_PLUGIN, encoding="utf-8")
    topic, dlq = unique_topic("connect-flaky"), unique_topic("connect-flaky-dlq")
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [b"a", b"bad", b"b", b"c"])
    worker = connect_factory(broker.bootstrap, {"plugin.path": str(plugins)}).start()
    out = tmp_path / "flaky.txt"
    config = {
        "connector.class": "flaky_sink.FlakySinkConnector",
        "file": str(out),
        "topics": topic,
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
    }
    assert worker.rest("PUT", "/connectors/flaky/config", config)[0] == 201
    assert wait_lines(out, 3) == ["a", "b", "c"]
    [errant] = ck_consume(broker.bootstrap, dlq, 1, timeout=30)
    headers = {k: v.decode() for k, v in errant.headers()}
    assert errant.value() == b"bad"
    assert headers["__connect.errors.stage"] == "TASK_PUT"
    assert headers["__connect.errors.offset"] == "1"
    assert headers["__connect.errors.exception.message"] == "bad value"
    assert headers["__connect.errors.class.name"] == "flaky_sink.FlakySinkTask"
    assert status_of(worker, "flaky")["tasks"][0]["state"] == "RUNNING"
    assert worker.stop() == 0
    assert lines(out) == ["a", "b", "c"]


def test_json_connector_file_with_config_provider_references(
    broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess], tmp_path: Path
) -> None:
    topic = unique_topic("connect-secret")
    ck_create_topic(broker.bootstrap, topic)
    out = tmp_path / "resolved-out.txt"
    secrets = tmp_path / "secrets.properties"
    secrets.write_text(f"sink.file={out}\n", encoding="utf-8")
    connector = tmp_path / "sink.json"
    connector.write_text(
        json.dumps(
            {
                "name": "secret-sink",
                "config": {
                    "connector.class": "FileStreamSink",
                    "topics": topic,
                    "file": f"${{file:{secrets}:sink.file}}",
                },
            }
        ),
        encoding="utf-8",
    )
    extra = {
        "config.providers": "file",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
    }
    worker = connect_factory(broker.bootstrap, extra).start([connector])
    ck_produce(broker.bootstrap, topic, [b"from a secret path"])
    assert wait_lines(out, 1) == ["from a secret path"]
    assert worker.rest("GET", "/connectors/secret-sink/config")[1]["file"] == f"${{file:{secrets}:sink.file}}"
    assert worker.rest("GET", "/connectors/secret-sink/tasks")[1][0]["config"]["file"].startswith("${file:")
    assert worker.stop() == 0


def test_every_listener_serves_the_api(broker: BrokerProcess, connect_factory: Callable[..., ConnectProcess]) -> None:
    worker = connect_factory(broker.bootstrap)
    second = free_port()
    worker.extra["listeners"] = f"http://127.0.0.1:{worker.port},http://127.0.0.1:{second}"
    worker.start()
    for port in (worker.port, second):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/connectors", timeout=10) as response:
            assert response.status == 200 and json.loads(response.read()) == []
    assert f"REST server listening at http://127.0.0.1:{second}/" in worker.output()
    assert worker.stop() == 0
