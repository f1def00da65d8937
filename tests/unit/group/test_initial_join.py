"""Consumers joining an empty group during the initial rebalance delay, at Kafka's defaults (issue 15):
`group.initial.rebalance.delay.ms`=3000, the clients' `session.timeout.ms`=6000 and `max.poll.interval.ms`=300000,
`group.coordinator.new.member.join.timeout`=300000. Each arrival during the delay extends it by another 3 s, so the
first JoinGroup stays parked longer than the first member's session timeout; Kafka gives a new member's first join
the new-member join timeout instead, and a parked join of a known member satisfies its session.

The real GroupCoordinator on an in-memory __consumer_offsets and a MockTime: time moves only when a test says so.
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.group.classic_group import ClassicGroup
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator, JoinRequest, JoinResult
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime

pytestmark = pytest.mark.timeout(30)

E = ErrorCode
S = GroupState
KAFKA_DEFAULTS = GroupConfig()  # initial delay 3000, new-member join timeout 300000
SESSION_MS = 6000
MAX_POLL_INTERVAL_MS = 300_000


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def make(time: MockTime, config: GroupConfig = KAFKA_DEFAULTS) -> GroupCoordinator:
    coordinator = GroupCoordinator(config, InMemoryCoordinatorLog(), lambda: 1, time)
    coordinator.on_elected(0, 0)
    await coordinator.wait_loaded()
    return coordinator


def group_of(c: GroupCoordinator) -> ClassicGroup:
    group = c.group("g")
    assert group is not None
    return group


def subscription() -> bytes:
    return struct.pack(">hih", 0, 1, 1) + b"t" + struct.pack(">i", -1)


def start_join(
    c: GroupCoordinator, member_id: str = "", rebalance_ms: int = MAX_POLL_INTERVAL_MS, instance: str | None = None
) -> asyncio.Task[JoinResult]:
    request = JoinRequest(
        "g",
        member_id,
        instance,
        "rdkafka",
        "/127.0.0.1",
        SESSION_MS,
        rebalance_ms,
        "consumer",
        [("range", subscription())],
    )
    return asyncio.create_task(c.join_group(request))


async def arrive(c: GroupCoordinator, rebalance_ms: int = MAX_POLL_INTERVAL_MS) -> tuple[str, asyncio.Task[JoinResult]]:
    """A consumer's first JoinGroup (v4+: MEMBER_ID_REQUIRED), then its second, which parks."""
    first = await start_join(c, rebalance_ms=rebalance_ms)
    assert first.error is E.MEMBER_ID_REQUIRED
    task = start_join(c, first.member_id, rebalance_ms)
    await settle()
    assert not task.done(), "the join should wait for the initial delay"
    return first.member_id, task


async def advance(time: MockTime, ms: int) -> None:
    time.advance(ms)
    await settle()


def answer(task: asyncio.Task[JoinResult]) -> JoinResult:
    """The JoinGroup's answer, which must have arrived (never waits: time moves only by `advance`)."""
    assert task.done(), "the JoinGroup is still parked"
    return task.result()


async def sync_all(c: GroupCoordinator, results: list[JoinResult]) -> dict[str, bytes]:
    leader = next(r for r in results if r.members)
    generation = leader.generation_id
    plan = [(m.member_id, f"p-{i}".encode()) for i, m in enumerate(leader.members)]
    tasks = [
        asyncio.create_task(
            c.sync_group("g", generation, r.member_id, None, "consumer", "range", plan if r is leader else [])
        )
        for r in results
    ]
    synced = await asyncio.gather(*tasks)
    assert all(s.error is E.NONE for s in synced), [s.error for s in synced]
    return {r.member_id: s.assignment for r, s in zip(results, synced, strict=True)}


async def stays_stable(c: GroupCoordinator, time: MockTime, members: list[str], seconds: int) -> None:
    """Heartbeating every 3 s (librdkafka's session/3 ... heartbeat.interval.ms default), the group stays put."""
    generation = group_of(c).generation_id
    for _ in range(seconds // 3):
        await advance(time, 3000)
        for member_id in members:
            assert c.heartbeat("g", member_id, None, generation) is E.NONE
    group = group_of(c)
    assert group.state is S.STABLE and group.generation_id == generation and sorted(group.members) == sorted(members)


async def test_two_consumers_joining_during_the_initial_delay_form_one_generation() -> None:
    time = MockTime()
    c = await make(time)
    a, a_join = await arrive(c)
    await advance(time, 2900)
    b, b_join = await arrive(c)
    await advance(time, 100)  # t=3000: b arrived during the delay, which is extended to t=6000
    assert not a_join.done() and group_of(c).state is S.PREPARING_REBALANCE
    await advance(time, 3000)  # t=6000: a's session timeout has passed since its join; it must still be there
    results = [answer(a_join), answer(b_join)]
    assert [r.error for r in results] == [E.NONE, E.NONE]
    assert [r.member_id for r in results] == [a, b] and {r.generation_id for r in results} == {1}
    assert sorted(m.member_id for m in results[0].members) == sorted([a, b])
    assignments = await sync_all(c, results)
    assert group_of(c).state is S.STABLE and all(assignments.values())
    await stays_stable(c, time, [a, b], 30)


async def test_three_consumers_joining_during_the_initial_delay_form_one_generation() -> None:
    time = MockTime()
    c = await make(time)
    a, a_join = await arrive(c)
    await advance(time, 2500)
    b, b_join = await arrive(c)
    await advance(time, 3000)  # t=5500: extended once (at t=3000, to t=6000)
    cc, c_join = await arrive(c)
    await advance(time, 500)  # t=6000: a's and b's sessions would have passed; extended again, to t=9000
    assert not a_join.done() and set(group_of(c).members) == {a, b, cc}
    await advance(time, 2999)
    assert not a_join.done()
    await advance(time, 1)
    results = [answer(a_join), answer(b_join), answer(c_join)]
    assert [r.error for r in results] == [E.NONE] * 3 and {r.generation_id for r in results} == {1}
    assignments = await sync_all(c, results)
    assert sorted(assignments.values()) == [b"p-0", b"p-1", b"p-2"]
    await stays_stable(c, time, [a, b, cc], 30)


async def test_the_initial_delay_ends_at_the_rebalance_timeout_however_many_arrive() -> None:
    time = MockTime()
    c = await make(time)
    _, first_join = await arrive(c, rebalance_ms=10_000)
    others = []
    for _ in range(3):  # a new consumer every 2.5 s keeps extending the delay, up to the rebalance timeout
        await advance(time, 2500)
        others.append(await arrive(c, rebalance_ms=10_000))
    # Extended at t=3000 and t=6000 by 3 s, at t=9000 by the 1 s left of the rebalance timeout.
    await advance(time, 9999 - 7500)
    assert not first_join.done()
    await advance(time, 1)
    assert answer(first_join).generation_id == 1
    assert all(answer(task).error is E.NONE for _, task in others)
    assert len(group_of(c).members) == 4


async def test_a_new_member_joining_again_while_parked_keeps_the_new_member_join_timeout() -> None:
    """A client whose JoinGroup timed out on its side sends it again: the member is updated, its timer stays."""
    time = MockTime()
    c = await make(time)
    a, a_join = await arrive(c)
    await advance(time, 500)
    a_again = start_join(c, a)
    await settle()
    assert a_join.done()  # the replaced request is answered (its client stopped waiting)
    await advance(time, 2000)
    _, b_join = await arrive(c)
    await advance(time, 3000)  # t=5500
    _, c_join = await arrive(c)
    await advance(time, 3000)  # t=8500: a's session timeout has passed since its second join
    assert not a_again.done() and a in group_of(c).members
    await advance(time, 500)  # t=9000
    assert [answer(t).error for t in (a_again, b_join, c_join)] == [E.NONE] * 3


async def test_a_static_member_restarting_during_the_initial_delay_is_kept() -> None:
    """The restarted static member replaces the parked one (FENCED_INSTANCE_ID to the old request) and is, as in
    Kafka, a fresh member that is not new: its parked join stands for its session."""
    time = MockTime()
    c = await make(time)
    old_join = start_join(c, instance="i-1")
    await settle()
    await advance(time, 1000)
    new_join = start_join(c, instance="i-1")  # the same instance, restarted: no member id yet
    await settle()
    assert answer(old_join).error is E.FENCED_INSTANCE_ID
    await advance(time, 1500)
    _, b_join = await arrive(c)
    await advance(time, 3000)  # t=5500
    _, c_join = await arrive(c)
    await advance(time, 2000)  # t=7500: more than a session timeout since the replacement
    assert not new_join.done() and group_of(c).static_members.get("i-1") in group_of(c).members
    await advance(time, 1500)  # t=9000
    assert [answer(t).error for t in (new_join, b_join, c_join)] == [E.NONE] * 3


async def test_the_initial_delay_is_not_shortened_to_a_smaller_rebalance_timeout() -> None:
    """Kafka waits the whole initial delay even when the members' rebalance timeout is shorter (nothing is left to
    extend it by)."""
    time = MockTime()
    c = await make(time)
    _, a_join = await arrive(c, rebalance_ms=1000)
    await advance(time, 500)
    _, b_join = await arrive(c, rebalance_ms=1000)
    await advance(time, 2499)
    assert not a_join.done()
    await advance(time, 1)
    assert answer(a_join).generation_id == answer(b_join).generation_id == 1


async def test_a_new_member_is_removed_once_the_new_member_join_timeout_passes() -> None:
    """A join that cannot complete (the group waits for a member that does not rejoin) ends for a new member at the
    new-member join timeout, with UNKNOWN_MEMBER_ID so that the client joins again."""
    time = MockTime()
    c = await make(time, GroupConfig(initial_rebalance_delay_ms=0, new_member_join_timeout_ms=20_000))
    a, a_join = await arrive_with_zero_delay(c, time)
    assert (answer(a_join)).error is E.NONE
    await sync_all(c, [answer(a_join)])
    b, b_join = await arrive(c)  # a never rejoins: the join waits for a up to the rebalance timeout (300 s)
    for _ in range(6):
        await advance(time, 3000)
        assert c.heartbeat("g", a, None, 1) is E.REBALANCE_IN_PROGRESS
    assert not b_join.done(), "a new member outlives its session timeout while its join is parked"
    await advance(time, 2000)  # t=20000 since b's join
    result = answer(b_join)
    assert result.error is E.UNKNOWN_MEMBER_ID and b not in group_of(c).members


async def test_a_known_member_with_a_parked_join_outlives_its_session_timeout() -> None:
    time = MockTime()
    c = await make(time)
    a, a_join = await arrive(c, rebalance_ms=30_000)
    b, b_join = await arrive(c, rebalance_ms=30_000)
    await advance(time, 6000)  # b's arrival extended the initial delay once
    first = [answer(a_join), answer(b_join)]
    await sync_all(c, first)
    # A third consumer starts a rebalance; a rejoins at once, b keeps heartbeating without rejoining (a consumer
    # busy between two polls), so the join waits for b up to the rebalance timeout.
    _, c_join = await arrive(c, rebalance_ms=30_000)
    a_rejoin = start_join(c, a, 30_000)
    await settle()
    for _ in range(9):
        await advance(time, 3000)
        assert c.heartbeat("g", b, None, 1) is E.REBALANCE_IN_PROGRESS
    assert not a_rejoin.done() and a in group_of(c).members, "a parked join stands for heartbeats"
    await advance(time, 3000)  # the rebalance timeout: b did not rejoin and is removed, a and c form the next
    assert answer(a_rejoin).error is E.NONE and answer(c_join).error is E.NONE
    assert b not in group_of(c).members and a in group_of(c).members and answer(a_rejoin).generation_id == 2


async def arrive_with_zero_delay(
    c: GroupCoordinator, time: MockTime, rebalance_ms: int = MAX_POLL_INTERVAL_MS
) -> tuple[str, asyncio.Task[JoinResult]]:
    """Like `arrive`, for a coordinator without initial delay: the parked join completes on the next timer run."""
    first = await start_join(c, rebalance_ms=rebalance_ms)
    assert first.error is E.MEMBER_ID_REQUIRED
    task = start_join(c, first.member_id, rebalance_ms)
    await settle()
    await advance(time, 0)
    return first.member_id, task
