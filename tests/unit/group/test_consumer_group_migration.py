"""The protocol migration of a group (issue 15 item 3, Kafka's `group.consumer.migration.policy`): the refusals. A
ConsumerGroupHeartbeat into a non-empty classic group that may not be upgraded is refused with GROUP_ID_NOT_FOUND
and the reason of Kafka's validateOnlineUpgrade, in its order (policy, embedded protocol, size). The member
metadata record carries Kafka's ClassicMemberMetadata tag, so a converted group's classic members survive a
reload. The online upgrade and downgrade themselves: test_consumer_group_online_migration.py.

The real GroupCoordinator on an in-memory __consumer_offsets and a MockTime.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from dataclasses import replace

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.group.config import ConsumerGroupMigrationPolicy as P
from odradek.broker.group.consumer_group import ClassicMemberMetadata, ConsumerGroupMember
from odradek.broker.group.consumer_group_manager import ConsumerHeartbeat
from odradek.broker.group.consumer_group_records import decode_member_metadata, encode_member_metadata
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator, JoinRequest
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime

pytestmark = pytest.mark.timeout(30)

E = ErrorCode
PREFIX = "Cannot upgrade classic group g to consumer group because"


def subscription() -> bytes:
    """ConsumerProtocolSubscription v1: topics ["t"], no user data, no owned partitions."""
    return struct.pack(">hih", 1, 1, 1) + b"t" + struct.pack(">ii", -1, 0)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def classic_group(
    policy: P, protocol_type: str, members: int, max_size: int = 2**31 - 1
) -> tuple[GroupCoordinator, MockTime]:
    """A coordinator holding classic group "g" with `members` members joined (generation 1)."""
    time = MockTime()
    config = GroupConfig(consumer_migration_policy=policy, consumer_max_size=max_size)
    c = GroupCoordinator(config, InMemoryCoordinatorLog(), lambda: 1, time, lambda: {"t": ("00" * 16, 3)})
    c.on_elected(0, 0)
    await c.wait_loaded()
    tasks = []
    for i in range(members):
        request = JoinRequest(
            "g", "", None, f"c{i}", "/127.0.0.1", 10_000, 30_000, protocol_type, [("range", subscription())]
        )
        first = await c.join_group(request)
        assert first.error is E.MEMBER_ID_REQUIRED
        tasks.append(asyncio.create_task(c.join_group(replace(request, member_id=first.member_id))))
    await settle()
    time.advance(10_000)  # the initial rebalance delay ends
    await settle()
    for task in tasks:
        assert (await task).error is E.NONE
    return c, time


async def heartbeat_join(c: GroupCoordinator) -> tuple[ErrorCode, str | None]:
    result = await c.consumer_group_heartbeat(
        ConsumerHeartbeat("g", "new", 0, rebalance_timeout_ms=30_000, subscribed_topic_names=("t",))
    )
    return result.error, result.message


# (policy, protocol type, members, consumer group max size) -> the refusal's reason
REFUSALS = [
    (P.DISABLED, "consumer", 1, 10, f"{PREFIX} online upgrade is disabled."),
    (P.DOWNGRADE, "consumer", 1, 10, f"{PREFIX} online upgrade is disabled."),
    (P.DISABLED, "connect", 1, 10, f"{PREFIX} online upgrade is disabled."),  # the policy is checked first
    (P.UPGRADE, "connect", 1, 10, f"{PREFIX} the group does not use the consumer embedded protocol."),
    (P.BIDIRECTIONAL, "connect", 1, 10, f"{PREFIX} the group does not use the consumer embedded protocol."),
    (P.BIDIRECTIONAL, "consumer", 2, 1, f"{PREFIX} the group size exceeds the consumer group maximum size."),
]


@pytest.mark.parametrize(("policy", "protocol_type", "members", "max_size", "reason"), REFUSALS)
async def test_a_heartbeat_into_a_non_empty_classic_group_is_refused_with_kafkas_reason(
    policy: P, protocol_type: str, members: int, max_size: int, reason: str
) -> None:
    c, _ = await classic_group(policy, protocol_type, members, max_size)
    assert await heartbeat_join(c) == (E.GROUP_ID_NOT_FOUND, reason)
    group = c.group("g")
    assert group is not None and len(group.members) == members, "the classic group is left as it was"
    c.close()


# policy -> (upgrade enabled, downgrade enabled), as Kafka's ConsumerGroupMigrationPolicy
POLICIES = [
    ("bidirectional", True, True),
    ("UPGRADE", True, False),
    ("Downgrade", False, True),
    (" disabled ", False, False),
]


@pytest.mark.parametrize(("text", "upgrade", "downgrade"), POLICIES)
def test_policy_names_and_what_they_allow(text: str, upgrade: bool, downgrade: bool) -> None:
    policy = P.parse(text)
    assert (policy.upgrade_enabled, policy.downgrade_enabled) == (upgrade, downgrade)


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match=r"migration\.policy"):
        P.parse("sideways")
    assert GroupConfig().consumer_migration_policy is P.BIDIRECTIONAL  # Kafka 4.0's default


def test_classic_member_metadata_round_trips_in_the_member_record() -> None:
    classic = ClassicMemberMetadata(45_000, (("range", subscription()), ("cooperative-sticky", b"\x00\x01")))
    member = ConsumerGroupMember(
        "m", client_id="c", client_host="/h", subscribed_topic_names=("t",), classic_member_metadata=classic
    )
    value = encode_member_metadata(member)
    # the tag section: one field, tag 0, then SessionTimeoutMs first
    plain = encode_member_metadata(member.with_changes(classic_member_metadata=None))
    assert plain.endswith(b"\x00") and value[: len(plain) - 1] == plain[:-1]
    assert value[len(plain) - 1 : len(plain) + 1] == b"\x01\x00"
    decoded = decode_member_metadata(ConsumerGroupMember("m"), value)
    assert decoded == member and decoded.uses_classic_protocol
    assert not decode_member_metadata(ConsumerGroupMember("m"), plain).uses_classic_protocol


def test_unknown_tags_of_the_member_record_are_skipped() -> None:
    member = ConsumerGroupMember("m", client_id="c", client_host="/h", subscribed_topic_names=("t",))
    plain = encode_member_metadata(member)
    # a later Kafka's tags 6 and 7 (opaque bytes) at the end of the value
    with_unknown = plain[:-1] + b"\x02\x06\x03abc\x07\x02xy"
    assert decode_member_metadata(ConsumerGroupMember("m"), with_unknown) == member


# ==== the conversion of a stable classic group ===================================================================

T_ID = str(uuid.UUID(int=7))
TOPICS = {"t": (T_ID, 3)}


def assignment(partitions: list[int], topic: str = "t") -> bytes:
    """ConsumerProtocolAssignment v0: [(topic, [partitions])], no user data."""
    body = struct.pack(">hih", 0, 1, len(topic)) + topic.encode() + struct.pack(">i", len(partitions))
    return body + b"".join(struct.pack(">i", p) for p in partitions) + struct.pack(">i", -1)


def _with_missing_topic(partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0 with "t" and a topic the cluster does not have."""
    parts = b"".join(struct.pack(">i", p) for p in partitions)
    body = struct.pack(">hih", 0, 2, 1) + b"t" + struct.pack(">i", len(partitions)) + parts
    body += struct.pack(">h", 4) + b"gone" + struct.pack(">ii", 1, 0)
    return body + struct.pack(">i", -1)


async def stable_classic_group(
    storage: InMemoryCoordinatorLog, assignor: str = "range"
) -> tuple[GroupCoordinator, dict[str, list[int]]]:
    """Two members joined and synced: generation 1, the leader gave partitions 0-1 and 2 (plus a topic that does
    not exist, which the conversion drops)."""
    time = MockTime()
    c = GroupCoordinator(GroupConfig(), storage, lambda: 1, time, lambda: dict(TOPICS))
    c.on_elected(0, 0)
    await c.wait_loaded()
    tasks = []
    for i in range(2):
        request = JoinRequest(
            "g", "", None, f"c{i}", "/h", 10_000 + i, 30_000, "consumer", [(assignor, subscription())]
        )
        first = await c.join_group(request)
        tasks.append(asyncio.create_task(c.join_group(replace(request, member_id=first.member_id))))
    await settle()
    time.advance(10_000)
    await settle()
    joined = [await t for t in tasks]
    ids = sorted(j.member_id for j in joined)
    plan = {ids[0]: [0, 1], ids[1]: [2]}
    given = [(m, assignment(p)) for m, p in plan.items()]
    given[0] = (ids[0], _with_missing_topic(plan[ids[0]]))
    leader = next(j for j in joined if j.member_id == j.leader)
    syncs = [
        asyncio.create_task(
            c.sync_group("g", j.generation_id, j.member_id, None, "consumer", assignor, given if j is leader else [])
        )
        for j in joined
    ]
    for sync in syncs:
        assert (await sync).error is E.NONE
    return c, plan


async def test_a_stable_classic_group_converts_with_its_members_as_classic_members_and_reloads() -> None:
    from odradek.broker.group.consumer_group_conversion import consumer_group_from_classic

    storage = InMemoryCoordinatorLog()
    c, plan = await stable_classic_group(storage)
    classic = c.group("g")
    assert classic is not None and classic.generation_id == 1
    group, records = consumer_group_from_classic(classic, TOPICS)
    assert (group.group_epoch, group.target_assignment_epoch) == (1, 1)
    assert {m: set(member.assigned.get(T_ID, ())) for m, member in group.members.items()} == {
        m: set(p) for m, p in plan.items()
    }
    for member in group.members.values():
        assert member.uses_classic_protocol and member.subscribed_topic_names == ("t",)
        assert (member.member_epoch, member.previous_member_epoch) == (1, 1)
        assert member.classic_member_metadata is not None
        assert member.classic_member_metadata.session_timeout_ms in (10_000, 10_001)
        assert group.target[member.member_id] == member.assigned
    assert group.state.value == "Stable"
    assert records[0][1] is None, "the classic group's record is replaced by a tombstone first"
    c.close()
    # written to __consumer_offsets, the records reload as the consumer group (and no classic group)
    await storage.append(0, records)
    c2 = GroupCoordinator(GroupConfig(), storage, lambda: 1, MockTime(), lambda: dict(TOPICS))
    c2.on_elected(0, 0)
    await c2.wait_loaded()
    assert c2.group("g") is None
    loaded = c2._shard("g").consumer_groups.groups["g"]
    assert loaded.members == group.members and loaded.target == group.target
    assert (loaded.group_epoch, loaded.target_assignment_epoch) == (1, 1)
    assert loaded.owner == group.owner
    c2.close()


async def test_a_custom_assignor_or_another_protocol_type_is_not_converted() -> None:
    from odradek.broker.group.consumer_group_conversion import ConversionError, consumer_group_from_classic

    c, _ = await stable_classic_group(InMemoryCoordinatorLog(), assignor="my-assignor")
    classic = c.group("g")
    assert classic is not None
    with pytest.raises(ConversionError, match="custom assignor"):
        consumer_group_from_classic(classic, TOPICS)
    classic.protocol_type = "connect"
    with pytest.raises(ConversionError, match="embedded protocol"):
        consumer_group_from_classic(classic, TOPICS)
    c.close()


def test_the_policy_key_is_a_broker_config_with_kafkas_values() -> None:
    from odradek.broker.config.broker import build
    from odradek.broker.config.definitions import ConfigError

    assert build([{}]).get_str("group.consumer.migration.policy") == "bidirectional"
    for text in ("UPGRADE", "downgrade", "Disabled", "bidirectional"):
        assert P.parse(
            build([{"group.consumer.migration.policy": text}]).get_str("group.consumer.migration.policy") or ""
        )
    with pytest.raises(ConfigError, match=r"group\.consumer\.migration\.policy"):
        build([{"group.consumer.migration.policy": "sideways"}])
