"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md),
group/offset_metadata_manager.py: retention (from when a group became empty, from each commit, for topics a
stable consumer group no longer subscribes to, an explicit expire timestamp), what OffsetDelete and DeleteGroups
leave in __consumer_offsets (checked by reloading it), and the errors of failed writes. Each test's docstring names
the mutants it kills."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from odradek.broker.coordinator.runtime import Record
from odradek.broker.group.coordinator import GroupCoordinator, LeaveMember, OffsetCommitEntry
from odradek.broker.group.offsets_topic import OffsetKey, encode_offset_key
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime
from test_coordinator import CONFIG, PARTITIONS, MemoryLog, join, join_new, make, settle, subscription

E = ErrorCode
RETENTION_MS = CONFIG.offsets_retention_ms  # 1000


def committed(c: GroupCoordinator, group_id: str) -> list[tuple[str, int]]:
    return [(t, p) for t, p, _ in c.fetch_offsets(group_id, None)[1]]


async def reloaded(c: GroupCoordinator, storage: MemoryLog) -> GroupCoordinator:
    """A new coordinator that loads the same __consumer_offsets (what another broker would see)."""
    c.close()
    return await make(storage)


async def stable_member(c: GroupCoordinator, *topics: str, protocol_type: str = "consumer") -> str:
    joined = await join_new(c, protocols=[("range", subscription(*topics))], protocol_type=protocol_type)
    sync = await c.sync_group("g", joined.generation_id, joined.member_id, None, None, None, [])
    assert sync.error == E.NONE
    return joined.member_id


async def test_a_stable_consumer_group_loses_offsets_of_topics_it_no_longer_subscribes_to() -> None:
    """In a Stable consumer group, offsets of unsubscribed topics expire `retention` after their commit (at
    exactly that age), those of subscribed topics never; offsets of a non-consumer group in Stable never expire
    (kills the mutants of the STABLE branch of _expired_offsets: `and` -> `or`, `is_in(None)`, `==` -> `!=`,
    `subscribed = None`, `is None` -> `is not None`, `not in` -> `in` / `or`, `key[1]`, `expired(None, ...)`,
    `expired(c, None)`, the dropped arguments, and `now - base >= retention` -> `>`)."""
    time = MockTime()
    c = await make(time=time)
    member = await stable_member(c, "t")
    entries = [OffsetCommitEntry("t", 0, 1), OffsetCommitEntry("gone", 0, 1), OffsetCommitEntry("gone", 1, 1)]
    assert await c.commit_offsets("g", 1, member, None, entries) == [E.NONE] * 3
    time.advance(RETENTION_MS - 1)
    assert await c.expire_offsets() == 0
    time.advance(1)
    assert await c.expire_offsets() == 2
    assert committed(c, "g") == [("t", 0)]
    time.advance(5 * RETENTION_MS)  # within the session timeout (10 s)
    assert await c.expire_offsets() == 0

    other = await make(time=time)
    connector = await stable_member(other, "t", protocol_type="connect")
    await other.commit_offsets("g", 1, connector, None, [OffsetCommitEntry("gone", 0, 1)])
    time.advance(5 * RETENTION_MS)  # within the session timeout (10 s)
    assert await other.expire_offsets() == 0


async def test_an_emptied_group_keeps_its_offsets_for_retention_from_when_it_became_empty() -> None:
    """A group that had members: retention runs from when it became Empty, not from each commit; then offsets and
    group go, and the group's tombstone is written, so a reload does not bring it back (kills the
    `use_state_time` mutants: None, `or`, `is None`, `> 0`, `>= 1`, `and False`; and
    `_write_tombstones(..., None)` in expire_offsets, which left the group record)."""
    time = MockTime()
    storage = MemoryLog()
    c = await make(storage, time=time)
    member = await stable_member(c, "t")
    await c.commit_offsets("g", 1, member, None, [OffsetCommitEntry("t", 0, 1)])
    time.advance(900)
    c.leave_group("g", [LeaveMember(member, None)])
    await settle()  # the Empty group record is written in the background
    assert c.group("g") is not None and c.group("g").state is GroupState.EMPTY  # type: ignore[union-attr]
    time.advance(600)  # the commit is 1500 ms old, the group empty for 600 ms
    assert await c.expire_offsets() == 0
    time.advance(400)
    assert await c.expire_offsets() == 1
    assert c.group("g") is None
    again = await reloaded(c, storage)
    assert again.group("g") is None and committed(again, "g") == []


async def test_an_explicit_expire_timestamp_wins() -> None:
    """A commit's expire timestamp (OffsetCommit v1) decides, at exactly that time, whatever the retention; 0 is a
    timestamp too (kills `expire_timestamp >= 0` -> `> 0` / `>= 1` and `now >= expire` -> `>`)."""
    time = MockTime()
    c = await make(time=time)
    now = time.wall_ms()
    entries = [
        OffsetCommitEntry("t", 0, 1, expire_timestamp=now + 100),
        OffsetCommitEntry("t", 1, 1, expire_timestamp=0),
    ]
    await c.commit_offsets("solo", -1, "", None, entries)
    assert await c.expire_offsets() == 1  # expire timestamp 0: long past
    time.advance(99)
    assert await c.expire_offsets() == 0
    time.advance(1)
    assert await c.expire_offsets() == 1


async def test_expiry_goes_through_every_group_and_counts_them_all() -> None:
    """expire_offsets goes on after a group with nothing to expire and returns the total over the groups; a group
    with nothing to expire writes nothing (kills `continue` -> `break` after the nothing-to-expire check and
    `removed += len(expired)` -> `=`)."""
    time = MockTime()
    storage = MemoryLog()
    c = await make(storage, time=time)
    # Three groups of one __consumer_offsets partition: expiry walks them in one shard, in creation order.
    same = [g for g in (f"group-{i}" for i in range(100)) if c.partition_for(g) == c.partition_for("group-0")][:3]
    fresh, a, b = same
    entries = [OffsetCommitEntry("t", 0, 1), OffsetCommitEntry("t", 1, 1)]
    for group_id in same:
        await c.commit_offsets(group_id, -1, "", None, entries)
        time.advance(RETENTION_MS // 2)
    await c.commit_offsets(fresh, -1, "", None, entries)  # the first group, committed again: nothing to expire
    time.advance(RETENTION_MS // 2)  # a and b are past retention (1500 and 1000 ms), fresh is not (500 ms)
    assert await c.expire_offsets() == 4
    assert committed(c, a) == committed(c, b) == [] and len(committed(c, fresh)) == 2
    written = sum(len(records) for records in storage.records.values())
    assert await c.expire_offsets() == 0
    assert sum(len(records) for records in storage.records.values()) == written


class FailFirstAppend(MemoryLog):
    """Fails its first append with NOT_LEADER_OR_FOLLOWER once `armed`, then appends as usual."""

    armed = False

    async def append(self, partition: int, records: Sequence[Record]) -> tuple[ErrorCode, int]:
        if self.armed:
            self.armed = False
            return E.NOT_LEADER_OR_FOLLOWER, -1
        return await super().append(partition, records)


async def test_a_failed_expiry_is_logged_and_the_next_group_still_expires(caplog: pytest.LogCaptureFixture) -> None:
    """A tombstone write that fails is logged with the group and the error and leaves its offsets; the next group
    of the shard still expires (kills the mutants of the warning: message, group id and error name, and
    `continue` -> `break` after the failed write)."""
    time = MockTime()
    storage = FailFirstAppend()
    c = await make(storage, time=time)
    first, second = [g for g in (f"group-{i}" for i in range(100)) if c.partition_for(g) == c.partition_for("group-0")][
        :2
    ]
    for group_id in (first, second):
        await c.commit_offsets(group_id, -1, "", None, [OffsetCommitEntry("t", 0, 1)])
    time.advance(RETENTION_MS)
    storage.armed = True
    with caplog.at_level(logging.WARNING, logger="odradek.broker.group"):
        assert await c.expire_offsets() == 1
    messages = [r.getMessage() for r in caplog.records]
    assert f"could not expire offsets of group {first}: NOT_LEADER_OR_FOLLOWER" in messages
    assert committed(c, first) == [("t", 0)] and committed(c, second) == []


async def test_offset_delete_removes_every_named_offset_and_keeps_the_group() -> None:
    """OffsetDelete of several partitions removes each of them (each tombstone applied at its own position), writes
    no group tombstone (the group survives a reload), and maps a failed write (kills `first_offset + i` -> `- i`
    in _write_tombstones, `drop_group=False` -> True, and `commit_error(None)`)."""
    storage = MemoryLog()
    c = await make(storage)
    member = await stable_member(c, "t")
    keys = [("u", p) for p in range(5)]
    await c.commit_offsets("g", 1, member, None, [OffsetCommitEntry(t, p, 1) for t, p in keys])
    c.leave_group("g", [LeaveMember(member, None)])
    await settle()  # the Empty group record is written in the background
    assert await c.delete_offsets("g", keys) == (E.NONE, [E.NONE] * 5)
    assert committed(c, "g") == []
    again = await reloaded(c, storage)
    assert again.group("g") is not None and committed(again, "g") == []
    await again.commit_offsets("g", -1, "", None, [OffsetCommitEntry("u", 0, 1)])
    storage.fail = E.NOT_LEADER_OR_FOLLOWER
    assert await again.delete_offsets("g", [("u", 0)]) == (E.NOT_COORDINATOR, [])


async def test_delete_group_tombstones_its_offsets_and_its_record() -> None:
    """DeleteGroups writes tombstones for every offset and the group record: after a reload neither the group nor
    its offsets are back; a failed write is mapped (kills `of(None)`, `drop_group` mutated to None / False and
    `group_write_error(None)` in delete_group)."""
    storage = MemoryLog()
    c = await make(storage)
    member = await stable_member(c, "t")
    await c.commit_offsets("g", 1, member, None, [OffsetCommitEntry("t", 0, 1), OffsetCommitEntry("t", 1, 1)])
    c.leave_group("g", [LeaveMember(member, None)])
    await settle()  # the Empty group record is written in the background
    assert await c.delete_groups(["g"]) == [E.NONE]
    again = await reloaded(c, storage)
    assert again.group("g") is None and committed(again, "g") == []
    await again.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 0, 1)])
    storage.fail = E.NOT_LEADER_OR_FOLLOWER
    assert await again.delete_groups(["solo"]) == [E.NOT_COORDINATOR]


async def test_a_commit_with_generation_0_into_an_unknown_group_is_refused() -> None:
    """Generation 0 is a generation: a commit with it into a group that does not exist gets the unknown-group
    error and creates nothing; only -1 (a standalone consumer) creates the group (kills `generation_id >= 0`
    -> `> 0` / `>= 1`)."""
    c = await make()
    assert await c.commit_offsets("nobody", 0, "m", None, [OffsetCommitEntry("t", 0, 1)]) == [E.ILLEGAL_GENERATION]
    assert c.group("nobody") is None


async def test_a_tombstone_without_its_commit_loads() -> None:
    """A compacted __consumer_offsets may keep an offset tombstone whose commit is gone; loading it is a no-op
    (kills `offsets.pop(key, None)` -> `offsets.pop(key)`, a KeyError that failed the load)."""
    storage = MemoryLog()
    probe = GroupCoordinator(CONFIG, storage, lambda: PARTITIONS, MockTime())
    partition = probe.partition_for("g")
    storage.records[partition] = [(0, encode_offset_key(OffsetKey("g", "t", 0)), None)]
    c = await make(storage)
    assert partition in c.loaded
    assert committed(c, "g") == []


async def test_commit_validation_of_members_and_generations() -> None:
    """A commit naming a static member's instance id with another member id is FENCED_INSTANCE_ID; generation 0
    into an existing Empty group is checked like any generation (UNKNOWN_MEMBER_ID), only -1 skips the checks
    (kills `validate_member(member_id, None)`, `_validate_commit(..., None)`, and `generation_id < 0` ->
    `<= 0` / `< 1` in _validate_commit)."""
    c = await make()
    joined = await join_new(c, instance="i1")
    await c.sync_group("g", joined.generation_id, joined.member_id, "i1", None, None, [])
    entry = [OffsetCommitEntry("t", 0, 1)]
    assert await c.commit_offsets("g", joined.generation_id, "other", "i1", entry) == [E.FENCED_INSTANCE_ID]
    assert await c.commit_offsets("g", joined.generation_id, joined.member_id, "i1", entry) == [E.NONE]
    await c.commit_offsets("solo", -1, "", None, entry)  # an Empty group
    assert await c.commit_offsets("solo", 0, "", None, entry) == [E.UNKNOWN_MEMBER_ID]


async def test_a_commit_counts_as_a_heartbeat() -> None:
    """A member that commits stays in the group past the session timeout counted from its last heartbeat (kills
    `touch(group, None)`)."""
    time = MockTime()
    c = await make(time=time)
    member = await stable_member(c, "t")  # session timeout 10 s
    time.advance(9000)
    assert await c.commit_offsets("g", 1, member, None, [OffsetCommitEntry("t", 0, 1)]) == [E.NONE]
    time.advance(9000)
    assert c.heartbeat("g", member, None, 1) == E.NONE


async def test_commit_metadata_limits_and_defaults() -> None:
    """Metadata of exactly offset.metadata.max.bytes characters is accepted, one more is refused; None is stored
    as ""; a failed write maps only the accepted entries' results (kills `metadata or ""` -> `or "XXXX"`, `>` ->
    `>=` in the size check, and the `or True` that mapped OFFSET_METADATA_TOO_LARGE too)."""
    storage = MemoryLog()
    c = await make(storage)
    limit = CONFIG.offset_metadata_max_bytes
    entries = [
        OffsetCommitEntry("t", 0, 1, metadata="x" * limit),
        OffsetCommitEntry("t", 1, 1, metadata="x" * (limit + 1)),
        OffsetCommitEntry("t", 2, 1, metadata=None),
    ]
    assert await c.commit_offsets("solo", -1, "", None, entries) == [E.NONE, E.OFFSET_METADATA_TOO_LARGE, E.NONE]
    rows = {p: value for _, p, value in c.fetch_offsets("solo", None)[1]}
    assert rows[2] is not None and rows[2].metadata == ""
    storage.fail = E.NOT_LEADER_OR_FOLLOWER
    assert await c.commit_offsets("solo", -1, "", None, entries) == [
        E.NOT_COORDINATOR,
        E.OFFSET_METADATA_TOO_LARGE,
        E.NOT_COORDINATOR,
    ]


async def test_a_late_acknowledged_commit_loses_against_every_entry_of_a_newer_multi_partition_commit() -> None:
    """The newer-record-wins rule with several entries per commit: each entry of a commit sits at its own offset
    (first + i), so an older single commit acknowledged after it does not overwrite any of them (kills
    `first_offset + i` -> `- i` in commit_offsets)."""
    storage = MemoryLog()
    c = await make(storage)
    storage.hold_acks = True
    older = asyncio.create_task(c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 2, 5)]))
    await settle()
    newer_entries = [OffsetCommitEntry("t", p, 9) for p in range(3)]
    newer = asyncio.create_task(c.commit_offsets("solo", -1, "", None, newer_entries))
    await settle()
    storage.release(1)
    assert await newer == [E.NONE] * 3
    storage.release(0)
    assert await older == [E.NONE]
    offsets = {p: value.offset for _, p, value in c.fetch_offsets("solo", None)[1] if value is not None}
    assert offsets == {0: 9, 1: 9, 2: 9}


async def test_offsets_do_not_expire_during_a_rebalance() -> None:
    """Only a Stable consumer group loses the offsets of topics it does not subscribe to; during a rebalance
    (PreparingRebalance) nothing expires, as in Kafka's removeExpiredOffsets (kills `is_in(STABLE) and` -> `or`
    in _expired_offsets)."""
    time = MockTime()
    c = await make(time=time)
    member = await stable_member(c, "t")
    await c.commit_offsets("g", 1, member, None, [OffsetCommitEntry("gone", 0, 1)])
    first = await join(c)  # a second consumer: MEMBER_ID_REQUIRED, then its join starts a rebalance
    second = asyncio.create_task(join(c, first.member_id))
    await settle()
    assert c.group("g") is not None and c.group("g").state is GroupState.PREPARING_REBALANCE  # type: ignore[union-attr]
    time.advance(2 * RETENTION_MS)
    assert await c.expire_offsets() == 0
    assert committed(c, "g") == [("gone", 0)]
    second.cancel()
