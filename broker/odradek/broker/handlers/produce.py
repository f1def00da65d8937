"""Produce (key 0), v0-11.

v0-2 (old clients, message format v0/v1): each partition's MessageSet is converted to one RecordBatch v2 before
it is validated and appended (`replication.conversion.up_convert`, Kafka's LogValidator conversion: CRC-32 of every
message checked, wrappers decompressed, magic 0 timestamps NO_TIMESTAMP), counted in
kafka_server_brokertopicmetrics_producemessageconversions; a bad MessageSet fails its partition with
CORRUPT_MESSAGE or INVALID_RECORD. A v2 batch in a v0-2 request is taken as it is; v3+ requests must carry v2.

Each partition's records are validated (log.validator: magic 2, CRC-32C, sizes, timestamps, compaction keys) and
appended by the replica manager in request order; acks=all then waits for the high watermark up to `timeout_ms`;
acks=0 gets no response at all. Errors are per partition, with Kafka's codes and, where Kafka gives them, record
errors and an error message (v8+).
Authorization (Kafka's KafkaApis.handleProduceRequest): a request holding transactional batches (decided from the
batch headers, not from the request's transactional id: CVE-2018-17196) needs a transactional id and WRITE on it,
else the whole request is TRANSACTIONAL_ID_AUTHORIZATION_FAILED; then WRITE on each topic, a denied topic's
partitions answered TOPIC_AUTHORIZATION_FAILED before any other check and never appended. (IDEMPOTENT_WRITE is
checked by InitProducerId in Kafka 3+, KIP-679, not here.)
Transactional batches (KIP-890 part 1, server-side defence): a transactional batch for a partition that is not in
its producer's ongoing transaction is refused with INVALID_TXN_STATE. The transaction coordinator here answers for
the ids it coordinates; for the others, a batch of a producer with no transaction open in the partition's log is
verified with its coordinator on another broker first (`services.txn_verifier`, AddPartitionsToTxn v4+
verify_only, Kafka's ReplicaManager.appendRecords with verification): a retriable failure of that check
(CONCURRENT_TRANSACTIONS, NETWORK_EXCEPTION, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
NOT_COORDINATOR) is answered NOT_ENOUGH_REPLICAS, which every client retries without a metadata refresh, as Kafka
does; batches to verify from more than one producer (id, epoch) in one request are INVALID_PRODUCER_ID_MAPPING.
Produce v12 (transactions version 2) and topic ids (v13) are not advertised.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.quotas import record_request_quota, throttle_larger, user_of
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.produce_request import ProduceRequest
from odradek.broker.protocol.messages.produce_response import (
    BatchIndexAndErrorMessage,
    PartitionProduceResponse,
    ProduceResponse,
    TopicProduceResponse,
)
from odradek.broker.replication.api import AppendOrigin, ProduceEntry, ProduceResult, ProducerFields, producer_fields
from odradek.broker.replication.conversion import up_convert

API_KEY = 0
VERSIONS = (0, 11)
RECORD_BATCH_FROM = 3  # below: MessageSets of magic 0/1, converted to v2 here

_TRANSACTIONAL_ID_DENIED = ProduceResult(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
_TOPIC_DENIED = ProduceResult(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
_NOT_IN_TRANSACTION = ProduceResult(
    ErrorCode.INVALID_TXN_STATE, message="the partition was not added to the producer's transaction"
)
# A marker (compared by identity) for a batch whose transaction is coordinated on another broker.
_VERIFY_REMOTELY = ProduceResult(ErrorCode.NONE, message="verify with the coordinator")


async def handle(request: ProduceRequest, ctx: RequestContext) -> ProduceResponse | None:
    entries = [
        ProduceEntry(topic.name, part.index, part.records or b"")
        for topic in request.topic_data
        for part in topic.partition_data
    ]
    failures: list[ProduceResult | None] = [None] * len(entries)
    if ctx.version < RECORD_BATCH_FROM:
        entries, failures = up_convert(entries, ctx.services.metrics.produce_converted)
    fields = [producer_fields(entry.records) for entry in entries]
    transactional = any(f is not None and f.transactional for f in fields)
    transactional_id = request.transactional_id
    if transactional and (
        transactional_id is None
        or not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id)
    ):
        results = [_TRANSACTIONAL_ID_DENIED] * len(entries)
    else:
        results = await _produce_authorized(ctx, request, entries, fields, failures)
    throttle_ms = _throttle(ctx, request.acks)
    if request.acks == 0:
        return None
    responses: list[TopicProduceResponse] = []
    pending = iter(results)
    for topic in request.topic_data:
        partitions = [_partition_response(part.index, next(pending)) for part in topic.partition_data]
        responses.append(TopicProduceResponse(name=topic.name, partition_responses=partitions))
    return ProduceResponse(responses=responses, throttle_time_ms=throttle_ms)


def _throttle(ctx: RequestContext, acks: int) -> int:
    """Kafka's produce quota step: the request's size against producer_byte_rate and (not for acks=0, which is
    exempt) its handler time against request_percentage; the larger throttle time is answered and muted for."""
    quotas = ctx.services.quotas
    bandwidth_ms = quotas.produce.record_and_get_throttle_time_ms(
        user_of(ctx), ctx.client_id, ctx.throttle.request_bytes
    )
    request_ms = record_request_quota(ctx) if acks != 0 else 0
    ctx.throttle.request_recorded = True
    return throttle_larger(ctx, bandwidth_ms, quotas.produce, request_ms)


async def _produce_authorized(
    ctx: RequestContext,
    request: ProduceRequest,
    entries: list[ProduceEntry],
    fields: list[ProducerFields | None],
    failures: list[ProduceResult | None],
) -> list[ProduceResult]:
    """Append the entries of the topics the principal may write to, whose records converted (`failures`: None)
    and, for transactional batches, that are in the producer's transaction; the others are answered without
    appending."""
    allowed = ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, [entry.topic for entry in entries])
    refusals: list[ProduceResult | None] = [
        _TOPIC_DENIED if entry.topic not in allowed else failure or _verify(ctx, request.transactional_id, entry, f)
        for entry, f, failure in zip(entries, fields, failures, strict=True)
    ]
    remote = [i for i, refusal in enumerate(refusals) if refusal is _VERIFY_REMOTELY]
    if remote:
        verified = await _verify_remotely(
            ctx, request.transactional_id or "", [(entries[i], fields[i]) for i in remote]
        )
        for i, result in zip(remote, verified, strict=True):
            refusals[i] = result
    writable = [entry for entry, refusal in zip(entries, refusals, strict=True) if refusal is None]
    manager = ctx.services.replica_manager
    if len(writable) == len(entries):
        return await manager.produce(entries, request.acks, request.timeout_ms, AppendOrigin.CLIENT)
    appended = iter(await manager.produce(writable, request.acks, request.timeout_ms, AppendOrigin.CLIENT))
    return [next(appended) if refusal is None else refusal for refusal in refusals]


def _verify(
    ctx: RequestContext, transactional_id: str | None, entry: ProduceEntry, fields: ProducerFields | None
) -> ProduceResult | None:
    """KIP-890 part 1: a transactional batch must be for a partition of the producer's ongoing transaction."""
    if fields is None or not fields.transactional or transactional_id is None:
        return None
    coordinator = ctx.services.txn_coordinator
    if coordinator is None:
        return None
    added = coordinator.verify_partition(
        transactional_id, fields.producer_id, fields.producer_epoch, (entry.topic, entry.partition)
    )
    if added is None:  # coordinated by another broker
        if ctx.services.txn_verifier is None or ctx.services.replica_manager.has_ongoing_transaction(
            entry.topic, entry.partition, fields.producer_id, fields.producer_epoch
        ):
            return None  # the partition is in the transaction already (Kafka verifies its first batch only)
        return _VERIFY_REMOTELY
    return _NOT_IN_TRANSACTION if added is False else None


async def _verify_remotely(
    ctx: RequestContext, transactional_id: str, batches: list[tuple[ProduceEntry, ProducerFields | None]]
) -> list[ProduceResult | None]:
    """Ask the coordinator on another broker, in one verification for the request's producer. Transactional
    batches of more than one producer (id, epoch) in one request are refused INVALID_PRODUCER_ID_MAPPING, as
    Kafka's ReplicaManager refuses them."""
    verifier = ctx.services.txn_verifier
    assert verifier is not None
    producers = {(fields.producer_id, fields.producer_epoch) for _, fields in batches if fields is not None}
    if len(producers) != 1:
        return [_MANY_PRODUCERS] * len(batches)
    ((producer_id, epoch),) = producers
    partitions = [(entry.topic, entry.partition) for entry, _ in batches]
    answer = await verifier.verify_transaction(transactional_id, producer_id, epoch, partitions)
    return [_verification_result(answer.get(tp, ErrorCode.INVALID_TXN_STATE)) for tp in partitions]


_MANY_PRODUCERS = ProduceResult(
    ErrorCode.INVALID_PRODUCER_ID_MAPPING, message="transactional records contained more than one producer ID"
)
_NOT_VERIFIED_RETRIABLE = frozenset(
    {
        ErrorCode.CONCURRENT_TRANSACTIONS,
        ErrorCode.NETWORK_EXCEPTION,
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.NOT_COORDINATOR,
    }
)


def _verification_result(error: ErrorCode) -> ProduceResult | None:
    if error is ErrorCode.NONE:
        return None
    if error is ErrorCode.INVALID_TXN_STATE:
        return _NOT_IN_TRANSACTION
    if error in _NOT_VERIFIED_RETRIABLE:
        return ProduceResult(
            ErrorCode.NOT_ENOUGH_REPLICAS,
            message=f"unable to verify the partition was added to the transaction: {error.name}",
        )
    return ProduceResult(error)


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
