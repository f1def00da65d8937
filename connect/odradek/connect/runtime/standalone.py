"""The standalone herder (Kafka's StandaloneHerder): one worker, connector configs in memory, offsets in a file.

Connector configs come from the files given on the command line and from REST calls; like Kafka's standalone mode
they are not persisted (a restarted worker runs the connectors of its command line). Source offsets persist in
`offset.storage.file.filename`; sink offsets in the connectors' consumer groups.

Every public method takes the herder lock, so REST calls (run in threads by the REST server) see a consistent
state; the lock is never held while a task thread runs, only while tasks are started or stopped.

Target states and what they do:
- STARTED: connector started, its task configs generated, tasks running;
- PAUSED: connector and tasks keep their resources but tasks stop processing (status PAUSED);
- STOPPED: tasks shut down and removed (zero tasks), connector stopped (status STOPPED); offsets can then be altered
  or reset (KIP-875). Resuming a STOPPED connector starts it afresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from odradek.connect.api.connector import SinkConnector, SourceConnector
from odradek.connect.api.errors import (
    AlreadyExistsException,
    BadRequestException,
    ConnectException,
    ForbiddenException,
    NotFoundException,
)
from odradek.connect.config.configdef import config_key_info
from odradek.connect.config.connector import config_string, invalid_config_message, string_config, validate
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.plugins import CONNECTOR_TYPES, Plugins, PluginType
from odradek.connect.runtime.clients import client_config, kafka_admin
from odradek.connect.runtime.offsets import offset_key
from odradek.connect.runtime.states import ConnectorTaskId, State, StatusBackingStore, StatusEvent, TargetState
from odradek.connect.runtime.worker import Worker

log = logging.getLogger(__name__)

ADMIN_TIMEOUT_S = 15.0
NOT_STOPPED = (
    "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the "
    "specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
)
FRAMEWORK_MESSAGE = (
    "The Connect framework-managed offsets for this connector have been {done} successfully. However, if this "
    "connector manages offsets externally, they will need to be manually {done2} in the system that the connector uses."
)
KAFKA_TOPIC_KEY, KAFKA_PARTITION_KEY, KAFKA_OFFSET_KEY = "kafka_topic", "kafka_partition", "kafka_offset"


class StandaloneHerder:
    def __init__(self, worker: Worker, plugins: Plugins, statuses: StatusBackingStore, config: WorkerConfig) -> None:
        self.worker = worker
        self.plugins = plugins
        self.statuses = statuses
        self.config = config
        self.lock = threading.RLock()
        self.configs: dict[str, dict[str, str]] = {}
        self.targets: dict[str, TargetState] = {}
        self.task_configs: dict[str, list[dict[str, str]]] = {}
        self.ready = False
        self.kafka_cluster_id: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            admin = kafka_admin().AdminClient(client_config(self.config, "admin", {}))
            self.kafka_cluster_id = admin.list_topics(timeout=ADMIN_TIMEOUT_S).cluster_id
        except Exception as exc:
            log.warning("could not read the Kafka cluster id: %s", exc)
        self.ready = True

    def stop(self) -> None:
        with self.lock:
            self.ready = False
            self.worker.stop()

    # -- lookups --------------------------------------------------------------------------------------------

    def _require(self, name: str) -> dict[str, str]:
        config = self.configs.get(name)
        if config is None:
            raise NotFoundException(f"Connector {name} not found")
        return config

    def connectors(self) -> list[str]:
        with self.lock:
            return sorted(self.configs)

    def connector_type(self, config: Mapping[str, str]) -> str:
        return self.plugins.connector_type(config.get("connector.class", ""))

    def connector_info(self, name: str) -> dict[str, Any]:
        with self.lock:
            config = self._require(name)
            tasks = [{"connector": name, "task": i} for i in range(len(self.task_configs.get(name, [])))]
            return {"name": name, "config": dict(config), "tasks": tasks, "type": self.connector_type(config)}

    def connector_config(self, name: str) -> dict[str, str]:
        with self.lock:
            return dict(self._require(name))

    def tasks(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            self._require(name)
            return [
                {"id": {"connector": name, "task": i}, "config": dict(c)}
                for i, c in enumerate(self.task_configs.get(name, []))
            ]

    def tasks_config(self, name: str) -> dict[str, dict[str, str]]:
        with self.lock:
            self._require(name)
            return {f"{name}-{i}": dict(c) for i, c in enumerate(self.task_configs.get(name, []))}

    def connector_status(self, name: str) -> dict[str, Any]:
        with self.lock:
            config = self._require(name)
            status = self.statuses.connector(name)
            if status is None:
                raise NotFoundException(f"No status found for connector {name}")
            tasks = []
            for i in range(len(self.task_configs.get(name, []))):
                task_status = self.statuses.task(ConnectorTaskId(name, i))
                if task_status is not None:
                    tasks.append({"id": i, **task_status.as_json()})
            return {"name": name, "connector": status.as_json(), "tasks": tasks, "type": self.connector_type(config)}

    def task_status(self, name: str, task: int) -> dict[str, Any]:
        with self.lock:
            self._require(name)
            status = self.statuses.task(ConnectorTaskId(name, task))
            if status is None or task >= len(self.task_configs.get(name, [])):
                raise NotFoundException(f"No status found for task {name}-{task}")
            return {"id": task, **status.as_json()}

    # -- config writes --------------------------------------------------------------------------------------

    def exactly_once_source_enabled(self) -> bool:
        """KIP-618 is distributed mode's: a standalone worker has no exactly-once source support."""
        return False

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return validate(self.plugins, config, self.exactly_once_source_enabled()).infos
        except ConnectException as exc:
            raise BadRequestException(str(exc)) from exc

    def put_connector_config(
        self, name: str, config: Mapping[str, Any], allow_replace: bool, initial_state: TargetState | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """Create or replace; returns (created, ConnectorInfo). 400 on invalid config, 409 on a refused duplicate."""
        config = string_config(config)
        try:
            result = validate(self.plugins, config, self.exactly_once_source_enabled())
        except ConnectException as exc:
            raise BadRequestException(str(exc)) from exc
        if result.error_count:
            raise BadRequestException(invalid_config_message(result))
        with self.lock:
            exists = name in self.configs
            if exists and not allow_replace:
                raise AlreadyExistsException(f"Connector {name} already exists")
            if exists:
                self._stop_connector_and_tasks(name)
            else:
                self.targets[name] = initial_state or TargetState.STARTED
            self.configs[name] = config
            self._start_connector(name)
            return not exists, self.connector_info(name)

    def patch_connector_config(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """KIP-477: merge; a null value removes the key."""
        with self.lock:
            merged = dict(self._require(name))
            for key, value in patch.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = config_string(value)
            if merged.get("name", name) != name:
                raise BadRequestException(
                    f"Connector name configuration ({merged['name']}) doesn't match connector name in the URL ({name})"
                )
            return self.put_connector_config(name, merged, True)[1]

    def delete_connector_config(self, name: str) -> None:
        with self.lock:
            self._require(name)
            self._stop_connector_and_tasks(name)
            del self.configs[name]
            self.targets.pop(name, None)
            self.task_configs.pop(name, None)
            self.statuses.record(name, StatusEvent.DELETION)
            self.statuses.forget_tasks(name)

    # -- starting and stopping --------------------------------------------------------------------------------

    def _start_connector(self, name: str) -> None:
        target = self.targets[name]
        started = self.worker.start_connector(name, self.configs[name], target, self.request_task_reconfiguration)
        if target is TargetState.STOPPED:
            self.task_configs[name] = []
            self.statuses.forget_tasks(name)
        elif started:
            self._update_tasks(name)

    def _stop_connector_and_tasks(self, name: str) -> None:
        self.worker.stop_and_await_tasks(self.worker.task_ids(name))
        self.worker.stop_connector(name)

    def _update_tasks(self, name: str, force: bool = False) -> None:
        try:
            new = self.worker.connector_task_configs(name, self.configs[name])
        except Exception as exc:
            log.error("connector %s failed to generate task configs", name, exc_info=exc)
            from odradek.connect.runtime.errors import format_trace

            self.statuses.record(name, StatusEvent.FAILURE, format_trace(exc))
            return
        old = self.task_configs.get(name)
        if not force and new == old and len(self.worker.task_ids(name)) == len(new):
            return
        self.worker.stop_and_await_tasks(self.worker.task_ids(name))
        self.statuses.forget_tasks(name)
        self.task_configs[name] = new
        for i, task_config in enumerate(new):
            self.worker.start_task(ConnectorTaskId(name, i), self.configs[name], task_config, self.targets[name])

    def request_task_reconfiguration(self, name: str) -> None:
        with self.lock:
            if name in self.configs and self.targets.get(name) is not TargetState.STOPPED:
                self._update_tasks(name)

    # -- restarts and target states ---------------------------------------------------------------------------

    def restart_connector(self, name: str) -> None:
        with self.lock:
            self._require(name)
            self.worker.stop_connector(name)
            self._start_connector(name)

    def restart_plan(self, name: str, include_tasks: bool, only_failed: bool) -> tuple[dict[str, Any], bool, list[int]]:
        """KIP-745: (the status with the instances to restart shown RESTARTING, restart the connector?, task ids)."""
        with self.lock:
            self._require(name)
            status = self.connector_status(name)
            restart_connector = not only_failed or status["connector"]["state"] == State.FAILED.value
            task_ids = [
                t["id"]
                for t in status["tasks"]
                if include_tasks and (not only_failed or t["state"] == State.FAILED.value)
            ]
            if restart_connector:
                status["connector"] = {**status["connector"], "state": State.RESTARTING.value}
                status["connector"].pop("trace", None)
            for task in status["tasks"]:
                if task["id"] in task_ids:
                    task["state"] = State.RESTARTING.value
                    task.pop("trace", None)
            return status, restart_connector, task_ids

    def restart_connector_and_tasks(self, name: str, include_tasks: bool, only_failed: bool) -> dict[str, Any]:
        """KIP-745: returns the status with the instances being restarted shown RESTARTING, then restarts them."""
        with self.lock:
            status, restart_connector, task_ids = self.restart_plan(name, include_tasks, only_failed)
            if restart_connector:
                self.statuses.record(name, StatusEvent.RESTART)
                self.worker.stop_connector(name)
            ids = [ConnectorTaskId(name, i) for i in task_ids]
            for task_id in ids:
                self.statuses.record(task_id, StatusEvent.RESTART)
            self.worker.stop_and_await_tasks(ids)
            if restart_connector:
                target = self.targets[name]
                self.worker.start_connector(name, self.configs[name], target, self.request_task_reconfiguration)
            configs = self.task_configs.get(name, [])
            for task_id in ids:
                if task_id.task < len(configs):
                    self.worker.start_task(task_id, self.configs[name], configs[task_id.task], self.targets[name])
            return status

    def restart_task(self, name: str, task: int) -> None:
        with self.lock:
            self._require(name)
            configs = self.task_configs.get(name, [])
            if task >= len(configs) or task < 0:
                raise NotFoundException(f"Task {name}-{task} not found")
            task_id = ConnectorTaskId(name, task)
            self.worker.stop_and_await_tasks([task_id])
            self.worker.start_task(task_id, self.configs[name], configs[task], self.targets[name])

    def _set_target(self, name: str, target: TargetState) -> None:
        with self.lock:
            self._require(name)
            previous = self.targets[name]
            if previous is target:
                return
            self.targets[name] = target
            if target is TargetState.STOPPED:
                self._stop_connector_and_tasks(name)
                self.task_configs[name] = []
                self.statuses.forget_tasks(name)
                self.statuses.record(name, StatusEvent.STOP)
            elif previous is TargetState.STOPPED:
                self.worker.stop_connector(name)
                self._start_connector(name)
            else:
                self.worker.set_connector_target(name, target)
                for task_id in self.worker.task_ids(name):
                    self.worker.set_task_target(task_id, target)

    def pause_connector(self, name: str) -> None:
        self._set_target(name, TargetState.PAUSED)

    def resume_connector(self, name: str) -> None:
        self._set_target(name, TargetState.STARTED)

    def stop_connector(self, name: str) -> None:
        self._set_target(name, TargetState.STOPPED)

    # -- topics (KIP-558) -----------------------------------------------------------------------------------

    def active_topics(self, name: str) -> dict[str, Any]:
        if not self.config["topic.tracking.enable"]:
            raise ForbiddenException("Topic tracking is disabled.")
        with self.lock:
            self._require(name)
            return {name: {"topics": self.statuses.active_topics(name)}}

    def reset_active_topics(self, name: str) -> None:
        if not self.config["topic.tracking.enable"]:
            raise ForbiddenException("Topic tracking is disabled.")
        if not self.config["topic.tracking.allow.reset"]:
            raise ForbiddenException("Topic tracking reset is disabled.")
        with self.lock:
            self._require(name)
            self.statuses.reset_topics(name)

    # -- offsets (KIP-875) ----------------------------------------------------------------------------------

    def _is_sink(self, name: str) -> bool:
        desc = self.plugins.find(self.configs[name]["connector.class"], *CONNECTOR_TYPES)
        return desc.types[0] is PluginType.SINK

    def connector_offsets(self, name: str) -> dict[str, Any]:
        with self.lock:
            self._require(name)
            sink = self._is_sink(name)
            config = self.configs[name]
        if not sink:
            offsets = self.worker.offsets.connector_offsets(name)
            return {"offsets": [{"partition": p, "offset": o} for p, o in offsets]}
        return {
            "offsets": [
                {"partition": {KAFKA_TOPIC_KEY: t, KAFKA_PARTITION_KEY: p}, "offset": {KAFKA_OFFSET_KEY: o}}
                for (t, p), o in sorted(self._sink_group_offsets(name, config).items())
            ]
        }

    def _admin(self, config: Mapping[str, str]) -> Any:
        return kafka_admin().AdminClient(client_config(self.config, "admin", config))

    def _sink_group_offsets(self, name: str, config: Mapping[str, str]) -> dict[tuple[str, int], int]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        admin = self._admin(config)
        group = f"connect-{name}"
        futures = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=ADMIN_TIMEOUT_S
        )
        result = futures[group].result(timeout=ADMIN_TIMEOUT_S)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or () if tp.offset >= 0}

    def _require_stopped(self, name: str) -> None:
        if self.targets.get(name) is not TargetState.STOPPED or self.worker.is_running(name):
            raise BadRequestException(NOT_STOPPED.format(name=name))

    def alter_connector_offsets(self, name: str, offsets: list[Any]) -> str:
        with self.lock:
            config = dict(self._require(name))
            self._require_stopped(name)
            connector = self.plugins.find(config["connector.class"], *CONNECTOR_TYPES).cls()
            if self._is_sink(name):
                parsed = _parse_sink_offsets(offsets)
                if any(o is None for o in parsed.values()):
                    raise BadRequestException(
                        "Resetting the offsets of single partitions of a sink connector (null offsets) "
                        "is not supported yet; reset all of them with DELETE /connectors/"
                        f"{name}/offsets"
                    )
                handled = (
                    _call_alter(lambda: connector.alter_offsets(config, parsed))
                    if isinstance(connector, SinkConnector)
                    else False
                )
                self._alter_sink_offsets(name, config, parsed)
            else:
                partitions = _parse_source_offsets(offsets)
                handled = (
                    _call_alter(
                        lambda: connector.alter_offsets(config, {tuple(sorted(p.items())): o for p, o in partitions})
                    )
                    if isinstance(connector, SourceConnector)
                    else False
                )
                self.worker.offsets.set({offset_key(name, p): o for p, o in partitions})
        if handled:
            return "The offsets for this connector have been altered successfully"
        return FRAMEWORK_MESSAGE.format(done="altered", done2="altered")

    def _alter_sink_offsets(
        self, name: str, config: Mapping[str, str], parsed: dict[tuple[str, int], int | None]
    ) -> None:
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        group = f"connect-{name}"
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(t, p, o) for (t, p), o in parsed.items() if o is not None]
        )
        admin = self._admin(config)  # kept referenced: a collected AdminClient never completes its futures
        futures = admin.alter_consumer_group_offsets([request], request_timeout=ADMIN_TIMEOUT_S)
        try:
            futures[group].result(timeout=ADMIN_TIMEOUT_S)
        except Exception as exc:
            raise ConnectException(f"Failed to alter consumer group offsets for connector {name}: {exc!r}") from exc

    def reset_connector_offsets(self, name: str) -> str:
        with self.lock:
            config = dict(self._require(name))
            self._require_stopped(name)
            if self._is_sink(name):
                group = f"connect-{name}"
                admin = self._admin(config)
                futures = admin.delete_consumer_groups([group], request_timeout=ADMIN_TIMEOUT_S)
                try:
                    futures[group].result(timeout=ADMIN_TIMEOUT_S)
                except Exception as exc:
                    if "GROUP_ID_NOT_FOUND" not in str(exc):
                        raise ConnectException(
                            f"Failed to reset consumer group offsets for connector {name}: {exc}"
                        ) from exc
            else:
                stored = self.worker.offsets.connector_offsets(name)
                self.worker.offsets.set({offset_key(name, p): None for p, _ in stored})
        return FRAMEWORK_MESSAGE.format(done="reset", done2="reset")

    # -- plugins --------------------------------------------------------------------------------------------

    def put_task_configs(self, name: str, configs: list[dict[str, str]], signature: Any = None) -> None:
        """The internal POST /connectors/{c}/tasks of distributed mode: not served by a standalone worker."""
        raise NotFoundException("Task configs can only be submitted to a distributed worker")

    def fence_zombie_source_tasks(self, name: str, signature: Any = None) -> None:
        """The internal PUT /connectors/{c}/fence of distributed mode (KIP-618): not served by a standalone worker."""
        raise NotFoundException("Zombie fencing is only performed by a distributed worker")

    def plugin_list(self, connectors_only: bool) -> list[dict[str, str]]:
        types = CONNECTOR_TYPES if connectors_only else tuple(PluginType)
        out = []
        for desc in self.plugins.plugins(*types):
            for kind in desc.types:
                if kind in types:
                    out.append({"class": desc.class_name, "type": kind.value, "version": desc.version})
        return out

    def plugin_config(self, name: str) -> list[dict[str, Any]]:
        try:
            desc = self.plugins.find(name)
        except ConnectException:
            raise NotFoundException(f"Unknown plugin {name}.") from None
        instance = desc.cls()
        return [config_key_info(key) for key in instance.config().keys.values()]


def _call_alter(call: Any) -> bool:
    try:
        return bool(call())
    except ConnectException as exc:
        raise BadRequestException(str(exc)) from exc


def _parse_source_offsets(offsets: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    out = []
    for entry in offsets:
        partition = entry.get("partition") if isinstance(entry, dict) else None
        if not isinstance(partition, dict):
            raise BadRequestException("Source partitions may not be null")
        offset = entry.get("offset")
        if offset is not None and not isinstance(offset, dict):
            raise BadRequestException(f"Source offsets must be objects or null, found {offset!r}")
        out.append((partition, offset))
    return out


def _parse_sink_offsets(offsets: list[Any]) -> dict[tuple[str, int], int | None]:
    out: dict[tuple[str, int], int | None] = {}
    for entry in offsets:
        partition = entry.get("partition") if isinstance(entry, dict) else None
        if not isinstance(partition, dict):
            raise BadRequestException("Sink connector partitions may not be null")
        topic, number = partition.get(KAFKA_TOPIC_KEY), partition.get(KAFKA_PARTITION_KEY)
        if not isinstance(topic, str) or not topic:
            raise BadRequestException(f"Kafka topic names must be valid strings and may not be null: {partition!r}")
        if isinstance(number, str) and number.strip().lstrip("-").isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise BadRequestException(f"Kafka partitions must be valid non-negative numbers: {partition!r}")
        offset = entry.get("offset")
        value: int | None = None
        if offset is not None:
            raw = offset.get(KAFKA_OFFSET_KEY) if isinstance(offset, dict) else None
            if isinstance(raw, str) and raw.strip().isdigit():
                raw = int(raw)
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise BadRequestException(f"Kafka offsets must be valid non-negative numbers: {offset!r}")
            value = raw
        out[(topic, number)] = value
    return out
