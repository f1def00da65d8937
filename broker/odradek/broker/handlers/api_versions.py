"""ApiVersions (key 18), v0-4: the served API ranges, built from the handler registry.

From v3 the client's software name and version must match Kafka's pattern (ApiVersionsRequest.isValid); otherwise
the answer is INVALID_REQUEST with no API list, as Kafka gives it.
Not implemented: supported/finalized features (empty lists; no feature-gated behaviour exists yet).
A request version above 4 is answered by the dispatcher with a v0 body and UNSUPPORTED_VERSION (KIP-511).
"""

from __future__ import annotations

import re

from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.api_versions_response import ApiVersion, ApiVersionsResponse

API_KEY = 18
VERSIONS = (0, 4)
SOFTWARE_FROM = 3
SOFTWARE_NAME_VERSION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")


async def handle(request: ApiVersionsRequest, ctx: RequestContext) -> ApiVersionsResponse:
    if ctx.version >= SOFTWARE_FROM and not all(
        SOFTWARE_NAME_VERSION.fullmatch(value)
        for value in (request.client_software_name, request.client_software_version)
    ):
        return ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST)
    advertised = ctx.services.registry.advertised()
    return ApiVersionsResponse(
        error_code=0,
        api_keys=[ApiVersion(api_key=key, min_version=low, max_version=high) for key, low, high in advertised],
    )
