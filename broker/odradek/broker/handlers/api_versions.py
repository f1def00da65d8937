"""ApiVersions (key 18), v0-4: the served API ranges, built from the handler registry.

Not implemented: supported/finalized features (empty lists; no feature-gated behaviour exists yet).
A request version above 4 is answered by the dispatcher with a v0 body and UNSUPPORTED_VERSION (KIP-511).
"""

from __future__ import annotations

from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.api_versions_response import ApiVersion, ApiVersionsResponse

API_KEY = 18
VERSIONS = (0, 4)


async def handle(request: ApiVersionsRequest, ctx: RequestContext) -> ApiVersionsResponse:
    advertised = ctx.services.registry.advertised()
    return ApiVersionsResponse(
        error_code=0,
        api_keys=[ApiVersion(api_key=key, min_version=low, max_version=high) for key, low, high in advertised],
    )
