"""Helpers shared by the topic-facing handlers: describing a topic and auto-creating one."""

from __future__ import annotations

import uuid

from odradek.broker.group.offsets_topic import OFFSETS_TOPIC
from odradek.broker.handlers.context import BrokerServices
from odradek.broker.handlers.groups import ensure_offsets_topic
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.metadata.image import TopicImage
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.metadata_response import (
    MetadataResponsePartition,
    MetadataResponseTopic,
)
from odradek.broker.protocol.primitives import UUID_ZERO


def describe_topic(topic: TopicImage) -> MetadataResponseTopic:
    return MetadataResponseTopic(
        error_code=0,
        name=topic.name,
        topic_id=uuid.UUID(topic.topic_id),
        is_internal=topic.name.startswith("__"),
        partitions=[
            MetadataResponsePartition(
                error_code=0,
                partition_index=p.partition,
                leader_id=p.leader,
                leader_epoch=p.leader_epoch,
                replica_nodes=list(p.replicas),
                isr_nodes=list(p.isr),
                offline_replicas=[],
            )
            for _, p in sorted(topic.partitions.items())
        ],
    )


def error_topic(name: str | None, error: ErrorCode, topic_id: uuid.UUID = UUID_ZERO) -> MetadataResponseTopic:
    return MetadataResponseTopic(error_code=error, name=name, topic_id=topic_id, partitions=[])


async def auto_create(services: BrokerServices, name: str) -> MetadataResponseTopic:
    if name == OFFSETS_TOPIC:
        # As Kafka does, the internal topic is created with its own settings, never the defaults.
        await ensure_offsets_topic(services)
        offsets = services.metadata.image.topics.get(name)
        return describe_topic(offsets) if offsets is not None else error_topic(name, ErrorCode.LEADER_NOT_AVAILABLE)
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
                return describe_topic(existing)
            return error_topic(name, ErrorCode.LEADER_NOT_AVAILABLE)
        return error_topic(name, ErrorCode(exc.error_code))
    await services.sync_metadata()
    current = services.metadata.image.topics.get(name)
    return describe_topic(current or topic)
