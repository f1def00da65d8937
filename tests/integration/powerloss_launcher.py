"""Test-only storage shim for simulated power loss (LazyFS-like, in Python), and the "crash" that applies it.

SIGKILL keeps the page cache, so it cannot lose written data. This module makes a power loss observable:

As a script, ``python powerloss_launcher.py --journal J [broker args...]`` patches the calls through which the
broker makes data durable or changes file lengths, then runs ``odradek.broker`` exactly as ``python -m
odradek.broker [broker args...]`` would (runpy, ``__main__``). Every patched call appends one JSON line to J:

    {"op": "fsync", "ino": I, "size": S, "path": P}    os.fsync / os.fdatasync of a regular file: the first S bytes
                                                        of inode I are durable (S is taken by fstat *before* the
                                                        real fsync, so it never counts bytes written meanwhile)
    {"op": "dirsync", "path": P, "entries": [...]}     os.fsync of a directory, with its entries listed before
    {"op": "trunc", "ino": I, "size": S}               os.ftruncate / os.truncate / os.open(O_TRUNC)
    {"op": "drop", "ino": I}                           os.unlink / os.remove / os.replace / os.rename freeing an inode

The line is written after the call returns (one os.write on an O_APPEND descriptor); a torn last line is ignored.

`simulate_power_loss(data_dir, journal)` is the crash, run by the test after SIGKILL: every regular file under
`data_dir` keeps only its durable prefix. The model, stated so the tests can be judged by it:

- File data is durable up to the length at the inode's last fsync; writes after it are lost. A file never fsynced
  keeps 0 bytes (it stays, empty).
- Namespace operations (create, mkdir, rename, unlink) and truncations are durable at once, as in LazyFS, which
  keeps only file data in its cache. So a missing directory fsync is not turned into a lost file here; the
  journal's `dirsync` records let a test check the broker's directory fsyncs separately (`synced_entries`).
- Inodes are identified by number; `drop` records make a reused inode number start from nothing.
- Files are append-only or replaced by rename (what the broker does), so the durable part is a prefix.
- `torn` adds what a real disk may leave after the durable prefix: "zeros" or "garbage" (1 byte to 4 KiB, at most
  the lost length) or "partial" (a random-length prefix of the lost bytes survived, cut anywhere).

Not modelled: os.sync/syncfs, O_SYNC/O_DSYNC writes, mmap writes, and write reordering inside a durable prefix.
The broker uses none of them for data.
"""

from __future__ import annotations

import json
import os
import random
import runpy
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TORN_MODES = ("zeros", "garbage", "partial")
TORN_MAX = 4096


# -- the shim (runs inside the broker process) ---------------------------------------------------------------


class _Journal:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> None:
        line = (json.dumps(fields, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)


def _regular_ino(st: os.stat_result) -> int | None:
    return st.st_ino if stat.S_ISREG(st.st_mode) else None


def install(journal_path: str) -> None:
    """Patch os.* so durability-relevant calls are journaled. Idempotent per process is not needed: call once."""
    journal = _Journal(journal_path)
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    real_ftruncate, real_truncate = os.ftruncate, os.truncate
    real_open = os.open
    real_unlink, real_remove, real_replace, real_rename = os.unlink, os.remove, os.replace, os.rename

    def fd_path(fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return "?"

    def make_sync(real: Callable[[Any], None]) -> Callable[[Any], None]:
        def sync(fd: Any) -> None:
            number = fd if isinstance(fd, int) else fd.fileno()
            st = os.fstat(number)
            path = fd_path(number)
            entries: list[str] | None = None
            if stat.S_ISDIR(st.st_mode):
                try:
                    entries = sorted(os.listdir(path))
                except OSError:
                    entries = []
            real(number)
            if entries is not None:
                journal.record(op="dirsync", path=path, entries=entries)
            elif stat.S_ISREG(st.st_mode):
                journal.record(op="fsync", ino=st.st_ino, size=st.st_size, path=path)

        return sync

    def ftruncate(fd: int, length: int) -> None:
        real_ftruncate(fd, length)
        journal.record(op="trunc", ino=os.fstat(fd).st_ino, size=length)

    def truncate(path: Any, length: int) -> None:
        real_truncate(path, length)
        ino = _regular_ino(os.stat(path))
        if ino is not None:
            journal.record(op="trunc", ino=ino, size=length)

    def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        if flags & os.O_TRUNC:
            ino = _regular_ino(os.fstat(fd))
            if ino is not None:
                journal.record(op="trunc", ino=ino, size=0)
        return fd

    def dropped(path: Any, dir_fd: int | None) -> int | None:
        """The inode a removal of `path` frees (its last link), or None."""
        try:
            st = os.lstat(path, dir_fd=dir_fd)
        except (OSError, TypeError, ValueError):
            return None
        ino = _regular_ino(st)
        return ino if ino is not None and st.st_nlink == 1 else None

    def make_remove(real: Callable[..., None]) -> Callable[..., None]:
        def remove(path: Any, *, dir_fd: int | None = None) -> None:
            ino = dropped(path, dir_fd)
            real(path, dir_fd=dir_fd)
            if ino is not None:
                journal.record(op="drop", ino=ino)

        return remove

    def make_move(real: Callable[..., None]) -> Callable[..., None]:
        def move(src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
            ino = dropped(dst, dst_dir_fd)
            try:
                same = ino is not None and os.lstat(src, dir_fd=src_dir_fd).st_ino == ino
            except OSError:
                same = False
            real(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
            if ino is not None and not same:
                journal.record(op="drop", ino=ino)

        return move

    os.fsync = make_sync(real_fsync)
    os.fdatasync = make_sync(real_fdatasync)
    os.ftruncate = ftruncate
    os.truncate = truncate
    os.open = open_  # type: ignore[assignment]
    os.unlink = make_remove(real_unlink)
    os.remove = make_remove(real_remove)
    os.replace = make_move(real_replace)
    os.rename = make_move(real_rename)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "--journal":
        raise SystemExit("usage: powerloss_launcher.py --journal FILE [odradek.broker arguments...]")
    install(argv[1])
    sys.argv = ["odradek.broker", *argv[2:]]
    runpy.run_module("odradek.broker", run_name="__main__", alter_sys=True)


# -- reading the journal and crashing (runs in the test) -----------------------------------------------------


@dataclass
class JournalState:
    durable: dict[int, int] = field(default_factory=dict)  # inode -> durable length
    fsyncs: list[dict[str, Any]] = field(default_factory=list)  # the fsync records, in order
    dirsyncs: list[dict[str, Any]] = field(default_factory=list)

    def synced_size(self, path: Path) -> int | None:
        """The durable length of the file now at `path` (None if its inode was never fsynced)."""
        return self.durable.get(path.stat().st_ino)

    def synced_entries(self, directory: Path) -> set[str]:
        """Names that some fsync of `directory` covered (present when it was synced)."""
        names: set[str] = set()
        target = str(directory)
        for record in self.dirsyncs:
            if record["path"] == target:
                names.update(record["entries"])
        return names


def read_journal(journal: Path) -> JournalState:
    state = JournalState()
    try:
        lines = journal.read_bytes().split(b"\n")
    except FileNotFoundError:
        return state
    for raw in lines:
        if not raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a torn last line (killed mid-write)
        op = record.get("op")
        if op == "fsync":
            state.durable[record["ino"]] = record["size"]
            state.fsyncs.append(record)
        elif op == "trunc":
            state.durable[record["ino"]] = min(state.durable.get(record["ino"], 0), record["size"])
        elif op == "drop":
            state.durable.pop(record["ino"], None)
        elif op == "dirsync":
            state.dirsyncs.append(record)
    return state


@dataclass(frozen=True)
class LostBytes:
    path: Path
    size_before: int
    durable: int
    size_after: int


def simulate_power_loss(
    data_dir: Path, journal: Path, torn: str | None = None, rng: random.Random | None = None
) -> list[LostBytes]:
    """Cut every regular file under `data_dir` to its durable prefix (see the module docstring), optionally
    leaving a torn tail. Call only once the broker process is dead. Returns the files that lost bytes."""
    if torn is not None and torn not in TORN_MODES:
        raise ValueError(f"torn must be one of {TORN_MODES}, not {torn!r}")
    rng = rng or random.Random(0)
    state = read_journal(journal)
    changed: list[LostBytes] = []
    for root, _dirs, names in os.walk(data_dir):
        for name in sorted(names):
            path = Path(root) / name
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue
            durable = min(state.durable.get(st.st_ino, 0), st.st_size)
            lost = st.st_size - durable
            if lost <= 0:
                continue
            with open(path, "r+b") as f:
                tail = b""
                if torn == "partial":
                    f.seek(durable)
                    tail = f.read(rng.randint(1, lost))
                elif torn == "zeros":
                    tail = bytes(rng.randint(1, min(lost, TORN_MAX)))
                elif torn == "garbage":
                    tail = rng.randbytes(rng.randint(1, min(lost, TORN_MAX)))
                f.truncate(durable)
                f.seek(durable)
                f.write(tail)
            changed.append(LostBytes(path, st.st_size, durable, durable + len(tail)))
    return changed


if __name__ == "__main__":
    main(sys.argv[1:])
