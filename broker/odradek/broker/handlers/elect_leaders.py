"""ElectLeaders (key 43), v0-2: preferred (0) or unclean (1) leader election, decided by the active controller.

Kafka 3.9 serves v0-2 (ElectLeadersRequest.json; v0 has no election type: preferred). Clients send it to the
controller; a broker that is not the controller answers NOT_CONTROLLER for every partition (and at the top level,
v1+), and the client retries on the controller it then finds in Metadata. The election itself is
`ReplicationControlManager.elect_leaders` (Kafka's ReplicationControlManager.electLeader): ELECTION_NOT_NEEDED when
the partition already has its preferred leader (PREFERRED) or any leader (UNCLEAN), PREFERRED_LEADER_NOT_AVAILABLE or
ELIGIBLE_LEADERS_NOT_AVAILABLE when no election would change it, UNKNOWN_TOPIC_OR_PARTITION for unknown ones. With
`topic_partitions` null every partition is tried and only those that needed an election are reported. The answer
waits until this broker's metadata includes the new leaders (at most `timeout_ms`). An unknown election type is
INVALID_REQUEST. Authorization: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for every partition.
"""

from __future__ import annotations

import asyncio
import contextlib

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.partition_change import Election
from odradek.broker.metadata.replication_control import ElectionOutcome
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.elect_leaders_request import ElectLeadersRequest
from odradek.broker.protocol.messages.elect_leaders_response import (
    ElectLeadersResponse,
    PartitionResult,
    ReplicaElectionResult,
)

API_KEY = 43
VERSIONS = (0, 2)
ELECTION_TYPES = {0: Election.PREFERRED, 1: Election.UNCLEAN}


async def handle(request: ElectLeadersRequest, ctx: RequestContext) -> ElectLeadersResponse:
    wanted = (
        None
        if request.topic_partitions is None
        else [(t.topic, p) for t in request.topic_partitions for p in t.partitions]
    )
    election = ELECTION_TYPES.get(request.election_type if ctx.version >= 1 else 0)
    if election is None:
        return _all(wanted, ErrorCode.INVALID_REQUEST, f"Unknown election type {request.election_type}")
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return _all(wanted, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)
    manager = ctx.services.replication_control
    if manager is None:
        return _all(wanted, ErrorCode.NOT_CONTROLLER, "This broker is not the controller.")
    results = await manager.elect_leaders(election, wanted)
    if results and all(e == ErrorCode.NOT_CONTROLLER for e, _ in results.values()):
        return _all(wanted, ErrorCode.NOT_CONTROLLER, "This broker is not the controller.")
    if any(e == ErrorCode.NONE for e, _ in results.values()):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.services.sync_metadata(), max(request.timeout_ms, 0) / 1000.0 or None)
    return _response(results)


def _all(wanted: list[tuple[str, int]] | None, error: ErrorCode, message: str | None) -> ElectLeadersResponse:
    response = _response({tp: (error, message) for tp in wanted or []})
    response.error_code = error
    return response


def _response(results: dict[tuple[str, int], ElectionOutcome]) -> ElectLeadersResponse:
    by_topic: dict[str, list[PartitionResult]] = {}
    for (topic, partition), (error, message) in results.items():
        by_topic.setdefault(topic, []).append(
            PartitionResult(partition_id=partition, error_code=error, error_message=message)
        )
    return ElectLeadersResponse(
        replica_election_results=[
            ReplicaElectionResult(topic=topic, partition_result=parts) for topic, parts in by_topic.items()
        ]
    )
