"""DeleteGroups (key 42), v0-2: delete empty groups and their committed offsets (tombstones in
__consumer_offsets). GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while it has members."""

from __future__ import annotations

from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.messages.delete_groups_request import DeleteGroupsRequest
from odradek.broker.protocol.messages.delete_groups_response import DeletableGroupResult, DeleteGroupsResponse

API_KEY = 42
VERSIONS = (0, 2)


async def handle(request: DeleteGroupsRequest, ctx: RequestContext) -> DeleteGroupsResponse:
    errors = await coordinator(ctx).delete_groups(list(request.groups_names))
    return DeleteGroupsResponse(
        results=[
            DeletableGroupResult(group_id=g, error_code=e) for g, e in zip(request.groups_names, errors, strict=True)
        ]
    )
