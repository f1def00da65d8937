"""FindCoordinator (key 10), v0-6: the broker coordinating a group (key_type 0); batched keys from v4.

The coordinator of a group is the leader of its `__consumer_offsets` partition, that of a transactional id
(key_type 1) the leader of its `__transaction_state` partition; each topic is created on the first lookup. An
unknown key type is INVALID_REQUEST; an empty group key is answered like any other (Kafka maps it to partition 0);
a broker without a transaction coordinator answers key type 1 COORDINATOR_NOT_AVAILABLE.

The coordinator is given with its endpoint on the request's listener; a coordinator without that listener is
COORDINATOR_NOT_AVAILABLE, as Kafka's getAliveBrokerNode(leader, listener) finding none. Authorization: DESCRIBE
on the group (GROUP_AUTHORIZATION_FAILED) or on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
before anything else, so that `__consumer_offsets` is not created for a principal that may not use it.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import BrokerServices, RequestContext
from odradek.broker.handlers.groups import coordinator_partition, ensure_offsets_topic
from odradek.broker.handlers.transactions import ensure_transaction_state_topic
from odradek.broker.metadata.image import PartitionImage
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.find_coordinator_request import FindCoordinatorRequest
from odradek.broker.protocol.messages.find_coordinator_response import Coordinator, FindCoordinatorResponse
from odradek.broker.txn.transaction_log import TRANSACTION_STATE_TOPIC

API_KEY = 10
VERSIONS = (0, 6)

GROUP, TRANSACTION = 0, 1


async def _find(ctx: RequestContext, key: str, key_type: int) -> Coordinator:
    result = Coordinator(key=key, node_id=-1, host="", port=-1)
    services = ctx.services
    if key_type not in (GROUP, TRANSACTION):
        result.error_code = ErrorCode.INVALID_REQUEST
        return result
    if key_type == GROUP and not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, key):
        result.error_code = ErrorCode.GROUP_AUTHORIZATION_FAILED
        return result
    if key_type == TRANSACTION and not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
        result.error_code = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        return result
    if key_type == TRANSACTION:
        partition = await _transaction_partition(services, key)
    else:
        error = await ensure_offsets_topic(services)
        partition = coordinator_partition(services, key) if error == ErrorCode.NONE else None
    broker = services.metadata.image.brokers.get(partition.leader) if partition is not None else None
    endpoint = ctx.endpoint(broker) if broker is not None else None
    if broker is None or endpoint is None:
        result.error_code = ErrorCode.COORDINATOR_NOT_AVAILABLE
        return result
    result.node_id, result.host, result.port = broker.broker_id, endpoint.host, endpoint.port
    return result


async def _transaction_partition(services: BrokerServices, transactional_id: str) -> PartitionImage | None:
    coordinator = services.txn_coordinator
    if coordinator is None or await ensure_transaction_state_topic(services) != ErrorCode.NONE:
        return None
    topic = services.metadata.image.topics.get(TRANSACTION_STATE_TOPIC)
    if topic is None or not topic.partitions:
        return None
    return topic.partitions.get(coordinator.partition_for(transactional_id))


async def handle(request: FindCoordinatorRequest, ctx: RequestContext) -> FindCoordinatorResponse:
    if ctx.version >= 4:
        return FindCoordinatorResponse(
            coordinators=[await _find(ctx, key, request.key_type) for key in request.coordinator_keys]
        )
    found = await _find(ctx, request.key, request.key_type if ctx.version >= 1 else GROUP)
    return FindCoordinatorResponse(
        error_code=found.error_code,
        error_message=found.error_message,
        node_id=found.node_id,
        host=found.host,
        port=found.port,
    )
