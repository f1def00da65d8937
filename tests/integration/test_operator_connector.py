"""The KafkaConnector reconciler against a real Connect worker's REST API (standalone, on a real broker), through
the operator's own REST client: a connector created from its resource moves records, drift made through the REST
API is reverted, pause and resume apply, a config the worker refuses is reported with the worker's message, and
deletion removes the connector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connect_support import ConnectProcess
from it_support import BrokerProcess, ck_create_topic, ck_produce, unique_topic, wait_for
from odradek.operator import connector
from odradek.operator.connect_api import ConnectRestClient

CONNECT = {"metadata": {"name": "my-connect", "annotations": {"strimzi.io/use-connector-resources": "true"}}}


def connector_body(name: str, topic: str, sink: Path, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaConnector",
        "metadata": {
            "name": name,
            "namespace": "kafka",
            "generation": 1,
            "labels": {"strimzi.io/cluster": "my-connect"},
        },
        "spec": {
            "class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasksMax": 1,
            "config": {"topics": topic, "file": str(sink)},
            **spec,
        },
    }


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_kafka_connector_drives_a_real_worker(broker: BrokerProcess, tmp_path: Path) -> None:
    topic = unique_topic("op-connector")
    ck_create_topic(broker.bootstrap, topic)
    worker = ConnectProcess(tmp_path / "connect", broker.bootstrap)
    worker.workdir.mkdir(parents=True)
    sink = tmp_path / "sink.txt"
    body = connector_body("orders-to-file", topic, sink)
    try:
        worker.start()
        api = ConnectRestClient(worker.url)

        def reconcile(resource: dict[str, Any]) -> dict[str, Any]:
            status = connector.reconcile_connector(resource, api, CONNECT)
            resource["status"] = status
            return status

        wait_for(lambda: ready(reconcile(body))["status"] == "True", timeout=30, what="the connector running")
        assert body["status"]["connectorStatus"]["tasks"][0]["state"] == "RUNNING"
        ck_produce(broker.bootstrap, topic, [b"one", b"two"])
        wait_for(lambda: lines(sink) == ["one", "two"], timeout=30, what="records in the sink file")

        # drift through the REST API is reverted
        code, _, _ = worker.rest(
            "PUT",
            "/connectors/orders-to-file/config",
            {**api.connector_config("orders-to-file"), "file": str(tmp_path / "x")},
        )  # type: ignore[dict-item]
        assert code == 200
        reconcile(body)
        assert api.connector_config("orders-to-file")["file"] == str(sink)  # type: ignore[index]

        body["spec"]["state"] = "paused"
        wait_for(lambda: ready(reconcile(body))["status"] == "True", timeout=30, what="the connector paused")
        assert body["status"]["connectorStatus"]["connector"]["state"] == "PAUSED"
        body["spec"]["state"] = "running"
        wait_for(lambda: ready(reconcile(body))["status"] == "True", timeout=30, what="the connector resumed")
        ck_produce(broker.bootstrap, topic, [b"three"])
        wait_for(lambda: lines(sink) == ["one", "two", "three"], timeout=30, what="records after the resume")

        bad = connector_body("bad", topic, sink)
        bad["spec"]["config"] = {"file": str(sink)}  # a sink connector without topics
        status = reconcile(bad)
        assert ready(status)["reason"] == "InvalidConfig" and "topics" in ready(status)["message"]

        connector.delete_connector(body, api)
        assert api.connector_config("orders-to-file") is None
        assert worker.rest("GET", "/connectors")[1] == []
    finally:
        worker.stop()
        worker.cleanup()
