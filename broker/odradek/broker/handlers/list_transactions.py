"""ListTransactions (key 66), v0-1: the transactional ids this broker coordinates, filtered by state names,
producer ids and (v1) running longer than `duration_filter` ms.

Kafka's KafkaApis.handleListTransactionsRequest: only ids the principal may DESCRIBE are listed; state names not
known are returned in `unknown_state_filters` (and match nothing). v2 (transactional id pattern) is not served.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.list_transactions_request import ListTransactionsRequest
from odradek.broker.protocol.messages.list_transactions_response import ListTransactionsResponse, TransactionState
from odradek.broker.txn.state import TransactionState as State

API_KEY = 66
VERSIONS = (0, 1)


async def handle(request: ListTransactionsRequest, ctx: RequestContext) -> ListTransactionsResponse:
    coordinator = ctx.services.txn_coordinator
    if coordinator is None:
        return ListTransactionsResponse(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE)
    states = {State.from_name(name) for name in request.state_filters}
    unknown = [name for name in request.state_filters if State.from_name(name) is None]
    if unknown and len(unknown) == len(request.state_filters):
        return ListTransactionsResponse(unknown_state_filters=unknown)
    found = coordinator.list_transactions(
        {state for state in states if state is not None},
        set(request.producer_id_filters),
        request.duration_filter if ctx.version >= 1 else -1,
    )
    describable = ctx.authorized(
        AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, [txn.transactional_id for txn in found]
    )
    return ListTransactionsResponse(
        unknown_state_filters=unknown,
        transaction_states=[
            TransactionState(
                transactional_id=txn.transactional_id, producer_id=txn.producer_id, transaction_state=txn.state
            )
            for txn in found
            if txn.transactional_id in describable
        ],
    )
