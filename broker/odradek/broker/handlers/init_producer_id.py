"""InitProducerId (key 22), v0-5: a producer id and epoch for an idempotent or transactional producer.

Kafka's KafkaApis.handleInitProducerIdRequest, then TransactionCoordinator.handleInitProducerId:

- Authorization first: with a transactional id, WRITE on it (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  without, IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679; else CLUSTER_AUTHORIZATION_FAILED).
  "WRITE on some topic" is checked against the topics that exist (Kafka asks the authorizer by resource type).
- producer_id and producer_epoch (v3+, KIP-360) must be both -1 or both set: else INVALID_REQUEST.
- Without a transactional id the answer is always a new producer id with epoch 0, also when the producer gave
  its current id and epoch to bump (Kafka's coordinator "blindly accepts" non-transactional requests: a new id
  is its epoch bump). Ids come from `ProducerIdManager` (blocks reserved in the metadata store); an allocation
  failure is answered with its code.
- With a transactional id: "" is INVALID_REQUEST; otherwise the transaction coordinator answers
  (`services.txn_coordinator.init_producer_id(transactional_id, transaction_timeout_ms, producer_id,
  producer_epoch) -> (error, producer id, epoch)`), NOT_COORDINATOR while this broker has none.
v6 (KIP-939 two-phase commit) is not served.
"""

from __future__ import annotations

from typing import Protocol

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.init_producer_id_request import InitProducerIdRequest
from odradek.broker.protocol.messages.init_producer_id_response import InitProducerIdResponse

API_KEY = 22
VERSIONS = (0, 5)

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1


class TransactionCoordinator(Protocol):
    """What this handler needs of the transaction coordinator (the transactions part of issue 9)."""

    async def init_producer_id(
        self, transactional_id: str, transaction_timeout_ms: int, producer_id: int, producer_epoch: int
    ) -> tuple[ErrorCode, int, int]: ...


def _error(code: ErrorCode) -> InitProducerIdResponse:
    return InitProducerIdResponse(error_code=code, producer_id=NO_PRODUCER_ID, producer_epoch=NO_PRODUCER_EPOCH)


def _may_write_idempotently(ctx: RequestContext) -> bool:
    if ctx.authorize(AclOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, log_if_denied=False):
        return True
    topics = list(ctx.services.metadata.image.topics)
    return bool(ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, topics, log_if_denied=False))


async def handle(request: InitProducerIdRequest, ctx: RequestContext) -> InitProducerIdResponse:
    transactional_id = request.transactional_id
    if transactional_id is not None:
        if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
            return _error(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    elif not _may_write_idempotently(ctx):
        return _error(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if (request.producer_id == NO_PRODUCER_ID) != (request.producer_epoch == NO_PRODUCER_EPOCH):
        return _error(ErrorCode.INVALID_REQUEST)
    if transactional_id is None:
        manager = ctx.services.producer_id_manager
        if manager is None:
            return _error(ErrorCode.NOT_COORDINATOR)
        try:
            producer_id = await manager.generate_producer_id()
        except ControllerError as exc:
            return _error(exc.error_code)
        return InitProducerIdResponse(producer_id=producer_id, producer_epoch=0)
    if transactional_id == "":
        return _error(ErrorCode.INVALID_REQUEST)
    coordinator: TransactionCoordinator | None = getattr(ctx.services, "txn_coordinator", None)
    if coordinator is None:
        return _error(ErrorCode.NOT_COORDINATOR)
    error, producer_id, epoch = await coordinator.init_producer_id(
        transactional_id, request.transaction_timeout_ms, request.producer_id, request.producer_epoch
    )
    if error != ErrorCode.NONE:
        return _error(error)
    return InitProducerIdResponse(producer_id=producer_id, producer_epoch=epoch)
