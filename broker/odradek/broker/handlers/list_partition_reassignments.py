"""ListPartitionReassignments (key 46), v0: the partitions being reassigned, as the controller's image has them.

Kafka 3.9 serves v0. `topics` null lists every reassigning partition; otherwise the named partitions that are
being reassigned (unknown topics and partitions, and partitions not being reassigned, are left out without an
error: Kafka's `ReplicationControlManager.listPartitionReassignments`). Each entry: `replicas` (the target replicas
followed by those being removed), `adding_replicas`, `removing_replicas`. Answered by the controller only (another
broker: NOT_CONTROLLER, the client retries on the controller). Authorization: DESCRIBE on the cluster, else
CLUSTER_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.replication_control import list_reassignments
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.list_partition_reassignments_request import ListPartitionReassignmentsRequest
from odradek.broker.protocol.messages.list_partition_reassignments_response import (
    ListPartitionReassignmentsResponse,
    OngoingPartitionReassignment,
    OngoingTopicReassignment,
)

API_KEY = 46
VERSIONS = (0, 0)


async def handle(request: ListPartitionReassignmentsRequest, ctx: RequestContext) -> ListPartitionReassignmentsResponse:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        return ListPartitionReassignmentsResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    manager = ctx.services.replication_control
    if manager is None or not manager.is_active:
        return ListPartitionReassignmentsResponse(
            error_code=ErrorCode.NOT_CONTROLLER, error_message="This broker is not the controller."
        )
    await ctx.services.sync_metadata()
    image = ctx.services.metadata.image
    wanted = None if request.topics is None else [(t.name, t.partition_indexes) for t in request.topics]
    topics = [
        OngoingTopicReassignment(
            name=name,
            partitions=[
                OngoingPartitionReassignment(
                    partition_index=p.partition,
                    replicas=list(p.replicas),
                    adding_replicas=list(p.adding_replicas),
                    removing_replicas=list(p.removing_replicas),
                )
                for p in parts
            ],
        )
        for name, parts in list_reassignments(image, wanted).items()
    ]
    return ListPartitionReassignmentsResponse(topics=topics)
