"""OffsetCommit v1's per-partition commit timestamp (issue 15, old clients): stored as the commit time when it is
not -1 (Kafka's OffsetAndMetadata.fromRequest), so retention of a standalone consumer's offset counts from it."""

from __future__ import annotations

from odradek.broker.group.coordinator import OffsetCommitEntry
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime
from test_coordinator import CONFIG, make

RETENTION_MS = CONFIG.offsets_retention_ms


async def test_a_v1_commit_timestamp_is_the_commit_time_and_minus_one_is_now() -> None:
    time = MockTime()
    c = await make(time=time)
    old = time.wall_ms() - RETENTION_MS  # committed, by the client's clock, one retention ago
    entries = [OffsetCommitEntry("t", 0, 7, commit_timestamp=old), OffsetCommitEntry("t", 1, 8)]
    assert await c.commit_offsets("solo", -1, "", None, entries) == [ErrorCode.NONE] * 2
    assert await c.expire_offsets() == 1  # partition 0 is already a retention old, partition 1 is fresh
    assert [(t, p) for t, p, _ in c.fetch_offsets("solo", None)[1]] == [("t", 1)]
