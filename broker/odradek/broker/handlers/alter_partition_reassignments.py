"""AlterPartitionReassignments (key 45), v0-1: start, change or cancel partition reassignments on the controller.

Kafka 3.9 serves v0; v1 (KIP-860) adds `allow_replication_factor_change` (false: a target whose length differs
from the original replica count is INVALID_REPLICATION_FACTOR), echoed in the response. Clients send it to the
controller; another broker answers NOT_CONTROLLER at the top level, and the client retries on the controller it
then finds in Metadata. Per partition (`ReplicationControlManager.alter_partition_reassignments`, Kafka's
`ReplicationControlManager.alterPartitionReassignments`): `replicas` null cancels (NO_REASSIGNMENT_IN_PROGRESS when
none is); a list starts or changes one (INVALID_REPLICA_ASSIGNMENT: empty, duplicate or unregistered brokers);
UNKNOWN_TOPIC_OR_PARTITION for unknown ones. The answer waits until this broker's metadata includes the writes (at
most `timeout_ms`); the reassignment itself goes on in the background (ListPartitionReassignments shows it).
Authorization: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED at the top level.
"""

from __future__ import annotations

import asyncio
import contextlib

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.replication_control import ElectionOutcome, ReassignmentTarget
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.alter_partition_reassignments_request import AlterPartitionReassignmentsRequest
from odradek.broker.protocol.messages.alter_partition_reassignments_response import (
    AlterPartitionReassignmentsResponse,
    ReassignablePartitionResponse,
    ReassignableTopicResponse,
)

API_KEY = 45
VERSIONS = (0, 1)
NOT_CONTROLLER_MESSAGE = "This broker is not the controller."


async def handle(
    request: AlterPartitionReassignmentsRequest, ctx: RequestContext
) -> AlterPartitionReassignmentsResponse:
    allow = request.allow_replication_factor_change if ctx.version >= 1 else True
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return _error(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None, allow)
    manager = ctx.services.replication_control
    if manager is None:
        return _error(ErrorCode.NOT_CONTROLLER, NOT_CONTROLLER_MESSAGE, allow)
    targets: list[ReassignmentTarget] = [
        (t.name, p.partition_index, p.replicas) for t in request.topics for p in t.partitions
    ]
    await ctx.services.sync_metadata()  # plan on an image that includes every committed write
    results = await manager.alter_partition_reassignments(
        targets, ctx.services.sync_metadata, allow_replication_factor_change=allow
    )
    if results and all(e == ErrorCode.NOT_CONTROLLER for e, _ in results.values()):
        return _error(ErrorCode.NOT_CONTROLLER, NOT_CONTROLLER_MESSAGE, allow)
    if any(e == ErrorCode.NONE for e, _ in results.values()):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.services.sync_metadata(), max(request.timeout_ms, 0) / 1000.0 or None)
    return _response(targets, results, allow)


def _error(error: ErrorCode, message: str | None, allow: bool) -> AlterPartitionReassignmentsResponse:
    return AlterPartitionReassignmentsResponse(
        error_code=error, error_message=message, allow_replication_factor_change=allow
    )


def _response(
    targets: list[ReassignmentTarget], results: dict[tuple[str, int], ElectionOutcome], allow: bool
) -> AlterPartitionReassignmentsResponse:
    by_topic: dict[str, list[ReassignablePartitionResponse]] = {}
    for topic, index, _ in targets:
        error, message = results[(topic, index)]
        by_topic.setdefault(topic, []).append(
            ReassignablePartitionResponse(partition_index=index, error_code=error, error_message=message)
        )
    return AlterPartitionReassignmentsResponse(
        allow_replication_factor_change=allow,
        responses=[ReassignableTopicResponse(name=name, partitions=parts) for name, parts in by_topic.items()],
    )
