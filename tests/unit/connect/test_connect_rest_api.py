"""The REST API with raw HTTP (urllib) on 127.0.0.1: every standalone endpoint, its status codes and error bodies.

The herder runs real connectors and task threads; the worker's bootstrap servers point at a closed port, so the
clients are created but never reach a broker (the broker-backed paths are in tests/integration).
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from odradek.connect.api.connector import SourceConnector, SourceTask, Task
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance
from odradek.connect.config.providers import ConfigTransformer
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.plugins import PluginDesc, Plugins, PluginType
from odradek.connect.rest.server import build_app
from odradek.connect.runtime.offsets import FileOffsetBackingStore
from odradek.connect.runtime.standalone import StandaloneHerder
from odradek.connect.runtime.states import StatusBackingStore
from odradek.connect.runtime.worker import Worker

TIMEOUT_S = 20.0
SEEN_TASK_CONFIGS: list[dict[str, str]] = []


class SecretTask(SourceTask):
    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        SEEN_TASK_CONFIGS.append(dict(props))
        self.stopped = threading.Event()

    def poll(self) -> list[SourceRecord] | None:
        self.stopped.wait(0.1)
        return None

    def stop(self) -> None:
        self.stopped.set()


class SecretSourceConnector(SourceConnector):
    def version(self) -> str:
        return "1"

    def config(self) -> ConfigDef:
        return ConfigDef().define("db.password", ConfigType.PASSWORD, importance=Importance.HIGH, documentation="pw")

    def start(self, props: dict[str, str]) -> None:
        self.props = props

    def task_class(self) -> type[Task]:
        return SecretTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass


SLOW_POLL_RELEASE = threading.Event()
SLOW_POLL_ENTERED = threading.Event()


class SlowTask(SecretTask):
    def poll(self) -> list[SourceRecord] | None:
        SLOW_POLL_ENTERED.set()
        SLOW_POLL_RELEASE.wait(TIMEOUT_S)  # blocks, ignoring stop(), as a badly written task would
        return None


class SlowSourceConnector(SecretSourceConnector):
    def task_class(self) -> type[Task]:
        return SlowTask


class Api:
    def __init__(self, url: str, herder: StandaloneHerder) -> None:
        self.url = url
        self.herder = herder

    def __call__(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None, response.headers
        except urllib.error.HTTPError as exc:
            text = exc.read()
            return exc.code, json.loads(text) if text else None, exc.headers


@pytest.fixture
def api_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Api]]:
    stops: list[Callable[[], None]] = []
    monkeypatch.setenv("REST_TEST_SECRET", "hunter2")

    def make(**extra: str) -> Api:
        props = {
            "bootstrap.servers": "127.0.0.1:9",
            "offset.storage.file.filename": str(tmp_path / "offsets.json"),
            "offset.flush.interval.ms": "200",
            "config.providers": "env",
            "config.providers.env.class": "EnvVarConfigProvider",
            **extra,
        }
        config = WorkerConfig.parse(props)
        plugins = Plugins(entry_points=False)
        plugins.register(PluginDesc("test.SecretSourceConnector", (PluginType.SOURCE,), SecretSourceConnector))
        plugins.register(PluginDesc("test.SlowSourceConnector", (PluginType.SOURCE,), SlowSourceConnector))
        plugins._publish_aliases()
        statuses = StatusBackingStore("127.0.0.1:8083")
        offsets = FileOffsetBackingStore(tmp_path / "offsets.json")
        transformer = ConfigTransformer.from_worker_config(props)
        worker = Worker("127.0.0.1:8083", config, plugins, offsets, statuses, transformer)
        herder = StandaloneHerder(worker, plugins, statuses, config)
        herder.ready = True
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(build_app(herder))
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        def stop() -> None:
            herder.stop()
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(TIMEOUT_S)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(TIMEOUT_S)
            loop.close()

        stops.append(stop)
        return Api(f"http://127.0.0.1:{port}", herder)

    try:
        yield make
    finally:
        for stop in stops:
            stop()


def source_config(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"connector.class": "FileStreamSource", "file": str(tmp_path / "absent.txt"), "topic": "t", **extra}


def wait_state(api: Api, name: str, connector: str, tasks: list[str]) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + TIMEOUT_S
    while True:
        code, status, _ = api("GET", f"/connectors/{name}/status")
        if code == 200 and status["connector"]["state"] == connector and [t["state"] for t in status["tasks"]] == tasks:
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_root_and_health(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    code, body, _ = api("GET", "/")
    assert code == 200 and set(body) == {"version", "commit", "kafka_cluster_id"}
    assert api("GET", "/health")[:2] == (
        200,
        {"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."},
    )
    api.herder.ready = False
    assert api("GET", "/health")[:2] == (503, {"status": "starting", "message": "Worker is still starting up."})


def test_connector_lifecycle_and_errors(api_factory: Callable[..., Api], tmp_path: Path) -> None:
    api = api_factory()
    assert api("GET", "/connectors")[:2] == (200, [])
    code, info, headers = api("POST", "/connectors", {"name": "src", "config": source_config(tmp_path)})
    assert code == 201 and headers["Location"] == f"{api.url}/connectors/src"
    assert info == {
        "name": "src",
        "config": {**source_config(tmp_path), "name": "src"},
        "tasks": [{"connector": "src", "task": 0}],
        "type": "source",
    }
    assert api("POST", "/connectors", {"name": "src", "config": source_config(tmp_path)})[:2] == (
        409,
        {"error_code": 409, "message": "Connector src already exists"},
    )
    code, body, _ = api("POST", "/connectors", {"name": "bad", "config": {"connector.class": "FileStreamSource"}})
    assert code == 400 and body["error_code"] == 400
    assert body["message"].startswith(
        "Connector configuration is invalid and contains the following 1 error(s):\n"
        'Missing required configuration "topic" which has no default value.'
    )
    assert api("POST", "/connectors", {"name": "x", "config": {**source_config(tmp_path), "name": "y"}})[0] == 400
    assert api("POST", "/connectors", raw=b"{nope")[0] == 400
    assert api("POST", "/connectors", {"name": "x", "config": {"connector.class": "Nope"}})[1]["message"].startswith(
        "Failed to find any class that implements Connector and which name matches Nope"
    )
    assert api("GET", "/connectors/nope")[:2] == (404, {"error_code": 404, "message": "Connector nope not found"})
    wait_state(api, "src", "RUNNING", ["RUNNING"])

    expanded = api("GET", "/connectors?expand=status&expand=info&expand=other")[1]
    assert set(expanded["src"]) == {"status", "info"} and expanded["src"]["info"]["type"] == "source"
    assert api("GET", "/connectors/src/config")[1]["topic"] == "t"
    code, info, headers = api("PUT", "/connectors/other/config", source_config(tmp_path))
    assert code == 201 and headers["Location"].endswith("/connectors/other")
    assert api("PUT", "/connectors/other/config", source_config(tmp_path, **{"batch.size": "5"}))[0] == 200
    code, info, _ = api("PATCH", "/connectors/other/config", {"batch.size": None, "topic": "t2"})
    assert code == 200 and "batch.size" not in info["config"] and info["config"]["topic"] == "t2"
    code, info, _ = api("PATCH", "/connectors/other/config", {"tasks.max": 1, "errors.log.enable": True})
    assert code == 200 and info["config"]["tasks.max"] == "1" and info["config"]["errors.log.enable"] == "true"
    assert api("PATCH", "/connectors/nope/config", {"a": "b"})[0] == 404
    assert api("PUT", "/connectors/other/config", {**source_config(tmp_path), "name": "zzz"})[0] == 400

    tasks = api("GET", "/connectors/src/tasks")[1]
    assert tasks[0]["id"] == {"connector": "src", "task": 0}
    assert tasks[0]["config"]["task.class"] == "odradek.connect.connectors.file.FileStreamSourceTask"
    assert list(api("GET", "/connectors/src/tasks-config")[1]) == ["src-0"]
    assert api("GET", "/connectors/src/tasks/0/status")[1] == {
        "id": 0,
        "state": "RUNNING",
        "worker_id": "127.0.0.1:8083",
    }
    assert api("GET", "/connectors/src/tasks/7/status")[0] == 404
    assert api("GET", "/connectors/src/tasks/x/status")[0] == 404

    assert api("DELETE", "/connectors/other")[0] == 204
    assert api("DELETE", "/connectors/other")[0] == 404
    assert api("GET", "/connectors")[1] == ["src"]


def test_restart_pause_resume_stop(api_factory: Callable[..., Api], tmp_path: Path) -> None:
    api = api_factory()
    assert api("PUT", "/connectors/src/config", source_config(tmp_path))[0] == 201
    wait_state(api, "src", "RUNNING", ["RUNNING"])
    assert api("POST", "/connectors/src/restart")[:2] == (204, None)
    assert api("POST", "/connectors/src/restart?includeTasks=False&onlyFailed=False")[0] == 204
    code, body, _ = api("POST", "/connectors/src/restart?includeTasks=True&onlyFailed=FALSE")
    assert code == 202 and body["connector"]["state"] == "RESTARTING" and body["tasks"][0]["state"] == "RESTARTING"
    code, body, _ = api("POST", "/connectors/src/restart?includeTasks=true&onlyFailed=true")
    assert code == 202 and body["tasks"][0]["state"] in ("RUNNING", "UNASSIGNED")  # nothing failed: nothing restarts
    assert api("POST", "/connectors/nope/restart")[0] == 404
    assert api("POST", "/connectors/src/tasks/0/restart")[0] == 204
    assert api("POST", "/connectors/src/tasks/3/restart")[:2] == (
        404,
        {"error_code": 404, "message": "Task src-3 not found"},
    )
    wait_state(api, "src", "RUNNING", ["RUNNING"])

    assert api("PUT", "/connectors/src/pause")[0] == 202
    wait_state(api, "src", "PAUSED", ["PAUSED"])
    assert api("PUT", "/connectors/src/resume")[0] == 202
    wait_state(api, "src", "RUNNING", ["RUNNING"])
    assert api("PUT", "/connectors/src/stop")[0] == 204
    wait_state(api, "src", "STOPPED", [])
    assert api("GET", "/connectors/src")[1]["tasks"] == []
    assert api("PUT", "/connectors/src/resume")[0] == 202
    wait_state(api, "src", "RUNNING", ["RUNNING"])
    for verb in ("pause", "resume", "stop"):
        assert api("PUT", f"/connectors/nope/{verb}")[0] == 404
    code, _, _ = api(
        "POST", "/connectors", {"name": "paused", "config": source_config(tmp_path), "initial_state": "PAUSED"}
    )
    assert code == 201
    wait_state(api, "paused", "PAUSED", ["PAUSED"])
    assert (
        api("POST", "/connectors", {"name": "s2", "config": source_config(tmp_path), "initial_state": "STOPPED"})[0]
        == 201
    )
    wait_state(api, "s2", "STOPPED", [])
    assert (
        api("POST", "/connectors", {"name": "s3", "config": source_config(tmp_path), "initial_state": "ASLEEP"})[0]
        == 400
    )


def test_source_offsets_kip_875(api_factory: Callable[..., Api], tmp_path: Path) -> None:
    api = api_factory()
    assert api("PUT", "/connectors/src/config", source_config(tmp_path))[0] == 201
    assert api("GET", "/connectors/src/offsets")[:2] == (200, {"offsets": []})
    new = {"offsets": [{"partition": {"filename": "/data/a.txt"}, "offset": {"position": 30}}]}
    code, body, _ = api("PATCH", "/connectors/src/offsets", new)
    assert code == 400 and body["message"].startswith("Connectors must be in the STOPPED state before their offsets")
    assert api("PUT", "/connectors/src/stop")[0] == 204
    assert api("PATCH", "/connectors/src/offsets", {"offsets": []})[:2] == (
        400,
        {"error_code": 400, "message": "Partitions / offsets need to be provided for an alter offsets request"},
    )
    bad = {"offsets": [{"partition": {"filename": "/a"}, "offset": {"position": -1}}]}
    assert api("PATCH", "/connectors/src/offsets", bad)[0] == 400
    assert api("PATCH", "/connectors/src/offsets", new)[:2] == (
        200,
        {"message": "The offsets for this connector have been altered successfully"},
    )
    assert api("GET", "/connectors/src/offsets")[1] == new
    code, body, _ = api("DELETE", "/connectors/src/offsets")
    assert code == 200 and body["message"].startswith(
        "The Connect framework-managed offsets for this connector have been reset successfully."
    )
    assert api("GET", "/connectors/src/offsets")[1] == {"offsets": []}
    assert api("GET", "/connectors/nope/offsets")[0] == 404
    assert api("PATCH", "/connectors/nope/offsets", new)[0] == 404


def test_topics_tracking(api_factory: Callable[..., Api], tmp_path: Path) -> None:
    api = api_factory()
    assert api("PUT", "/connectors/src/config", source_config(tmp_path))[0] == 201
    assert api("GET", "/connectors/src/topics")[:2] == (200, {"src": {"topics": []}})
    api.herder.statuses.add_topic("src", "t")
    assert api("GET", "/connectors/src/topics")[1] == {"src": {"topics": ["t"]}}
    assert api("PUT", "/connectors/src/topics/reset")[0] == 202
    assert api("GET", "/connectors/src/topics")[1] == {"src": {"topics": []}}
    assert api("GET", "/connectors/nope/topics")[0] == 404
    off = api_factory(**{"topic.tracking.enable": "false"})
    assert off("GET", "/connectors/src/topics")[:2] == (
        403,
        {"error_code": 403, "message": "Topic tracking is disabled."},
    )
    no_reset = api_factory(**{"topic.tracking.allow.reset": "false"})
    assert no_reset("PUT", "/connectors/src/topics/reset")[:2] == (
        403,
        {"error_code": 403, "message": "Topic tracking reset is disabled."},
    )


def test_plugins_and_validation(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    connectors = api("GET", "/connector-plugins")[1]
    assert {p["type"] for p in connectors} == {"source", "sink"}
    assert {
        "class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "type": "sink",
        "version": "0.1.0",
    } in connectors
    everything = api("GET", "/connector-plugins?connectorsOnly=false")[1]
    assert {p["type"] for p in everything} == {
        "source",
        "sink",
        "converter",
        "header_converter",
        "transformation",
        "predicate",
    }
    keys = [k["name"] for k in api("GET", "/connector-plugins/FileStreamSource/config")[1]]
    assert keys == ["file", "topic", "batch.size"]
    smt_keys = api("GET", "/connector-plugins/org.apache.kafka.connect.transforms.RegexRouter/config")[1]
    assert [k["name"] for k in smt_keys] == ["regex", "replacement"]
    assert api("GET", "/connector-plugins/Nope/config")[:2] == (
        404,
        {"error_code": 404, "message": "Unknown plugin Nope."},
    )
    code, infos, _ = api("PUT", "/connector-plugins/FileStreamSource/config/validate", {"name": "n", "tasks.max": "x"})
    assert code == 200 and infos["error_count"] == 2 and infos["name"].endswith("FileStreamSourceConnector")
    values = {c["value"]["name"]: c["value"] for c in infos["configs"]}
    assert values["tasks.max"]["errors"] == ["Invalid value x for configuration tasks.max: Not a number of type INT"]
    code, body, _ = api(
        "PUT", "/connector-plugins/FileStreamSource/config/validate", {"connector.class": "FileStreamSink"}
    )
    assert (
        code == 400
        and body["message"] == "Included connector type FileStreamSink does not match request type FileStreamSource"
    )


def test_secrets_hidden_in_validation_and_resolved_only_for_tasks(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    infos = api(
        "PUT",
        "/connector-plugins/test.SecretSourceConnector/config/validate",
        {"name": "s", "db.password": "plain-secret"},
    )[1]
    password = next(c for c in infos["configs"] if c["value"]["name"] == "db.password")
    assert password["definition"]["type"] == "PASSWORD" and password["value"]["value"] == "[hidden]"
    config = {"connector.class": "test.SecretSourceConnector", "db.password": "${env:REST_TEST_SECRET}"}
    SEEN_TASK_CONFIGS.clear()
    assert api("PUT", "/connectors/s/config", config)[0] == 201
    wait_state(api, "s", "RUNNING", ["RUNNING"])
    assert api("GET", "/connectors/s/config")[1]["db.password"] == "${env:REST_TEST_SECRET}"
    assert api("GET", "/connectors/s/tasks")[1][0]["config"]["db.password"] == "${env:REST_TEST_SECRET}"
    assert SEEN_TASK_CONFIGS[-1]["db.password"] == "hunter2"


def test_admin_loggers(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    assert "root" in api("GET", "/admin/loggers")[1]
    code, affected, _ = api("PUT", "/admin/loggers/odradek.connect.runtime", {"level": "debug"})
    assert code == 200 and "odradek.connect.runtime" in affected and "odradek.connect.runtime.worker" in affected
    level = api("GET", "/admin/loggers/odradek.connect.runtime")[1]
    assert level["level"] == "DEBUG" and isinstance(level["last_modified"], int)
    assert api("GET", "/admin/loggers")[1]["odradek.connect.runtime"]["level"] == "DEBUG"
    assert api("PUT", "/admin/loggers/odradek.connect.runtime", {"level": "INFO"})[0] == 200
    assert api("GET", "/admin/loggers/no.such.logger.anywhere")[0] == 404
    assert api("PUT", "/admin/loggers/odradek.connect", {})[:2] == (
        400,
        {"error_code": 400, "message": "Desired 'level' parameter was not specified in request."},
    )
    assert api("PUT", "/admin/loggers/odradek.connect", {"level": "LOUD"})[0] == 404
    assert api("PUT", "/admin/loggers/odradek.connect?scope=cluster", {"level": "INFO"})[:2] == (204, None)


def test_unknown_paths_and_methods_answer_kafka_error_bodies(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    assert api("GET", "/nope")[:2] == (404, {"error_code": 404, "message": "HTTP 404 Not Found"})
    assert api("DELETE", "/connectors")[:2] == (405, {"error_code": 405, "message": "HTTP 405 Method Not Allowed"})


def test_herder_timeouts_answer_500(api_factory: Callable[..., Api], monkeypatch: pytest.MonkeyPatch) -> None:
    from odradek.connect.rest import server

    api = api_factory()
    monkeypatch.setattr(server, "REQUEST_TIMEOUT_S", 0.3)
    monkeypatch.setattr(server, "HEALTH_TIMEOUT_S", 0.3)
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        with api.herder.lock:
            held.set()
            release.wait(TIMEOUT_S)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(TIMEOUT_S)
    try:
        # The herder is stuck (its lock held elsewhere): the API still answers, with Kafka's timeout errors.
        assert api("GET", "/connectors")[:2] == (500, {"error_code": 500, "message": "Request timed out"})
        code, body, _ = api("GET", "/health")
        assert code == 500 and body["status"] == "unhealthy"
        assert api("GET", "/admin/loggers")[0] == 200
    finally:
        release.set()
        holder.join(TIMEOUT_S)


def test_a_blocked_task_does_not_stall_the_api(api_factory: Callable[..., Api]) -> None:
    import time

    api = api_factory()
    SLOW_POLL_RELEASE.clear()
    SLOW_POLL_ENTERED.clear()
    try:
        assert (
            api("PUT", "/connectors/slow/config", {"connector.class": "test.SlowSourceConnector", "db.password": "x"})[
                0
            ]
            == 201
        )
        assert SLOW_POLL_ENTERED.wait(TIMEOUT_S)
        started = time.monotonic()
        for _ in range(20):
            assert api("GET", "/connectors/slow/status")[1]["tasks"][0]["state"] == "RUNNING"
            assert api("GET", "/connector-plugins")[0] == 200
        assert time.monotonic() - started < 5.0
    finally:
        SLOW_POLL_RELEASE.set()


def test_exactly_once_required_is_refused_400_without_an_enabled_worker(
    api_factory: Callable[..., Api], tmp_path: Path
) -> None:
    """KIP-618 preflight checks answered 400 on create (a standalone worker never has exactly-once enabled)."""
    api = api_factory()
    config = source_config(tmp_path, **{"exactly.once.support": "required"})
    code, body, _ = api("PUT", "/connectors/eos/config", config)
    assert code == 400, body
    assert body["message"].splitlines()[:2] == [
        "Connector configuration is invalid and contains the following 1 error(s):",
        "This worker does not have exactly-once source support enabled.",
    ]
    code, body, _ = api("PUT", "/connectors/eos/config", {**config, "exactly.once.support": "requested"})
    assert code == 201, body
    code, body, _ = api(
        "PUT", "/connectors/eos2/config", source_config(tmp_path, **{"transaction.boundary": "connector"})
    )
    assert code == 400 and "connector-defined transaction boundaries" in body["message"], body
    code, infos, _ = api("PUT", "/connector-plugins/FileStreamSource/config/validate", {**config, "name": "eos"})
    assert code == 200 and infos["error_count"] == 1
