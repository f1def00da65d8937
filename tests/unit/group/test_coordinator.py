"""GroupCoordinator flows against an in-memory __consumer_offsets and a MockTime (the coordinator is the real one;
timers fire when a test advances the clock, nothing sleeps)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.group.classic_group import ClassicGroup
from odradek.broker.group.coordinator import (
    GroupConfig,
    GroupCoordinator,
    JoinRequest,
    JoinResult,
    LeaveMember,
    OffsetCommitEntry,
)
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime

E = ErrorCode
PARTITIONS = 4


MemoryLog = InMemoryCoordinatorLog


async def settle(turns: int = 10) -> None:
    """Let parked tasks and background writes run (a bounded number of event-loop turns)."""
    for _ in range(turns):
        await asyncio.sleep(0)


def group_of(c: GroupCoordinator, group_id: str = "g") -> ClassicGroup:
    group = c.group(group_id)
    assert group is not None
    return group


def subscription(*topics: str) -> bytes:
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


CONFIG = GroupConfig(initial_rebalance_delay_ms=0, min_session_timeout_ms=10, offsets_retention_ms=1000)


async def make(
    storage: MemoryLog | None = None, config: GroupConfig = CONFIG, time: MockTime | None = None
) -> GroupCoordinator:
    coordinator = GroupCoordinator(config, storage or MemoryLog(), lambda: PARTITIONS, time or MockTime())
    for p in range(PARTITIONS):
        coordinator.on_elected(p, 0)
    assert coordinator.loading == set(range(PARTITIONS))  # loads run in the background
    await coordinator.wait_loaded()
    assert coordinator.loaded == set(range(PARTITIONS))
    return coordinator


async def join(
    c: GroupCoordinator,
    member_id: str = "",
    *,
    group: str = "g",
    instance: str | None = None,
    protocols: list[tuple[str, bytes]] | None = None,
    session_ms: int = 10_000,
    rebalance_ms: int = 10_000,
    protocol_type: str = "consumer",
) -> JoinResult:
    protocols = protocols if protocols is not None else [("range", subscription("t"))]
    request = JoinRequest(
        group, member_id, instance, "client", "/127.0.0.1", session_ms, rebalance_ms, protocol_type, protocols
    )
    task = asyncio.create_task(c.join_group(request))
    await settle()
    if not task.done():
        # Timers due now (a zero initial rebalance delay) run, as the event loop would run them next turn.
        assert isinstance(c.time, MockTime)
        c.time.advance(0)
    return await task


async def join_new(c: GroupCoordinator, **kwargs: object) -> JoinResult:
    first = await join(c, **kwargs)  # type: ignore[arg-type]
    if first.error != E.MEMBER_ID_REQUIRED:
        return first
    return await join(c, first.member_id, **kwargs)  # type: ignore[arg-type]


async def test_first_join_needs_a_member_id_then_forms_generation_one() -> None:
    c = await make()
    first = await join(c)
    assert first.error == E.MEMBER_ID_REQUIRED and first.member_id.startswith("client-")
    result = await join(c, first.member_id)
    assert (result.error, result.generation_id, result.leader) == (E.NONE, 1, first.member_id)
    assert [m.member_id for m in result.members] == [first.member_id]
    assert group_of(c).state is GroupState.COMPLETING_REBALANCE
    sync = await c.sync_group("g", 1, first.member_id, None, "consumer", "range", [(first.member_id, b"A")])
    assert (sync.error, sync.assignment, sync.protocol_name) == (E.NONE, b"A", "range")
    assert group_of(c).state is GroupState.STABLE
    assert c.heartbeat("g", first.member_id, None, 1) == E.NONE


async def test_second_member_triggers_rebalance_and_both_get_the_next_generation() -> None:
    c = await make()
    a = await join_new(c)
    await c.sync_group("g", 1, a.member_id, None, None, None, [(a.member_id, b"all")])
    b_first = await join(c)
    b_task = asyncio.create_task(join(c, b_first.member_id))
    await settle()
    assert group_of(c).state is GroupState.PREPARING_REBALANCE
    assert c.heartbeat("g", a.member_id, None, 1) == E.REBALANCE_IN_PROGRESS
    a2 = await join(c, a.member_id)
    b = await b_task
    assert a2.generation_id == b.generation_id == 2
    assert a2.leader == a.member_id and len(a2.members) == 2 and b.members == []
    leader_sync = asyncio.create_task(
        c.sync_group("g", 2, a.member_id, None, None, None, [(a.member_id, b"p0"), (b.member_id, b"p1")])
    )
    b_sync = await c.sync_group("g", 2, b.member_id, None, None, None, [])
    assert b_sync.assignment == b"p1"
    assert (await leader_sync).assignment == b"p0"
    # A commit from the old generation is fenced; the current one is accepted.
    entry = [OffsetCommitEntry("t", 0, 5)]
    assert await c.commit_offsets("g", 1, a.member_id, None, entry) == [E.ILLEGAL_GENERATION]
    assert await c.commit_offsets("g", 2, a.member_id, None, entry) == [E.NONE]
    assert await c.commit_offsets("g", 2, "nobody", None, entry) == [E.UNKNOWN_MEMBER_ID]


async def test_commits_during_completing_rebalance_are_refused() -> None:
    c = await make()
    a = await join_new(c)
    assert group_of(c).state is GroupState.COMPLETING_REBALANCE
    assert await c.commit_offsets("g", 1, a.member_id, None, [OffsetCommitEntry("t", 0, 1)]) == [
        E.REBALANCE_IN_PROGRESS
    ]


async def test_session_timeout_removes_a_silent_member() -> None:
    time = MockTime()
    c = await make(time=time)
    a = await join_new(c, session_ms=50)
    await c.sync_group("g", 1, a.member_id, None, None, None, [])
    time.advance(49)
    assert a.member_id in group_of(c).members
    time.advance(1)
    await settle()
    group = group_of(c)
    assert a.member_id not in group.members
    assert group.state is GroupState.EMPTY and group.generation_id == 2


async def test_member_that_does_not_rejoin_is_removed_after_the_rebalance_timeout() -> None:
    time = MockTime()
    c = await make(time=time)
    a = await join_new(c, rebalance_ms=100)
    await c.sync_group("g", 1, a.member_id, None, None, None, [])
    b = await join(c)
    task = asyncio.create_task(join(c, b.member_id, rebalance_ms=100))  # a never rejoins
    await settle()
    time.advance(99)
    await settle()
    assert not task.done()
    time.advance(1)
    result = await task
    assert result.generation_id == 2 and result.leader == b.member_id
    assert list(group_of(c).members) == [b.member_id]
    assert c.heartbeat("g", a.member_id, None, 1) == E.UNKNOWN_MEMBER_ID


async def test_member_that_does_not_sync_is_removed_and_the_group_rebalances() -> None:
    time = MockTime()
    c = await make(time=time)
    a = await join_new(c, rebalance_ms=80)
    # The leader never sends SyncGroup.
    time.advance(79)
    assert a.member_id in group_of(c).members
    time.advance(1)
    await settle()
    group = group_of(c)
    assert a.member_id not in group.members and group.state is GroupState.EMPTY


async def test_initial_rebalance_delay_collects_members_into_one_generation() -> None:
    time = MockTime()
    c = await make(config=GroupConfig(initial_rebalance_delay_ms=100, min_session_timeout_ms=10), time=time)
    a_id = (await join(c)).member_id
    b_id = (await join(c)).member_id
    a_task = asyncio.create_task(join(c, a_id))
    await settle()
    time.advance(30)
    b_task = asyncio.create_task(join(c, b_id))
    await settle()
    time.advance(70)  # the delay, counted from a's join
    await settle()
    assert not a_task.done()  # b joined during the delay: it is extended once
    time.advance(100)
    a, b = await asyncio.gather(a_task, b_task)
    assert a.generation_id == b.generation_id == 1


async def test_protocol_chosen_by_vote_among_common_protocols() -> None:
    c = await make()
    one = [("roundrobin", b"1"), ("range", b"1")]
    two = [("range", b"2"), ("roundrobin", b"2")]
    three = [("range", b"3"), ("sticky", b"3")]
    ids = [(await join(c, protocols=p)).member_id for p in (one, two, three)]
    results = await asyncio.gather(*(join(c, i, protocols=p) for i, p in zip(ids, (one, two, three), strict=True)))
    assert {r.protocol_name for r in results} == {"range"}  # the only protocol all three support
    leader = next(r for r in results if r.members)
    assert {m.metadata for m in leader.members} == {b"1", b"2", b"3"}
    # A member with no protocol in common is refused.
    assert (await join(c, protocols=[("sticky", b"")])).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert (await join(c, protocol_type="connect")).error == E.INCONSISTENT_GROUP_PROTOCOL


async def test_static_member_rejoins_a_stable_group_without_rebalance() -> None:
    time = MockTime()
    c = await make(config=GroupConfig(initial_rebalance_delay_ms=50, min_session_timeout_ms=10), time=time)
    # Static members get their id at once (no MEMBER_ID_REQUIRED round trip).
    joins = asyncio.gather(join(c, instance="i-a"), join(c, instance="i-b"))
    await settle()
    time.advance(100)
    results = await joins
    assert [r.error for r in results] == [E.NONE, E.NONE]
    generation = results[0].generation_id
    leader = next(r for r in results if r.members)
    follower = next(r for r in results if not r.members)
    group = group_of(c)
    await asyncio.gather(
        c.sync_group(
            "g",
            generation,
            leader.member_id,
            None,
            None,
            None,
            [(m.member_id, m.member_id.encode()) for m in leader.members],
        ),
        c.sync_group("g", generation, follower.member_id, None, None, None, []),
    )
    assert group.state is GroupState.STABLE
    restarting = next(i for i, m in group.static_members.items() if m == follower.member_id)
    # The follower restarts: unknown member id, same instance id; no rebalance.
    rejoined = await join(c, instance=restarting)
    assert rejoined.error == E.NONE and rejoined.member_id != follower.member_id
    assert rejoined.generation_id == generation and group.state is GroupState.STABLE
    sync = await c.sync_group("g", generation, rejoined.member_id, restarting, None, None, [])
    assert sync.assignment == follower.member_id.encode()  # it keeps its assignment
    assert c.heartbeat("g", follower.member_id, restarting, generation) == E.FENCED_INSTANCE_ID
    assert c.heartbeat("g", rejoined.member_id, restarting, generation) == E.NONE
    assert c.heartbeat("g", leader.member_id, None, generation) == E.NONE


async def test_leave_group_batch_and_unknown_members() -> None:
    c = await make()
    a = await join_new(c)
    await c.sync_group("g", 1, a.member_id, None, None, None, [])
    error, errors = c.leave_group("g", [LeaveMember(a.member_id, None), LeaveMember("ghost", None)])
    assert (error, errors) == (E.NONE, [E.NONE, E.UNKNOWN_MEMBER_ID])
    assert group_of(c).state is GroupState.EMPTY


async def test_offsets_and_groups_are_rebuilt_from_the_log() -> None:
    storage = MemoryLog()
    c = await make(storage)
    a = await join_new(c)
    await c.sync_group("g", 1, a.member_id, None, None, None, [(a.member_id, b"assignment")])
    assert await c.commit_offsets("g", 1, a.member_id, None, [OffsetCommitEntry("t", 0, 10, 3, "m")]) == [E.NONE]
    assert await c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 1, 7)]) == [E.NONE]
    c.close()
    restarted = await make(storage)
    group = group_of(restarted)
    assert group.state is GroupState.STABLE and group.generation_id == 1
    assert group.members[a.member_id].assignment == b"assignment"
    error, rows = restarted.fetch_offsets("g", [("t", 0), ("t", 1)])
    assert error == E.NONE
    assert [(t, p, v.offset if v else None, v.leader_epoch if v else None) for t, p, v in rows] == [
        ("t", 0, 10, 3),
        ("t", 1, None, None),
    ]
    assert restarted.fetch_offsets("solo", None)[1][0][2] is not None
    # The restored member keeps heartbeating in its generation.
    assert restarted.heartbeat("g", a.member_id, None, 1) == E.NONE
    restarted.close()


async def test_offset_metadata_too_large_only_fails_that_partition() -> None:
    c = await make(
        config=GroupConfig(initial_rebalance_delay_ms=0, min_session_timeout_ms=10, offset_metadata_max_bytes=4)
    )
    errors = await c.commit_offsets(
        "solo",
        -1,
        "",
        None,
        [OffsetCommitEntry("t", 0, 1, metadata="12345"), OffsetCommitEntry("t", 1, 2, metadata="1")],
    )
    assert errors == [E.OFFSET_METADATA_TOO_LARGE, E.NONE]


async def test_write_failures_map_to_coordinator_errors() -> None:
    storage = MemoryLog()
    c = await make(storage)
    storage.fail = E.NOT_LEADER_OR_FOLLOWER
    assert await c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 0, 1)]) == [E.NOT_COORDINATOR]
    storage.fail = E.RECORD_LIST_TOO_LARGE
    assert await c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 0, 1)]) == [
        E.INVALID_COMMIT_OFFSET_SIZE
    ]
    storage.fail = None
    assert c.fetch_offsets("solo", None)[1] == []


async def test_delete_groups_and_offsets() -> None:
    c = await make()
    a = await join_new(c, protocols=[("range", subscription("t"))])
    await c.sync_group("g", 1, a.member_id, None, None, None, [])
    await c.commit_offsets("g", 1, a.member_id, None, [OffsetCommitEntry("t", 0, 1), OffsetCommitEntry("u", 0, 1)])
    assert await c.delete_groups(["g", "nope"]) == [E.NON_EMPTY_GROUP, E.GROUP_ID_NOT_FOUND]
    assert await c.delete_offsets("g", [("t", 0), ("u", 0)]) == (E.NONE, [E.GROUP_SUBSCRIBED_TO_TOPIC, E.NONE])
    assert [t for t, _, _ in c.fetch_offsets("g", None)[1]] == ["t"]
    c.leave_group("g", [LeaveMember(a.member_id, None)])
    assert await c.delete_groups(["g"]) == [E.NONE]
    assert c.describe_group("g").error == E.GROUP_ID_NOT_FOUND
    assert await c.delete_offsets("g", [("t", 0)]) == (E.GROUP_ID_NOT_FOUND, [])


async def test_offsets_expire_after_retention_once_the_group_is_empty() -> None:
    time = MockTime()
    c = await make(time=time)
    await c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 0, 1)])
    time.advance(500)
    await c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 1, 1)])
    time.advance(600)  # first commit is 1100 ms old, second 600 ms (retention 1000 ms)
    assert await c.expire_offsets() == 1
    assert [(t, p) for t, p, _ in c.fetch_offsets("solo", None)[1]] == [("t", 1)]
    time.advance(1000)
    assert await c.expire_offsets() == 1
    assert c.group("solo") is None  # nothing left: the group is gone


async def test_not_coordinator_and_loading_errors() -> None:
    c = GroupCoordinator(CONFIG, MemoryLog(), lambda: PARTITIONS, MockTime())
    assert (await join(c)).error == E.NOT_COORDINATOR
    assert c.heartbeat("g", "m", None, 1) == E.NOT_COORDINATOR
    assert (
        await c.join_group(JoinRequest("", "", None, "c", "h", 10_000, 10_000, "consumer", []))
    ).error == E.INVALID_GROUP_ID


async def test_invalid_session_timeout() -> None:
    c = await make(config=GroupConfig(min_session_timeout_ms=6000, max_session_timeout_ms=10_000))
    assert (await join(c, session_ms=5999)).error == E.INVALID_SESSION_TIMEOUT
    assert (await join(c, session_ms=10_001)).error == E.INVALID_SESSION_TIMEOUT


async def test_group_max_size() -> None:
    c = await make(config=GroupConfig(initial_rebalance_delay_ms=0, min_session_timeout_ms=10, max_size=1))
    await join_new(c)
    assert (await join(c)).error == E.GROUP_MAX_SIZE_REACHED


async def test_resigning_fails_waiting_members_with_not_coordinator() -> None:
    c = await make(config=GroupConfig(initial_rebalance_delay_ms=10_000, min_session_timeout_ms=10))
    first = await join(c)
    task = asyncio.create_task(join(c, first.member_id))
    await settle()
    c.on_resigned(c.partition_for("g"), None)
    assert (await task).error == E.NOT_COORDINATOR
    assert c.group("g") is None


pytestmark = pytest.mark.timeout(10)


async def test_requests_during_a_load_get_load_in_progress_and_a_resign_discards_it() -> None:
    storage = MemoryLog()
    first = await make(storage)
    await first.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 0, 7)])
    first.close()
    c = GroupCoordinator(CONFIG, storage, lambda: PARTITIONS, MockTime())
    partition = c.partition_for("solo")
    c.on_elected(partition, 0)
    assert c.fetch_offsets("solo", None) == (E.COORDINATOR_LOAD_IN_PROGRESS, [])
    assert c.heartbeat("solo", "m", None, 1) == E.COORDINATOR_LOAD_IN_PROGRESS
    await c.wait_loaded()
    error, rows = c.fetch_offsets("solo", None)
    assert error == E.NONE and [(t, p, v.offset if v else None) for t, p, v in rows] == [("t", 0, 7)]
    # Resigning while a load runs: its result is dropped, nothing is coordinated.
    c.on_resigned(partition, None)
    c.on_elected(partition, 0)
    c.on_resigned(partition, None)
    await c.wait_loaded()
    assert partition not in c.loaded and c.group("solo") is None
    assert c.fetch_offsets("solo", None)[0] == E.NOT_COORDINATOR


async def test_a_commit_acknowledged_late_does_not_overwrite_a_newer_one() -> None:
    """Appends are ordered but their acknowledgements need not be: the record later in the log wins, in memory as
    on reload (removing the 'newer commit wins' check fails this test)."""
    storage = MemoryLog()
    c = await make(storage)
    storage.hold_acks = True

    async def commit(offset: int) -> list[ErrorCode]:
        return await c.commit_offsets("solo", -1, "", None, [OffsetCommitEntry("t", 0, offset)])

    older = asyncio.create_task(commit(5))
    await settle()
    newer = asyncio.create_task(commit(9))
    await settle()
    storage.release(1)
    assert await newer == [E.NONE]
    storage.release(0)
    assert await older == [E.NONE]

    def committed(coordinator: GroupCoordinator) -> int | None:
        rows = coordinator.fetch_offsets("solo", [("t", 0)])[1]
        value = rows[0][2]
        return None if value is None else value.offset

    assert committed(c) == 9
    # A deletion acknowledged after a newer commit does not remove it either.
    deletion = asyncio.create_task(c.delete_offsets("solo", [("t", 0)]))
    await settle()
    recommit = asyncio.create_task(commit(11))
    await settle()
    storage.release(3)
    await recommit
    storage.release(2)
    assert await deletion == (E.NONE, [E.NONE])
    assert committed(c) == 11
    storage.hold_acks = False
    c.close()
    restarted = await make(storage)
    assert committed(restarted) == 11
    restarted.close()


async def test_a_group_deleted_in_the_same_loop_turn_as_its_last_leave_stays_deleted_after_a_reload() -> None:
    """The last member's LeaveGroup stores the Empty group record from a background write; a DeleteGroups handled
    before that write runs puts its tombstones first. The late Empty record must not follow them into the log, or
    the deleted group comes back when the partition is loaded again (found by mutation testing)."""
    storage = MemoryLog()
    c = await make(storage)
    joined = await join_new(c, protocols=[("range", subscription("t"))])
    await c.sync_group("g", joined.generation_id, joined.member_id, None, None, None, [])
    await c.commit_offsets("g", 1, joined.member_id, None, [OffsetCommitEntry("t", 0, 1)])
    c.leave_group("g", [LeaveMember(joined.member_id, None)])
    assert await c.delete_groups(["g"]) == [ErrorCode.NONE]
    await c.runtime.wait_idle()
    c.close()
    again = await make(storage)
    assert again.group("g") is None
