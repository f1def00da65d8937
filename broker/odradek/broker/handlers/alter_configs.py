"""AlterConfigs (key 33), v0-2: replace a topic's whole set of overrides (the legacy, non-incremental API).

Broker resources are refused with INVALID_REQUEST until dynamic broker configs are stored (docs/not-implemented.md).
"""

from __future__ import annotations

from odradek.broker.handlers.configs import ResourceError, alter_resource
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.alter_configs_request import AlterConfigsRequest, AlterConfigsResource
from odradek.broker.protocol.messages.alter_configs_response import (
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
)

API_KEY = 33
VERSIONS = (0, 2)


async def handle(request: AlterConfigsRequest, ctx: RequestContext) -> AlterConfigsResponse:
    responses = []
    for resource in request.resources:

        def new_configs(resource: AlterConfigsResource = resource) -> dict[str, str]:
            configs = {c.name: c.value for c in resource.configs}
            if any(v is None for v in configs.values()):
                raise ResourceError(ErrorCode.INVALID_CONFIG, "Null values are not allowed in AlterConfigs")
            return {k: v for k, v in configs.items() if v is not None}

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
    return AlterConfigsResponse(responses=responses)
