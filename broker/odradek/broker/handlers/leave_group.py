"""LeaveGroup (key 13), v0-5: members leave (one member id before v3, a batch of members from v3).

For v0-2 the single member's error is the response's error; from v3 each member has its own error and the
top-level error is set only when the whole request failed (e.g. NOT_COORDINATOR, or GROUP_AUTHORIZATION_FAILED
without READ on the group).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.coordinator import LeaveMember
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.leave_group_request import LeaveGroupRequest
from odradek.broker.protocol.messages.leave_group_response import LeaveGroupResponse, MemberResponse

API_KEY = 13
VERSIONS = (0, 5)


async def handle(request: LeaveGroupRequest, ctx: RequestContext) -> LeaveGroupResponse:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return LeaveGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if ctx.version < 3:
        leaving = [LeaveMember(request.member_id, None)]
    else:
        leaving = [LeaveMember(m.member_id, m.group_instance_id) for m in request.members]
    error, errors = coordinator(ctx).leave_group(request.group_id, leaving)
    if ctx.version < 3:
        return LeaveGroupResponse(error_code=error if error != ErrorCode.NONE else errors[0])
    return LeaveGroupResponse(
        error_code=error,
        members=[
            MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id, error_code=e)
            for m, e in zip(leaving, errors, strict=True)
        ]
        if error == ErrorCode.NONE
        else [],
    )
