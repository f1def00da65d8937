"""Processes known by PID: liveness that survives PID reuse, signals, bounded stops.

A process is identified by `(pid, start_time)`, where `start_time` is field 22 of `/proc/<pid>/stat` (clock ticks
since boot): a PID reused by another program after ours exited has another start time, so `alive` says no. A
zombie (exited, not yet reaped) is not alive. Every wait here is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

POLL_S = 0.02
# The children started here, kept until reaped: a Popen dropped while its process runs warns (ResourceWarning),
# and its exit status is collected through it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def launch(command: Sequence[str], **popen_kwargs: Any) -> ProcessId:
    """Start `command` (subprocess.Popen's keyword arguments) and return its identity."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(list(command), **popen_kwargs)
    _CHILDREN[proc.pid] = proc
    return ProcessId.of(proc.pid)


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A process as the state file records it."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        return cls(pid, start_time(pid) or 0)

    def alive(self) -> bool:
        reap(self.pid)
        stat = _stat(self.pid)
        if stat is not None and stat[1] == "Z":
            # It exited between the reap and the read: collect it now, or nobody will (a caller that sees it gone
            # forgets the pid, and the zombie stays until the test process ends).
            reap(self.pid)
            return False
        return stat is not None and int(stat[20]) == self.start_time

    def signal(self, signum: int) -> bool:
        """Send `signum` if the process is still ours; False if it was gone."""
        if not self.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)
            return True
        return False

    def wait_gone(self, timeout_s: float) -> bool:
        """True once the process has exited (reaped when it is our child), within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(POLL_S)
        return not self.alive()

    def stop(self, timeout_s: float = 30.0, kill_timeout_s: float = 10.0) -> str:
        """SIGTERM, then SIGKILL after `timeout_s`. Returns how it ended: "gone", "terminated" or "killed"."""
        if not self.signal(signal.SIGTERM):
            return "gone"
        if self.wait_gone(timeout_s):
            return "terminated"
        self.signal(signal.SIGCONT)  # a paused process cannot die of SIGTERM, but SIGKILL works on it anyway
        self.signal(signal.SIGKILL)
        if not self.wait_gone(kill_timeout_s):
            raise RuntimeError(f"process {self.pid} survived SIGKILL for {kill_timeout_s} s")
        return "killed"

    def kill(self, timeout_s: float = 10.0) -> None:
        """SIGKILL and wait until it is gone."""
        self.signal(signal.SIGKILL)
        if not self.wait_gone(timeout_s):
            raise RuntimeError(f"process {self.pid} survived SIGKILL for {timeout_s} s")

    def state(self) -> str:
        """The kernel's one-letter state (R, S, T for stopped, Z, ...), or "-" when gone."""
        stat = _stat(self.pid)
        if stat is None or int(stat[20]) != self.start_time:
            return "-"
        return stat[1]


def reap(pid: int) -> None:
    """Collect the exit status if `pid` is an exited child of ours (else a no-op)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def start_time(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else int(stat[20])


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces): [pid, comm, state, ...] shifted
    so that index 1 is the state and index 20 is starttime (field 22)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    close = text.rfind(")")
    return [text[: text.find(" ")], *text[close + 2 :].split()]
