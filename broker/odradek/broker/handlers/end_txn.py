"""EndTxn (key 26), v0-3: commit or abort the producer's transaction.

Kafka's KafkaApis.handleEndTxnRequest: WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then
the coordinator (`TransactionStateManager.end_transaction`): the answer comes once PrepareCommit/PrepareAbort is
written; the markers follow in the background. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2. v5
(transactions version 2, KIP-890 part 2) is not served.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.transactions import old_client_error
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.end_txn_request import EndTxnRequest
from odradek.broker.protocol.messages.end_txn_response import EndTxnResponse

API_KEY = 26
VERSIONS = (0, 3)
FENCED_FROM = 2


async def handle(request: EndTxnRequest, ctx: RequestContext) -> EndTxnResponse:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return EndTxnResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    coordinator = ctx.services.txn_coordinator
    if coordinator is None:
        return EndTxnResponse(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE)
    error = await coordinator.end_transaction(
        request.transactional_id, request.producer_id, request.producer_epoch, request.committed
    )
    return EndTxnResponse(error_code=old_client_error(error, ctx.version, FENCED_FROM))
