"""The GIL switch interval of a Connect or MirrorMaker process (`ODRADEK_SWITCH_INTERVAL_MS`, default 1 ms).

Tasks run in threads of the worker process, and the REST API on its asyncio thread. A task busy in Python code hands
the GIL over only every `sys.getswitchinterval()` (CPython's default 5 ms), and a REST request needs it several
times, so with tasks at full speed the API's p99 was 27.7 ms (FileStreamSink) and 63 ms (S3 sink) at 5 ms, 9.8 and
40 ms at 1 ms (bench/RESULTS.md). Processes per task would remove the contention altogether; a shorter interval is
the change that keeps one process (docs/connect.md, "Threads"). The cost is more GIL hand-overs for the tasks
(measured side by side in bench/RESULTS.md).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

SWITCH_INTERVAL_ENV = "ODRADEK_SWITCH_INTERVAL_MS"
DEFAULT_SWITCH_INTERVAL_MS = 1.0


class SwitchIntervalError(ValueError):
    """`ODRADEK_SWITCH_INTERVAL_MS` is not a positive number of milliseconds."""


def switch_interval_s(environ: Mapping[str, str]) -> float:
    """The interval in seconds from `ODRADEK_SWITCH_INTERVAL_MS` (a positive number of milliseconds), else 1 ms.

    Raises SwitchIntervalError for a value that is not a positive number: a typo fails the start, never ignored.
    """
    raw = environ.get(SWITCH_INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_SWITCH_INTERVAL_MS / 1000
    try:
        ms = float(raw)
    except ValueError:
        ms = -1.0
    if not ms > 0 or ms == float("inf"):
        raise SwitchIntervalError(f"{SWITCH_INTERVAL_ENV}={raw!r}: expected a positive number of milliseconds")
    return ms / 1000


def configure_switch_interval(environ: Mapping[str, str]) -> float:
    """Sets `sys.setswitchinterval` from `environ` (see `switch_interval_s`) and returns the seconds set."""
    seconds = switch_interval_s(environ)
    sys.setswitchinterval(seconds)
    return seconds
