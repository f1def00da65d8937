"""The distributed herder (Kafka's DistributedHerder): workers in a Connect group share connectors and tasks.

Same public methods as StandaloneHerder, so the REST server serves both. What differs:
- Config state is the config topic (`KafkaConfigBackingStore`); the REST read methods read its latest snapshot,
  mirrored into `configs` / `targets` / `task_configs` by the config topic's reader.
- Config writes are made by the leader only (one writer to the config topic). A follower forwards the REST call to
  the leader's URL with `?forward=false`; a forwarded call that reaches a non-leader, a call made while no leader is
  known, and a write while a rebalance is underway are answered 409 with Kafka's messages.
- What runs here is what the group's leader assigned (member.py, assignor.py): connectors, which generate their task
  configs and submit them to the leader (written directly when this worker is the leader, else through the internal
  POST /connectors/{c}/tasks), and tasks, started from the committed task configs.
- Statuses are shared through the status topic; source offsets through the offsets topic.

Threads: the herder thread (`_run`) polls the group member, applies assignments and handles config events queued by
the config topic's reader; REST calls run in their own threads. The herder lock guards the mirrored state and the
local worker; it is never held while writing to the config topic (the reader that applies the write takes it).

Config events and what a worker does (Kafka's DistributedHerder tick):
| event | on the worker |
|---|---|
| connector added or removed | rejoin (the assignment changes); a removed connector running here is stopped |
| connector config updated | restart the connector if it runs here, then reconfigure its tasks |
| task configs committed | restart local tasks whose config changed, stop those that no longer exist, rejoin |
| target state changed | pause / resume / stop the local connector and tasks (STOPPED: zero tasks committed) |
| restart request (KIP-745) | restart the local instances the request selects |
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from odradek.connect.api.errors import (
    AlreadyExistsException,
    BadRequestException,
    ConflictException,
    ConnectException,
    ForbiddenException,
    NotFoundException,
)
from odradek.connect.config.connector import config_string, invalid_config_message, string_config, validate
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.distributed.assignor import (
    Allocation,
    AssignorState,
    eager_assignment,
    incremental_assignment,
)
from odradek.connect.distributed.member import WorkerGroupMember
from odradek.connect.distributed.protocol import (
    ERROR_NONE,
    ConnectAssignment,
    ConnectProtocolCompatibility,
    WorkerState,
    serialize_assignment,
)
from odradek.connect.distributed.stores import KafkaConfigBackingStore, KafkaStatusBackingStore, SessionKey
from odradek.connect.plugins import Plugins
from odradek.connect.rest.server import AUTHORIZATION, FORWARDED
from odradek.connect.rest.signature import InternalRequestSignature, sign
from odradek.connect.runtime.errors import format_trace
from odradek.connect.runtime.standalone import StandaloneHerder
from odradek.connect.runtime.states import ConnectorTaskId, State, StatusEvent, TargetState
from odradek.connect.runtime.worker import Worker

log = logging.getLogger(__name__)

NO_LEADER = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
NOT_LEADER_AFTER_FORWARD = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
REBALANCING = (
    "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)"
)
FORWARD_TIMEOUT_S = 60.0
POLL_TIMEOUT_MS = 1000
TICK_S = 0.05
RECONFIGURE_BACKOFF_S = 1.0
# KIP-618: how long a task held for a pending fencing waits for the leader's own fencing round (it follows the task
# configs it writes) before this worker asks for one with PUT /connectors/{c}/fence, and between such requests.
FENCE_REQUEST_DELAY_S = 5.0


class DistributedHerder(StandaloneHerder):
    def __init__(
        self,
        worker: Worker,
        plugins: Plugins,
        statuses: KafkaStatusBackingStore,
        config: WorkerConfig,
        url: str,
    ) -> None:
        super().__init__(worker, plugins, statuses, config)
        self.kafka_statuses = statuses
        self.url = url
        self.protocol = ConnectProtocolCompatibility.of_setting(str(config["connect.protocol"]))
        self.max_delay_ms = int(config["scheduled.rebalance.max.delay.ms"])
        self.config_store: KafkaConfigBackingStore | None = None
        self.member: WorkerGroupMember | None = None
        self.write_lock = threading.Lock()  # serialises this leader's config writes
        self.events: collections.deque[tuple[str, str, Any]] = collections.deque()
        self.known_connectors: set[str] = set()
        self.applied_targets: dict[str, TargetState] = {}
        self.assigned_connectors: set[str] = set()
        self.assigned_tasks: set[ConnectorTaskId] = set()
        self.started_configs: dict[ConnectorTaskId, dict[str, str]] = {}  # the raw config each local task runs
        self.assignor_state = AssignorState()
        self.pending_assignment: tuple[int, str, ConnectProtocolCompatibility, ConnectAssignment] | None = None
        self.generation = -1
        self.member_id = ""
        self.leader_id = ""
        self.leader_url = ""
        self.client_ssl: ssl.SSLContext | None = None  # set by main when the worker has TLS settings
        self.rebalancing = True
        self.protocol_in_use: ConnectProtocolCompatibility | None = None
        self.rejoin_at: float | None = None
        self.retry_at: dict[str, float] = {}
        # KIP-618: local tasks not started because their connector is pending fencing, when to ask the leader for a
        # fencing round, and (on the leader) the previous generation's task count of a round that failed.
        self.held_tasks: set[ConnectorTaskId] = set()
        self.fence_at: dict[str, float] = {}
        self.unfenced_counts: dict[str, int] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def exactly_once_source_enabled(self) -> bool:
        return self.config.exactly_once_source_enabled

    # -- lifecycle ------------------------------------------------------------------------------------------

    def attach(self, config_store: KafkaConfigBackingStore, member: WorkerGroupMember) -> None:
        self.config_store = config_store
        self.member = member

    def start(self) -> None:
        super().start()
        self.ready = False
        assert self.config_store is not None
        with self.lock:
            self._mirror()
            self.known_connectors = set(self.configs)
            self.applied_targets = dict(self.targets)
        self._thread = threading.Thread(target=self._run, name="DistributedHerder", daemon=True)
        self._thread.start()
        self.ready = True

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(30)
        with self.lock:
            self.ready = False
            self.worker.stop()
        if self.member is not None:
            self.member.stop(lambda exc: log.warning("Error leaving the group: %s", exc))

    # -- the herder thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        assert self.member is not None
        while not self._stopping.is_set():
            try:
                self.member.poll(POLL_TIMEOUT_MS)
                pending, self.pending_assignment = self.pending_assignment, None
                if pending is not None:
                    self._apply_assignment(*pending)
                if self.rejoin_at is not None and time.monotonic() >= self.rejoin_at:
                    self.rejoin_at = None
                    self.member.request_rejoin()
                self._maybe_rotate_session_key()
                while self.events and not self._stopping.is_set():
                    self._handle(*self.events.popleft())
                for name, at in list(self.retry_at.items()):
                    if time.monotonic() >= at:
                        del self.retry_at[name]
                        self._reconfigure(name)
                for name, at in list(self.fence_at.items()):
                    if time.monotonic() >= at:
                        del self.fence_at[name]
                        self._request_fencing(name)
            except Exception as exc:  # keep the herder alive: the next tick retries
                log.error("Uncaught error in the herder thread", exc_info=exc)
                time.sleep(RECONFIGURE_BACKOFF_S)
            time.sleep(TICK_S)

    def _sessioned(self) -> bool:
        return self.protocol_in_use is ConnectProtocolCompatibility.SESSIONED

    def _maybe_rotate_session_key(self) -> None:
        """The leader of a sessioned group keeps a session key younger than `inter.worker.key.ttl.ms` (KIP-507)."""
        assert self.config_store is not None
        if self.rebalancing or not self._is_leader() or not self._sessioned():
            return
        current = self.config_store.state.session_key
        now_ms = int(time.time() * 1000)
        if current is not None and current.creation_timestamp + int(self.config["inter.worker.key.ttl.ms"]) > now_ms:
            return
        bits = self.config["inter.worker.key.size"] or 256
        key = SessionKey(
            secrets.token_bytes(int(bits) // 8), str(self.config["inter.worker.key.generation.algorithm"]), now_ms
        )
        with self.write_lock:
            self.config_store.put_session_key(key)
        log.info("Wrote a new session key (%s)", key.algorithm)

    def _mirror(self) -> None:
        """Copy the config topic's state into the attributes the REST read methods use (herder lock held)."""
        assert self.config_store is not None
        snapshot = self.config_store.snapshot()
        self.configs = snapshot.connectors
        self.targets = snapshot.targets
        self.task_configs = {c: v for c, v in snapshot.tasks.items() if c in snapshot.connectors}

    # -- group callbacks (kafka-python's I/O thread) ----------------------------------------------------------

    def current_state(self) -> WorkerState:
        assert self.config_store is not None
        assignment = ConnectAssignment(
            connectors=tuple(sorted(self.assigned_connectors)), tasks=tuple(sorted(self.assigned_tasks))
        )
        return WorkerState(self.url, self.config_store.state.offset, assignment)

    def on_join_prepare(self, protocol: ConnectProtocolCompatibility | None) -> None:
        self.rebalancing = True
        if protocol is ConnectProtocolCompatibility.EAGER:  # eager: stop everything before rejoining
            with self.lock:
                self.worker.stop_and_await_tasks(sorted(self.assigned_tasks))
                for name in sorted(self.assigned_connectors):
                    self.worker.stop_connector(name)
                self.assigned_connectors.clear()
                self.assigned_tasks.clear()

    def perform_assignment(
        self, leader_id: str, protocol: ConnectProtocolCompatibility, members: Mapping[str, WorkerState]
    ) -> dict[str, bytes]:
        assert self.config_store is not None
        self.config_store.log.read_to_end()
        snapshot = self.config_store.snapshot()
        connectors, tasks = sorted(snapshot.connectors), snapshot.task_ids()
        if protocol is ConnectProtocolCompatibility.EAGER:
            results = eager_assignment(members, connectors, tasks)
            delay = 0
        else:
            current = {
                m: Allocation(frozenset(s.assignment.connectors), frozenset(s.assignment.tasks))
                if s.assignment is not None
                else Allocation()
                for m, s in members.items()
            }
            result = incremental_assignment(
                current, connectors, tasks, self.assignor_state, int(time.monotonic() * 1000), self.max_delay_ms
            )
            self.assignor_state, results, delay = result.state, dict(result.assignments), result.delay
        leader_url = members[leader_id].url
        log.info("Leader %s assigning generation's work to %d workers (delay %d ms)", leader_id, len(members), delay)
        out = {}
        for member, a in results.items():
            assignment = ConnectAssignment(
                ERROR_NONE,
                leader_id,
                leader_url,
                snapshot.offset,
                a.connectors,
                a.tasks,
                a.revoked_connectors,
                a.revoked_tasks,
                delay,
            )
            out[member] = serialize_assignment(assignment, protocol.version)
        return out

    def on_assigned(
        self, generation: int, member_id: str, protocol: ConnectProtocolCompatibility, assignment: ConnectAssignment
    ) -> None:
        self.pending_assignment = (generation, member_id, protocol, assignment)

    # -- applying an assignment (herder thread) -----------------------------------------------------------------

    def _apply_assignment(
        self, generation: int, member_id: str, protocol: ConnectProtocolCompatibility, a: ConnectAssignment
    ) -> None:
        assert self.config_store is not None and self.member is not None
        if self.config_store.state.offset < a.config_offset:
            self.config_store.log.read_to_end()
        log.info(
            "Joined group at generation %d as %s (leader %s at %s): assigned connectors %s, tasks %s; revoked %s, %s; "
            "protocol %s, scheduled delay %d ms",
            generation,
            member_id,
            a.leader,
            a.leader_url,
            list(a.connectors),
            [str(t) for t in a.tasks],
            list(a.revoked_connectors),
            [str(t) for t in a.revoked_tasks],
            protocol.wire_name,
            a.delay,
        )
        if a.leader != member_id:
            self.assignor_state = AssignorState()  # a leader's memory is only valid while it stays the leader
        with self.lock:
            self._mirror()
            self.generation, self.member_id, self.leader_id, self.leader_url = (
                generation,
                member_id,
                a.leader,
                a.leader_url,
            )
            self.protocol_in_use = protocol
            self.kafka_statuses.generation = generation
            revoked_tasks = [t for t in a.revoked_tasks if t in self.assigned_tasks]
            self.worker.stop_and_await_tasks(revoked_tasks)
            self.assigned_tasks.difference_update(a.revoked_tasks)
            for name in a.revoked_connectors:
                self.worker.stop_connector(name)
                self.assigned_connectors.discard(name)
            for name in a.connectors:
                self.assigned_connectors.add(name)
                self._start_connector_here(name)
            for task_id in a.tasks:
                self.assigned_tasks.add(task_id)
                self._start_task_here(task_id)
        if (a.revoked_connectors or a.revoked_tasks) and protocol is not ConnectProtocolCompatibility.EAGER:
            self.member.request_rejoin()  # hand the revoked work on at once (Kafka's follow-up rebalance)
        self.rejoin_at = time.monotonic() + a.delay / 1000 if a.delay > 0 else None
        self.rebalancing = False

    def _start_connector_here(self, name: str) -> None:
        if name not in self.configs or name in self.worker.connectors:
            return
        target = self.targets.get(name, TargetState.STARTED)
        if self.worker.start_connector(name, self.configs[name], target, self.request_task_reconfiguration):
            self.applied_targets[name] = target
            if target is not TargetState.STOPPED:
                self.events.append(("reconfigure", name, None))

    def _start_task_here(self, task_id: ConnectorTaskId) -> None:
        configs = self.task_configs.get(task_id.connector, [])
        if task_id in self.worker.tasks or task_id.task >= len(configs) or task_id.connector not in self.configs:
            self.held_tasks.discard(task_id)
            return
        if self._fencing_pending(task_id.connector):
            # KIP-618: no task of a new generation starts before the previous one is fenced (the task count record).
            if task_id not in self.held_tasks:
                log.info("Task %s waits for the zombie fencing of connector %s", task_id, task_id.connector)
            self.held_tasks.add(task_id)
            self.fence_at.setdefault(task_id.connector, time.monotonic() + FENCE_REQUEST_DELAY_S)
            return
        self.held_tasks.discard(task_id)
        target = self.targets.get(task_id.connector, TargetState.STARTED)
        self.started_configs[task_id] = configs[task_id.task]
        self.worker.start_task(task_id, self.configs[task_id.connector], configs[task_id.task], target)

    # -- config events (queued by the config topic's reader, handled on the herder thread) ---------------------

    def on_connector_config_update(self, name: str) -> None:
        if self.config_store is None:
            return  # the config topic's replay at start-up, before attach(): start() mirrors the whole state
        with self.lock:
            self._mirror()
        self.events.append(("connector", name, None))

    def on_task_config_update(self, name: str) -> None:
        if self.config_store is None:
            return  # the config topic's replay at start-up, before attach(): start() mirrors the whole state
        with self.lock:
            self._mirror()
        self.events.append(("tasks", name, None))

    def on_target_state_change(self, name: str) -> None:
        if self.config_store is None:
            return  # the config topic's replay at start-up, before attach(): start() mirrors the whole state
        with self.lock:
            self._mirror()
        self.events.append(("target", name, None))

    def on_task_count_record(self, name: str) -> None:
        if self.config_store is None:
            return  # replayed at start-up: the assignment starts the tasks
        self.events.append(("fenced", name, None))

    def on_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        if self.config_store is None:
            return  # a restart request replayed at start-up is history (Kafka acts on requests read after start)
        self.events.append(("restart", name, (include_tasks, only_failed)))

    def _handle(self, kind: str, name: str, arg: Any) -> None:
        assert self.member is not None
        if kind == "reconfigure":
            self._reconfigure(name)
            return
        with self.lock:
            local_tasks = sorted(t for t in self.assigned_tasks if t.connector == name)
            if kind == "connector":
                if name not in self.configs:
                    self.worker.stop_and_await_tasks(local_tasks)
                    self.assigned_tasks.difference_update(local_tasks)
                    if name in self.assigned_connectors:
                        self.worker.stop_connector(name)
                        self.assigned_connectors.discard(name)
                        self.statuses.record(name, StatusEvent.DELETION)
                    for task_id in local_tasks:
                        self.statuses.record(task_id, StatusEvent.DELETION)
                    self.known_connectors.discard(name)
                    self.member.request_rejoin()
                elif name not in self.known_connectors:
                    self.known_connectors.add(name)
                    self.member.request_rejoin()
                elif name in self.assigned_connectors:
                    self.worker.stop_connector(name)
                    self._start_connector_here(name)
            elif kind == "tasks":
                configs = self.task_configs.get(name, [])
                # KIP-618: every task of an exactly-once source connector restarts with a new generation (as
                # Kafka's herder does for any connector): the fencing round fences all the previous one's ids.
                restart_all = self._exactly_once_source(name)
                for task_id in local_tasks:
                    running = self.worker.tasks.get(task_id)
                    if task_id.task >= len(configs):
                        self.worker.stop_and_await_tasks([task_id])
                        self.assigned_tasks.discard(task_id)
                        self.held_tasks.discard(task_id)
                    elif restart_all or running is None or self.started_configs.get(task_id) != configs[task_id.task]:
                        self.worker.stop_and_await_tasks([task_id])
                        self._start_task_here(task_id)
                self.member.request_rejoin()
            elif kind == "target":
                self._apply_target(name, local_tasks)
            elif kind == "fenced":
                for task_id in sorted(t for t in self.held_tasks if t.connector == name):
                    if task_id in self.assigned_tasks:
                        self._start_task_here(task_id)
                    else:
                        self.held_tasks.discard(task_id)
            elif kind == "restart":
                include_tasks, only_failed = arg
                self._restart_local(name, local_tasks, include_tasks, only_failed)

    def _apply_target(self, name: str, local_tasks: list[ConnectorTaskId]) -> None:
        target = self.targets.get(name)
        previous = self.applied_targets.get(name)
        if target is None or target is previous:
            return
        self.applied_targets[name] = target
        if target is TargetState.STOPPED:
            self.worker.stop_and_await_tasks(local_tasks)
            if name in self.assigned_connectors:
                self.worker.stop_connector(name)
                self.worker.start_connector(name, self.configs[name], target, self.request_task_reconfiguration)
        elif previous is TargetState.STOPPED:
            if name in self.assigned_connectors:
                self.worker.stop_connector(name)
                self._start_connector_here(name)
        else:
            if name in self.assigned_connectors:
                self.worker.set_connector_target(name, target)
            for task_id in local_tasks:
                self.worker.set_task_target(task_id, target)

    def _restart_local(
        self, name: str, local_tasks: list[ConnectorTaskId], include_tasks: bool, only_failed: bool
    ) -> None:
        def selected(key: str | ConnectorTaskId) -> bool:
            status = self.statuses.connector(key) if isinstance(key, str) else self.statuses.task(key)
            return not only_failed or (status is not None and status.state in (State.FAILED, State.RESTARTING))

        if name in self.assigned_connectors and selected(name):
            self.worker.stop_connector(name)
            self._start_connector_here(name)
        if include_tasks:
            chosen = [t for t in local_tasks if selected(t)]
            self.worker.stop_and_await_tasks(chosen)
            for task_id in chosen:
                self._start_task_here(task_id)

    def request_task_reconfiguration(self, name: str) -> None:
        self.events.append(("reconfigure", name, None))

    def _reconfigure(self, name: str) -> None:
        """Generate the connector's task configs here and submit them to the leader if they changed."""
        with self.lock:
            if name not in self.assigned_connectors or not self.worker.is_running(name):
                return
            if self.targets.get(name) is TargetState.STOPPED:
                return
            try:
                new = self.worker.connector_task_configs(name, self.configs[name])
            except Exception as exc:
                log.error("connector %s failed to generate task configs", name, exc_info=exc)
                self.statuses.record(name, StatusEvent.FAILURE, format_trace(exc))
                return
            if new == self.task_configs.get(name):
                return
        try:
            data = json.dumps(new).encode()
            signature = self._forward_signature(data)
            path = f"/connectors/{quote(name, safe='')}/tasks"
            self._leader_call("POST", path, new, lambda: self._write_tasks(name, new), data, signature)
        except ConnectException as exc:
            log.warning("Could not submit the task configs of %s (retrying): %s", name, exc)
            self.retry_at[name] = time.monotonic() + RECONFIGURE_BACKOFF_S

    def _write_tasks(self, name: str, configs: list[dict[str, str]]) -> None:
        """The leader writes a connector's task configs; for an exactly-once source connector, then the fencing
        round (`_fence_round`): the previous generation's transactional ids fenced, then the task count record that
        lets the new tasks start. A failed round leaves the tasks held until a PUT /connectors/{c}/fence succeeds."""
        assert self.config_store is not None
        with self.write_lock:
            previous = len(self.config_store.state.tasks.get(name, []))
            self.config_store.put_task_configs(name, configs)
            if not self._exactly_once_source(name):
                return
            try:
                self._fence_round(name, previous)
            except ConnectException as exc:
                log.warning("Zombie fencing for %s failed; its tasks wait for a fence request: %s", name, exc)

    # -- KIP-618 zombie fencing -----------------------------------------------------------------------------------

    def _exactly_once_source(self, name: str) -> bool:
        assert self.config_store is not None
        config = self.config_store.state.connectors.get(name)
        return self.exactly_once_source_enabled() and config is not None and self.connector_type(config) == "source"

    def _fencing_pending(self, name: str) -> bool:
        """Whether tasks of `name` must wait: an exactly-once source connector whose latest task configs no task
        count record followed yet (Kafka's ClusterConfigState.pendingFencing)."""
        assert self.config_store is not None
        return self._exactly_once_source(name) and name in self.config_store.state.pending_fencing

    def _fence_round(self, name: str, previous: int = 0) -> int:
        """On the leader, with the write lock (Kafka's fenceZombieSourceTasks): when the connector is pending
        fencing, fence the transactional ids of its previous generation (the last task count record's tasks, or
        `previous`, the count committed before the configs just written, if larger), then write the task count
        record of the current configs. Not when the previous and the new generation are one task each (the new
        task's init_transactions fences the old one) or there was none. Returns the number of ids fenced."""
        assert self.config_store is not None
        store = self.config_store
        store.log.read_to_end()
        with store.lock:
            if name not in store.state.pending_fencing or name not in store.state.connectors:
                return 0
            record = store.state.task_count_records.get(name)
            count = len(store.state.tasks.get(name, []))
            raw_config = dict(store.state.connectors[name])
        prior = max(record or 0, previous, self.unfenced_counts.get(name, 0))
        fenced = 0
        if prior > 0 and not (prior == 1 and count == 1):
            self.unfenced_counts[name] = prior
            self.worker.fence_zombies(name, prior, raw_config)
            fenced = prior
        store.put_task_count_record(name, count)
        self.unfenced_counts.pop(name, None)
        log.info("Zombie fencing round for %s: %d transactional ids fenced, task count record %d", name, fenced, count)
        return fenced

    def fence_zombie_source_tasks(self, name: str, signature: InternalRequestSignature | None = None) -> None:
        """The internal PUT /connectors/{c}/fence: a fencing round on the leader (forwarded there by a follower)."""

        def here() -> None:
            if self._sessioned():
                self._verify(signature)
            with self.lock:
                config = self._require(name)
            if self.connector_type(config) != "source":
                raise BadRequestException(f"Connector {name} is not a source connector")
            with self.write_lock:
                self._fence_round(name)

        data = signature.body if signature is not None else None
        self._leader_call("PUT", f"/connectors/{quote(name, safe='')}/fence", None, here, data, signature)

    def _forward_signature(self, body: bytes) -> InternalRequestSignature | None:
        """The signature of `body` for a request forwarded to the leader in a sessioned group (None when this worker
        is the leader or the group is not sessioned); ConnectException before the session key was read."""
        if not self._sessioned() or self._is_leader():
            return None
        assert self.config_store is not None
        key = self.config_store.state.session_key
        if key is None:
            raise ConnectException("no session key read from the config topic yet")
        return sign(str(self.config["inter.worker.signature.algorithm"]), key.key, body)

    def _request_fencing(self, name: str) -> None:
        """Held tasks waited FENCE_REQUEST_DELAY_S: ask the leader for a fencing round (again later if it fails)."""
        with self.lock:
            held = any(t.connector == name and t in self.assigned_tasks for t in self.held_tasks)
        if not held or not self._fencing_pending(name):
            return
        try:
            self.fence_zombie_source_tasks(name, self._forward_signature(b""))
        except ConnectException as exc:
            log.warning("Fence request for %s failed (retrying): %s", name, exc)
            self.fence_at[name] = time.monotonic() + FENCE_REQUEST_DELAY_S

    # -- forwarding to the leader ----------------------------------------------------------------------------

    def _is_leader(self) -> bool:
        return bool(self.member_id) and self.member_id == self.leader_id

    def _leader_call(
        self,
        method: str,
        path: str,
        body: Any,
        here: Any,
        data: bytes | None = None,
        signature: InternalRequestSignature | None = None,
    ) -> Any:
        """Run `here()` when this worker is the leader, else forward the call; returns (status, body) when forwarded."""
        if self.rebalancing or not self.leader_url:
            if FORWARDED.get():
                raise ConflictException(NOT_LEADER_AFTER_FORWARD)
            raise ConflictException(NO_LEADER)
        if self._is_leader():
            return here()
        if FORWARDED.get():
            raise ConflictException(NOT_LEADER_AFTER_FORWARD)
        return forward(self.leader_url, method, path, body, data, signature, self.client_ssl)

    # -- config writes ----------------------------------------------------------------------------------------

    def put_connector_config(
        self, name: str, config: Mapping[str, Any], allow_replace: bool, initial_state: TargetState | None = None
    ) -> tuple[bool, dict[str, Any]]:
        config = string_config(config)

        def here() -> tuple[bool, dict[str, Any]]:
            try:
                result = validate(self.plugins, config, self.exactly_once_source_enabled())
            except ConnectException as exc:
                raise BadRequestException(str(exc)) from exc
            if result.error_count:
                raise BadRequestException(invalid_config_message(result))
            assert self.config_store is not None
            with self.write_lock:
                exists = name in self.config_store.snapshot().connectors
                if exists and not allow_replace:
                    raise AlreadyExistsException(f"Connector {name} already exists")
                self.config_store.put_connector_config(name, config, None if exists else initial_state)
            return not exists, self.connector_info(name)

        if allow_replace:
            out = self._leader_call("PUT", f"/connectors/{quote(name, safe='')}/config", config, here)
        else:
            body: dict[str, Any] = {"name": name, "config": config}
            if initial_state is not None:
                body["initial_state"] = initial_state.value
            out = self._leader_call("POST", "/connectors", body, here)
        if isinstance(out, Forwarded):
            return out.status == 201, out.body
        return out  # type: ignore[no-any-return]

    def patch_connector_config(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        def here() -> dict[str, Any]:
            merged = dict(self.connector_config(name))
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

        out = self._leader_call("PATCH", f"/connectors/{quote(name, safe='')}/config", dict(patch), here)
        return out.body if isinstance(out, Forwarded) else out  # type: ignore[no-any-return]

    def delete_connector_config(self, name: str) -> None:
        def here() -> None:
            assert self.config_store is not None
            with self.write_lock:
                if name not in self.config_store.snapshot().connectors:
                    raise NotFoundException(f"Connector {name} not found")
                self.config_store.remove_connector_config(name)

        self._leader_call("DELETE", f"/connectors/{quote(name, safe='')}", None, here)

    def _set_target(self, name: str, target: TargetState) -> None:
        verb = {TargetState.PAUSED: "pause", TargetState.STARTED: "resume", TargetState.STOPPED: "stop"}[target]

        def here() -> None:
            assert self.config_store is not None
            with self.write_lock:
                if name not in self.config_store.snapshot().connectors:
                    raise NotFoundException(f"Connector {name} not found")
                self.config_store.put_target_state(name, target)
                if target is TargetState.STOPPED:  # a stopped connector has no tasks (Kafka's stopConnector)
                    self.config_store.put_task_configs(name, [])

        self._leader_call("PUT", f"/connectors/{quote(name, safe='')}/{verb}", None, here)

    def put_task_configs(
        self, name: str, configs: list[dict[str, str]], signature: InternalRequestSignature | None = None
    ) -> None:
        def here() -> None:
            if self._sessioned():
                self._verify(signature)
            self._require_known(name)
            self._write_tasks(name, configs)

        data = signature.body if signature is not None else None
        self._leader_call("POST", f"/connectors/{quote(name, safe='')}/tasks", configs, here, data, signature)

    def _verify(self, signature: InternalRequestSignature | None) -> None:
        """KIP-507 on the leader: a sessioned group's internal requests must carry a valid signature."""
        assert self.config_store is not None
        if signature is None:
            raise BadRequestException("Internal request missing required signature")
        accepted = list(self.config["inter.worker.verification.algorithms"])
        if signature.algorithm not in accepted:
            raise BadRequestException(
                f"This worker does not support the '{signature.algorithm}' key signing algorithm used by other "
                f"workers. This worker is currently configured to use: {accepted}. Check that all workers' "
                "configuration files permit the same set of signature algorithms, and correct any misconfigured "
                "worker and restart it."
            )
        key = self.config_store.state.session_key
        if key is None:
            raise ConflictException("This worker has not read a session key from the config topic yet")
        if not signature.is_valid(key.key):
            raise ForbiddenException("Internal request contained invalid signature.")

    def _require_known(self, name: str) -> None:
        with self.lock:
            self._require(name)

    # -- restarts ---------------------------------------------------------------------------------------------

    def restart_connector(self, name: str) -> None:
        with self.lock:
            self._require(name)
            if name in self.assigned_connectors:
                self.worker.stop_connector(name)
                self._start_connector_here(name)
                return
            status = self.statuses.connector(name)
        self._forward_to_owner(
            status.worker_id if status else "", "POST", f"/connectors/{quote(name, safe='')}/restart"
        )

    def restart_task(self, name: str, task: int) -> None:
        task_id = ConnectorTaskId(name, task)
        with self.lock:
            self._require(name)
            if task >= len(self.task_configs.get(name, [])) or task < 0:
                raise NotFoundException(f"Task {name}-{task} not found")
            if task_id in self.assigned_tasks:
                self.worker.stop_and_await_tasks([task_id])
                self._start_task_here(task_id)
                return
            status = self.statuses.task(task_id)
        path = f"/connectors/{quote(name, safe='')}/tasks/{task}/restart"
        self._forward_to_owner(status.worker_id if status else "", "POST", path)

    def _forward_to_owner(self, worker_id: str, method: str, path: str) -> None:
        if FORWARDED.get() or not worker_id or worker_id == self.worker.worker_id:
            raise ConflictException(NOT_LEADER_AFTER_FORWARD)
        # Workers of one cluster share the advertised scheme: the owner is reached the way this worker is.
        scheme = self.url.split("://", 1)[0] if "://" in self.url else "http"
        forward(f"{scheme}://{worker_id}/", method, path, None, ssl_context=self.client_ssl)

    def restart_connector_and_tasks(self, name: str, include_tasks: bool, only_failed: bool) -> dict[str, Any]:
        """KIP-745 through the config topic: the leader writes the request, each worker restarts its instances."""
        status, _connector, _tasks = self.restart_plan(name, include_tasks, only_failed)

        def here() -> dict[str, Any]:
            assert self.config_store is not None
            with self.write_lock:
                self.config_store.put_restart_request(name, include_tasks, only_failed)
            return status

        query = f"includeTasks={str(include_tasks).lower()}&onlyFailed={str(only_failed).lower()}"
        out = self._leader_call("POST", f"/connectors/{quote(name, safe='')}/restart?{query}", None, here)
        return out.body if isinstance(out, Forwarded) else out  # type: ignore[no-any-return]


class Forwarded:
    """A forwarded call's answer (2xx)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body


def forward(
    base_url: str,
    method: str,
    path: str,
    body: Any,
    data: bytes | None = None,
    signature: InternalRequestSignature | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Forwarded:
    """Send the REST call to another worker (`?forward=false`: it must not forward again); its errors re-raised.

    `data` is the exact body to send when it is signed (`signature`), else `body` is sent as JSON. An https URL is
    reached with `ssl_context` (the worker's client TLS settings). The caller's Authorization header goes along."""
    separator = "&" if "?" in path else "?"
    url = base_url.rstrip("/") + path + separator + "forward=false"
    if data is None and body is not None:
        data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(signature.headers() if signature is not None else {})}
    authorization = AUTHORIZATION.get()
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    context = ssl_context if url.lower().startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT_S, context=context) as response:
            raw = response.read()
            return Forwarded(response.status, json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        with exc:  # closes the connection (an unclosed one is a ResourceWarning)
            raw = exc.read()
        try:
            message = str(json.loads(raw).get("message", raw))
        except ValueError:
            message = raw.decode("utf-8", "replace")
        raise {404: NotFoundException, 400: BadRequestException, 403: ForbiddenException, 409: ConflictException}.get(
            exc.code, ConnectException
        )(message) from None
    except OSError as exc:
        raise ConnectException(f"Error trying to forward REST request: {exc}") from exc
