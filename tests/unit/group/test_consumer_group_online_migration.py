"""The online migration of a group between the protocols (issue 15 item 3, KIP-848; Kafka's
GroupMetadataManager.convertToConsumerGroup, classicGroup*ToConsumerGroup, convertToClassicGroup).

The real GroupCoordinator on an in-memory __consumer_offsets and a MockTime: a stable classic group of two
members (generation 1; the leader gave partitions 0-1 and 2 of topic "t") is upgraded by a consumer-protocol
member's first heartbeat; its classic members then reconcile through JoinGroup/SyncGroup/Heartbeat; the group
goes back to a classic group when the consumer-protocol member leaves. Every partition has at most one owner at
any time (the consumer group asserts it on every change).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.coordinator.runtime import Record, TxnProducer
from odradek.broker.group.api import JoinResult, LeaveMember, OffsetCommitEntry
from odradek.broker.group.classic_group import ClassicGroup
from odradek.broker.group.config import ConsumerGroupMigrationPolicy as P
from odradek.broker.group.consumer_group import ConsumerGroup, MemberState
from odradek.broker.group.consumer_group_conversion import decode_assignment
from odradek.broker.group.consumer_group_manager import ConsumerHeartbeat, ConsumerHeartbeatResult
from odradek.broker.group.consumer_group_records import decode_key
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator, JoinRequest
from odradek.broker.group.offsets_topic import GroupKey
from odradek.broker.group.offsets_topic import decode_key as decode_offsets_key
from odradek.broker.group.state import GroupState
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import consumer_protocol_subscription as cps
from odradek.broker.utils.time import MockTime

pytestmark = pytest.mark.timeout(30)

E = ErrorCode
T_ID = str(uuid.UUID(int=7))
TOPICS = {"t": (T_ID, 3)}
SESSION_MS = 10_000
REBALANCE_MS = 30_000


class CountingLog(InMemoryCoordinatorLog):
    """Counts appends, to tell one write from several."""

    def __init__(self) -> None:
        super().__init__()
        self.appends: list[list[Record]] = []

    async def append(
        self, partition: int, records: Sequence[Record], producer: TxnProducer | None = None
    ) -> tuple[ErrorCode, int]:
        self.appends.append(list(records))
        return await super().append(partition, records, producer)


def subscription(owned: Sequence[int] = (), version: int = 1) -> bytes:
    """An embedded ConsumerProtocolSubscription of topic "t" (owned partitions from v1)."""
    body = cps.ConsumerProtocolSubscription(
        topics=["t"], owned_partitions=[cps.TopicPartition(topic="t", partitions=list(owned))] if owned else []
    )
    out = bytearray(version.to_bytes(2, "big"))
    cps.encode(out, body, version)
    return bytes(out)


def join_request(member_id: str = "", owned: Sequence[int] = (), protocol: str = "range", **kw: object) -> JoinRequest:
    request = JoinRequest(
        "g", member_id, None, "classic", "/h", SESSION_MS, REBALANCE_MS, "consumer", [(protocol, subscription(owned))]
    )
    return replace(request, **kw)  # type: ignore[arg-type]


def assignment_bytes(partitions: list[int]) -> bytes:
    from odradek.broker.group.consumer_group_conversion import encode_assignment

    return encode_assignment({T_ID: frozenset(partitions)}, TOPICS, 0)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def stable_classic_group(
    storage: InMemoryCoordinatorLog, policy: P = P.BIDIRECTIONAL, **config: object
) -> tuple[GroupCoordinator, MockTime, dict[str, list[int]]]:
    """Two classic members joined and synced at generation 1: {first id: [0, 1], second id: [2]}."""
    time = MockTime()
    c = GroupCoordinator(
        GroupConfig(consumer_migration_policy=policy, **config),  # type: ignore[arg-type]
        storage,
        lambda: 1,
        time,
        lambda: dict(TOPICS),
    )
    c.on_elected(0, 0)
    await c.wait_loaded()
    tasks = []
    for _ in range(2):
        first = await c.join_group(join_request())
        assert first.error is E.MEMBER_ID_REQUIRED
        tasks.append(asyncio.create_task(c.join_group(join_request(first.member_id))))
    await settle()
    time.advance(10_000)  # the initial rebalance delay ends
    await settle()
    joined = [await t for t in tasks]
    ids = sorted(j.member_id for j in joined)
    plan = {ids[0]: [0, 1], ids[1]: [2]}
    given = [(m, assignment_bytes(p)) for m, p in plan.items()]
    leader = next(j for j in joined if j.member_id == j.leader)
    syncs = [
        asyncio.create_task(c.sync_group("g", 1, j.member_id, None, "consumer", "range", given if j is leader else []))
        for j in joined
    ]
    for sync in syncs:
        assert (await sync).error is E.NONE
    return c, time, plan


async def hb(
    c: GroupCoordinator, member: str, epoch: int, owned: Sequence[int] | None = None
) -> ConsumerHeartbeatResult:
    if epoch == 0:
        request = ConsumerHeartbeat("g", member, 0, rebalance_timeout_ms=REBALANCE_MS, subscribed_topic_names=("t",))
    else:
        parts = None if owned is None else ({T_ID: frozenset(owned)} if owned else {})
        request = ConsumerHeartbeat("g", member, epoch, owned=parts)
    return await c.consumer_group_heartbeat(request)


def consumer_group(c: GroupCoordinator) -> ConsumerGroup:
    return c._shard("g").consumer_groups.groups["g"]


def partitions(result_assignment: bytes) -> set[int]:
    return set(decode_assignment(result_assignment, TOPICS).get(T_ID, ()))


async def rejoin(c: GroupCoordinator, member_id: str, owned: Sequence[int]) -> tuple[JoinResult, set[int]]:
    """A classic member's JoinGroup then SyncGroup: (the join's answer, the partitions SyncGroup gave)."""
    joined = await c.join_group(join_request(member_id, owned))
    assert joined.error is E.NONE, joined
    synced = await c.sync_group("g", joined.generation_id, member_id, None, "consumer", "range", [])
    assert synced.error is E.NONE, synced
    return joined, partitions(synced.assignment)


def owners(c: GroupCoordinator) -> dict[int, str]:
    return {p: m for (topic, p), m in consumer_group(c).owner.items() if topic == T_ID}


# ==== upgrade ====================================================================================================


async def test_a_heartbeat_upgrades_a_stable_classic_group_in_one_write() -> None:
    storage = CountingLog()
    c, _, plan = await stable_classic_group(storage)
    before = len(storage.appends)
    result = await hb(c, "new", 0)
    assert result.error is E.NONE and result.member_id == "new"
    assert len(storage.appends) == before + 1, "the conversion and the heartbeat's records go in one write"
    written = storage.appends[-1]
    assert isinstance(decode_offsets_key(written[0][0]), GroupKey) and written[0][1] is None
    assert all(decode_key(key) is not None for key, _ in written[1:])
    assert c.group("g") is None, "no classic group any more"
    group = consumer_group(c)
    assert group.group_epoch == 2 and group.target_assignment_epoch == 2
    classic = {m: group.members[m] for m in plan}
    for member_id, member in classic.items():
        assert member.uses_classic_protocol and member.member_epoch == 1
        assert set(member.assigned[T_ID]) == set(plan[member_id])
    # the new member's partition is still held by a classic member: it waits for it
    assert result.assignment == {} and group.members["new"].state is MemberState.UNRELEASED_PARTITIONS
    assert sum(len(t.get(T_ID, ())) for t in group.target.values()) == 3 and len(group.target["new"][T_ID]) == 1
    listing = [(g.group_id, g.group_type) for g in c.list_groups()]
    assert listing == [("g", "consumer")]
    c.close()


async def test_a_rebalancing_classic_groups_parked_joins_are_told_to_rejoin() -> None:
    c, _time, plan = await stable_classic_group(InMemoryCoordinatorLog())
    first, _second = plan
    parked = asyncio.create_task(c.join_group(join_request(first, owned=[0, 1], protocol="range")))
    await settle()
    # the leader's rejoin started a rebalance: its JoinGroup is parked
    assert c.group("g") is not None and c.group("g").state is GroupState.PREPARING_REBALANCE  # type: ignore[union-attr]
    assert (await hb(c, "new", 0)).error is E.NONE
    assert (await parked).error is E.REBALANCE_IN_PROGRESS
    assert consumer_group(c).members[first].uses_classic_protocol
    c.close()


# (policy, consumer group max size) -> the heartbeat's error; the group stays classic
REFUSED = [
    (P.DOWNGRADE, 10, E.GROUP_ID_NOT_FOUND),
    (P.DISABLED, 10, E.GROUP_ID_NOT_FOUND),
    (P.BIDIRECTIONAL, 1, E.GROUP_ID_NOT_FOUND),  # the group is larger than a consumer group may be
    (P.UPGRADE, 2, E.GROUP_MAX_SIZE_REACHED),  # it fits, but not with the joining member
]


@pytest.mark.parametrize(("policy", "max_size", "error"), REFUSED)
async def test_a_refused_upgrade_leaves_the_classic_group_as_it_was(policy: P, max_size: int, error: ErrorCode) -> None:
    storage = CountingLog()
    c, _, plan = await stable_classic_group(storage, policy, consumer_max_size=max_size)
    before = len(storage.appends)
    assert (await hb(c, "new", 0)).error is error
    classic = c.group("g")
    assert classic is not None and set(classic.members) == set(plan) and classic.state is GroupState.STABLE
    assert len(storage.appends) == before
    first = next(iter(plan))
    assert c.heartbeat("g", first, None, 1) is E.NONE
    c.close()


async def test_a_custom_assignor_refuses_the_upgrade_with_kafkas_reason() -> None:
    c, _, _ = await stable_classic_group(InMemoryCoordinatorLog())
    classic = c.group("g")
    assert classic is not None
    classic.protocol_name = "my-assignor"
    result = await hb(c, "new", 0)
    assert result.error is E.GROUP_ID_NOT_FOUND
    assert result.message is not None and "unsupported custom assignor" in result.message
    assert c.group("g") is classic
    c.close()


# ==== classic members inside the consumer group ==================================================================


async def test_cooperative_classic_members_revoke_then_get_their_target() -> None:
    c, _, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    group = consumer_group(c)
    for member_id, had in plan.items():
        # the group epoch moved past the member's: rejoin
        assert c.heartbeat("g", member_id, None, 1) is E.REBALANCE_IN_PROGRESS
        target = set(group.target[member_id][T_ID])
        joined, given = await rejoin(c, member_id, had)
        if set(had) <= target:
            assert joined.generation_id == 2 and given == target
            continue
        # it owns a partition it must give up: its epoch stays, SyncGroup gives what it keeps
        assert joined.generation_id == 1 and given == set(had) & target
        assert group.members[member_id].state is MemberState.UNREVOKED_PARTITIONS
        assert joined.leader == "" and joined.members == [] and joined.protocol_name == "range"
        assert c.heartbeat("g", member_id, None, 1) is E.REBALANCE_IN_PROGRESS
        joined, given = await rejoin(c, member_id, sorted(given))  # revoked
        assert joined.generation_id == 2 and given == target
    result = await hb(c, "new", 2, owned=[])
    assert result.error is E.NONE and result.assignment == group.target["new"]
    assert group.state.value == "Stable"
    assert sorted(owners(c)) == [0, 1, 2]
    for member_id in plan:
        assert c.heartbeat("g", member_id, None, 2) is E.NONE
    c.close()


async def test_an_eager_classic_member_owning_nothing_moves_to_its_target_at_once() -> None:
    c, _, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    group = consumer_group(c)
    first = next(iter(plan))
    joined, given = await rejoin(c, first, owned=[])  # eager: it revoked everything before rejoining
    assert joined.generation_id == 2 and given == set(group.target[first][T_ID])
    c.close()


async def test_a_new_classic_member_joins_the_consumer_group() -> None:
    c, _, _ = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    group = consumer_group(c)
    first = await c.join_group(join_request())
    assert first.error is E.MEMBER_ID_REQUIRED and first.member_id not in group.members
    joined = await c.join_group(join_request(first.member_id))
    assert joined.error is E.NONE and group.group_epoch == 3
    assert group.members[first.member_id].classic_member_metadata is not None
    assert group.members[first.member_id].classic_member_metadata.session_timeout_ms == SESSION_MS  # type: ignore[union-attr]
    # a protocol no classic member shares, another protocol type, a session timeout out of bounds
    assert (await c.join_group(join_request(protocol="roundrobin"))).error is E.INCONSISTENT_GROUP_PROTOCOL
    other = replace(join_request(), protocol_type="connect")
    assert (await c.join_group(other)).error is E.INCONSISTENT_GROUP_PROTOCOL
    short = join_request(first.member_id, session_timeout_ms=10)
    assert (await c.join_group(short)).error is E.INVALID_SESSION_TIMEOUT
    c.close()


async def test_classic_requests_are_checked_as_kafka_checks_them() -> None:
    c, _, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    first = next(iter(plan))
    assert c.heartbeat("g", "stranger", None, 1) is E.UNKNOWN_MEMBER_ID
    assert c.heartbeat("g", "new", None, 2) is E.UNKNOWN_MEMBER_ID, "not a classic member"
    assert c.heartbeat("g", first, None, 7) is E.ILLEGAL_GENERATION
    assert (await c.sync_group("g", 7, first, None, "consumer", "range", [])).error is E.ILLEGAL_GENERATION
    wrong = await c.sync_group("g", 1, first, None, "consumer", "roundrobin", [])
    assert wrong.error is E.INCONSISTENT_GROUP_PROTOCOL
    # the group epoch moved past the member's: it must rejoin before it syncs
    assert (await c.sync_group("g", 1, first, None, "consumer", "range", [])).error is E.REBALANCE_IN_PROGRESS
    c.close()


async def test_classic_members_commit_at_their_generation() -> None:
    c, _, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    first = next(iter(plan))
    entry = [OffsetCommitEntry("t", 0, 5)]
    assert await c.commit_offsets("g", 1, first, None, entry) == [E.NONE]
    # OffsetCommit v9 (GROUP_ID_NOT_FOUND for unknown groups): a classic member is still ILLEGAL_GENERATION
    v9 = E.GROUP_ID_NOT_FOUND
    assert await c.commit_offsets("g", 2, first, None, entry, v9) == [E.ILLEGAL_GENERATION]
    assert await c.commit_offsets("g", 1, "new", None, entry, v9) == [E.STALE_MEMBER_EPOCH]
    c.close()


# ==== timers =====================================================================================================


async def test_classic_members_are_removed_after_their_own_session_timeout() -> None:
    c, time, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    time.advance(SESSION_MS - 1)
    await hb(c, "new", 2, owned=[])
    assert set(plan) <= set(consumer_group(c).members)
    time.advance(2)
    await settle()
    assert set(consumer_group(c).members) == {"new"}, "classic sessions end; the consumer member's (45 s) does not"
    c.close()


async def test_a_classic_member_told_to_rejoin_that_does_not_is_removed_after_its_rebalance_timeout() -> None:
    c, time, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    first, second = plan
    await rejoin(c, second, owned=[])
    for _ in range(REBALANCE_MS // 5000):
        assert c.heartbeat("g", first, None, 1) is E.REBALANCE_IN_PROGRESS
        c.heartbeat("g", second, None, 2)
        await hb(c, "new", 2, owned=[])
        time.advance(5000)
        await settle()
    assert first not in consumer_group(c).members
    assert c.heartbeat("g", first, None, 1) is E.UNKNOWN_MEMBER_ID
    assert second in consumer_group(c).members
    c.close()


async def test_a_classic_member_that_joins_but_does_not_sync_is_removed_after_its_rebalance_timeout() -> None:
    c, time, plan = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    first, _ = plan
    joined = await c.join_group(join_request(first, owned=[]))
    assert joined.error is E.NONE
    for _ in range(REBALANCE_MS // 5000 + 1):
        c.heartbeat("g", first, None, joined.generation_id)
        time.advance(5000)
        await settle()
    assert first not in consumer_group(c).members
    c.close()


# ==== downgrade ==================================================================================================


async def reconciled_mixed_group(
    storage: InMemoryCoordinatorLog, policy: P = P.BIDIRECTIONAL
) -> tuple[GroupCoordinator, MockTime, list[str]]:
    """The upgraded group with every member at epoch 2 (the classic ones rejoined as eager members)."""
    c, time, plan = await stable_classic_group(storage, policy)
    await hb(c, "new", 0)
    for member_id in plan:
        joined, _ = await rejoin(c, member_id, owned=[])
        assert joined.generation_id == 2
    assert (await hb(c, "new", 2, owned=[])).error is E.NONE
    return c, time, list(plan)


async def test_the_last_consumer_member_leaving_downgrades_the_group_which_rebalances() -> None:
    storage = CountingLog()
    c, _time, classic_ids = await reconciled_mixed_group(storage)
    target = {m: set(consumer_group(c).target[m][T_ID]) for m in classic_ids}
    assert (await hb(c, "new", -1)).error is E.NONE
    written = storage.appends[-1]
    assert all(value is None for _, value in written[:-1]) and written[-1][1] is not None
    assert isinstance(decode_offsets_key(written[-1][0]), GroupKey)
    assert c.consumer_group_describe("g").error is E.GROUP_ID_NOT_FOUND
    classic = c.group("g")
    assert isinstance(classic, ClassicGroup)
    assert classic.state is GroupState.PREPARING_REBALANCE and classic.generation_id == 2
    assert set(classic.members) == set(classic_ids) and classic.protocol_name == "range"
    for member_id, member in classic.members.items():
        assert partitions(member.assignment) == target[member_id], "the target assignment, for the record"
        assert member.session_timeout_ms == SESSION_MS
    # the members learn of the rebalance from their heartbeat and rejoin the classic group
    assert c.heartbeat("g", classic_ids[0], None, 2) is E.REBALANCE_IN_PROGRESS
    joins = [asyncio.create_task(c.join_group(join_request(m))) for m in classic_ids]
    results = [await j for j in joins]
    assert [r.error for r in results] == [E.NONE, E.NONE] and {r.generation_id for r in results} == {3}
    assert [(g.group_id, g.group_type) for g in c.list_groups()] == [("g", "classic")]
    c.close()


async def test_a_consumer_member_expiring_downgrades_the_group_too() -> None:
    c, time, classic_ids = await reconciled_mixed_group(InMemoryCoordinatorLog())
    for _ in range(10):  # 50 s: the consumer member's 45 s session ends, the classic members heartbeat
        for member_id in classic_ids:
            c.heartbeat("g", member_id, None, 2)
        time.advance(5000)
        await settle()
    classic = c.group("g")
    assert classic is not None and set(classic.members) == set(classic_ids)
    c.close()


@pytest.mark.parametrize("policy", [P.UPGRADE, P.DISABLED])
async def test_without_downgrade_the_group_stays_a_consumer_group_of_classic_members(policy: P) -> None:
    c, _, classic_ids = await reconciled_mixed_group(InMemoryCoordinatorLog(), P.BIDIRECTIONAL)
    c._shard("g").consumer_groups.config = replace(c.config, consumer_migration_policy=policy)
    assert (await hb(c, "new", -1)).error is E.NONE
    assert c.group("g") is None
    group = consumer_group(c)
    assert set(group.members) == set(classic_ids) and group.group_epoch == 3
    c.close()


async def test_classic_members_leave_with_leave_group() -> None:
    c, _, classic_ids = await reconciled_mixed_group(InMemoryCoordinatorLog())
    first, second = classic_ids
    error, errors = c.leave_group(
        "g", [LeaveMember(first, None), LeaveMember("new", None), LeaveMember("stranger", None)]
    )
    assert error is E.NONE and errors == [E.NONE, E.UNKNOWN_MEMBER_ID, E.UNKNOWN_MEMBER_ID]
    group = consumer_group(c)
    assert set(group.members) == {second, "new"} and group.group_epoch == 3
    c.close()


# ==== reloads ====================================================================================================


async def reload(storage: InMemoryCoordinatorLog) -> tuple[GroupCoordinator, MockTime]:
    time = MockTime()
    c = GroupCoordinator(GroupConfig(), storage, lambda: 1, time, lambda: dict(TOPICS))
    c.on_elected(0, 0)
    await c.wait_loaded()
    return c, time


async def test_a_reload_mid_migration_keeps_the_classic_members_and_their_sessions() -> None:
    storage = InMemoryCoordinatorLog()
    c, _, plan = await stable_classic_group(storage)
    await hb(c, "new", 0)
    first, second = plan
    await rejoin(c, first, plan[first])  # maybe revoking
    before = consumer_group(c)
    await settle()
    c.close()
    c2, time = await reload(storage)
    assert c2.group("g") is None
    group = consumer_group(c2)
    assert group.members == before.members and group.target == before.target
    assert (group.group_epoch, group.target_assignment_epoch) == (before.group_epoch, before.target_assignment_epoch)
    member = group.members[first]
    assert c2.heartbeat("g", first, None, member.member_epoch) is E.REBALANCE_IN_PROGRESS or (
        member.state is MemberState.STABLE and member.member_epoch == 2
    )
    assert c2.heartbeat("g", second, None, 1) is E.REBALANCE_IN_PROGRESS
    time.advance(SESSION_MS + 1)  # nobody heartbeats: the classic sessions end first
    await settle()
    assert set(consumer_group(c2).members) == {"new"}
    c2.close()


async def test_a_reload_after_the_downgrade_is_a_classic_group() -> None:
    storage = InMemoryCoordinatorLog()
    c, _, classic_ids = await reconciled_mixed_group(storage)
    await hb(c, "new", -1)
    await settle()
    c.close()
    c2, _ = await reload(storage)
    assert c2.consumer_group_describe("g").error is E.GROUP_ID_NOT_FOUND
    classic = c2.group("g")
    assert classic is not None and set(classic.members) == set(classic_ids) and classic.generation_id == 2
    assert classic.protocol_name == "range" and classic.state is GroupState.STABLE
    c2.close()


async def test_the_lag_metrics_snapshot_covers_the_group_in_either_form() -> None:
    c, _, plan = await stable_classic_group(InMemoryCoordinatorLog())
    first = next(iter(plan))
    assert await c.commit_offsets("g", 1, first, None, [OffsetCommitEntry("t", 0, 5)]) == [E.NONE]

    def snapshot() -> list[tuple[str, int, dict[tuple[str, int], int]]]:
        return [(g.group, g.members, dict(g.offsets)) for g in c.group_offsets()]

    assert snapshot() == [("g", 2, {("t", 0): 5})]
    await hb(c, "new", 0)
    assert snapshot() == [("g", 3, {("t", 0): 5})], "the consumer group, with its classic members"
    c.close()


async def test_a_static_classic_member_restarting_takes_its_own_place() -> None:
    c, _, _ = await stable_classic_group(InMemoryCoordinatorLog())
    await hb(c, "new", 0)
    group = consumer_group(c)
    joined = await c.join_group(join_request(group_instance_id="i1"))  # no MEMBER_ID_REQUIRED for a static member
    assert joined.error is E.NONE
    old_id = joined.member_id
    epoch = group.group_epoch
    target = group.target[old_id]
    # it restarts: a JoinGroup with no member id and its instance id replaces the old member, no new group epoch
    again = await c.join_group(join_request(group_instance_id="i1"))
    assert again.error is E.NONE and again.member_id != old_id
    assert old_id not in group.members and group.members[again.member_id].instance_id == "i1"
    assert group.group_epoch == epoch and group.target[again.member_id] == target
    # the old incarnation is fenced; another member id with the instance id too
    assert c.heartbeat("g", old_id, "i1", again.generation_id) is E.FENCED_INSTANCE_ID
    assert (await c.join_group(join_request(old_id, group_instance_id="i1"))).error is E.FENCED_INSTANCE_ID
    # an admin removal names the instance only
    error, errors = c.leave_group("g", [LeaveMember("", "i1")])
    assert (error, errors) == (E.NONE, [E.NONE]) and again.member_id not in group.members
    c.close()
