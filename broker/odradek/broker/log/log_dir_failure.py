"""A failed log dir (Kafka's LogDirFailureChannel and KafkaStorageException).

Kafka's rule, kept here: an I/O error while writing a log dir (ENOSPC from a full disk, EIO, a read-only remount)
takes the whole log dir offline. Its logs are not written again by this process, because the failed write may have
left bytes in a segment file beyond what the log believes it holds (a batch cut by ENOSPC under `O_APPEND`): every
later append would land after them and every read by index position would return them. Only a restart's recovery
(the tail scanned by CRC and truncated) makes such a log consistent again. The partitions of an offline dir answer
KAFKA_STORAGE_ERROR; when no log dir is left online the broker halts (Kafka: "Shutdown broker because all log dirs
in ... have failed", `Exit.halt(1)`), so that the controller moves leadership to the other replicas once its
session expires, and an operator (or supervisor) restarts it after fixing the disk.

The channel is thread-safe: storage work runs in worker threads as well as on the event loop. Listeners are called
once per dir, on the thread that saw the error.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

KAFKA_STORAGE_ERROR = 56  # Kafka's code (checked against ErrorCode by a test)

OfflineListener = Callable[[Path], None]


class KafkaStorageError(Exception):
    """An operation on a log in an offline log dir, or the I/O error that took the dir offline."""

    error_code = KAFKA_STORAGE_ERROR


class LogDirFailureChannel:
    """The log dirs found failed, and who is told (Kafka's LogDirFailureChannel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offline: set[Path] = set()
        self._listeners: list[OfflineListener] = []

    def add_listener(self, listener: OfflineListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    @property
    def has_offline(self) -> bool:
        """Whether any dir has failed (one read, no lock: the produce and fetch paths ask it per partition)."""
        return bool(self._offline)

    def is_offline(self, log_dir: Path) -> bool:
        return log_dir in self._offline

    @property
    def offline_dirs(self) -> frozenset[Path]:
        with self._lock:
            return frozenset(self._offline)

    def maybe_add_offline_log_dir(self, log_dir: Path, message: str, exc: BaseException) -> bool:
        """Take `log_dir` offline (True the first time; the listeners are told then)."""
        with self._lock:
            if log_dir in self._offline:
                return False
            self._offline.add(log_dir)
            listeners = list(self._listeners)
        logger.error("%s: log dir %s is offline (%s)", message, log_dir, exc)
        for listener in listeners:
            listener(log_dir)
        return True

    @contextlib.contextmanager
    def guard(self, log_dir: Path, message: str) -> Iterator[None]:
        """Raise KafkaStorageError for an offline `log_dir`; turn an OSError inside into the dir going offline
        and a KafkaStorageError (Kafka's maybeHandleIOException)."""
        if log_dir in self._offline:
            raise KafkaStorageError(f"{message}: log dir {log_dir} is offline")
        try:
            yield
        except OSError as exc:
            self.maybe_add_offline_log_dir(log_dir, message, exc)
            raise KafkaStorageError(f"{message}: {exc}") from exc
