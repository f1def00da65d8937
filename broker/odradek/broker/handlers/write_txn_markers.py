"""WriteTxnMarkers (key 27), v0-2: a transaction coordinator (or an admin aborting a hanging transaction) has
markers written into partitions this broker leads.

Kafka's KafkaApis.handleWriteTxnMarkersRequest: CLUSTER_ACTION on the cluster (every partition
CLUSTER_AUTHORIZATION_FAILED); each marker is appended by the broker's `TxnMarkerWriter` (a control batch through
the replica manager with origin COORDINATOR, acks=all; `__consumer_offsets` partitions complete the group's
transactional offsets). Unknown partitions answer UNKNOWN_TOPIC_OR_PARTITION, partitions led elsewhere
NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.write_txn_markers_request import WritableTxnMarker, WriteTxnMarkersRequest
from odradek.broker.protocol.messages.write_txn_markers_response import (
    WritableTxnMarkerPartitionResult,
    WritableTxnMarkerResult,
    WritableTxnMarkerTopicResult,
    WriteTxnMarkersResponse,
)

API_KEY = 27
VERSIONS = (0, 2)


async def handle(request: WriteTxnMarkersRequest, ctx: RequestContext) -> WriteTxnMarkersResponse:
    allowed = ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER)
    return WriteTxnMarkersResponse(markers=[await _write(ctx, marker, allowed) for marker in request.markers])


async def _write(ctx: RequestContext, marker: WritableTxnMarker, allowed: bool) -> WritableTxnMarkerResult:
    partitions = [(topic.name, index) for topic in marker.topics for index in topic.partition_indexes]
    writer = ctx.services.txn_marker_writer
    if not allowed:
        errors = dict.fromkeys(partitions, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    elif writer is None:
        errors = dict.fromkeys(partitions, ErrorCode.NOT_LEADER_OR_FOLLOWER)
    else:
        errors = dict(
            await writer.write_markers(
                marker.producer_id,
                marker.producer_epoch,
                marker.coordinator_epoch,
                marker.transaction_result,
                partitions,
            )
        )
    topics: dict[str, list[WritableTxnMarkerPartitionResult]] = {}
    for topic, index in partitions:
        topics.setdefault(topic, []).append(
            WritableTxnMarkerPartitionResult(
                partition_index=index, error_code=errors.get((topic, index), ErrorCode.UNKNOWN_SERVER_ERROR)
            )
        )
    return WritableTxnMarkerResult(
        producer_id=marker.producer_id,
        topics=[WritableTxnMarkerTopicResult(name=name, partitions=parts) for name, parts in topics.items()],
    )
