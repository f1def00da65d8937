"""AlterConfigs (key 33), v0-2: replace a resource's whole set of configs (the legacy, non-incremental API).

A topic resource's overrides, or a broker resource's dynamic configs ("<id>" or "" for the cluster-wide default):
keys left out of the request are removed, as Kafka does. Authorization as IncrementalAlterConfigs: ALTER_CONFIGS
on the cluster (broker resources) or the topic, CLUSTER_ or TOPIC_AUTHORIZATION_FAILED with no message.
"""

from __future__ import annotations

from odradek.broker.handlers.configs import SET, alter_authorized
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.messages.alter_configs_request import AlterConfigsRequest
from odradek.broker.protocol.messages.alter_configs_response import (
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
)

API_KEY = 33
VERSIONS = (0, 2)


async def handle(request: AlterConfigsRequest, ctx: RequestContext) -> AlterConfigsResponse:
    responses = []
    for resource in request.resources:
        entries = [(c.name, SET, c.value) for c in resource.configs]
        error, message = await alter_authorized(
            ctx, resource.resource_type, resource.resource_name, entries, request.validate_only, legacy=True
        )
        responses.append(
            AlterConfigsResourceResponse(
                error_code=error,
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
        )
    return AlterConfigsResponse(responses=responses)
