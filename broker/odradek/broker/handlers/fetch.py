"""Fetch (key 1), v0-16: consumer fetches with long-poll, size limits and zero-copy record data.

- `max_wait_ms` / `min_bytes`: the replica manager's fetch waits in its purgatory (DelayedFetch), woken by appends
  and high-watermark moves (no polling).
- `max_bytes` bounds the whole response and `partition_max_bytes` each partition; the first partition with data
  always gets at least one batch, so a batch larger than the limits still makes progress (Kafka's KIP-74 rule).
- Record data is not copied: each partition's slice of its segment file (`FileRecords`) is encoded as a file
  region (`protocol.frames.RegionWriter`) and goes out with sendfile.
- Fetch sessions (KIP-227, v7+): the request's session id and epoch pick its context (`replication.fetch_session`:
  sessionless, full, incremental or a session error: FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
  FETCH_SESSION_TOPIC_ID_ERROR); the context says which partitions are read (an incremental request's: the
  session's, updated by the request's partitions and forgotten topics) and which are sent (an incremental
  response's: those with records, a new high watermark or log start offset, or an error). Sessions of consumers and
  followers share the cache (`max.incremental.fetch.session.cache.slots`, followers' privileged).
- Authorization (Kafka's order): a consumer needs READ on each topic, a follower CLUSTER_ACTION on the cluster
  (refused: every partition TOPIC_AUTHORIZATION_FAILED); unknown topic ids answer UNKNOWN_TOPIC_ID first.
- isolation_level 1 (read_committed) reads up to the log's last stable offset and gets the aborted transactions
  overlapping the records read (producer id, first offset; `Log.collect_aborted_transactions`), which the
  consumer uses to drop aborted records;
  a replica id >= 0 (v15+: replica_state) reads up to the log end offset (Kafka's FetchIsolation) and is a
  follower fetch: the replica manager records the follower's fetch offset and time (ISR, high watermark) and
  refuses a broker that is not a replica of the partition (NOT_LEADER_OR_FOLLOWER).
- v0-3 (clients that cannot read RecordBatch v2): the records are down-converted while the response is sent,
  batch by batch (`replication.conversion.down_convert`, Kafka's LazyDownConversionRecords): magic 0 for v0-1,
  magic 1 for v2-3; control batches dropped; counted in kafka_server_brokertopicmetrics_fetchmessageconversions.
  These versions have no isolation level: they read uncommitted, aborted records included, as Kafka's do.
  No zero copy for them.
Not implemented: rack-aware preferred read replicas (always -1); diverging epoch validation of
`last_fetched_epoch` (followers truncate by OffsetForLeaderEpoch instead).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.dispatch import Encoded
from odradek.broker.handlers.quotas import record_request_quota, throttle_larger, user_of
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.frames import RegionWriter
from odradek.broker.protocol.messages import fetch_response
from odradek.broker.protocol.messages.fetch_request import FetchRequest
from odradek.broker.protocol.messages.fetch_response import (
    AbortedTransaction,
    FetchableTopicResponse,
    FetchResponse,
    PartitionData,
)
from odradek.broker.replication.api import NO_TOPIC_ID, FetchIsolation, FetchParams, FetchPartition, FetchResult
from odradek.broker.replication.conversion import down_convert
from odradek.broker.replication.fetch_session import (
    TOPIC_IDS_FROM,
    FetchMetadata,
    FetchSessionResponse,
    FetchUpdate,
    SessionKey,
)

API_KEY = 1
VERSIONS = (0, 16)
REPLICA_STATE_FROM = 15  # the replica id moved into the tagged ReplicaState
RECORD_BATCH_FROM = 4  # below: the client reads message format v0 (Fetch v0-1) or v1 (v2-3)


async def handle(request: FetchRequest, ctx: RequestContext) -> Encoded | FetchResponse:
    replica_id = _replica_id(request, ctx.version)
    image = ctx.services.metadata.image

    def topic_name(topic_id: uuid.UUID) -> str | None:
        found = image.topic_by_id(str(topic_id))
        return found.name if found is not None else None

    by_id = ctx.version >= TOPIC_IDS_FROM
    fetch_data: list[FetchPartition] = []
    for topic in request.topics:
        name, topic_id = (topic_name(topic.topic_id) or "", topic.topic_id) if by_id else (topic.topic, NO_TOPIC_ID)
        fetch_data += [
            FetchPartition(
                name, part.partition, part.fetch_offset, part.partition_max_bytes, part.current_leader_epoch, topic_id
            )
            for part in topic.partitions
        ]
    to_forget: list[SessionKey] = [
        (forgotten.topic_id if by_id else forgotten.topic, index)
        for forgotten in request.forgotten_topics_data
        for index in forgotten.partitions
    ]
    context = ctx.services.replica_manager.fetch_manager.new_context(
        ctx.version,
        FetchMetadata(request.session_id, request.session_epoch),
        replica_id >= 0,
        fetch_data,
        to_forget,
        topic_name,
    )
    partitions = context.partitions()
    readable = _readable_topics(ctx, replica_id, {p.topic for p in partitions if p.topic})
    refusals = [_refusal(p.topic, readable) for p in partitions]
    wanted = [p for p, error in zip(partitions, refusals, strict=True) if error is None]
    max_bytes = request.max_bytes
    if replica_id < 0:  # Kafka caps a consumer's fetch to what its quota allows over the whole quota window
        max_bytes = int(
            min(max_bytes, ctx.services.quotas.fetch.max_value_in_quota_window(user_of(ctx), ctx.client_id))
        )
    params = FetchParams(
        replica_id,
        request.max_wait_ms,
        request.min_bytes,
        max_bytes,
        FetchIsolation.of(replica_id, request.isolation_level),
    )
    results = await ctx.services.replica_manager.fetch(params, wanted)
    if replica_id < 0:
        throttle_ms = _throttle(ctx, results)
        if throttle_ms > 0:  # KIP-219: answered at once without data, the connection muted
            throttled = context.throttled_response()
            return FetchResponse(
                throttle_time_ms=throttle_ms, error_code=throttled.error, session_id=throttled.session_id
            )
    else:
        ctx.throttle.request_recorded = True  # a follower's fetch is a cluster action: exempt from the request quota
    pending = iter(results)
    updates = [
        (part, FetchResult(error) if error is not None else next(pending))
        for part, error in zip(partitions, refusals, strict=True)
    ]
    _count(ctx, updates, refusals)
    return _encode(ctx, context.update_and_generate_response_data(updates))


def _throttle(ctx: RequestContext, results: Sequence[FetchResult]) -> int:
    """Kafka's fetch quota step: the response's record bytes against consumer_byte_rate and the handler time against
    request_percentage; when throttled, the bytes recorded are taken back, as the response carries none."""
    quotas = ctx.services.quotas
    size = sum(result.size for result in results)
    user = user_of(ctx)
    bandwidth_ms = quotas.fetch.record_and_get_throttle_time_ms(user, ctx.client_id, size)
    request_ms = record_request_quota(ctx)
    throttle_ms = throttle_larger(ctx, bandwidth_ms, quotas.fetch, request_ms)
    if throttle_ms > 0:
        quotas.fetch.unrecord(user, ctx.client_id, size)
    return throttle_ms


def _readable_topics(ctx: RequestContext, replica_id: int, names: set[str]) -> set[str] | None:
    """The topics this fetch may read (Kafka's KafkaApis.handleFetchRequest): a consumer needs READ on each topic;
    a follower needs CLUSTER_ACTION on the cluster and then reads any topic. None: a follower refused, whose every
    partition is answered TOPIC_AUTHORIZATION_FAILED, known or not (CVE-2018-1288)."""
    if replica_id < 0:
        return ctx.authorized(AclOperation.READ, ResourceType.TOPIC, names)
    return names if ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER) else None


def _refusal(name: str, readable: set[str] | None) -> ErrorCode | None:
    """The error a partition is answered with before any read, in Kafka's order, or None."""
    if readable is None:
        return ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if not name:
        return ErrorCode.UNKNOWN_TOPIC_ID
    if name not in readable:
        return ErrorCode.TOPIC_AUTHORIZATION_FAILED
    return None


def _replica_id(request: FetchRequest, version: int) -> int:
    if version >= REPLICA_STATE_FROM:
        return request.replica_state.replica_id if request.replica_state is not None else -1
    return request.replica_id


def _count(ctx: RequestContext, updates: list[FetchUpdate], refusals: list[ErrorCode | None]) -> None:
    """Every partition read counts (Kafka's TotalFetchRequestsPerSec marks each read), sent or not; the metrics
    are added once per topic (per-partition label lookups were most of an idle follower fetch's metrics cost)."""
    metrics = ctx.services.metrics
    read: dict[str, list[int]] = {}  # topic -> [partitions read, bytes]
    for (part, result), refusal in zip(updates, refusals, strict=True):
        if refusal is not None:
            continue
        if result.error is ErrorCode.NONE:
            counts = read.get(part.topic)
            if counts is None:
                counts = read[part.topic] = [0, 0]
            counts[0] += 1
            counts[1] += result.size
        else:
            metrics.fetch_failed(part.topic)
    for name, (count, size) in read.items():
        metrics.fetched(name, size, count)


def _encode(ctx: RequestContext, answer: FetchSessionResponse) -> Encoded:
    """The response body as chunks: each partition's records are its file slice, written by the codec as a region."""
    metrics = ctx.services.metrics
    responses: list[FetchableTopicResponse] = []
    for part, result in answer.partitions:
        name = part.topic
        if not responses or responses[-1].topic != name or responses[-1].topic_id != part.topic_id:
            responses.append(FetchableTopicResponse(topic=name, topic_id=part.topic_id))
        data = PartitionData(partition_index=part.partition, records=b"")
        data.error_code = result.error
        data.high_watermark = result.high_watermark
        data.last_stable_offset = result.last_stable_offset
        data.log_start_offset = result.log_start_offset
        if result.error is ErrorCode.NONE:
            if result.records is not None:
                data.records = (
                    result.records
                    if ctx.version >= RECORD_BATCH_FROM
                    else down_convert(result.records, 0 if ctx.version <= 1 else 1, name, metrics.fetch_converted)
                )
            if result.aborted_transactions is not None:
                data.aborted_transactions = [
                    AbortedTransaction(producer_id=producer_id, first_offset=first_offset)
                    for producer_id, first_offset in result.aborted_transactions
                ]
        responses[-1].partitions.append(data)
    body = RegionWriter()
    response = FetchResponse(error_code=answer.error, session_id=answer.session_id, responses=responses)
    fetch_response.encode(body, response, ctx.version)
    return Encoded(body.chunks())
