"""CreatePartitions (key 37), v0-3: grow a topic's partition count, with optional explicit assignments.

A count not above the current one is INVALID_PARTITIONS; assignments must list one replica set per new
partition (INVALID_REPLICA_ASSIGNMENT otherwise); validate_only checks without changing anything. More than 10,000
new partitions in one request are refused with POLICY_VIOLATION for every topic, as Kafka's controller does.
As CreateTopics, the response waits for this broker to create the new logs at most `timeout_ms` and at most 10 s,
and is answered without error after that. Authorization: ALTER on the topic, else TOPIC_AUTHORIZATION_FAILED
"The topic authorization is failed." (Kafka's wording).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext, replica_wait_s
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.create_partitions_request import CreatePartitionsRequest
from odradek.broker.protocol.messages.create_partitions_response import (
    CreatePartitionsResponse,
    CreatePartitionsTopicResult,
)

API_KEY = 37
VERSIONS = (0, 3)
# Kafka's controller refuses a request that would write more than MAX_RECORDS_PER_USER_OP (10,000) records, one per
# new partition (BoundedListTooLongException, POLICY_VIOLATION for every topic). Found by fuzzing: a count of
# 32,767 held the event loop for minutes and took a descriptor per partition.
MAX_NEW_PARTITIONS_PER_REQUEST = 10_000
TOO_LARGE = "Unable to perform excessively large batch operation."


async def handle(request: CreatePartitionsRequest, ctx: RequestContext) -> CreatePartitionsResponse:
    results = []
    names = Counter(t.name for t in request.topics)
    topics = ctx.services.metadata.image.topics
    new_partitions = 0
    for topic in request.topics:
        current = topics.get(topic.name)
        if names[topic.name] == 1 and current is not None:
            new_partitions += max(0, topic.count - current.num_partitions)
    if new_partitions > MAX_NEW_PARTITIONS_PER_REQUEST:
        return CreatePartitionsResponse(
            results=[
                CreatePartitionsTopicResult(
                    name=topic.name, error_code=ErrorCode.POLICY_VIOLATION, error_message=TOO_LARGE
                )
                for topic in request.topics
            ]
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + replica_wait_s(request.timeout_ms)
    allowed = ctx.authorized(AclOperation.ALTER, ResourceType.TOPIC, names)
    for topic in request.topics:
        result = CreatePartitionsTopicResult(name=topic.name)
        if names[topic.name] > 1:
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = "Duplicate topic in the request"
        elif topic.name not in allowed:
            result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            result.error_message = "The topic authorization is failed."
        else:
            assignments = [list(a.broker_ids) for a in topic.assignments] if topic.assignments else None
            try:
                await ctx.services.controller.create_partitions(
                    topic.name, topic.count, assignments, request.validate_only
                )
                if not request.validate_only:
                    await ctx.services.sync_replicas(deadline - loop.time())
            except ControllerError as exc:
                result.error_code, result.error_message = exc.error_code, exc.message
        results.append(result)
    return CreatePartitionsResponse(results=results)
