"""KafkaConnect (children, readiness, refused keys) and KafkaConnector (config, state, auto-restart, errors)
reconciliation with a fake Kubernetes API and a fake Connect REST API."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from odradek.operator import connect, connector
from odradek.operator.connect_api import UNREACHABLE, ConnectApiError
from odradek.operator.resources import connect as model
from operator_fakes import FakeKube

ROOT = Path(__file__).resolve().parents[3]
CONNECT = yaml.safe_load((ROOT / "examples" / "kafka-connect.yaml").read_text())
CONNECTOR = yaml.safe_load((ROOT / "examples" / "kafka-connector.yaml").read_text())


def connect_body(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(CONNECT)
    doc["metadata"].update({"namespace": "kafka", "uid": "uid-c", "generation": 1})
    doc["spec"].update(spec)
    return dict(doc)


def connector_body(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(CONNECTOR)
    doc["metadata"].update({"namespace": "kafka", "uid": "uid-k", "generation": 1})
    doc["spec"].update(spec)
    return dict(doc)


def ready(status: Mapping[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


class FakeConnect:
    """The Connect REST API over a dictionary: connectors run at once with `tasks.max` tasks."""

    def __init__(self) -> None:
        self.configs: dict[str, dict[str, str]] = {}
        self.states: dict[str, str] = {}
        self.task_states: dict[str, list[str]] = {}
        self.calls: list[tuple[str, str]] = []
        self.refuse: str | None = None
        self.unreachable = False

    def _call(self, what: str, name: str) -> None:
        self.calls.append((what, name))
        if self.unreachable:
            raise ConnectApiError(UNREACHABLE, "Kafka Connect at http://x cannot be reached")

    def connector_config(self, name: str) -> dict[str, str] | None:
        self._call("get_config", name)
        config = self.configs.get(name)
        return None if config is None else {**config, "name": name}

    def put_connector_config(self, name: str, config: Mapping[str, str]) -> None:
        self._call("put_config", name)
        if self.refuse:
            raise ConnectApiError(400, self.refuse)
        self.configs[name] = dict(config)
        self.states.setdefault(name, "RUNNING")
        self.task_states[name] = ["RUNNING"] * int(config.get("tasks.max", "1"))

    def connector_status(self, name: str) -> dict[str, Any] | None:
        self._call("status", name)
        if name not in self.configs:
            return None
        tasks = [{"id": i, "state": s, "worker_id": "w:8083"} for i, s in enumerate(self.task_states[name])]
        for task in tasks:
            if task["state"] == "FAILED":
                task["trace"] = "java.lang.RuntimeException: disk full\n\tat somewhere"
        return {"name": name, "connector": {"state": self.states[name], "worker_id": "w:8083"}, "tasks": tasks}

    def set_state(self, name: str, state: str) -> None:
        self._call(f"state {state}", name)
        self.states[name] = state.upper()
        self.task_states[name] = [state.upper()] * len(self.task_states[name])

    def restart(self, name: str) -> None:
        self._call("restart", name)
        self.task_states[name] = ["RUNNING" for _ in self.task_states[name]]

    def delete_connector(self, name: str) -> None:
        self._call("delete", name)
        self.configs.pop(name, None)

    def connector_topics(self, name: str) -> list[str]:
        self._call("topics", name)
        return ["orders"]

    def plugins(self) -> list[dict[str, Any]]:
        self._call("plugins", "")
        return [{"class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "type": "sink", "version": "1"}]


# -- KafkaConnect ---------------------------------------------------------------------------------------------


def test_connect_children_and_worker_properties() -> None:
    kube = FakeKube()
    status = connect.reconcile_connect(connect_body(), kube, FakeConnect())
    assert kube.applied == [
        "ConfigMap/my-connect-connect-config",
        "Service/my-connect-connect-api",
        "Deployment/my-connect-connect",
    ]
    props = model.worker_properties(model.from_resource(connect_body()))
    assert props["group.id"] == "my-connect" and props["status.storage.topic"] == "my-connect-status"
    assert props["key.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert props["bootstrap.servers"] == "my-cluster-kafka-bootstrap:9092"
    assert props["rest.advertised.host.name"] == "${env:POD_IP}" and props["config.providers"] == "env"
    assert props["metrics.port"] == "9404"
    pod = kube.objects[("Deployment", "kafka", "my-connect-connect")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["odradek", "connect-distributed", "/etc/odradek-connect/worker.properties"]
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert (ready(status)["status"], ready(status)["reason"]) == ("False", "PodsNotReady")
    assert status["url"] == "http://my-connect-connect-api.kafka.svc:8083"


def test_connect_is_ready_with_its_workers_and_lists_its_plugins() -> None:
    kube, api = FakeKube(), FakeConnect()
    connect.reconcile_connect(connect_body(), kube, api)
    kube.objects[("Deployment", "kafka", "my-connect-connect")]["status"] = {"readyReplicas": 2}
    status = connect.reconcile_connect(connect_body(), kube, api)
    assert ready(status)["status"] == "True" and status["replicas"] == 2
    assert status["connectorPlugins"][0]["type"] == "sink"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"config": {"ssl.keystore.location": "/x"}}, "InvalidConfig"),
        ({"config": {"rest.port": "1"}}, "InvalidConfig"),
        ({"authentication": {"type": "scram-sha-512"}}, "NotSupported"),
        ({"bootstrapServers": ""}, "InvalidResource"),
    ],
)
def test_connect_refusals_apply_nothing(spec: dict[str, Any], reason: str) -> None:
    kube = FakeKube()
    status = connect.reconcile_connect(connect_body(**spec), kube, FakeConnect())
    assert (ready(status)["status"], ready(status)["reason"]) == ("False", reason)
    assert kube.applied == []


# -- KafkaConnector -------------------------------------------------------------------------------------------


def test_a_connector_is_created_ready_and_not_rewritten_when_unchanged() -> None:
    api = FakeConnect()
    status = connector.reconcile_connector(connector_body(), api, connect_body())
    assert ready(status)["status"] == "True"
    assert api.configs["orders-to-file"] == {
        "topics": "orders",
        "file": "/tmp/orders.txt",
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "tasks.max": "1",
    }
    assert status["connectorStatus"]["connector"]["state"] == "RUNNING" and status["topics"] == ["orders"]
    api.calls.clear()
    connector.reconcile_connector(connector_body(), api, connect_body())
    assert ("put_config", "orders-to-file") not in api.calls


def test_drift_is_reverted_and_class_and_tasks_max_win_over_config() -> None:
    api = FakeConnect()
    body = connector_body(config={"topics": "orders", "file": "/tmp/o", "tasks.max": "9", "enabled": True})
    connector.reconcile_connector(body, api, connect_body())
    assert api.configs["orders-to-file"]["tasks.max"] == "1" and api.configs["orders-to-file"]["enabled"] == "true"
    api.configs["orders-to-file"]["file"] = "/elsewhere"  # changed through the REST API
    connector.reconcile_connector(body, api, connect_body())
    assert api.configs["orders-to-file"]["file"] == "/tmp/o"


@pytest.mark.parametrize(("state", "expected"), [("paused", "PAUSED"), ("stopped", "STOPPED")])
def test_the_requested_state_is_applied(state: str, expected: str) -> None:
    api = FakeConnect()
    connector.reconcile_connector(connector_body(), api, connect_body())
    status = connector.reconcile_connector(connector_body(state=state), api, connect_body())
    assert api.states["orders-to-file"] == expected and ready(status)["status"] == "True"
    status = connector.reconcile_connector(connector_body(state="running"), api, connect_body())
    assert api.states["orders-to-file"] == "RUNNING" and ready(status)["status"] == "True"


def test_failed_tasks_are_reported_and_restarted_up_to_max_restarts() -> None:
    api = FakeConnect()
    body = connector_body(autoRestart={"enabled": True, "maxRestarts": 1})
    connector.reconcile_connector(body, api, connect_body())
    api.task_states["orders-to-file"] = ["FAILED"]
    status = connector.reconcile_connector(body, api, connect_body())
    assert ("restart", "orders-to-file") in api.calls and status["autoRestart"] == {"count": 1}
    assert ready(status)["status"] == "True"
    api.task_states["orders-to-file"] = ["FAILED"]
    body["status"] = {"autoRestart": {"count": 1}}
    status = connector.reconcile_connector(body, api, connect_body())
    assert (ready(status)["reason"], status["autoRestart"]) == ("ConnectorFailed", {"count": 1})
    assert "task 0 FAILED: java.lang.RuntimeException: disk full" in ready(status)["message"]


def test_refused_configs_unreachable_workers_and_missing_clusters() -> None:
    api = FakeConnect()
    api.refuse = "Connector configuration is invalid and contains the following 1 error(s): file: missing"
    status = connector.reconcile_connector(connector_body(), api, connect_body())
    assert (ready(status)["reason"], ready(status)["message"]) == ("InvalidConfig", api.refuse)
    api.refuse, api.unreachable = None, True
    assert ready(connector.reconcile_connector(connector_body(), api, connect_body()))["reason"] == "ConnectUnreachable"
    assert ready(connector.reconcile_connector(connector_body(), api, None))["reason"] == "NoConnectCluster"
    plain = connect_body()
    plain["metadata"]["annotations"] = {}
    refused = ready(connector.reconcile_connector(connector_body(), FakeConnect(), plain))
    assert refused["reason"] == "ConnectorResourcesNotEnabled"


def test_deletion_removes_the_connector() -> None:
    api = FakeConnect()
    connector.reconcile_connector(connector_body(), api, connect_body())
    connector.delete_connector(connector_body(), api)
    assert "orders-to-file" not in api.configs
    connector.delete_connector(connector_body(), None)  # no cluster: nothing to do
