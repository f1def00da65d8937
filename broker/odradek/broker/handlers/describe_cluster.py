"""DescribeCluster (key 60), v0-1: cluster id, controller id and brokers.

v2 (fenced brokers marked as such) is not served: fenced brokers are listed like the others. Endpoint type 2
(controllers) is answered with UNSUPPORTED_ENDPOINT_TYPE, since controllers are not separate nodes here. Brokers
are described with their endpoint on the request's listener; one without that listener is left out (Kafka's
getBrokerNodes(listener)).
With `include_cluster_authorized_operations`, the allowed cluster operations if DESCRIBE on the cluster is
allowed, else 0 (Kafka's AuthHelper.computeDescribeClusterResponse).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_cluster_request import DescribeClusterRequest
from odradek.broker.protocol.messages.describe_cluster_response import (
    DescribeClusterBroker,
    DescribeClusterResponse,
)

API_KEY = 60
VERSIONS = (0, 1)
BROKERS = 1


async def handle(request: DescribeClusterRequest, ctx: RequestContext) -> DescribeClusterResponse:
    services = ctx.services
    image = services.metadata.image
    if request.endpoint_type != BROKERS:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            error_message="Only broker endpoints are served",
            endpoint_type=request.endpoint_type,
        )
    endpoints = [(b, ctx.endpoint(b)) for b in sorted(image.brokers.values(), key=lambda b: b.broker_id)]
    response = DescribeClusterResponse(
        endpoint_type=BROKERS,
        cluster_id=image.cluster_id or "",
        controller_id=services.controller_id,
        brokers=[
            DescribeClusterBroker(broker_id=b.broker_id, host=e.host, port=e.port, rack=b.rack)
            for b, e in endpoints
            if e is not None
        ],
    )
    if request.include_cluster_authorized_operations:
        response.cluster_authorized_operations = (
            ctx.authorized_operations(ResourceType.CLUSTER)
            if ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER)
            else 0
        )
    return response
