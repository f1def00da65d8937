"""`LeaderEpochFileCache`: which leader epoch wrote which offsets (Kafka's LeaderEpochFileCache, KIP-101/279).

On disk, `<partition folder>/leader-epoch-checkpoint` in checkpoint format (checkpoint.py)::

    0
    2
    0 0          epoch startOffset: the first offset written in that epoch
    3 1500

Entries are strictly increasing in both epoch and start offset. Rewritten atomically on each change, except an
`assign(..., flush=False)`, whose caller writes the file later with `flush()` in a worker thread (the replica
manager's becoming-leader write: nothing of the new epoch is appended before that write has ended).

Two locks: `_lock` guards the entries (held briefly, on any thread), `_flush_lock` serialises file writes and is
always taken first; a write snapshots the entries under `_lock` and writes outside it, so an update on the event
loop never waits for a disk, and writes land in the order of their snapshots (the last one is the newest state).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from pathlib import Path

from odradek.broker.log import checkpoint

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochFileCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._epochs: list[int] = []
        self._start_offsets: list[int] = []
        for fields in checkpoint.read_lines(path):
            if len(fields) != 2:
                raise checkpoint.CorruptCheckpoint(f"{path}: malformed entry {' '.join(fields)!r}")
            self._epochs.append(int(fields[0]))
            self._start_offsets.append(int(fields[1]))

    @classmethod
    def in_dir(cls, directory: Path) -> LeaderEpochFileCache:
        return cls(directory / LEADER_EPOCH_CHECKPOINT)

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._epochs, self._start_offsets, strict=True))

    @property
    def latest_epoch(self) -> int | None:
        return self._epochs[-1] if self._epochs else None

    @property
    def earliest_entry(self) -> tuple[int, int] | None:
        return (self._epochs[0], self._start_offsets[0]) if self._epochs else None

    def flush(self) -> None:
        """Write the entries as they are now to the checkpoint file (atomically, fsynced: checkpoint.py)."""
        with self._flush_lock:
            with self._lock:
                lines = [f"{e} {o}" for e, o in zip(self._epochs, self._start_offsets, strict=True)]
            checkpoint.write_lines(self.path, lines)

    def assign(self, epoch: int, start_offset: int, flush: bool = True) -> bool:
        """Record that `epoch` starts at `start_offset`. Entries with an epoch >= `epoch` or a start offset >=
        `start_offset` are removed first (non-monotonic history). Returns True if the cache changed; the file is
        written then unless `flush` is False (the caller calls `flush()` later)."""
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"invalid leader epoch entry ({epoch}, {start_offset})")
        with self._lock:
            if self._epochs and self._epochs[-1] == epoch and self._start_offsets[-1] <= start_offset:
                return False
            while self._epochs and (self._epochs[-1] >= epoch or self._start_offsets[-1] >= start_offset):
                self._epochs.pop()
                self._start_offsets.pop()
            self._epochs.append(epoch)
            self._start_offsets.append(start_offset)
        if flush:
            self.flush()
        return True

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's OffsetForLeaderEpoch answer: (epoch, end offset).

        - undefined epoch (-1), or an epoch above every known one: (-1, -1);
        - the latest epoch: (epoch, log end offset);
        - otherwise the largest known epoch <= requested, and the start offset of the next known epoch;
          when the requested epoch is below every known one: (requested, start offset of the first epoch).
        """
        with self._lock:
            if requested_epoch == UNDEFINED_EPOCH:
                return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
            if self._epochs and self._epochs[-1] == requested_epoch:
                return requested_epoch, log_end_offset
            higher = bisect_right(self._epochs, requested_epoch)
            if higher >= len(self._epochs):
                return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
            if higher == 0:
                return requested_epoch, self._start_offsets[0]
            return self._epochs[higher - 1], self._start_offsets[higher]

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch that wrote `offset` (the entry with the largest start offset <= offset), or None."""
        slot = bisect_right(self._start_offsets, offset) - 1
        return self._epochs[slot] if slot >= 0 else None

    def truncate_from_end(self, end_offset: int) -> None:
        """Remove entries whose start offset is >= `end_offset` (the log was truncated to it)."""
        with self._lock:
            if end_offset < 0 or not self._start_offsets or self._start_offsets[-1] < end_offset:
                return
            keep = bisect_left(self._start_offsets, end_offset)
            del self._epochs[keep:]
            del self._start_offsets[keep:]
        self.flush()

    def truncate_from_start(self, start_offset: int) -> None:
        """Drop entries wholly below the new log start offset; the last entry starting at or before it is kept
        with its start offset moved up to `start_offset`."""
        with self._lock:
            if start_offset < 0:
                return
            removed = bisect_right(self._start_offsets, start_offset)
            if removed == 0:
                return
            epoch = self._epochs[removed - 1]
            if removed == 1 and self._start_offsets[0] == start_offset:
                return
            del self._epochs[:removed]
            del self._start_offsets[:removed]
            self._epochs.insert(0, epoch)
            self._start_offsets.insert(0, start_offset)
        self.flush()

    def clear(self) -> None:
        with self._lock:
            self._epochs.clear()
            self._start_offsets.clear()
        self.flush()

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
