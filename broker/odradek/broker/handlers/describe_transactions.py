"""DescribeTransactions (key 65), v0: the state of transactional ids (state, timeout, start time, producer id and
epoch, partitions).

Kafka's KafkaApis.handleDescribeTransactionsRequest: DESCRIBE on each id (else
TRANSACTIONAL_ID_AUTHORIZATION_FAILED); partitions of topics the principal may not DESCRIBE are left out. An id
this broker does not coordinate answers NOT_COORDINATOR, an unknown one TRANSACTIONAL_ID_NOT_FOUND.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_transactions_request import DescribeTransactionsRequest
from odradek.broker.protocol.messages.describe_transactions_response import (
    DescribeTransactionsResponse,
    TopicData,
    TransactionState,
)

API_KEY = 65
VERSIONS = (0, 0)


async def handle(request: DescribeTransactionsRequest, ctx: RequestContext) -> DescribeTransactionsResponse:
    return DescribeTransactionsResponse(
        transaction_states=[_describe(ctx, transactional_id) for transactional_id in request.transactional_ids]
    )


def _describe(ctx: RequestContext, transactional_id: str) -> TransactionState:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return TransactionState(
            transactional_id=transactional_id, error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        )
    coordinator = ctx.services.txn_coordinator
    if coordinator is None:
        return TransactionState(transactional_id=transactional_id, error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE)
    txn = coordinator.describe(transactional_id)
    if txn.error is not ErrorCode.NONE:
        return TransactionState(transactional_id=transactional_id, error_code=txn.error)
    describable = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, [topic for topic, _ in txn.partitions])
    topics: dict[str, list[int]] = {}
    for topic, index in txn.partitions:
        if topic in describable:
            topics.setdefault(topic, []).append(index)
    return TransactionState(
        transactional_id=transactional_id,
        error_code=ErrorCode.NONE,
        transaction_state=txn.state,
        transaction_timeout_ms=txn.transaction_timeout_ms,
        transaction_start_time_ms=txn.transaction_start_time_ms,
        producer_id=txn.producer_id,
        producer_epoch=txn.producer_epoch,
        topics=[TopicData(topic=topic, partitions=indexes) for topic, indexes in topics.items()],
    )
