"""AddPartitionsToTxn (key 24), v0-3: a transactional producer adds partitions to its transaction.

Kafka's KafkaApis.handleAddPartitionsToTxnRequest for the client versions: WRITE on the transactional id (else
every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED); then WRITE on each topic (TOPIC_AUTHORIZATION_FAILED) and
existence (UNKNOWN_TOPIC_OR_PARTITION); if any partition failed, the others are OPERATION_NOT_ATTEMPTED and nothing
is added. Otherwise the coordinator's answer goes to every partition (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
below v2). The batched broker form (v4+, KIP-890) is not served.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.transactions import old_client_error
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.add_partitions_to_txn_request import AddPartitionsToTxnRequest
from odradek.broker.protocol.messages.add_partitions_to_txn_response import (
    AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnResponse,
    AddPartitionsToTxnTopicResult,
)

API_KEY = 24
VERSIONS = (0, 3)
FENCED_FROM = 2


async def handle(request: AddPartitionsToTxnRequest, ctx: RequestContext) -> AddPartitionsToTxnResponse:
    transactional_id = request.v3_and_below_transactional_id
    wanted = [(topic.name, index) for topic in request.v3_and_below_topics for index in topic.partitions]
    errors = await _add(ctx, request, transactional_id, wanted)
    by_topic: dict[str, list[AddPartitionsToTxnPartitionResult]] = {}
    for (topic, index), error in zip(wanted, errors, strict=True):
        by_topic.setdefault(topic, []).append(
            AddPartitionsToTxnPartitionResult(partition_index=index, partition_error_code=error)
        )
    return AddPartitionsToTxnResponse(
        results_by_topic_v3_and_below=[
            AddPartitionsToTxnTopicResult(name=name, results_by_partition=results) for name, results in by_topic.items()
        ]
    )


async def _add(
    ctx: RequestContext, request: AddPartitionsToTxnRequest, transactional_id: str, wanted: list[tuple[str, int]]
) -> list[ErrorCode]:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return [ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED] * len(wanted)
    writable = ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, [topic for topic, _ in wanted])
    topics = ctx.services.metadata.image.topics
    refused: list[ErrorCode | None] = []
    for topic, index in wanted:
        if topic not in writable:
            refused.append(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        elif topic not in topics or index not in topics[topic].partitions:
            refused.append(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        else:
            refused.append(None)
    if any(error is not None for error in refused):
        return [ErrorCode.OPERATION_NOT_ATTEMPTED if error is None else error for error in refused]
    coordinator = ctx.services.txn_coordinator
    if coordinator is None:
        return [ErrorCode.COORDINATOR_NOT_AVAILABLE] * len(wanted)
    error = await coordinator.add_partitions(
        transactional_id, request.v3_and_below_producer_id, request.v3_and_below_producer_epoch, wanted
    )
    return [old_client_error(error, ctx.version, FENCED_FROM)] * len(wanted)
