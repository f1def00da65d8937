"""JoinGroup (key 11), v0-9: join a classic group and wait for the rebalance (GroupCoordinator.join_group).

v0 has no rebalance timeout (the session timeout is used); from v4 a new dynamic member first gets
MEMBER_ID_REQUIRED with its member id (KIP-394); v5 adds group.instance.id (KIP-345); v9 tells a static leader
that rejoined a stable group to skip the assignment (KIP-814). v0/v1 stay served (KAFKA-19444).
Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.coordinator import JoinRequest
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.join_group_request import JoinGroupRequest
from odradek.broker.protocol.messages.join_group_response import JoinGroupResponse, JoinGroupResponseMember

API_KEY = 11
VERSIONS = (0, 9)


async def handle(request: JoinGroupRequest, ctx: RequestContext) -> JoinGroupResponse:
    version = ctx.version
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return JoinGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    rebalance_timeout = request.rebalance_timeout_ms if version >= 1 else request.session_timeout_ms
    result = await coordinator(ctx).join_group(
        JoinRequest(
            group_id=request.group_id,
            member_id=request.member_id,
            group_instance_id=request.group_instance_id if version >= 5 else None,
            client_id=ctx.header.client_id or "",
            client_host=f"/{ctx.client_host}",
            session_timeout_ms=request.session_timeout_ms,
            rebalance_timeout_ms=rebalance_timeout,
            protocol_type=request.protocol_type,
            protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
            require_known_member_id=version >= 4,
            supports_skip_assignment=version >= 9,
        )
    )
    return JoinGroupResponse(
        error_code=result.error,
        generation_id=result.generation_id,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        leader=result.leader,
        skip_assignment=result.skip_assignment,
        member_id=result.member_id,
        members=[
            JoinGroupResponseMember(member_id=m.member_id, group_instance_id=m.group_instance_id, metadata=m.metadata)
            for m in result.members
        ],
    )
