"""IncrementalAlterConfigs (key 44), v0-1: SET, DELETE, APPEND, SUBTRACT on a topic's overrides.

Broker resources are refused with INVALID_REQUEST until dynamic broker configs are stored (docs/not-implemented.md).
"""

from __future__ import annotations

from odradek.broker.handlers.configs import (
    BROKER,
    TOPIC,
    ResourceError,
    check_broker_resource,
    incremental,
    replace_topic_configs,
    topic_overrides,
)
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.incremental_alter_configs_request import IncrementalAlterConfigsRequest
from odradek.broker.protocol.messages.incremental_alter_configs_response import (
    AlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse,
)

API_KEY = 44
VERSIONS = (0, 1)


async def handle(
    request: IncrementalAlterConfigsRequest, ctx: RequestContext
) -> IncrementalAlterConfigsResponse:
    responses = []
    for resource in request.resources:
        response = AlterConfigsResourceResponse(
            resource_type=resource.resource_type, resource_name=resource.resource_name
        )
        try:
            if resource.resource_type == TOPIC:
                current = topic_overrides(ctx.services, resource.resource_name)
                ops = [(c.name, c.config_operation, c.value) for c in resource.configs]
                await replace_topic_configs(
                    ctx.services, resource.resource_name, incremental(current, ops), request.validate_only
                )
            elif resource.resource_type == BROKER:
                check_broker_resource(ctx.services, resource.resource_name)
                raise ResourceError(
                    ErrorCode.INVALID_REQUEST,
                    "Dynamic broker configs are not supported yet; set them in server.properties",
                )
            else:
                raise ResourceError(
                    ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource.resource_type}"
                )
        except ResourceError as exc:
            response.error_code, response.error_message = exc.error_code, exc.message
        responses.append(response)
    return IncrementalAlterConfigsResponse(responses=responses)
