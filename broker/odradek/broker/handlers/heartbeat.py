"""Heartbeat (key 12), v0-4: keep a member's session; REBALANCE_IN_PROGRESS tells it to rejoin.

Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.heartbeat_request import HeartbeatRequest
from odradek.broker.protocol.messages.heartbeat_response import HeartbeatResponse

API_KEY = 12
VERSIONS = (0, 4)


async def handle(request: HeartbeatRequest, ctx: RequestContext) -> HeartbeatResponse:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return HeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error = coordinator(ctx).heartbeat(
        request.group_id,
        request.member_id,
        request.group_instance_id if ctx.version >= 3 else None,
        request.generation_id,
    )
    return HeartbeatResponse(error_code=error)
