"""ListOffsets (key 2), v0-10: earliest (-2), latest (-1), max timestamp (-3), by timestamp (time index).

isolation_level 1 (read_committed) answers latest with the last stable offset. -4 (earliest local) is the
earliest offset (no tiered storage); -5 (latest tiered) answers offset -1, as Kafka does without remote storage.
Authorization: DESCRIBE on the topic, else TOPIC_AUTHORIZATION_FAILED for each of its partitions.
v0 answers in `old_style_offsets`, at most `max_num_offsets` of them: the one offset the lookup gives (what
sarama, Burrow and kafka-python ask for, with max_num_offsets 1). Kafka's legacy lookup (UnifiedLog's
legacyFetchOffsetsBefore) can also list older segment base offsets when more are asked for, found by segment
modification times; not here.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.list_offsets_request import ListOffsetsRequest
from odradek.broker.protocol.messages.list_offsets_response import (
    ListOffsetsPartitionResponse,
    ListOffsetsResponse,
    ListOffsetsTopicResponse,
)
from odradek.broker.replication.partition import PartitionError

API_KEY = 2
VERSIONS = (0, 10)


async def handle(request: ListOffsetsRequest, ctx: RequestContext) -> ListOffsetsResponse:
    manager = ctx.services.replica_manager
    committed = request.isolation_level == 1
    topics = []
    allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, [t.name for t in request.topics])
    for topic in request.topics:
        partitions = []
        for part in topic.partitions:
            response = ListOffsetsPartitionResponse(partition_index=part.partition_index)
            if topic.name not in allowed:
                response.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                partitions.append(response)
                continue
            try:
                offset, timestamp, epoch = manager.list_offset(
                    topic.name, part.partition_index, part.timestamp, part.current_leader_epoch, committed
                )
                response.offset, response.timestamp, response.leader_epoch = offset, timestamp, epoch
            except PartitionError as exc:
                response.error_code = exc.error_code
            if ctx.version == 0:
                _old_style(response, part.max_num_offsets)
            elif ctx.version == 1 and response.offset == -1 and response.error_code == ErrorCode.NONE:
                response.timestamp = -1
            partitions.append(response)
        topics.append(ListOffsetsTopicResponse(name=topic.name, partitions=partitions))
    return ListOffsetsResponse(topics=topics)


def _old_style(response: ListOffsetsPartitionResponse, max_num_offsets: int) -> None:
    """v0's answer: a list of offsets instead of one offset and its timestamp."""
    found = response.error_code == ErrorCode.NONE and response.offset >= 0 and max_num_offsets > 0
    response.old_style_offsets = [response.offset] if found else []
