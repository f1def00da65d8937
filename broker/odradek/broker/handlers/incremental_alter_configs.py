"""IncrementalAlterConfigs (key 44), v0-1: SET, DELETE, APPEND, SUBTRACT on a topic's overrides.

Broker resources are refused with INVALID_REQUEST until dynamic broker configs are stored (docs/not-implemented.md).
"""

from __future__ import annotations

from odradek.broker.handlers.configs import alter_resource, incremental, topic_overrides
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.messages.incremental_alter_configs_request import (
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
)
from odradek.broker.protocol.messages.incremental_alter_configs_response import (
    AlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse,
)

API_KEY = 44
VERSIONS = (0, 1)


async def handle(request: IncrementalAlterConfigsRequest, ctx: RequestContext) -> IncrementalAlterConfigsResponse:
    responses = []
    for resource in request.resources:

        def new_configs(resource: AlterConfigsResource = resource) -> dict[str, str]:
            current = topic_overrides(ctx.services, resource.resource_name)
            return incremental(current, [(c.name, c.config_operation, c.value) for c in resource.configs])

        error, message = await alter_resource(
            ctx.services, resource.resource_type, resource.resource_name, new_configs, request.validate_only
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
