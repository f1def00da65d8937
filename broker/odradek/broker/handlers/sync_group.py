"""SyncGroup (key 14), v0-5: the leader sends the assignment, every member receives its own.

From v5 the protocol type and name are mandatory and checked against the group's (INCONSISTENT_GROUP_PROTOCOL).
Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.sync_group_request import SyncGroupRequest
from odradek.broker.protocol.messages.sync_group_response import SyncGroupResponse

API_KEY = 14
VERSIONS = (0, 5)


async def handle(request: SyncGroupRequest, ctx: RequestContext) -> SyncGroupResponse:
    version = ctx.version
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return SyncGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if version >= 5 and (request.protocol_type is None or request.protocol_name is None):
        return SyncGroupResponse(error_code=ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    result = await coordinator(ctx).sync_group(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id if version >= 3 else None,
        protocol_type=request.protocol_type if version >= 5 else None,
        protocol_name=request.protocol_name if version >= 5 else None,
        assignments=[(a.member_id, bytes(a.assignment)) for a in request.assignments],
    )
    return SyncGroupResponse(
        error_code=result.error,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )
