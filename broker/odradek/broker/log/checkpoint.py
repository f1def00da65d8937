"""Kafka's checkpoint files (`CheckpointFile`), written atomically: tmp file, fsync, rename, fsync the folder.

Text format, one item per line::

    0            version
    N            number of entries
    <entry>      N lines, fields separated by one space

Used for `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and `cleaner-offset-checkpoint`
(entries "topic partition offset", one file per log dir) and `leader-epoch-checkpoint` (entries
"epoch startOffset", one per partition folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

VERSION = 0


class CorruptCheckpoint(Exception):
    pass


def write_lines(path: Path, entries: Iterable[str]) -> None:
    items = list(entries)
    text = f"{VERSION}\n{len(items)}\n" + "".join(f"{item}\n" for item in items)
    write_atomically(path, text.encode())


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash or power loss leaves either the old file or the new one whole:
    `<path>.tmp` written and fsynced, renamed over `path`, then the folder fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_lines(path: Path) -> list[list[str]]:
    """Entries of a checkpoint split into fields; [] when the file does not exist."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    if len(lines) < 2 or lines[0].strip() != str(VERSION):
        raise CorruptCheckpoint(f"{path}: unrecognised version or header")
    try:
        count = int(lines[1])
    except ValueError as exc:
        raise CorruptCheckpoint(f"{path}: bad entry count") from exc
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != count:
        raise CorruptCheckpoint(f"{path}: expected {count} entries, found {len(entries)}")
    return entries


def write_offsets(path: Path, offsets: Mapping[tuple[str, int], int]) -> None:
    write_lines(path, (f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(offsets.items())))


def read_offsets(path: Path) -> dict[tuple[str, int], int]:
    result: dict[tuple[str, int], int] = {}
    for fields in read_lines(path):
        if len(fields) != 3:
            raise CorruptCheckpoint(f"{path}: malformed entry {' '.join(fields)!r}")
        result[(fields[0], int(fields[1]))] = int(fields[2])
    return result


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
