"""ConsumerGroupHeartbeat (key 68), v0-1: the KIP-848 consumer protocol (GroupCoordinator.consumer_group_heartbeat).

Join (epoch 0), heartbeat, leave (-1; -2 for a static member). Answered at once with the member's epoch, the
heartbeat interval and, when it changed, the member's assignment (topic ids and partitions). v1 adds the
SubscribedTopicRegex field; a regex in v0 does not exist on the wire.

Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

import uuid

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.consumer_group_manager import ConsumerHeartbeat
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.consumer_group_heartbeat_request import ConsumerGroupHeartbeatRequest
from odradek.broker.protocol.messages.consumer_group_heartbeat_response import (
    Assignment,
    ConsumerGroupHeartbeatResponse,
    TopicPartitions,
)

API_KEY = 68
VERSIONS = (0, 1)


async def handle(request: ConsumerGroupHeartbeatRequest, ctx: RequestContext) -> ConsumerGroupHeartbeatResponse:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return ConsumerGroupHeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    owned = None
    if request.topic_partitions is not None:
        owned = {str(tp.topic_id): frozenset(tp.partitions) for tp in request.topic_partitions if tp.partitions}
    result = await coordinator(ctx).consumer_group_heartbeat(
        ConsumerHeartbeat(
            group_id=request.group_id,
            member_id=request.member_id,
            member_epoch=request.member_epoch,
            instance_id=request.instance_id,
            rack_id=request.rack_id,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            subscribed_topic_names=tuple(request.subscribed_topic_names)
            if request.subscribed_topic_names is not None
            else None,
            subscribed_topic_regex=request.subscribed_topic_regex if ctx.version >= 1 else None,
            server_assignor=request.server_assignor,
            owned=owned,
            client_id=ctx.client_id or "",
            client_host=ctx.client_host,
            version=ctx.version,
        )
    )
    if result.error is not ErrorCode.NONE:
        return ConsumerGroupHeartbeatResponse(error_code=result.error, error_message=result.message)
    assignment = None
    if result.assignment is not None:
        assignment = Assignment(
            topic_partitions=[
                TopicPartitions(topic_id=uuid.UUID(topic), partitions=sorted(parts))
                for topic, parts in sorted(result.assignment.items())
            ]
        )
    return ConsumerGroupHeartbeatResponse(
        error_code=ErrorCode.NONE,
        member_id=result.member_id,
        member_epoch=result.member_epoch,
        heartbeat_interval_ms=result.heartbeat_interval_ms,
        assignment=assignment,
    )
