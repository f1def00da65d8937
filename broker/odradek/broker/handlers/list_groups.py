"""ListGroups (key 16), v0-5: the groups this broker coordinates; states filter (v4+, case-insensitive) and
types filter (v5+: only "classic" groups exist here, so any other type filters everything out).

Authorization (KafkaApis.handleListGroupsRequest): DESCRIBE on the cluster lists every group, else only the groups
the principal may DESCRIBE; never an error.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.state import STATE_BY_NAME, GroupState
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.messages.list_groups_request import ListGroupsRequest
from odradek.broker.protocol.messages.list_groups_response import ListedGroup, ListGroupsResponse

API_KEY = 16
VERSIONS = (0, 5)

GROUP_TYPE = "classic"


async def handle(request: ListGroupsRequest, ctx: RequestContext) -> ListGroupsResponse:
    states: set[GroupState] | None = None
    if ctx.version >= 4 and request.states_filter:
        states = {STATE_BY_NAME[s.lower()] for s in request.states_filter if s.lower() in STATE_BY_NAME}
        if not states:
            return ListGroupsResponse(groups=[])
    if ctx.version >= 5 and request.types_filter and GROUP_TYPE not in {t.lower() for t in request.types_filter}:
        return ListGroupsResponse(groups=[])
    listed = coordinator(ctx).list_groups(states)
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, log_if_denied=False):
        allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.GROUP, [g.group_id for g in listed])
        listed = [g for g in listed if g.group_id in allowed]
    return ListGroupsResponse(
        groups=[
            ListedGroup(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state, group_type=GROUP_TYPE)
            for g in listed
        ]
    )
