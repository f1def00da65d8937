"""DeleteTopics (key 20), v0-6: by name (v1-5 `topic_names`, v6 `topics`) or by topic id (v6).

Refused with TOPIC_DELETION_DISABLED when `delete.topic.enable=false`. The partitions stop being served at once;
their logs are renamed `<topic>-<n>.<uuid>-delete` in a worker thread (the answer waits for it, at most
`timeout_ms` and 10 s) and removed by the log manager after file.delete.delay.ms.

Authorization (KafkaApis.handleDeleteTopicsRequest): DELETE on each topic, TOPIC_AUTHORIZATION_FAILED if denied;
a topic named by id also needs DESCRIBE, and without it the name is left out of the answer.
"""

from __future__ import annotations

import asyncio
import uuid

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext, replica_wait_s
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.delete_topics_request import DeleteTopicsRequest
from odradek.broker.protocol.messages.delete_topics_response import DeletableTopicResult, DeleteTopicsResponse
from odradek.broker.protocol.primitives import UUID_ZERO

API_KEY = 20
VERSIONS = (0, 6)


async def handle(request: DeleteTopicsRequest, ctx: RequestContext) -> DeleteTopicsResponse:
    services = ctx.services
    wanted: list[tuple[str | None, uuid.UUID]] = [(name, UUID_ZERO) for name in request.topic_names]
    wanted += [(t.name, t.topic_id) for t in request.topics]
    results = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + replica_wait_s(request.timeout_ms)
    for name, topic_id in wanted:
        result = DeletableTopicResult(name=name, topic_id=topic_id)
        image = services.metadata.image
        if name is None:
            found = image.topic_by_id(str(topic_id))
            if found is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_ID
                results.append(result)
                continue
            name = result.name = found.name
            if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
                result.name, result.error_code = None, ErrorCode.TOPIC_AUTHORIZATION_FAILED
                results.append(result)
                continue
        if not ctx.authorize(AclOperation.DELETE, ResourceType.TOPIC, name):
            result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        elif not services.config.get_bool("delete.topic.enable"):
            result.error_code = ErrorCode.TOPIC_DELETION_DISABLED
        else:
            try:
                existing = image.topics.get(name)
                if existing is not None:
                    result.topic_id = uuid.UUID(existing.topic_id)
                await services.controller.delete_topic(name)
                await services.sync_replicas(deadline - loop.time())
            except ControllerError as exc:
                result.error_code, result.error_message = exc.error_code, exc.message
        results.append(result)
    return DeleteTopicsResponse(responses=results)
