"""AddOffsetsToTxn (key 25), v0-3: a transactional producer will commit offsets of a group in its transaction.

Kafka's KafkaApis.handleAddOffsetsToTxnRequest: WRITE on the transactional id
(TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group (GROUP_AUTHORIZATION_FAILED); the group's
`__consumer_offsets` partition (the topic is created if needed) is added to the transaction, so that the marker
reaches the group coordinator. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.offsets_topic import OFFSETS_TOPIC
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import ensure_offsets_topic
from odradek.broker.handlers.transactions import old_client_error
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.add_offsets_to_txn_request import AddOffsetsToTxnRequest
from odradek.broker.protocol.messages.add_offsets_to_txn_response import AddOffsetsToTxnResponse

API_KEY = 25
VERSIONS = (0, 3)
FENCED_FROM = 2


async def handle(request: AddOffsetsToTxnRequest, ctx: RequestContext) -> AddOffsetsToTxnResponse:
    return AddOffsetsToTxnResponse(error_code=old_client_error(await _add(request, ctx), ctx.version, FENCED_FROM))


async def _add(request: AddOffsetsToTxnRequest, ctx: RequestContext) -> ErrorCode:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED
    coordinator = ctx.services.txn_coordinator
    if coordinator is None or await ensure_offsets_topic(ctx.services) != ErrorCode.NONE:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    partition = ctx.services.group_coordinator.partition_for(request.group_id)
    return await coordinator.add_partitions(
        request.transactional_id, request.producer_id, request.producer_epoch, [(OFFSETS_TOPIC, partition)]
    )
