"""Helpers shared by the group handlers: the coordinator, and creating `__consumer_offsets` on first use.

Kafka creates `__consumer_offsets` when a client first looks for a group coordinator: `offsets.topic.num.partitions`
partitions, replication factor `offsets.topic.replication.factor` capped at the live brokers, compacted, with
`offsets.topic.segment.bytes` segments and `compression.type=producer`.
"""

from __future__ import annotations

from odradek.broker.group.coordinator import GroupCoordinator
from odradek.broker.group.offsets_topic import OFFSETS_TOPIC
from odradek.broker.handlers.context import BrokerServices, RequestContext
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.metadata.image import PartitionImage
from odradek.broker.protocol.errors import ErrorCode

# How long creating __consumer_offsets waits for this broker to create its logs (clients retry a coordinator that
# is still loading).
OFFSETS_TOPIC_WAIT_S = 10.0


def coordinator(ctx: RequestContext) -> GroupCoordinator:
    return ctx.services.group_coordinator


async def ensure_offsets_topic(services: BrokerServices) -> ErrorCode:
    """Create __consumer_offsets if it does not exist yet; NONE once it exists."""
    if OFFSETS_TOPIC in services.metadata.image.topics:
        return ErrorCode.NONE
    config = services.config
    brokers = await services.controller.live_brokers()
    factor = min(config.get_int("offsets.topic.replication.factor"), max(len(brokers), 1))
    configs = {
        "cleanup.policy": "compact",
        "compression.type": "producer",
        "segment.bytes": str(config.get_int("offsets.topic.segment.bytes")),
    }
    try:
        await services.controller.create_topic(
            OFFSETS_TOPIC, config.get_int("offsets.topic.num.partitions"), factor, configs, None, False
        )
    except ControllerError as exc:
        if exc.error_code != ErrorCode.TOPIC_ALREADY_EXISTS:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
    await services.sync_replicas(OFFSETS_TOPIC_WAIT_S)
    return ErrorCode.NONE if OFFSETS_TOPIC in services.metadata.image.topics else ErrorCode.COORDINATOR_NOT_AVAILABLE


def coordinator_partition(services: BrokerServices, group_id: str) -> PartitionImage | None:
    topic = services.metadata.image.topics.get(OFFSETS_TOPIC)
    if topic is None or not topic.partitions:
        return None
    return topic.partitions.get(services.group_coordinator.partition_for(group_id))
