"""The fault suite's history: what clients did and saw, one JSON object per line (docs/cluster.md, "History").

Events (every one has `type`, `process` (who: "p0", "c1", "final") and `time` (seconds, monotonic clock of the
recording machine); topics and partitions are Kafka's):

- `{"type": "send", "process", "id", "topic", "partition", "value", "idempotent", "transactional", "time"}`: a
  produce attempt. `id` counts the process's sends from 0; `value` is unique in the history (`<process>-<id>`);
  `partition` is the one asked for (null: the partitioner's choice).
- `{"type": "ack", "process", "id", "partition", "offset", "time"}`: the broker acknowledged send `id` at
  (partition, offset).
- `{"type": "fail", "process", "id", "error", "time"}` and `{"type": "unknown", ...}`: the client reported an
  error. `fail` only when the record cannot have been written (refused before it was sent); `unknown` for every
  delivery error (a timeout or an error after retries: an earlier attempt may have been appended).
- `{"type": "read", "process", "topic", "partition", "offset", "value", "hw", "isolation", "phase", "time"}`: a
  consumer received the record at `offset`; `hw` is the high watermark its client knew after that fetch (-1: none
  yet); `isolation` is "read_committed" or "read_uncommitted"; `phase` is "live" (during the faults) or "final"
  (the read after healing, from the log start to the high watermark).
- `{"type": "end", "process", "topic", "partition", "log_start", "hw", "isolation", "time"}`: a final read reached
  the high watermark `hw` of the partition (records below `log_start` were deleted).

Readers must ignore unknown fields; unknown event types are kept but not checked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

EVENT_TYPES = ("send", "ack", "fail", "unknown", "read", "end")

Event = dict[str, Any]


class History:
    """Thread-safe appender of events to a JSON-lines file (flushed per line, so a crash keeps what was seen);
    `events` keeps them in memory too."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def record(self, type_: str, process: str, **fields: Any) -> Event:
        event: Event = {"type": type_, "process": process, **fields, "time": round(time.monotonic(), 6)}
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self.events.append(event)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        return event

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_history(path: Path | str) -> list[Event]:
    """Every event of a history file; a torn last line (the recorder was killed mid-write) is ignored."""
    with open(path, encoding="utf-8") as handle:
        return list(parse_lines(handle))


def parse_lines(lines: Iterable[str]) -> Iterator[Event]:
    pending: list[str] = []
    for line in lines:
        text = line.strip()
        if not text:
            continue
        pending.append(text)
    for number, text in enumerate(pending, 1):
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            if number == len(pending):
                return
            raise ValueError(f"history line {number} is not JSON: {text[:80]!r}") from None
        if not isinstance(event, dict) or "type" not in event:
            raise ValueError(f"history line {number} is not an event: {text[:80]!r}")
        yield event
