"""Connector and task states, target states, and the status transitions as a table (Kafka's AbstractStatus,
TargetState and ConnectorStatus/TaskStatus.Listener).

States shown by the REST API: UNASSIGNED (not running on any worker), RUNNING, PAUSED, STOPPED (connectors only:
stopped on request, no tasks), FAILED (with the trace of the error), RESTARTING (a restart request is being carried
out). Target states are what the user asked for (`PUT .../pause`, `.../resume`, `.../stop`).

`STATUS_TRANSITIONS` maps each lifecycle event a worker reports to the state it records; the herder reads it,
it is printed in docs/connect.md, and tests walk it.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass


class State(enum.Enum):
    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"
    DESTROYED = "DESTROYED"


class TargetState(enum.Enum):
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


class StatusEvent(enum.Enum):
    STARTUP = "startup"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    FAILURE = "failure"
    SHUTDOWN = "shutdown"
    RESTART = "restart"
    DELETION = "deletion"


STATUS_TRANSITIONS: dict[StatusEvent, State] = {
    StatusEvent.STARTUP: State.RUNNING,
    StatusEvent.PAUSE: State.PAUSED,
    StatusEvent.RESUME: State.RUNNING,
    StatusEvent.STOP: State.STOPPED,
    StatusEvent.FAILURE: State.FAILED,
    StatusEvent.SHUTDOWN: State.UNASSIGNED,
    StatusEvent.RESTART: State.RESTARTING,
    StatusEvent.DELETION: State.DESTROYED,
}

# The state a running instance moves to when its target state changes.
TARGET_EVENTS: dict[TargetState, StatusEvent] = {
    TargetState.STARTED: StatusEvent.RESUME,
    TargetState.PAUSED: StatusEvent.PAUSE,
    TargetState.STOPPED: StatusEvent.STOP,
}


@dataclass(frozen=True, slots=True, order=True)
class ConnectorTaskId:
    connector: str
    task: int

    def __str__(self) -> str:
        return f"{self.connector}-{self.task}"


@dataclass(frozen=True, slots=True)
class Status:
    """One recorded status: `trace` only for FAILED (the formatted exception, as Kafka's `trace` field)."""

    state: State
    worker_id: str
    trace: str | None = None
    generation: int = 0

    def as_json(self) -> dict[str, str]:
        out = {"state": self.state.value, "worker_id": self.worker_id}
        if self.trace is not None:
            out["trace"] = self.trace
        return out


class StatusBackingStore:
    """In-memory statuses and active topics (standalone: Kafka's MemoryStatusBackingStore); thread-safe.

    `record` applies STATUS_TRANSITIONS, except that a FAILED instance stays FAILED on SHUTDOWN (its trace is what
    the user needs to see until it is restarted).
    """

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._lock = threading.Lock()
        self.connectors: dict[str, Status] = {}
        self.tasks: dict[ConnectorTaskId, Status] = {}
        self.topics: dict[str, set[str]] = {}

    def record(self, key: str | ConnectorTaskId, event: StatusEvent, trace: str | None = None) -> None:
        with self._lock:
            table: dict[object, Status] = self.connectors if isinstance(key, str) else self.tasks  # type: ignore[assignment]
            current = table.get(key)
            if event is StatusEvent.DELETION:
                table.pop(key, None)
                return
            if event is StatusEvent.SHUTDOWN and current is not None and current.state is State.FAILED:
                return
            generation = current.generation + 1 if current else 0
            state = STATUS_TRANSITIONS[event]
            table[key] = Status(state, self.worker_id, trace if state is State.FAILED else None, generation)

    def connector(self, name: str) -> Status | None:
        with self._lock:
            return self.connectors.get(name)

    def task(self, task_id: ConnectorTaskId) -> Status | None:
        with self._lock:
            return self.tasks.get(task_id)

    def forget_tasks(self, connector: str) -> None:
        with self._lock:
            for task_id in [t for t in self.tasks if t.connector == connector]:
                del self.tasks[task_id]

    def add_topic(self, connector: str, topic: str) -> None:
        with self._lock:
            self.topics.setdefault(connector, set()).add(topic)

    def active_topics(self, connector: str) -> list[str]:
        with self._lock:
            return sorted(self.topics.get(connector, ()))

    def reset_topics(self, connector: str) -> None:
        with self._lock:
            self.topics.pop(connector, None)
