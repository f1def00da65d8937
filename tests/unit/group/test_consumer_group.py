"""KIP-848 consumer groups: the reconciliation table, the assignors, and the coordinator's ConsumerGroupHeartbeat
flows against an in-memory __consumer_offsets and a MockTime (timers fire when a test advances the clock)."""

from __future__ import annotations

import asyncio
import uuid

from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.group.assignors import MemberSubscription, range_, uniform
from odradek.broker.group.consumer_group import (
    ConsumerGroup,
    ConsumerGroupMember,
    MemberState,
    reconcile,
)
from odradek.broker.group.consumer_group_manager import ConsumerHeartbeat, ConsumerHeartbeatResult
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator, JoinRequest, OffsetCommitEntry
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime

E = ErrorCode
PARTITIONS = 2
T1 = str(uuid.UUID(int=1))
T2 = str(uuid.UUID(int=2))
CONFIG = GroupConfig(consumer_session_timeout_ms=45_000, consumer_heartbeat_interval_ms=5000)


class Cluster:
    """The topics the coordinator sees: name -> (id, partitions); tests add partitions and topics."""

    def __init__(self) -> None:
        self.topics: dict[str, tuple[str, int]] = {"t": (T1, 6)}

    def __call__(self) -> dict[str, tuple[str, int]]:
        return dict(self.topics)


async def make(
    storage: InMemoryCoordinatorLog | None = None,
    cluster: Cluster | None = None,
    config: GroupConfig = CONFIG,
    time: MockTime | None = None,
) -> GroupCoordinator:
    topics = cluster or Cluster()
    c = GroupCoordinator(config, storage or InMemoryCoordinatorLog(), lambda: PARTITIONS, time or MockTime(), topics)
    for p in range(PARTITIONS):
        c.on_elected(p, 0)
    await c.wait_loaded()
    return c


async def hb(
    c: GroupCoordinator,
    member: str,
    epoch: int,
    *,
    topics: tuple[str, ...] | None = None,
    regex: str | None = None,
    owned: dict[str, frozenset[int]] | None = None,
    instance: str | None = None,
    assignor: str | None = None,
    group: str = "g",
) -> ConsumerHeartbeatResult:
    if epoch == 0 and topics is None and regex is None:
        topics = ("t",)
    return await c.consumer_group_heartbeat(
        ConsumerHeartbeat(
            group,
            member,
            epoch,
            instance_id=instance,
            rebalance_timeout_ms=30_000 if epoch == 0 else -1,
            subscribed_topic_names=topics,
            subscribed_topic_regex=regex,
            server_assignor=assignor,
            owned=owned,
            client_id="client",
            client_host="/127.0.0.1",
        )
    )


def parts(result: ConsumerHeartbeatResult, topic: str = T1) -> set[int]:
    assert result.assignment is not None
    return set(result.assignment.get(topic, frozenset()))


def group_of(c: GroupCoordinator, group_id: str = "g") -> ConsumerGroup:
    return c._shard(group_id).consumer_groups.groups[group_id]


# ==== reconciliation =============================================================================================


def test_member_revokes_before_its_epoch_moves_and_gets_partitions_only_once_released() -> None:
    a = ConsumerGroupMember("a", member_epoch=1, assigned={T1: frozenset({0, 1, 2, 3})})
    owners = {(T1, p): 1 for p in range(4)}
    target = {T1: frozenset({0, 1})}
    step = reconcile(a, 2, target, owners, owned=None)
    assert step.state is MemberState.UNREVOKED_PARTITIONS
    assert step.member_epoch == 1  # the epoch waits for the revocation
    assert step.assigned == {T1: frozenset({0, 1})} and step.pending_revocation == {T1: frozenset({2, 3})}
    # still reporting 2 and 3: nothing moves
    assert reconcile(step, 2, target, owners, owned={T1: frozenset({0, 1, 2, 3})}) is step
    done = reconcile(step, 2, target, owners, owned={T1: frozenset({0, 1})})
    assert done.state is MemberState.STABLE and done.member_epoch == 2 and done.previous_member_epoch == 1
    # b waits for 2 and 3 while a holds them
    b = ConsumerGroupMember("b", member_epoch=0)
    waiting = reconcile(b, 2, {T1: frozenset({2, 3})}, owners, owned={})
    assert waiting.state is MemberState.UNRELEASED_PARTITIONS and waiting.assigned == {}
    assert waiting.member_epoch == 2
    released = reconcile(waiting, 2, {T1: frozenset({2, 3})}, {(T1, 0): 2, (T1, 1): 2}, owned={})
    assert released.state is MemberState.STABLE and released.assigned == {T1: frozenset({2, 3})}


def test_a_member_in_unknown_state_is_fenced() -> None:
    m = ConsumerGroupMember("a", member_epoch=1, state=MemberState.UNKNOWN)
    try:
        reconcile(m, 2, {}, {}, None)
    except Exception as exc:  # FencedMemberError
        assert getattr(exc, "error", None) is E.FENCED_MEMBER_EPOCH
    else:
        raise AssertionError("not fenced")


# ==== assignors ==================================================================================================


def test_uniform_balances_and_is_sticky() -> None:
    members = [MemberSubscription(m, frozenset({T1}), {}) for m in ("a", "b", "c")]
    first = uniform(members, {T1: 7})
    counts = sorted(len(first[m].get(T1, ())) for m in first)
    assert counts == [2, 2, 3]
    assert set().union(*(first[m].get(T1, frozenset()) for m in first)) == set(range(7))
    # d joins: each of a, b, c keeps what it had except what d must get
    members = [MemberSubscription(m, frozenset({T1}), first.get(m, {})) for m in ("a", "b", "c", "d")]
    second = uniform(members, {T1: 7})
    assert sorted(len(second[m].get(T1, ())) for m in second) == [1, 2, 2, 2]
    for m in ("a", "b", "c"):
        assert second[m].get(T1, frozenset()) <= first[m].get(T1, frozenset())


def test_uniform_heterogeneous_subscriptions_only_assign_subscribed_topics() -> None:
    members = [
        MemberSubscription("a", frozenset({T1}), {}),
        MemberSubscription("b", frozenset({T1, T2}), {}),
    ]
    out = uniform(members, {T1: 2, T2: 4})
    assert T2 not in out["a"]
    assert len(out["a"].get(T1, ())) + len(out["b"].get(T1, ())) == 2
    assert out["b"][T2] == frozenset(range(4))


def test_range_assigns_contiguous_ranges_per_topic() -> None:
    members = [MemberSubscription(m, frozenset({T1, T2}), {}) for m in ("b", "a")]
    out = range_(members, {T1: 5, T2: 2})
    assert out["a"] == {T1: frozenset({0, 1, 2}), T2: frozenset({0})}
    assert out["b"] == {T1: frozenset({3, 4}), T2: frozenset({1})}


# ==== the coordinator ============================================================================================


async def test_join_heartbeat_and_revocation_before_reassignment() -> None:
    c = await make()
    a = await hb(c, "a", 0)
    assert a.error is E.NONE and a.member_epoch == 1 and a.heartbeat_interval_ms == 5000
    assert parts(a) == set(range(6))
    b = await hb(c, "b", 0)
    assert b.error is E.NONE and b.member_epoch == 2 and parts(b) == set()  # a still holds everything
    # a hears that it must give three up; its epoch stays 1 until it says it did
    a2 = await hb(c, "a", 1, owned={T1: frozenset(range(6))})
    assert a2.member_epoch == 1 and len(parts(a2)) == 3
    kept = parts(a2)
    a3 = await hb(c, "a", 1, owned={T1: frozenset(kept)})
    assert a3.member_epoch == 2
    b2 = await hb(c, "b", 2, owned={})
    assert parts(b2) == set(range(6)) - kept
    assert group_of(c).state.value == "Stable"
    c.close()


async def test_leave_session_expiry_and_fencing() -> None:
    time = MockTime()
    c = await make(time=time)
    await hb(c, "a", 0)
    await hb(c, "b", 0)
    assert (await hb(c, "a", 7, owned={})).error is E.FENCED_MEMBER_EPOCH
    assert (await hb(c, "zz", 1, owned={})).error is E.UNKNOWN_MEMBER_ID
    assert (await hb(c, "a", 1, owned={}, group="other")).error is E.GROUP_ID_NOT_FOUND
    left = await hb(c, "b", -1)
    assert left.error is E.NONE and left.member_epoch == -1
    assert set(group_of(c).members) == {"a"}
    epoch = group_of(c).group_epoch
    time.advance(44_000)
    await hb(c, "a", group_of(c).members["a"].member_epoch, owned=None)
    time.advance(44_000)
    assert "a" in group_of(c).members  # the heartbeat restarted the session
    time.advance(2_000)
    assert not group_of(c).members and group_of(c).group_epoch == epoch + 1
    c.close()


async def test_request_validation_and_group_limits() -> None:
    c = await make(config=GroupConfig(consumer_max_size=1))
    bad = await c.consumer_group_heartbeat(ConsumerHeartbeat("g", "a", 0, rebalance_timeout_ms=1000))
    assert bad.error is E.INVALID_REQUEST and bad.message
    assert (await hb(c, "a", 0, assignor="sticky")).error is E.UNSUPPORTED_ASSIGNOR
    assert (await hb(c, "a", 0, regex="(")).error is E.INVALID_REGULAR_EXPRESSION
    assert (await hb(c, "a", 0)).error is E.NONE
    assert (await hb(c, "b", 0)).error is E.GROUP_MAX_SIZE_REACHED
    c.close()


async def test_static_member_rejoins_with_its_assignment_and_no_new_epoch() -> None:
    c = await make()
    await hb(c, "a", 0, instance="i1")
    b = await hb(c, "b", 0, instance="i2")
    await hb(c, "a", 1, owned={T1: frozenset(range(6))}, instance="i1")
    a = await hb(c, "a", 1, owned={T1: frozenset({0, 1, 2})}, instance="i1")
    b = await hb(c, "b", 2, owned={}, instance="i2")
    owned_b = parts(b)
    assert len(owned_b) == 3
    epoch = group_of(c).group_epoch
    assert (await hb(c, "b2", 0, instance="i2")).error is E.UNRELEASED_INSTANCE_ID
    left = await hb(c, "b", -2, instance="i2")
    assert left.error is E.NONE and left.member_epoch == -2
    back = await hb(c, "b2", 0, instance="i2")
    assert back.error is E.NONE and parts(back) == owned_b and group_of(c).group_epoch == epoch
    assert "b" not in group_of(c).members
    assert a.error is E.NONE
    c.close()


async def test_new_partitions_and_regex_topics_start_a_new_group_epoch() -> None:
    cluster = Cluster()
    c = await make(cluster=cluster)
    first = await hb(c, "a", 0, topics=None, regex="t.*")
    assert first.member_epoch == 1 and parts(first) == set(range(6))
    cluster.topics["t"] = (T1, 8)
    cluster.topics["tt"] = (T2, 2)
    cluster.topics["other"] = (str(uuid.UUID(int=3)), 1)
    later = await hb(c, "a", 1, owned={T1: frozenset(range(6))})
    assert later.member_epoch == 2
    assert parts(later) == set(range(8)) and parts(later, T2) == {0, 1}
    c.close()


async def test_group_survives_a_reload_from_its_records() -> None:
    storage = InMemoryCoordinatorLog()
    c = await make(storage)
    await hb(c, "a", 0, instance="i1", assignor="range")
    await hb(c, "b", 0)
    before = group_of(c)
    members = dict(before.members)
    target = dict(before.target)
    epochs = (before.group_epoch, before.target_assignment_epoch)
    c.close()
    c2 = await make(storage)
    after = group_of(c2)
    assert after.members == members and after.target == target
    assert (after.group_epoch, after.target_assignment_epoch) == epochs
    assert after.owner == before.owner
    # the member goes on with its epoch
    assert (await hb(c2, "b", members["b"].member_epoch, owned={})).error is E.NONE
    c2.close()


async def test_commits_are_checked_against_the_member_epoch() -> None:
    c = await make()
    a = await hb(c, "a", 0)
    entry = [OffsetCommitEntry("t", 0, 5)]
    v9 = E.GROUP_ID_NOT_FOUND  # what the v9 handler passes as its unknown-group error
    assert await c.commit_offsets("g", a.member_epoch, "a", None, entry, v9) == [E.NONE]
    assert await c.commit_offsets("g", a.member_epoch + 1, "a", None, entry, v9) == [E.STALE_MEMBER_EPOCH]
    assert await c.commit_offsets("g", 0, "a", None, entry, E.ILLEGAL_GENERATION) == [E.ILLEGAL_GENERATION]
    assert await c.commit_offsets("g", 1, "x", None, entry, v9) == [E.UNKNOWN_MEMBER_ID]
    error, fetched = c.fetch_offsets("g", [("t", 0)])
    assert error is E.NONE and fetched[0][2] is not None and fetched[0][2].offset == 5
    assert c.group("g") is None  # no classic group was made for it
    # OffsetFetch v9 from a member: its epoch is checked; without member id and epoch (admin) it is not
    assert c.fetch_offsets("g", [("t", 0)], "a", a.member_epoch)[0] is E.NONE
    assert c.fetch_offsets("g", [("t", 0)], "a", a.member_epoch + 1)[0] is E.STALE_MEMBER_EPOCH
    assert c.fetch_offsets("g", [("t", 0)], "x", 1)[0] is E.UNKNOWN_MEMBER_ID


async def test_list_describe_delete_and_classic_side_by_side() -> None:
    c = await make()
    await hb(c, "a", 0)
    listings = c.list_groups()
    assert [(g.group_id, g.group_type, g.state) for g in listings] == [("g", "consumer", "Stable")]
    assert c.list_groups(None, {"empty"}) == []
    assert c.describe_group("g").error is E.GROUP_ID_NOT_FOUND
    d = c.consumer_group_describe("g")
    assert d.error is E.NONE and d.assignor == "uniform" and d.members[0].member.member_id == "a"
    assert c.consumer_group_describe("nope").error is E.GROUP_ID_NOT_FOUND
    assert await c.delete_groups(["g"]) == [E.NON_EMPTY_GROUP]
    # a classic JoinGroup of another protocol type on a non-empty consumer group (a consumer-type one joins it
    # as a classic member: tests/unit/group/test_consumer_group_migration.py)
    join = JoinRequest("g", "", None, "c", "/h", 10_000, 10_000, "connect", [("range", b"")])
    assert (await c.join_group(join)).error is E.INCONSISTENT_GROUP_PROTOCOL
    await hb(c, "a", -1)
    assert await c.delete_groups(["g"]) == [E.NONE]
    assert c.consumer_group_describe("g").error is E.GROUP_ID_NOT_FOUND
    c.close()


async def test_empty_groups_convert_between_classic_and_consumer() -> None:
    c = await make()
    await hb(c, "a", 0)
    await hb(c, "a", -1)
    join = JoinRequest("g", "", None, "c", "/h", 10_000, 10_000, "consumer", [("range", b"")])
    first = await c.join_group(join)  # an empty consumer group becomes a classic group
    assert first.error is E.MEMBER_ID_REQUIRED
    assert c.consumer_group_describe("g").error is E.GROUP_ID_NOT_FOUND
    assert c.group("g") is not None
    c.group("g").pending_members.clear()  # type: ignore[union-attr]
    back = await hb(c, "b", 0)  # an empty classic group becomes a consumer group
    assert back.error is E.NONE and c.group("g") is None
    await asyncio.sleep(0)
    c.close()


def test_records_use_kafkas_layout() -> None:
    from odradek.broker.group.consumer_group_records import (
        CURRENT_MEMBER_ASSIGNMENT,
        METADATA,
        ConsumerGroupKey,
        decode_current_assignment,
        decode_key,
        encode_current_assignment,
        encode_epoch,
        encode_key,
    )

    # ConsumerGroupMetadataKey (type 3, not flexible) and Value v0 (flexible: an empty tagged-field section)
    assert encode_key(ConsumerGroupKey(METADATA, "g")) == b"\x00\x03\x00\x01g"
    assert encode_epoch(5) == b"\x00\x00\x00\x00\x00\x05\x00"
    key = encode_key(ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, "g", "m"))
    assert key == b"\x00\x08\x00\x01g\x00\x01m"
    assert decode_key(key) == ConsumerGroupKey(CURRENT_MEMBER_ASSIGNMENT, "g", "m")
    member = ConsumerGroupMember(
        "m",
        member_epoch=3,
        previous_member_epoch=2,
        state=MemberState.UNREVOKED_PARTITIONS,
        assigned={T1: frozenset({1})},
        pending_revocation={T1: frozenset({0})},
    )
    value = encode_current_assignment(member)
    # version, MemberEpoch, PreviousMemberEpoch, State, [TopicId, [Partitions], tags], [...], tags
    one = uuid.UUID(T1).bytes
    assert value == (
        b"\x00\x00"
        + b"\x00\x00\x00\x03"
        + b"\x00\x00\x00\x02"
        + b"\x02"
        + b"\x02"
        + one
        + b"\x02\x00\x00\x00\x01"
        + b"\x00"
        + b"\x02"
        + one
        + b"\x02\x00\x00\x00\x00"
        + b"\x00"
        + b"\x00"
    )
    assert decode_current_assignment(ConsumerGroupMember("m"), value) == member
