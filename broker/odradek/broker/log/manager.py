"""`LogManager`: the partitions of one broker across its `log.dirs` (Kafka's LogManager).

Per log dir::

    <topic>-<partition>/                  a partition folder (log.py)
    <topic>-<partition>.<uuid>-delete/    a deleted partition waiting for removal
    recovery-point-offset-checkpoint      "0\\nN\\ntopic partition offset\\n..." (checkpoint.py)
    log-start-offset-checkpoint           same format
    replication-offset-checkpoint         same format: each partition's high watermark (Kafka's
                                          HighWatermarkCheckpoint), so a restarted replica knows the HW
                                          instead of taking its log end offset for it
    cleaner-offset-checkpoint             same format, written by the cleaner (cleaner.py)
    .kafka_cleanshutdown                  written last by `shutdown`, removed once the logs are loaded;
                                          content {"version":0,"brokerEpoch":N} as Kafka 4 writes it

Without `config_for_topic` (the broker's case: topic configs come from the metadata, opened later) logs are loaded
with the default config as a placeholder; `get_or_create_log` then applies the topic's config and settles what
recovery left for it (`Log.resolve_recovery_gap`).

Creating a partition (`get_or_create_logs`) costs a folder, three segment files, `partition.metadata` written
atomically (two fsyncs) and, once per batch and log dir, an fsync of the log dir that makes the new folders
durable: the broker calls it from a worker thread, never from its event loop.

Scheduling is the caller's: the broker runs `run_retention`, `delete_expired_files`, `flush_dirty` and
`checkpoint_recovery_points` from timers in worker threads. All methods are synchronous.

An I/O error in a log dir takes it offline (`failure_channel`, log_dir_failure.py): the periodic work skips offline
dirs, and `live_log_dirs` says which are left (none: the broker halts, as Kafka's LogManager does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from odradek.broker.log import checkpoint, files
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import Log
from odradek.broker.log.log_dir_failure import KafkaStorageError, LogDirFailureChannel
from odradek.broker.log.segment import now_ms

logger = logging.getLogger(__name__)

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
HIGH_WATERMARK_CHECKPOINT = "replication-offset-checkpoint"
DELETE_DIR_SUFFIX = "-delete"

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LogSpec:
    """A log wanted by `get_or_create_logs`; `config` None takes the topic's (or the default) config."""

    topic: str
    partition: int
    topic_id: uuid.UUID | None = None
    config: LogConfig | None = None


class LogManager:
    def __init__(
        self,
        log_dirs: Sequence[str | Path],
        default_config: LogConfig,
        config_for_topic: Callable[[str], LogConfig] | None = None,
    ) -> None:
        if not log_dirs:
            raise ValueError("at least one log dir is needed")
        self.log_dirs = [Path(d) for d in log_dirs]
        self.default_config = default_config
        self._config_for_topic = config_for_topic
        self._lock = threading.Lock()
        self._logs: dict[TopicPartition, Log] = {}
        self._dir_counts = {d: 0 for d in self.log_dirs}  # partitions per log dir, for placing new ones
        self._pending_dir_deletes: list[tuple[int, Path]] = []
        # False once `load_logs` found a log dir holding partitions but no clean-shutdown marker: this broker's last
        # run ended in a crash and its logs may lack an unflushed tail (it registers so: KIP-966's idea).
        self.had_clean_shutdown = True
        self.file_delete_delay_ms = default_config.file_delete_delay_ms
        self.failure_channel = LogDirFailureChannel()

    @classmethod
    def open(
        cls,
        log_dirs: Sequence[str | Path],
        default_config: LogConfig,
        config_for_topic: Callable[[str], LogConfig] | None = None,
        now_ms: int | None = None,
    ) -> LogManager:
        manager = cls(log_dirs, default_config, config_for_topic)
        manager.load_logs(now_ms)
        return manager

    def config_for(self, topic: str) -> LogConfig:
        return self._config_for_topic(topic) if self._config_for_topic else self.default_config

    # -- loading ---------------------------------------------------------------------------------------------
    def load_logs(self, now_ms_value: int | None = None) -> None:
        """Open every partition folder; recover from the recovery points unless the dir shut down cleanly."""
        for log_dir in self.log_dirs:
            log_dir.mkdir(parents=True, exist_ok=True)
            marker = log_dir / CLEAN_SHUTDOWN_FILE
            clean = marker.exists()
            try:
                recovery_points = checkpoint.read_offsets(log_dir / RECOVERY_POINT_CHECKPOINT)
                start_offsets = checkpoint.read_offsets(log_dir / LOG_START_OFFSET_CHECKPOINT)
            except (checkpoint.CorruptCheckpoint, ValueError):
                logger.warning("unreadable checkpoints in %s: recovering every log from offset 0", log_dir)
                recovery_points, start_offsets, clean = {}, {}, False
                self.had_clean_shutdown = False
            # Without the file (a log dir of a version before replication) the HW follows the log end, as it did;
            # with it, a partition it does not list starts at HW 0 (Kafka's default): nothing is taken as
            # committed that a leader has not confirmed again.
            hw_default: int | None = 0 if (log_dir / HIGH_WATERMARK_CHECKPOINT).exists() else None
            try:
                high_watermarks = checkpoint.read_offsets(log_dir / HIGH_WATERMARK_CHECKPOINT)
            except (checkpoint.CorruptCheckpoint, ValueError):
                logger.warning("unreadable %s in %s: high watermarks start at 0", HIGH_WATERMARK_CHECKPOINT, log_dir)
                high_watermarks = {}
            for path in sorted(log_dir.iterdir()):
                if not path.is_dir():
                    continue
                if path.name.endswith(DELETE_DIR_SUFFIX):
                    shutil.rmtree(path, ignore_errors=True)
                    continue
                try:
                    tp = files.parse_partition_dir_name(path.name)
                except ValueError:
                    continue
                if tp in self._logs:
                    raise RuntimeError(f"{tp} is in two log dirs: {self._logs[tp].dir} and {path}")
                self._logs[tp] = Log.open(
                    path,
                    self.config_for(tp[0]),
                    None,
                    recovery_point=recovery_points.get(tp, 0),
                    had_clean_shutdown=clean,
                    now_ms=now_ms_value,
                    log_start_offset=start_offsets.get(tp, 0),
                    config_is_final=self._config_for_topic is not None,
                )
                hw = high_watermarks.get(tp, hw_default)
                if hw is not None:
                    # Clamped to [log start, log end] by the log: recovery may have cut below it.
                    self._logs[tp].update_high_watermark(hw)
                self._dir_counts[log_dir] += 1
            if not clean and self._dir_counts[log_dir]:
                self.had_clean_shutdown = False
            marker.unlink(missing_ok=True)

    # -- partitions ------------------------------------------------------------------------------------------
    def get_log(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def all_logs(self) -> list[Log]:
        return list(self._logs.values())

    def get_or_create_log(
        self, topic: str, partition: int, topic_id: uuid.UUID | None = None, config: LogConfig | None = None
    ) -> Log:
        """The partition's log, created in the log dir holding the fewest partitions if absent."""
        return self.get_or_create_logs([LogSpec(topic, partition, topic_id, config)])[0]

    def get_or_create_logs(self, specs: Sequence[LogSpec]) -> list[Log]:
        """The logs of `specs`, in order, the missing ones created (each in the log dir holding the fewest
        partitions); then every log dir that got a new partition folder is fsynced once, for the whole batch."""
        logs, new_dirs = [], set()
        for spec in specs:
            log, created = self._get_or_create(spec)
            logs.append(log)
            if created:
                new_dirs.add(log.dir.parent)
        for log_dir in sorted(new_dirs):
            checkpoint.fsync_dir(log_dir)
        return logs

    def _get_or_create(self, spec: LogSpec) -> tuple[Log, bool]:
        with self._lock:
            existing = self._logs.get((spec.topic, spec.partition))
            if existing is not None:
                if spec.config is not None and existing.config != spec.config:
                    existing.update_config(spec.config)
                # Loaded with a placeholder config: only now is it known whether the topic is compacted.
                existing.resolve_recovery_gap()
                return existing, False
            live = self.live_log_dirs
            if not live:
                raise KafkaStorageError(f"no log dir is online for {spec.topic}-{spec.partition}")
            target = min(live, key=lambda d: self._dir_counts[d])
            with self._guard(target, f"creating {spec.topic}-{spec.partition}"):
                log = Log.open(
                    target / files.partition_dir_name(spec.topic, spec.partition),
                    spec.config or self.config_for(spec.topic),
                    spec.topic_id,
                    had_clean_shutdown=True,
                )
            self._logs[(spec.topic, spec.partition)] = log
            self._dir_counts[target] += 1
            return log, True

    def delete_log(self, topic: str, partition: int, now_ms_value: int | None = None) -> bool:
        """Close the log and rename its folder `<topic>-<partition>.<uuid>-delete`; the folder is removed by
        `delete_expired_files` after file.delete.delay.ms. Returns False if there was no such log."""
        return self.delete_logs([(topic, partition)], now_ms_value) == 1

    def delete_logs(self, partitions: Sequence[TopicPartition], now_ms_value: int | None = None) -> int:
        """`delete_log` for each partition, with one fsync per log dir for the whole batch. Returns how many
        logs there were."""
        due = (now_ms() if now_ms_value is None else now_ms_value) + self.file_delete_delay_ms
        renamed: list[Path] = []
        for tp in partitions:
            with self._lock:
                log = self._logs.pop(tp, None)
                if log is not None and log.dir.parent in self._dir_counts:
                    self._dir_counts[log.dir.parent] -= 1
            if log is None:
                continue
            log.close()
            target = log.dir.with_name(f"{log.dir.name}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")
            os.replace(log.dir, target)
            renamed.append(target)
        for log_dir in sorted({target.parent for target in renamed}):
            checkpoint.fsync_dir(log_dir)
        with self._lock:
            self._pending_dir_deletes.extend((due, target) for target in renamed)
        return len(renamed)

    # -- failed log dirs -------------------------------------------------------------------------------------
    @property
    def live_log_dirs(self) -> list[Path]:
        return [d for d in self.log_dirs if not self.failure_channel.is_offline(d)]

    def online_logs(self) -> list[Log]:
        if not self.failure_channel.has_offline:  # no Path built per log while every dir is online
            return list(self.all_logs())
        return [log for log in self.all_logs() if not self.failure_channel.is_offline(log.dir.parent)]

    def is_offline(self, log: Log) -> bool:
        channel = self.failure_channel
        return channel.has_offline and channel.is_offline(log.dir.parent)  # no Path built while all dirs are online

    def guard(self, log: Log, message: str) -> contextlib.AbstractContextManager[None]:
        """Around I/O on `log`: KafkaStorageError if its dir is offline; an OSError takes the dir offline."""
        return self.failure_channel.guard(log.dir.parent, f"{message} of {log.dir.name}")

    def _guard(self, log_dir: Path, message: str) -> contextlib.AbstractContextManager[None]:
        return self.failure_channel.guard(log_dir, message)

    # -- periodic work ---------------------------------------------------------------------------------------
    def checkpoint_high_watermarks(self) -> None:
        """Write replication-offset-checkpoint (each log's high watermark) in every log dir (Kafka's
        checkpointHighWatermarks, every replica.high.watermark.checkpoint.interval.ms and at shutdown)."""
        logs = self.all_logs()
        for log_dir in self.live_log_dirs:
            with self._guard(log_dir, "high watermark checkpoint"):
                checkpoint.write_offsets(
                    log_dir / HIGH_WATERMARK_CHECKPOINT,
                    {(lg.topic, lg.partition): lg.high_watermark for lg in logs if lg.dir.parent == log_dir},
                )

    def checkpoint_recovery_points(self) -> None:
        """Write recovery-point-offset-checkpoint and log-start-offset-checkpoint in every log dir."""
        logs = self.all_logs()
        for log_dir in self.live_log_dirs:
            mine = [log for log in logs if log.dir.parent == log_dir]
            with self._guard(log_dir, "recovery point checkpoint"):
                checkpoint.write_offsets(
                    log_dir / RECOVERY_POINT_CHECKPOINT,
                    {(lg.topic, lg.partition): lg.recovery_point for lg in mine},
                )
                checkpoint.write_offsets(
                    log_dir / LOG_START_OFFSET_CHECKPOINT,
                    {(lg.topic, lg.partition): lg.log_start_offset for lg in mine},
                )

    def run_retention(self, now_ms_value: int | None = None) -> int:
        """Apply retention to every log (up to its high watermark). Returns the number of segments removed."""
        now = now_ms() if now_ms_value is None else now_ms_value
        removed = 0
        for log in self.online_logs():
            with self.guard(log, "retention"):
                removed += log.delete_old_segments(now, log.high_watermark)
        if removed:
            self.checkpoint_recovery_points()
        return removed

    def delete_expired_files(self, now_ms_value: int | None = None) -> int:
        """Unlink `.deleted` segments and `-delete` folders whose delay has passed. Returns how many."""
        now = now_ms() if now_ms_value is None else now_ms_value
        count = 0
        for log in self.online_logs():
            with self.guard(log, "deleting expired files"):
                count += log.delete_expired_files(now)
        with self._lock:
            due = [p for t, p in self._pending_dir_deletes if t <= now]
            self._pending_dir_deletes = [(t, p) for t, p in self._pending_dir_deletes if t > now]
        for path in due:
            shutil.rmtree(path, ignore_errors=True)
        return count + len(due)

    def flush_dirty(self, now_ms_value: int | None = None) -> int:
        """fsync rolled segments not yet flushed, and logs whose flush.ms has passed. Returns logs flushed."""
        now = now_ms() if now_ms_value is None else now_ms_value
        flushed = 0
        for log in self.online_logs():
            # Decided from memory first: the guard (a path and a message per log) only around an actual flush, so
            # that the every-second pass costs little with many idle partitions.
            due = now - log.last_flush_ms >= log.config.flush_ms
            if not due and log.recovery_point >= log.active_segment.base_offset:
                continue
            with self.guard(log, "flush"):
                if due:
                    log.flush()
                else:
                    log.flush(log.active_segment.base_offset)
                flushed += 1
        return flushed

    def cleaner_checkpoint_path(self, log: Log) -> Path:
        return log.dir.parent / files.CLEANER_OFFSET_CHECKPOINT

    def shutdown(self, broker_epoch: int = -1) -> None:
        """Flush and close every log, write the checkpoints, then the clean-shutdown marker in each dir. The logs
        of an offline dir are closed without a write (no snapshot, no marker: their next start recovers them)."""
        for log in self.online_logs():
            log.flush()
        self.checkpoint_recovery_points()
        self.checkpoint_high_watermarks()
        for log in self.all_logs():
            log.close(snapshot=not self.is_offline(log))
        for log_dir in self.live_log_dirs:
            marker = log_dir / CLEAN_SHUTDOWN_FILE
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, json.dumps({"version": 0, "brokerEpoch": broker_epoch}).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            checkpoint.fsync_dir(log_dir)
        with self._lock:
            self._logs.clear()
            self._dir_counts = dict.fromkeys(self.log_dirs, 0)
