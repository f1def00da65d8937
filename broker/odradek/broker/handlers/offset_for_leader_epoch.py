"""OffsetForLeaderEpoch (key 23), v0-4: the end offset of a leader epoch, from the leader-epoch cache (KIP-101/279).

Answers the largest epoch <= the requested one and its end offset (the start offset of the next epoch, or the log
end offset for the latest epoch); UNDEFINED (-1, -1) when the epoch is older than the cache. current_leader_epoch
fences stale leaders (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, KIP-320).
Authorization (KafkaApis.handleOffsetForLeaderEpochRequest): CLUSTER_ACTION on the cluster (a follower) allows
every topic, else DESCRIBE on each; a denied topic's partitions are TOPIC_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.offset_for_leader_epoch_request import OffsetForLeaderEpochRequest
from odradek.broker.protocol.messages.offset_for_leader_epoch_response import (
    EpochEndOffset,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderTopicResult,
)
from odradek.broker.replication.partition import PartitionError

API_KEY = 23
VERSIONS = (0, 4)


async def handle(request: OffsetForLeaderEpochRequest, ctx: RequestContext) -> OffsetForLeaderEpochResponse:
    manager = ctx.services.replica_manager
    topics = []
    names = [t.topic for t in request.topics]
    if ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, log_if_denied=False):
        allowed = set(names)
    else:
        allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
    for topic in request.topics:
        results = []
        for part in topic.partitions:
            result = EpochEndOffset(partition=part.partition)
            if topic.topic not in allowed:
                result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                results.append(result)
                continue
            try:
                result.leader_epoch, result.end_offset = manager.end_offset_for_epoch(
                    topic.topic, part.partition, part.current_leader_epoch, part.leader_epoch
                )
            except PartitionError as exc:
                result.error_code = exc.error_code
            results.append(result)
        topics.append(OffsetForLeaderTopicResult(topic=topic.topic, partitions=results))
    return OffsetForLeaderEpochResponse(topics=topics)
