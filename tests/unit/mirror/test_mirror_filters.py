"""Topic and group filters with Kafka's defaults (DefaultTopicFilter, DefaultGroupFilter)."""

from __future__ import annotations

import pytest
from odradek.mirror.filters import config_property_filter, group_filter, topic_filter


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("orders", True),
        ("mm2-offset-syncs.B.internal", False),
        ("connect-offsets-internal", False),
        ("orders.replica", False),
        ("__consumer_offsets", False),
        ("internalish", True),
    ],
)
def test_default_topic_filter(name: str, accepted: bool) -> None:
    assert topic_filter({}).accepts(name) is accepted


def test_topic_lists_match_whole_names() -> None:
    f = topic_filter({"topics": "orders, pay.*", "topics.exclude": "payroll"})
    assert f.accepts("orders") and f.accepts("payments")
    assert not f.accepts("orders2") and not f.accepts("payroll") and not f.accepts("xorders")


def test_default_group_filter() -> None:
    f = group_filter({})
    assert f.accepts("billing")
    for excluded in ("console-consumer-123", "connect-sink", "__internal"):
        assert not f.accepts(excluded)
    assert not group_filter({"groups": ""}).accepts("billing")


def test_config_property_exclusions() -> None:
    f = config_property_filter({})
    assert f.accepts("retention.ms") and f.accepts("cleanup.policy")
    assert not f.accepts("min.insync.replicas") and not f.accepts("message.timestamp.type")
