"""Replication policies and the cycle walk, as Kafka's DefaultReplicationPolicy / IdentityReplicationPolicy tests."""

from __future__ import annotations

import pytest
from odradek.mirror.policy import (
    DefaultReplicationPolicy,
    IdentityReplicationPolicy,
    is_cycle,
    policy_class,
    replication_policy,
)


def test_default_policy_names() -> None:
    p = DefaultReplicationPolicy()
    assert p.format_remote_topic("A", "orders") == "A.orders"
    assert p.topic_source("A.orders") == "A"
    assert p.upstream_topic("A.orders") == "orders"
    assert p.topic_source("B.A.orders") == "B"
    assert p.upstream_topic("B.A.orders") == "A.orders"
    assert p.original_topic("B.A.orders") == "orders"
    assert p.topic_source("orders") is None
    assert p.upstream_topic("orders") is None
    assert p.topic_source("A.") is None  # Java's split drops the trailing empty part


def test_default_policy_internal_topics() -> None:
    p = DefaultReplicationPolicy()
    assert p.heartbeats_topic() == "heartbeats"
    assert p.offset_syncs_topic("A") == "mm2-offset-syncs.A.internal"
    assert p.checkpoints_topic("A") == "A.checkpoints.internal"
    assert p.is_checkpoints_topic("A.checkpoints.internal")
    assert p.is_heartbeats_topic("heartbeats") and p.is_heartbeats_topic("B.A.heartbeats")
    for internal in ("__consumer_offsets", ".hidden", "connect-offsets-internal", "mm2-offset-syncs.A.internal"):
        assert p.is_internal_topic(internal), internal
    assert not p.is_internal_topic("orders")


def test_custom_separator_applies_to_internal_topics_unless_disabled() -> None:
    p = replication_policy({"replication.policy.separator": "_"})
    assert p.format_remote_topic("A", "orders") == "A_orders"
    assert p.topic_source("A_orders") == "A"
    assert p.offset_syncs_topic("A") == "mm2-offset-syncs_A_internal"
    assert p.checkpoints_topic("A") == "A_checkpoints_internal"
    q = replication_policy(
        {"replication.policy.separator": "_", "replication.policy.internal.topic.separator.enabled": "false"}
    )
    assert q.offset_syncs_topic("A") == "mm2-offset-syncs.A.internal"
    assert q.checkpoints_topic("A") == "A.checkpoints.internal"


def test_identity_policy_keeps_names_but_prefixes_heartbeats() -> None:
    p = replication_policy(
        {
            "replication.policy.class": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
            "source.cluster.alias": "A",
        }
    )
    assert isinstance(p, IdentityReplicationPolicy)
    assert p.format_remote_topic("A", "orders") == "orders"
    assert p.topic_source("orders") == "A"
    assert p.upstream_topic("orders") == "orders"
    assert p.format_remote_topic("A", "heartbeats") == "A.heartbeats"
    assert p.topic_source("A.heartbeats") == "A"
    assert p.original_topic("orders") == "orders"


def test_policy_class_names() -> None:
    assert policy_class("org.apache.kafka.connect.mirror.DefaultReplicationPolicy") is DefaultReplicationPolicy
    assert policy_class("IdentityReplicationPolicy") is IdentityReplicationPolicy
    assert policy_class("odradek.mirror.policy.IdentityReplicationPolicy") is IdentityReplicationPolicy
    with pytest.raises(ValueError, match=r"replication\.policy\.class"):
        policy_class("com.example.Nope")


@pytest.mark.parametrize(
    ("target", "topic", "cycle"),
    [
        ("A", "orders", False),
        ("A", "A.orders", True),  # B's copy of A's topic must not go back to A
        ("A", "C.A.orders", True),  # two hops away, still A's
        ("A", "C.orders", False),
        ("B", "A.orders", False),
        ("A", "C.D.orders", False),
    ],
)
def test_cycle_walk(target: str, topic: str, cycle: bool) -> None:
    assert is_cycle(DefaultReplicationPolicy(), target, topic) is cycle


def test_identity_policy_cannot_see_cycles_but_walk_terminates() -> None:
    p = IdentityReplicationPolicy("B")
    assert is_cycle(p, "A", "orders") is False  # source B != A, upstream == topic: walk stops
    assert is_cycle(p, "B", "orders") is True
