"""ListGroups (key 16), v0-5: the groups this broker coordinates; states filter (v4+, case-insensitive) and
types filter (v5+: "classic" and "consumer", the KIP-848 groups; case-insensitive).

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


async def handle(request: ListGroupsRequest, ctx: RequestContext) -> ListGroupsResponse:
    states: set[GroupState] | None = None
    consumer_states: set[str] | None = None
    if ctx.version >= 4 and request.states_filter:
        wanted = {s.lower() for s in request.states_filter}
        states = {STATE_BY_NAME[s] for s in wanted if s in STATE_BY_NAME}
        consumer_states = wanted
    listed = coordinator(ctx).list_groups(states, consumer_states)
    if ctx.version >= 5 and request.types_filter:
        types = {t.lower() for t in request.types_filter}
        listed = [g for g in listed if g.group_type in types]
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, log_if_denied=False):
        allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.GROUP, [g.group_id for g in listed])
        listed = [g for g in listed if g.group_id in allowed]
    return ListGroupsResponse(
        groups=[
            ListedGroup(
                group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state, group_type=g.group_type
            )
            for g in listed
        ]
    )
