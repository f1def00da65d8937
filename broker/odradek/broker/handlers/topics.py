"""Helpers shared by the topic-facing handlers: describing a topic and auto-creating one."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection

from odradek.broker.group.offsets_topic import OFFSETS_TOPIC
from odradek.broker.handlers.context import BrokerServices
from odradek.broker.handlers.groups import ensure_offsets_topic
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.metadata.image import PartitionImage, TopicImage
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.metadata_response import (
    MetadataResponsePartition,
    MetadataResponseTopic,
)
from odradek.broker.protocol.primitives import UUID_ZERO

# How long auto-creation (Metadata, FindCoordinator) waits for this broker to create the new logs before answering
# with the partitions still LEADER_NOT_AVAILABLE (what Kafka answers for a just auto-created topic).
AUTO_CREATE_WAIT_S = 10.0

Pending = Callable[[str, int], bool]
# The error of a partition whose leader cannot be given to this client (its listener missing on the leader), or NONE.
LeaderCheck = Callable[[int], ErrorCode]


def pending_here(services: BrokerServices) -> Pending | None:
    """Partitions led by this broker whose log is still being created (None: there are none)."""
    manager = services.replica_manager
    if manager is None or not manager.has_pending:
        return None
    return manager.is_pending


def describe_topic(
    topic: TopicImage,
    pending: Pending | None = None,
    leader_check: LeaderCheck | None = None,
    brokers: Collection[int] | None = None,
) -> MetadataResponseTopic:
    """The topic as Metadata describes it; `pending` partitions are LEADER_NOT_AVAILABLE with no leader, and so are
    those whose leader `leader_check` refuses (with its error). With the registered `brokers`, a partition without
    a leader (-1: offline) or whose leader is not registered is LEADER_NOT_AVAILABLE with leader -1, and the
    replicas whose broker is not registered are its `offline_replicas` (Kafka's KRaftMetadataCache)."""
    return MetadataResponseTopic(
        error_code=0,
        name=topic.name,
        topic_id=uuid.UUID(topic.topic_id),
        is_internal=topic.name.startswith("__"),
        partitions=[
            _describe_partition(p, pending, leader_check, brokers) for _, p in sorted(topic.partitions.items())
        ],
    )


def _describe_partition(
    p: PartitionImage, pending: Pending | None, leader_check: LeaderCheck | None, brokers: Collection[int] | None
) -> MetadataResponsePartition:
    error = ErrorCode.LEADER_NOT_AVAILABLE if pending is not None and pending(p.topic, p.partition) else ErrorCode.NONE
    if error == ErrorCode.NONE and brokers is not None and p.leader not in brokers:
        error = ErrorCode.LEADER_NOT_AVAILABLE
    if error == ErrorCode.NONE and leader_check is not None:
        error = leader_check(p.leader)
    return MetadataResponsePartition(
        error_code=error,
        partition_index=p.partition,
        leader_id=-1 if error != ErrorCode.NONE else p.leader,
        leader_epoch=p.leader_epoch,
        replica_nodes=list(p.replicas),
        isr_nodes=list(p.isr),
        offline_replicas=[] if brokers is None else [r for r in p.replicas if r not in brokers],
    )


def error_topic(name: str | None, error: ErrorCode, topic_id: uuid.UUID = UUID_ZERO) -> MetadataResponseTopic:
    return MetadataResponseTopic(error_code=error, name=name, topic_id=topic_id, partitions=[])


async def auto_create(
    services: BrokerServices, name: str, leader_check: LeaderCheck | None = None
) -> MetadataResponseTopic:
    if name == OFFSETS_TOPIC:
        # As Kafka does, the internal topic is created with its own settings, never the defaults.
        await ensure_offsets_topic(services)
        offsets = services.metadata.image.topics.get(name)
        if offsets is None:
            return error_topic(name, ErrorCode.LEADER_NOT_AVAILABLE)
        return describe_topic(offsets, pending_here(services), leader_check, services.metadata.image.brokers)
    config = services.config
    try:
        topic = await services.controller.create_topic(
            name,
            config.get_int("num.partitions"),
            config.get_int("default.replication.factor"),
            {},
            None,
            False,
        )
    except ControllerError as exc:
        if exc.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
            existing = services.metadata.image.topics.get(name)
            if existing is not None:
                return describe_topic(existing, pending_here(services), leader_check, services.metadata.image.brokers)
            return error_topic(name, ErrorCode.LEADER_NOT_AVAILABLE)
        return error_topic(name, ErrorCode(exc.error_code))
    await services.sync_replicas(AUTO_CREATE_WAIT_S)
    current = services.metadata.image.topics.get(name)
    return describe_topic(current or topic, pending_here(services), leader_check, services.metadata.image.brokers)
