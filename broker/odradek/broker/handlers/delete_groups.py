"""DeleteGroups (key 42), v0-2: delete empty groups and their committed offsets (tombstones in
__consumer_offsets). GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while it has members.
Authorization: DELETE on each group, else GROUP_AUTHORIZATION_FAILED for it."""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.delete_groups_request import DeleteGroupsRequest
from odradek.broker.protocol.messages.delete_groups_response import DeletableGroupResult, DeleteGroupsResponse

API_KEY = 42
VERSIONS = (0, 2)


async def handle(request: DeleteGroupsRequest, ctx: RequestContext) -> DeleteGroupsResponse:
    allowed = ctx.authorized(AclOperation.DELETE, ResourceType.GROUP, request.groups_names)
    deletable = [g for g in request.groups_names if g in allowed]
    errors = dict(zip(deletable, await coordinator(ctx).delete_groups(deletable), strict=True)) if deletable else {}
    return DeleteGroupsResponse(
        results=[
            DeletableGroupResult(group_id=g, error_code=errors.get(g, ErrorCode.GROUP_AUTHORIZATION_FAILED))
            for g in request.groups_names
        ]
    )
