"""IncrementalAlterConfigs (key 44), v0-1: SET, DELETE, APPEND, SUBTRACT on a resource's configs.

A topic resource's overrides, or a broker resource's dynamic configs ("<id>" or "" for the cluster-wide
default). APPEND/SUBTRACT apply to list keys only (`cleanup.policy`, `log.cleanup.policy`).
Authorization: ALTER_CONFIGS on the cluster (broker resources) or the topic; a denial is CLUSTER_ or
TOPIC_AUTHORIZATION_FAILED for that resource, with no message (Kafka's configsAuthorizationApiError).
"""

from __future__ import annotations

from odradek.broker.handlers.configs import alter_authorized
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.messages.incremental_alter_configs_request import IncrementalAlterConfigsRequest
from odradek.broker.protocol.messages.incremental_alter_configs_response import (
    AlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse,
)

API_KEY = 44
VERSIONS = (0, 1)


async def handle(request: IncrementalAlterConfigsRequest, ctx: RequestContext) -> IncrementalAlterConfigsResponse:
    responses = []
    for resource in request.resources:
        entries = [(c.name, c.config_operation, c.value) for c in resource.configs]
        error, message = await alter_authorized(
            ctx, resource.resource_type, resource.resource_name, entries, request.validate_only, legacy=False
        )
        responses.append(
            AlterConfigsResourceResponse(
                error_code=error,
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
        )
    return IncrementalAlterConfigsResponse(responses=responses)
