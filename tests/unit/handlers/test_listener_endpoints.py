"""Metadata, DescribeCluster and FindCoordinator answer with the endpoints of the listener the request came in on
(Kafka's MetadataCache.getAliveBrokerNodes(listenerName)): a client of each listener sees its own listener's
host:port, a broker without that listener is left out, and a partition it leads has no leader (LISTENER_NOT_FOUND
from Metadata v6, LEADER_NOT_AVAILABLE before)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from types import SimpleNamespace
from typing import Any

import pytest
from odradek.broker.auth.authorizer import AllowEverythingAuthorizer
from odradek.broker.config.broker import build
from odradek.broker.handlers import describe_cluster, find_coordinator, metadata
from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.departed_brokers import DEPARTED_LINGER_MS, DepartedBrokers
from odradek.broker.metadata.image import (
    BrokerImage,
    Endpoint,
    MetadataDelta,
    MetadataImage,
    PartitionImage,
    TopicImage,
)
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.headers import RequestHeader
from odradek.broker.protocol.messages.describe_cluster_request import DescribeClusterRequest
from odradek.broker.protocol.messages.find_coordinator_request import FindCoordinatorRequest
from odradek.broker.protocol.messages.metadata_request import MetadataRequest
from odradek.broker.utils.time import MockTime

BOTH = BrokerImage(
    1, "10.0.0.1", 9092, None, (Endpoint("CLIENT", "c1.example", 19092), Endpoint("INTERNAL", "i1.example", 29092))
)
INTERNAL_ONLY = BrokerImage(2, "10.0.0.2", 9092, None, (Endpoint("INTERNAL", "i2.example", 29093),))
LEGACY = BrokerImage(3, "10.0.0.3", 9094)  # registered without listeners: reachable at host:port on any listener


def _topic(name: str, leaders: list[int]) -> TopicImage:
    parts = {p: PartitionImage(name, p, (leader,), leader, 0, (leader,)) for p, leader in enumerate(leaders)}
    return TopicImage(name, str(uuid.uuid4()), len(leaders), {}, parts)


def services(
    brokers: tuple[BrokerImage, ...] = (BOTH, INTERNAL_ONLY, LEGACY), departed: DepartedBrokers | None = None
) -> Any:
    topics = {"t": _topic("t", [1, 2, 3]), "__consumer_offsets": _topic("__consumer_offsets", [1, 2])}
    image = MetadataImage(1, "cluster", {b.broker_id: b for b in brokers}, topics)
    coordinator = SimpleNamespace(partition_for=lambda group: 0 if group == "on-1" else 1)
    return SimpleNamespace(
        node_id=1,
        controller_id=1,
        config=build([]),
        metadata=SimpleNamespace(image=image),
        authorizer=AllowEverythingAuthorizer(),
        group_coordinator=coordinator,
        replica_manager=None,
        departed_brokers=DepartedBrokers(MockTime()) if departed is None else departed,
    )


def context(api_key: int, version: int, listener: str, svc: Any = None) -> RequestContext:
    svc = services() if svc is None else svc
    return RequestContext(RequestHeader(api_key, version, 1, "c"), "127.0.0.1", 1, listener, svc)


def run(result: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(result, 10))


@pytest.mark.parametrize(
    ("listener", "expected"),
    [
        ("CLIENT", [(1, "c1.example", 19092), (3, "10.0.0.3", 9094)]),
        ("INTERNAL", [(1, "i1.example", 29092), (2, "i2.example", 29093), (3, "10.0.0.3", 9094)]),
    ],
)
def test_metadata_brokers_are_those_of_the_request_listener(listener: str, expected: list[Any]) -> None:
    response = run(metadata.handle(MetadataRequest(topics=None), context(3, 12, listener)))
    assert [(b.node_id, b.host, b.port) for b in response.brokers] == expected


@pytest.mark.parametrize(
    ("version", "error"), [(12, ErrorCode.LISTENER_NOT_FOUND), (5, ErrorCode.LEADER_NOT_AVAILABLE)]
)
def test_a_leader_without_the_listener_is_no_leader(version: int, error: ErrorCode) -> None:
    response = run(metadata.handle(MetadataRequest(topics=None), context(3, version, "CLIENT")))
    partitions = next(t for t in response.topics if t.name == "t").partitions
    assert [(p.partition_index, p.error_code, p.leader_id) for p in partitions] == [
        (0, ErrorCode.NONE, 1),
        (1, error, -1),
        (2, ErrorCode.NONE, 3),
    ]
    assert partitions[1].replica_nodes == [2]
    internal = run(metadata.handle(MetadataRequest(topics=None), context(3, version, "INTERNAL")))
    assert all(p.error_code == ErrorCode.NONE for t in internal.topics for p in t.partitions)


@pytest.mark.parametrize("listener", ["CLIENT", "INTERNAL"])
def test_describe_cluster_brokers_are_those_of_the_request_listener(listener: str) -> None:
    response = run(describe_cluster.handle(DescribeClusterRequest(), context(60, 1, listener)))
    hosts = [(b.broker_id, b.host, b.port) for b in response.brokers]
    assert hosts == (
        [(1, "c1.example", 19092), (3, "10.0.0.3", 9094)]
        if listener == "CLIENT"
        else [(1, "i1.example", 29092), (2, "i2.example", 29093), (3, "10.0.0.3", 9094)]
    )


def test_find_coordinator_answers_with_the_request_listener() -> None:
    request = FindCoordinatorRequest(key_type=0, coordinator_keys=["on-1", "on-2"])
    client = run(find_coordinator.handle(request, context(10, 4, "CLIENT"))).coordinators
    assert [(c.error_code, c.node_id, c.host, c.port) for c in client] == [
        (ErrorCode.NONE, 1, "c1.example", 19092),
        (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1),  # broker 2 has no CLIENT listener
    ]
    internal = run(find_coordinator.handle(request, context(10, 4, "INTERNAL"))).coordinators
    assert [(c.node_id, c.host, c.port) for c in internal] == [(1, "i1.example", 29092), (2, "i2.example", 29093)]
    legacy = run(find_coordinator.handle(FindCoordinatorRequest(key="on-1"), context(10, 2, "INTERNAL")))
    assert (legacy.host, legacy.port) == ("i1.example", 29092)


def test_a_broker_that_just_left_the_image_is_listed_in_metadata_for_the_linger_only() -> None:
    """metadata/departed_brokers.py: a broker whose registration expired stays among Metadata's brokers (with the
    endpoint of the request's listener) for DEPARTED_LINGER_MS, so clients see the new leaders before it goes;
    its partitions are leaderless meanwhile, as the image says."""
    clock = MockTime()
    departed = DepartedBrokers(clock)
    before = services().metadata.image
    svc = services((BOTH, LEGACY), departed)
    after = svc.metadata.image
    departed.on_image(after, MetadataDelta(before, after, frozenset(), frozenset({2})))

    def listed() -> list[Any]:
        response = run(metadata.handle(MetadataRequest(topics=None), context(3, 12, "INTERNAL", svc)))
        partitions = next(t for t in response.topics if t.name == "t").partitions
        assert partitions[1].leader_id == -1, "the departed broker leads nothing"
        return [(b.node_id, b.host, b.port) for b in response.brokers]

    lingering = [(1, "i1.example", 29092), (2, "i2.example", 29093), (3, "10.0.0.3", 9094)]
    assert listed() == lingering
    clock.advance(DEPARTED_LINGER_MS - 1)
    assert listed() == lingering
    clock.advance(1)
    assert listed() == [(1, "i1.example", 29092), (3, "10.0.0.3", 9094)]


def test_a_departed_broker_that_registers_again_is_listed_once_as_registered() -> None:
    clock = MockTime()
    departed = DepartedBrokers(clock)
    full = services().metadata.image
    without = services((BOTH, LEGACY)).metadata.image
    departed.on_image(without, MetadataDelta(full, without, frozenset(), frozenset({2})))
    moved = BrokerImage(2, "10.0.0.9", 9092, None, (Endpoint("INTERNAL", "moved.example", 29099),))
    back = services((BOTH, moved, LEGACY)).metadata.image
    departed.on_image(back, MetadataDelta(without, back, frozenset(), frozenset({2})))
    assert [b.host for b in departed.listed(back)] == ["10.0.0.1", "10.0.0.9", "10.0.0.3"]
    assert [b.broker_id for b in departed.listed(without)] == [1, 3], "no longer remembered as departed"
