"""OffsetDelete (key 47), v0: remove committed offsets of a group (KIP-496).

GROUP_ID_NOT_FOUND for an unknown group; per partition GROUP_SUBSCRIBED_TO_TOPIC while a live consumer group
reads the topic; NON_EMPTY_GROUP for a live group of another protocol type.
Authorization (KafkaApis.handleOffsetDeleteRequest): DELETE on the group, else GROUP_AUTHORIZATION_FAILED for the
whole request; READ on each topic, else its partitions are TOPIC_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.offset_delete_request import OffsetDeleteRequest
from odradek.broker.protocol.messages.offset_delete_response import (
    OffsetDeleteResponse,
    OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
)

API_KEY = 47
VERSIONS = (0, 0)


async def handle(request: OffsetDeleteRequest, ctx: RequestContext) -> OffsetDeleteResponse:
    if not ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, request.group_id):
        return OffsetDeleteResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    image = ctx.services.metadata.image
    readable = ctx.authorized(AclOperation.READ, ResourceType.TOPIC, [t.name for t in request.topics])
    wanted: list[tuple[str, int]] = []
    refused: dict[tuple[str, int], ErrorCode] = {}
    for topic in request.topics:
        known = image.topics.get(topic.name)
        for part in topic.partitions:
            key = (topic.name, part.partition_index)
            if topic.name not in readable:
                refused[key] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif known is None or part.partition_index not in known.partitions:
                refused[key] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                wanted.append(key)
    error, errors = await coordinator(ctx).delete_offsets(request.group_id, wanted)
    if error != ErrorCode.NONE:
        return OffsetDeleteResponse(error_code=error)
    by_key = dict(zip(wanted, errors, strict=True))
    return OffsetDeleteResponse(
        topics=[
            OffsetDeleteResponseTopic(
                name=topic.name,
                partitions=[
                    OffsetDeleteResponsePartition(
                        partition_index=p.partition_index,
                        error_code=refused.get((topic.name, p.partition_index))
                        or by_key[(topic.name, p.partition_index)],
                    )
                    for p in topic.partitions
                ],
            )
            for topic in request.topics
        ]
    )
