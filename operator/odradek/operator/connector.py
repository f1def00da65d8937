"""KafkaConnector reconciliation through the Connect REST API (Strimzi's KafkaConnector, on a KafkaConnect cluster
annotated `strimzi.io/use-connector-resources: "true"` or `odradek.io/use-connector-resources: "true"`).

- The connector's name is metadata.name; its config is `spec.config` (values as strings) plus
  `connector.class` = `spec.class` and `tasks.max` = `spec.tasksMax` (these two win over the same keys in
  spec.config, as in Strimzi). The config is PUT whenever the worker's differs, so a change made through the REST
  API is reverted on the next reconcile.
- `spec.state` running | paused | stopped (Strimzi's; the deprecated `spec.pause: true` means paused) is applied
  with PUT /connectors/{c}/resume|pause|stop when the connector's state differs.
- `spec.autoRestart.enabled`: a FAILED connector or task is restarted (POST /connectors/{c}/restart with
  includeTasks and onlyFailed) at most once per reconcile, up to `maxRestarts` times (unbounded when absent);
  `status.autoRestart.count` counts them and is reset once the connector runs again.
- Status (Strimzi's fields): `connectorStatus` (GET /connectors/{c}/status as is), `tasksMax`, `topics` (the
  topics the connector used), and conditions: Ready when the connector is in the requested state with every task
  RUNNING (or PAUSED / STOPPED as requested); NotReady with `InvalidConfig` (400: the worker refused the config, its
  message quoted), `ConnectorFailed` (a FAILED connector or task, with its trace's first line),
  `ConnectUnreachable`, `NoConnectCluster` or `ConnectorResourcesNotEnabled`.
- Deletion removes the connector (DELETE /connectors/{c}); a worker that no longer knows it is no error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from odradek.operator import conditions as c
from odradek.operator.connect_api import UNREACHABLE, ConnectApi, ConnectApiError
from odradek.operator.labels import paused

INVALID_CONFIG = c.INVALID_CONFIG
CONNECTOR_FAILED = "ConnectorFailed"
CONNECT_UNREACHABLE = "ConnectUnreachable"
NO_CONNECT_CLUSTER = "NoConnectCluster"
NOT_ENABLED = "ConnectorResourcesNotEnabled"
CONNECTOR_RESOURCES_ANNOTATIONS = ("strimzi.io/use-connector-resources", "odradek.io/use-connector-resources")
_WANTED_STATES = {"running": "RUNNING", "paused": "PAUSED", "stopped": "STOPPED"}


def uses_connector_resources(connect: Mapping[str, Any]) -> bool:
    annotations = (connect.get("metadata") or {}).get("annotations") or {}
    return any(str(annotations.get(key, "")).lower() == "true" for key in CONNECTOR_RESOURCES_ANNOTATIONS)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def connector_config(body: Mapping[str, Any]) -> dict[str, str]:
    """The config to PUT for the KafkaConnector `body`."""
    spec = body.get("spec") or {}
    config = {str(k): _string(v) for k, v in (spec.get("config") or {}).items() if v is not None}
    if spec.get("class"):
        config["connector.class"] = str(spec["class"])
    if spec.get("tasksMax") is not None:
        config["tasks.max"] = str(spec["tasksMax"])
    return config


def wanted_state(spec: Mapping[str, Any]) -> str:
    state = str(spec.get("state") or ("paused" if spec.get("pause") else "running")).lower()
    return state if state in _WANTED_STATES else "running"


def _failure(status: Mapping[str, Any]) -> str | None:
    """The first FAILED part of a connector status, as `<what>: <first line of its trace>`."""
    parts = [("connector", status.get("connector") or {})]
    parts += [(f"task {task.get('id')}", task) for task in status.get("tasks") or []]
    for what, part in parts:
        if part.get("state") == "FAILED":
            trace = str(part.get("trace") or "").strip().splitlines()
            return f"{what} FAILED: {trace[0] if trace else 'no trace'}"
    return None


def _in_state(status: Mapping[str, Any], state: str) -> bool:
    wanted = _WANTED_STATES[state]
    connector_state = (status.get("connector") or {}).get("state")
    tasks = status.get("tasks") or []
    if state == "stopped":
        return connector_state == "STOPPED"
    return connector_state == wanted and bool(tasks) and all(task.get("state") == wanted for task in tasks)


def reconcile_connector(
    body: Mapping[str, Any], api: ConnectApi | None, connect: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`connect`: the KafkaConnect resource the connector's label names (None: there is none); `api`: its REST
    API."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    name = str(meta["name"])
    previous = body.get("status") or {}
    fields: dict[str, Any] = {"tasksMax": spec.get("tasksMax")}
    if paused(meta):
        return c.status(body, [c.Condition(c.PAUSED, True)], **fields)
    if connect is None or api is None:
        return c.status(body, [c.not_ready(NO_CONNECT_CLUSTER, "no KafkaConnect named by the cluster label")])
    if not uses_connector_resources(connect):
        message = (
            f"KafkaConnect {(connect.get('metadata') or {}).get('name')} does not have the annotation "
            'strimzi.io/use-connector-resources: "true"'
        )
        return c.status(body, [c.not_ready(NOT_ENABLED, message)])
    state = wanted_state(spec)
    restarts = int((previous.get("autoRestart") or {}).get("count") or 0)
    try:
        config = connector_config(body)
        current_config = api.connector_config(name)
        if current_config is None or {k: v for k, v in current_config.items() if k != "name"} != config:
            api.put_connector_config(name, config)
        status = api.connector_status(name) or {}
        current = (status.get("connector") or {}).get("state")
        if current is not None and current != _WANTED_STATES[state] and current != "FAILED":
            api.set_state(name, state)
            status = api.connector_status(name) or status
        auto = spec.get("autoRestart") or {}
        failure = _failure(status)
        if failure and auto.get("enabled") and (auto.get("maxRestarts") is None or restarts < int(auto["maxRestarts"])):
            api.restart(name)
            restarts += 1
            status = api.connector_status(name) or status
        elif not failure and _in_state(status, state):
            restarts = 0
        fields.update({"connectorStatus": status, "topics": api.connector_topics(name)})
    except ConnectApiError as exc:
        reason = (
            CONNECT_UNREACHABLE if exc.status == UNREACHABLE else INVALID_CONFIG if exc.status == 400 else c.KAFKA_ERROR
        )
        return c.status(body, [c.not_ready(reason, exc.message)], **fields)
    if spec.get("autoRestart"):
        fields["autoRestart"] = {"count": restarts}
    failure = _failure(status)
    if failure:
        condition = c.not_ready(CONNECTOR_FAILED, failure)
    elif _in_state(status, state):
        condition = c.ready()
    else:
        condition = c.not_ready("NotInState", f"waiting for the connector and its tasks to be {state}")
    return c.status(body, [condition], **fields)


def delete_connector(body: Mapping[str, Any], api: ConnectApi | None) -> None:
    """Remove the connector from the Connect cluster (idempotent; nothing to do without a cluster)."""
    if api is None or paused(body.get("metadata") or {}):
        return
    api.delete_connector(str((body.get("metadata") or {})["name"]))
