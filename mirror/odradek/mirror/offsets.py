"""Offset syncs: when MirrorSourceTask emits one (PartitionState), and how MirrorCheckpointTask translates a group's
upstream offset with them (OffsetSyncStore), as Kafka's OffsetSyncWriter and OffsetSyncStore after KAFKA-12468.

Emitting (per source partition, `offset.lag.max` = L): a sync (upstream u, downstream d) is due when this is the
first record of this task's lifetime, when `d - (last_sync_d + 1) >= L` (a translation would be L or more records
stale), when upstream offsets skipped (`u - previous_u != 1`: compaction, transaction markers, a retention gap),
or when the downstream offset went backwards (a truncated target). A due sync is sent at once; any other record's
sync is kept as the partition's delayed sync and sent at the task's next offset commit.

Translating: the store keeps 64 syncs per partition, `syncs[0]` the latest, spaced roughly exponentially towards
the past (Kafka's invariants B and C: `syncs[i].u <= syncs[j].u + 2^j - 2^i` and `syncs[i].u >= syncs[j].u +
2^(i-2)` for distinct syncs, i < j). A group at upstream offset g uses the latest stored sync s with `s.u <= g`:
the result is `s.d` when `g == s.u`, else `s.d + 1` (never more: the records between s.u and g may or may not have
been copied, and overshooting would skip records on the target). When even the oldest sync is after g, the result is
-1 (cannot translate); with no syncs, or before the syncs topic was read to its end once, None. While reading to
the end, and whenever upstream offsets rewind, every slot is replaced by the new sync, so no translation handed out
earlier can later be undercut (monotonic for a fixed group offset across generations of the store).
"""

from __future__ import annotations

from dataclasses import dataclass

from odradek.mirror.formats import OffsetSync

SYNCS_PER_PARTITION = 64
_LONG_LIMIT = 1 << 63  # Java longs: sums past this overflow negative, which Kafka's invariant checks rely on.


@dataclass(slots=True)
class PartitionState:
    """Per source partition of a MirrorSourceTask (Kafka's OffsetSyncWriter.PartitionState)."""

    max_offset_lag: int
    previous_upstream: int = -1
    previous_downstream: int = -1
    last_sync_downstream: int = -1
    should_sync: bool = False

    def update(self, upstream: int, downstream: int) -> bool:
        """Record that `upstream` was copied to `downstream`; True if a sync must be sent now."""
        first = self.last_sync_downstream == -1
        stale = downstream - (self.last_sync_downstream + 1) >= self.max_offset_lag
        skipped = upstream - self.previous_upstream != 1
        truncated = downstream < self.previous_downstream
        if first or stale or skipped or truncated:
            self.last_sync_downstream = downstream
            self.should_sync = True
        self.previous_upstream, self.previous_downstream = upstream, downstream
        return self.should_sync

    def reset(self) -> None:
        self.should_sync = False


def _invariant_b(i_sync: OffsetSync, j_sync: OffsetSync, i: int, j: int) -> bool:
    bound = j_sync.upstream_offset + (1 << j) - (1 << i)
    return i_sync is j_sync or bound >= _LONG_LIMIT or i_sync.upstream_offset <= bound


def _invariant_c(i_sync: OffsetSync, j_sync: OffsetSync, i: int) -> bool:
    bound = j_sync.upstream_offset + (1 << max(i - 2, 0))
    return i_sync is j_sync or (bound < _LONG_LIMIT and i_sync.upstream_offset >= bound)


class OffsetSyncStore:
    """In-memory syncs per (topic, partition); fed by `handle(sync)`, `read_to_end_done()` once caught up."""

    def __init__(self) -> None:
        self.syncs: dict[tuple[str, int], list[OffsetSync]] = {}
        self.read_to_end = False

    def read_to_end_done(self) -> None:
        self.read_to_end = True

    def handle(self, sync: OffsetSync) -> None:
        key = (sync.topic, sync.partition)
        current = self.syncs.get(key)
        if current is None:
            self.syncs[key] = [sync] * SYNCS_PER_PARTITION
        else:
            updated = list(current)
            self._update(updated, current, sync)
            self.syncs[key] = updated

    def _update(self, syncs: list[OffsetSync], original: list[OffsetSync], sync: OffsetSync) -> None:
        if not self.read_to_end or syncs[0].upstream_offset > sync.upstream_offset:
            syncs[:] = [sync] * SYNCS_PER_PARTITION
            return
        replacement, index = sync, 0
        syncs[0] = sync
        for current in range(1, SYNCS_PER_PARTITION):
            previous = current - 1
            # Prefer an older value of the original array if it satisfies the invariants here: more distinct syncs
            # are kept that way.
            while True:
                old = original[index]
                recent = _invariant_b(syncs[previous], old, previous, current)
                apart_from_previous = _invariant_c(syncs[previous], old, previous)
                following = current + 1
                apart_from_next = following >= SYNCS_PER_PARTITION or _invariant_c(old, syncs[following], current)
                duplicate = index + 1 < SYNCS_PER_PARTITION and old is original[index + 1]
                promote = recent and apart_from_previous and apart_from_next
                if promote:
                    replacement = old
                skip = duplicate or not apart_from_previous
                if promote or skip:
                    index += 1
                if not (index < current and skip):
                    break
            if _invariant_b(syncs[previous], syncs[current], previous, current):
                break  # it holds here, so for every later slot too
            syncs[current] = replacement

    def latest_sync(self, topic: str, partition: int, upstream_offset: int) -> OffsetSync | None:
        syncs = self.syncs.get((topic, partition))
        if syncs is None:
            return None
        return next((s for s in syncs if s.upstream_offset <= upstream_offset), syncs[-1])

    def translate_downstream(self, topic: str, partition: int, upstream_offset: int) -> int | None:
        """The downstream offset a group at `upstream_offset` may resume at, -1, or None (see module docstring)."""
        if not self.read_to_end:
            return None
        sync = self.latest_sync(topic, partition, upstream_offset)
        if sync is None:
            return None
        if sync.upstream_offset > upstream_offset:
            return -1
        return sync.downstream_offset + (0 if upstream_offset == sync.upstream_offset else 1)
