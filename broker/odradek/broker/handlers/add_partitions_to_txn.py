"""AddPartitionsToTxn (key 24), v0-5: a transactional producer adds partitions to its transaction (v0-3), or a
partition leader on another broker verifies a transactional produce (v4-5, KIP-890 part 1).

Kafka's KafkaApis.handleAddPartitionsToTxnRequest for the client versions: WRITE on the transactional id (else
every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED); then WRITE on each topic (TOPIC_AUTHORIZATION_FAILED) and
existence (UNKNOWN_TOPIC_OR_PARTITION); if any partition failed, the others are OPERATION_NOT_ATTEMPTED and nothing
is added. Otherwise the coordinator's answer goes to every partition (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
below v2).

The batched broker form (v4+, sent by `replication/add_partitions_to_txn_manager.py`): CLUSTER_ACTION on the
cluster, else the top-level error CLUSTER_AUTHORIZATION_FAILED and no results (Kafka's); then per transaction,
`verify_only` answers from the coordinator's state (`TransactionCoordinator.verify_partitions`: NONE,
INVALID_TXN_STATE, or one error for all), and a transaction without it has its partitions added as a client's
would be (unknown partitions UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED then).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.transactions import old_client_error
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.add_partitions_to_txn_request import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnTransaction,
)
from odradek.broker.protocol.messages.add_partitions_to_txn_response import (
    AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnResponse,
    AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult,
)

API_KEY = 24
VERSIONS = (0, 5)
FENCED_FROM = 2
BROKER_FORM_FROM = 4


async def handle(request: AddPartitionsToTxnRequest, ctx: RequestContext) -> AddPartitionsToTxnResponse:
    if ctx.version >= BROKER_FORM_FROM:
        return await _handle_broker_form(request, ctx)
    transactional_id = request.v3_and_below_transactional_id
    wanted = [(topic.name, index) for topic in request.v3_and_below_topics for index in topic.partitions]
    errors = await _add(
        ctx, transactional_id, request.v3_and_below_producer_id, request.v3_and_below_producer_epoch, wanted
    )
    return AddPartitionsToTxnResponse(results_by_topic_v3_and_below=_by_topic(wanted, errors))


def _by_topic(wanted: list[tuple[str, int]], errors: list[ErrorCode]) -> list[AddPartitionsToTxnTopicResult]:
    by_topic: dict[str, list[AddPartitionsToTxnPartitionResult]] = {}
    for (topic, index), error in zip(wanted, errors, strict=True):
        by_topic.setdefault(topic, []).append(
            AddPartitionsToTxnPartitionResult(partition_index=index, partition_error_code=error)
        )
    return [
        AddPartitionsToTxnTopicResult(name=name, results_by_partition=results) for name, results in by_topic.items()
    ]


async def _handle_broker_form(request: AddPartitionsToTxnRequest, ctx: RequestContext) -> AddPartitionsToTxnResponse:
    if not ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER):
        return AddPartitionsToTxnResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    results = [
        AddPartitionsToTxnResult(
            transactional_id=transaction.transactional_id, topic_results=await _broker_transaction(ctx, transaction)
        )
        for transaction in request.transactions
    ]
    return AddPartitionsToTxnResponse(results_by_transaction=results)


async def _broker_transaction(
    ctx: RequestContext, transaction: AddPartitionsToTxnTransaction
) -> list[AddPartitionsToTxnTopicResult]:
    wanted = [(topic.name, index) for topic in transaction.topics for index in topic.partitions]
    coordinator = ctx.services.txn_coordinator
    if not transaction.verify_only:
        errors = await _add(
            ctx, transaction.transactional_id, transaction.producer_id, transaction.producer_epoch, wanted
        )
    elif coordinator is None:
        errors = [ErrorCode.COORDINATOR_NOT_AVAILABLE] * len(wanted)
    elif not transaction.transactional_id:
        errors = [ErrorCode.INVALID_REQUEST] * len(wanted)
    else:
        verified = coordinator.verify_partitions(
            transaction.transactional_id, transaction.producer_id, transaction.producer_epoch, wanted
        )
        errors = [verified[tp] for tp in wanted]
    return _by_topic(wanted, errors)


async def _add(
    ctx: RequestContext, transactional_id: str, producer_id: int, producer_epoch: int, wanted: list[tuple[str, int]]
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
    error = await coordinator.add_partitions(transactional_id, producer_id, producer_epoch, wanted)
    return [old_client_error(error, ctx.version, FENCED_FROM)] * len(wanted)
