"""ConsumerGroupDescribe (key 69), v0-1: KIP-848 consumer groups with their epochs, assignor and members (each
member's current and target assignment by topic id and name). A group that is not a consumer group (unknown, or
classic) is GROUP_ID_NOT_FOUND, which admin clients take as "describe it with DescribeGroups". v1 adds the member
type (KIP-1099): 1, a consumer-protocol member (classic members inside a consumer group are not served).

Authorization: DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED for it; authorized operations when asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.consumer_group import Assignment as GroupAssignment
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.consumer_group_describe_request import ConsumerGroupDescribeRequest
from odradek.broker.protocol.messages.consumer_group_describe_response import (
    Assignment,
    ConsumerGroupDescribeResponse,
    DescribedGroup,
    Member,
    TopicPartitions,
)

API_KEY = 69
VERSIONS = (0, 1)

CONSUMER_MEMBER_TYPE = 1  # KIP-1099: 0 classic, 1 consumer


async def handle(request: ConsumerGroupDescribeRequest, ctx: RequestContext) -> ConsumerGroupDescribeResponse:
    coord = coordinator(ctx)
    names = {t.topic_id: name for name, t in ctx.services.metadata.image.topics.items()}
    groups = []
    for group_id in request.group_ids:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            groups.append(DescribedGroup(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=group_id))
            continue
        d = coord.consumer_group_describe(group_id)
        if d.error is not ErrorCode.NONE:
            groups.append(DescribedGroup(error_code=d.error, error_message=d.message, group_id=group_id))
            continue
        groups.append(
            DescribedGroup(
                error_code=ErrorCode.NONE,
                group_id=group_id,
                group_state=d.state,
                group_epoch=d.group_epoch,
                assignment_epoch=d.assignment_epoch,
                assignor_name=d.assignor,
                members=[
                    Member(
                        member_id=m.member.member_id,
                        instance_id=m.member.instance_id,
                        rack_id=m.member.rack_id,
                        member_epoch=m.member.member_epoch,
                        client_id=m.member.client_id,
                        client_host=m.member.client_host,
                        subscribed_topic_names=list(m.member.subscribed_topic_names),
                        subscribed_topic_regex=m.member.subscribed_topic_regex,
                        assignment=_assignment(m.member.assigned, names),
                        target_assignment=_assignment(m.target, names),
                        member_type=CONSUMER_MEMBER_TYPE,
                    )
                    for m in d.members
                ],
                authorized_operations=ctx.authorized_operations(ResourceType.GROUP, group_id)
                if request.include_authorized_operations
                else -(2**31),
            )
        )
    return ConsumerGroupDescribeResponse(groups=groups)


def _assignment(assignment: GroupAssignment, names: Mapping[str, str]) -> Assignment:
    return Assignment(
        topic_partitions=[
            TopicPartitions(topic_id=uuid.UUID(topic), topic_name=names.get(topic, ""), partitions=sorted(parts))
            for topic, parts in sorted(assignment.items())
        ]
    )
