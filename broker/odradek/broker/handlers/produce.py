"""Produce (key 0), v3-11 served; v0-2 advertised and refused (the connection is closed), KAFKA-18659.

Each partition's records are validated (log.validator: magic 2, CRC-32C, sizes, timestamps, compaction keys) and
appended by the replica manager in request order; acks=all then waits for the high watermark up to `timeout_ms`;
acks=0 gets no response at all. Errors are per partition, with Kafka's codes and, where Kafka gives them, record
errors and an error message (v8+).
Authorization (Kafka's KafkaApis.handleProduceRequest): WRITE on each topic, a denied topic's partitions answered
TOPIC_AUTHORIZATION_FAILED before any other check and never appended. (IDEMPOTENT_WRITE is checked by InitProducerId
in Kafka 3+, KIP-679, not here; WRITE on the transactional id comes with transactions.)
Not implemented here: transactional produce (TransactionalId set) is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED
until transactions exist; topic ids (v13) are not advertised.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.produce_request import ProduceRequest
from odradek.broker.protocol.messages.produce_response import (
    BatchIndexAndErrorMessage,
    PartitionProduceResponse,
    ProduceResponse,
    TopicProduceResponse,
)
from odradek.broker.replication.api import AppendOrigin, ProduceEntry, ProduceResult

API_KEY = 0
VERSIONS = (0, 11)
REJECTED_VERSIONS = (0, 2)

_TRANSACTIONS_REFUSED = ProduceResult(
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, message="transactions are not supported yet"
)
_TOPIC_DENIED = ProduceResult(ErrorCode.TOPIC_AUTHORIZATION_FAILED)


async def handle(request: ProduceRequest, ctx: RequestContext) -> ProduceResponse | None:
    entries = [
        ProduceEntry(topic.name, part.index, part.records or b"")
        for topic in request.topic_data
        for part in topic.partition_data
    ]
    if request.transactional_id is not None:
        results = [_TRANSACTIONS_REFUSED] * len(entries)
    else:
        results = await _produce_authorized(ctx, request, entries)
    if request.acks == 0:
        return None
    responses: list[TopicProduceResponse] = []
    pending = iter(results)
    for topic in request.topic_data:
        partitions = [_partition_response(part.index, next(pending)) for part in topic.partition_data]
        responses.append(TopicProduceResponse(name=topic.name, partition_responses=partitions))
    return ProduceResponse(responses=responses)


async def _produce_authorized(
    ctx: RequestContext, request: ProduceRequest, entries: list[ProduceEntry]
) -> list[ProduceResult]:
    """Append the entries of the topics the principal may write to; the others are answered without appending."""
    allowed = ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, [entry.topic for entry in entries])
    writable = [entry for entry in entries if entry.topic in allowed]
    manager = ctx.services.replica_manager
    if len(writable) == len(entries):
        return await manager.produce(entries, request.acks, request.timeout_ms, AppendOrigin.CLIENT)
    appended = iter(await manager.produce(writable, request.acks, request.timeout_ms, AppendOrigin.CLIENT))
    return [next(appended) if entry.topic in allowed else _TOPIC_DENIED for entry in entries]


def _partition_response(index: int, result: ProduceResult) -> PartitionProduceResponse:
    return PartitionProduceResponse(
        index=index,
        error_code=result.error,
        base_offset=result.base_offset,
        log_append_time_ms=result.log_append_time,
        log_start_offset=result.log_start_offset,
        record_errors=[
            BatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m) for i, m in result.record_errors
        ],
        error_message=result.message,
    )
