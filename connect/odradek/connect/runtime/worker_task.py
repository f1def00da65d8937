"""The thread that runs one task (Kafka's WorkerTask), shared by source and sink tasks.

Each task runs in its own daemon thread, so a slow `poll` or `put` never blocks the REST API or the other tasks.
Lifecycle: `start()` launches the thread, which calls `initialize_and_start()` (the plugin's start), reports
RUNNING (or PAUSED), then `execute()` until `stop()` is requested. An exception escaping `execute` is recorded as
FAILED with its formatted trace, and the thread ends; the worker and other tasks are unaffected. A normal exit
records UNASSIGNED (shutdown), after `close()` released the clients.

Target state changes (`transition_to`) are seen by `execute` loops through `paused()` / `wait_while_paused()`.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from odradek.connect.converters.base import Converter, HeaderConverter
from odradek.connect.runtime.errors import RetryWithToleranceOperator, format_trace
from odradek.connect.runtime.states import ConnectorTaskId, StatusEvent, TargetState
from odradek.connect.transforms.base import TransformationChain

log = logging.getLogger(__name__)

PAUSE_WAIT_S = 0.5

StatusListener = Callable[[ConnectorTaskId, StatusEvent, str | None], None]


@dataclass(frozen=True, slots=True)
class TaskSetup:
    """Everything a worker task needs besides its plugin instance, built by the Worker from the configs."""

    task_id: ConnectorTaskId
    connector_config: dict[str, str]
    task_config: dict[str, str]
    key_converter: Converter
    value_converter: Converter
    header_converter: HeaderConverter
    chain: TransformationChain
    operator: RetryWithToleranceOperator
    client_config: dict[str, Any]
    offset_flush_interval_ms: int
    offset_flush_timeout_ms: int
    status: StatusListener
    on_topic: Callable[[str], None]


class WorkerTask(abc.ABC):
    def __init__(self, setup: TaskSetup, target: TargetState) -> None:
        self.setup = setup
        self.id = setup.task_id
        self.target = target
        self._cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"task-thread-{self.id}", daemon=True)
        self.failed = False

    def error_context(self) -> dict[str, Any]:
        return {"connector": self.id.connector, "task_id": self.id.task}

    # -- lifecycle seen from the worker -------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Ask the task to finish (returns at once; `await_stop` waits)."""
        with self._cond:
            self.stopping = True
            self._cond.notify_all()
        self.setup.operator.stop()
        self.interrupt()

    def await_stop(self, timeout_s: float) -> bool:
        if self.thread.is_alive():
            self.thread.join(timeout_s)
        return not self.thread.is_alive()

    def transition_to(self, target: TargetState) -> None:
        with self._cond:
            if target is self.target:
                return
            self.target = target
            self._cond.notify_all()
        # A FAILED task keeps its status (and trace) whatever the target state, until it is restarted.
        if not self.stopping and not self.failed and target in (TargetState.PAUSED, TargetState.STARTED):
            event = StatusEvent.PAUSE if target is TargetState.PAUSED else StatusEvent.RESUME
            self.setup.status(self.id, event, None)

    # -- inside the task thread ---------------------------------------------------------------------------

    def paused(self) -> bool:
        return self.target is TargetState.PAUSED

    def wait_while_paused(self) -> None:
        with self._cond:
            if self.target is TargetState.PAUSED and not self.stopping:
                self._cond.wait(PAUSE_WAIT_S)

    def _run(self) -> None:
        try:
            self.initialize_and_start()
            if not self.stopping:
                self.setup.status(self.id, StatusEvent.PAUSE if self.paused() else StatusEvent.STARTUP, None)
            self.execute()
        except BaseException as exc:  # the task's own failure must end here, never in the worker
            self.failed = True
            log.error(
                "%s Task threw an uncaught and unrecoverable exception. Task is being killed and will not "
                "recover until manually restarted",
                self,
                exc_info=exc,
            )
            self.setup.status(self.id, StatusEvent.FAILURE, format_trace(exc))
        finally:
            try:
                self.close()
            except Exception as exc:
                log.warning("%s failed to close cleanly: %s", self, exc)
            if not self.failed:
                self.setup.status(self.id, StatusEvent.SHUTDOWN, None)

    def __str__(self) -> str:
        return f"{type(self).__name__}{{id={self.id}}}"

    @abc.abstractmethod
    def initialize_and_start(self) -> None: ...

    @abc.abstractmethod
    def execute(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def interrupt(self) -> None:
        """Called from the stopping thread: make a blocked poll/put return soon."""
