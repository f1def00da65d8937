"""DeleteRecords (key 21), v0-2: advance partitions' log start offsets (offset -1: up to the high watermark).

An offset above the high watermark is OFFSET_OUT_OF_RANGE. Segments wholly below the new start are deleted by
retention; reads below it get OFFSET_OUT_OF_RANGE, ListOffsets earliest returns it.
Authorization: DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED for each of its partitions.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.delete_records_request import DeleteRecordsRequest
from odradek.broker.protocol.messages.delete_records_response import (
    DeleteRecordsPartitionResult,
    DeleteRecordsResponse,
    DeleteRecordsTopicResult,
)
from odradek.broker.replication.partition import PartitionError

API_KEY = 21
VERSIONS = (0, 2)


async def handle(request: DeleteRecordsRequest, ctx: RequestContext) -> DeleteRecordsResponse:
    manager = ctx.services.replica_manager
    topics = []
    allowed = ctx.authorized(AclOperation.DELETE, ResourceType.TOPIC, [t.name for t in request.topics])
    for topic in request.topics:
        results = []
        for part in topic.partitions:
            result = DeleteRecordsPartitionResult(partition_index=part.partition_index, low_watermark=-1)
            if topic.name not in allowed:
                result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                results.append(result)
                continue
            try:
                result.low_watermark = manager.delete_records(topic.name, part.partition_index, part.offset)
            except PartitionError as exc:
                result.error_code = exc.error_code
            results.append(result)
        topics.append(DeleteRecordsTopicResult(name=topic.name, partitions=results))
    return DeleteRecordsResponse(topics=topics)
