"""AlterConfigs (key 33), v0-2: replace a topic's whole set of overrides (the legacy, non-incremental API).

Broker resources are refused with INVALID_REQUEST until dynamic broker configs are stored (docs/not-implemented.md).
"""

from __future__ import annotations

from odradek.broker.handlers.configs import (
    BROKER,
    TOPIC,
    ResourceError,
    check_broker_resource,
    replace_topic_configs,
)
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
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
        response = AlterConfigsResourceResponse(
            resource_type=resource.resource_type, resource_name=resource.resource_name
        )
        try:
            if resource.resource_type == TOPIC:
                configs = {c.name: c.value for c in resource.configs}
                if any(v is None for v in configs.values()):
                    raise ResourceError(
                        ErrorCode.INVALID_CONFIG, "Null values are not allowed in AlterConfigs"
                    )
                await replace_topic_configs(
                    ctx.services,
                    resource.resource_name,
                    {k: v for k, v in configs.items() if v is not None},
                    request.validate_only,
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
    return AlterConfigsResponse(responses=responses)
