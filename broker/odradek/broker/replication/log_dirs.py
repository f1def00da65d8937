"""The log dirs of this broker and the replicas in each (DescribeLogDirs; Kafka's ``ReplicaManager.describeLogDirs``).

``describe_log_dirs(logs, wanted)`` returns one ``LogDirDescription`` per configured log dir (``log.dirs``), in
config order: its absolute path, the bytes of its file system (``shutil.disk_usage``: total, and free for an
unprivileged writer as usable), or ``readable`` false when that fails or the dir is offline (an I/O error took it
offline: log/log_dir_failure.py; Kafka answers KAFKA_STORAGE_ERROR for both), and the replicas held
there, sorted by (topic, partition), each with the bytes of its segments and its offset lag, Kafka's
max(0, high watermark - log end offset) for a current (not future) replica. ``wanted`` names the partitions
asked for (``None``: all); partitions not held here are left out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from odradek.broker.log.manager import LogManager

__all__ = ["LogDirDescription", "ReplicaDescription", "describe_log_dirs"]


@dataclass(frozen=True, slots=True)
class ReplicaDescription:
    topic: str
    partition: int
    size: int
    offset_lag: int


@dataclass(frozen=True, slots=True)
class LogDirDescription:
    path: str
    readable: bool
    total_bytes: int = -1
    usable_bytes: int = -1
    replicas: tuple[ReplicaDescription, ...] = ()


def describe_log_dirs(logs: LogManager, wanted: Collection[tuple[str, int]] | None) -> list[LogDirDescription]:
    chosen = sorted(
        (lg for lg in logs.all_logs() if wanted is None or (lg.topic, lg.partition) in wanted),
        key=lambda lg: (lg.topic, lg.partition),
    )
    described = []
    for log_dir in logs.log_dirs:
        path = os.path.abspath(log_dir)
        try:
            usage = None if logs.failure_channel.is_offline(log_dir) else shutil.disk_usage(log_dir)
        except OSError:
            usage = None
        if usage is None:
            described.append(LogDirDescription(path, readable=False))
            continue
        replicas = tuple(
            ReplicaDescription(lg.topic, lg.partition, lg.size_in_bytes, max(0, lg.high_watermark - lg.log_end_offset))
            for lg in chosen
            if Path(lg.dir).parent == log_dir
        )
        described.append(LogDirDescription(path, True, usage.total, usage.free, replicas))
    return described
