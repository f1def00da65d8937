"""DescribeGroups (key 15), v0-6: state, protocol and members of groups.

Member metadata, assignment and the protocol name are given only while the group is Stable, as Kafka does.
An unknown group is described as state Dead with error NONE before v6, GROUP_ID_NOT_FOUND from v6.
Authorization: DESCRIBE on each group, else that group is GROUP_AUTHORIZATION_FAILED; authorized operations are
the group's allowed operations (READ, DESCRIBE, DELETE bits) when asked for.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_groups_request import DescribeGroupsRequest
from odradek.broker.protocol.messages.describe_groups_response import (
    DescribedGroup,
    DescribedGroupMember,
    DescribeGroupsResponse,
)

API_KEY = 15
VERSIONS = (0, 6)


async def handle(request: DescribeGroupsRequest, ctx: RequestContext) -> DescribeGroupsResponse:
    coord = coordinator(ctx)
    groups = []
    for group_id in request.groups:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            groups.append(DescribedGroup(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=group_id))
            continue
        d = coord.describe_group(group_id)
        error = d.error
        if error == ErrorCode.GROUP_ID_NOT_FOUND and ctx.version < 6:
            error = ErrorCode.NONE
        groups.append(
            DescribedGroup(
                error_code=error,
                error_message=None,
                group_id=group_id,
                group_state=d.state,
                protocol_type=d.protocol_type,
                protocol_data=d.protocol,
                members=[
                    DescribedGroupMember(
                        member_id=m.member_id,
                        group_instance_id=m.group_instance_id,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        member_metadata=m.metadata,
                        member_assignment=m.assignment,
                    )
                    for m in d.members
                ],
                authorized_operations=ctx.authorized_operations(ResourceType.GROUP, group_id)
                if request.include_authorized_operations and error == ErrorCode.NONE
                else -(2**31),
            )
        )
    return DescribeGroupsResponse(groups=groups)
