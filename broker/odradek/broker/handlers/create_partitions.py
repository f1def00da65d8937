"""CreatePartitions (key 37), v0-3: grow a topic's partition count, with optional explicit assignments.

A count not above the current one is INVALID_PARTITIONS; assignments must list one replica set per new
partition (INVALID_REPLICA_ASSIGNMENT otherwise); validate_only checks without changing anything.
"""

from __future__ import annotations

from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.create_partitions_request import CreatePartitionsRequest
from odradek.broker.protocol.messages.create_partitions_response import (
    CreatePartitionsResponse,
    CreatePartitionsTopicResult,
)

API_KEY = 37
VERSIONS = (0, 3)


async def handle(request: CreatePartitionsRequest, ctx: RequestContext) -> CreatePartitionsResponse:
    results = []
    names = [t.name for t in request.topics]
    for topic in request.topics:
        result = CreatePartitionsTopicResult(name=topic.name)
        if names.count(topic.name) > 1:
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = "Duplicate topic in the request"
        else:
            assignments = [list(a.broker_ids) for a in topic.assignments] if topic.assignments else None
            try:
                await ctx.services.controller.create_partitions(
                    topic.name, topic.count, assignments, request.validate_only
                )
                if not request.validate_only:
                    await ctx.services.sync_metadata()
            except ControllerError as exc:
                result.error_code, result.error_message = exc.error_code, exc.message
        results.append(result)
    return CreatePartitionsResponse(results=results)
