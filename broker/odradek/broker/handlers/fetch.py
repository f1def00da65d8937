"""Fetch (key 1), v0-16: consumer fetches with long-poll, size limits and zero-copy record data.

- `max_wait_ms` / `min_bytes`: the replica manager's fetch waits in its purgatory (DelayedFetch), woken by appends
  and high-watermark moves (no polling).
- `max_bytes` bounds the whole response and `partition_max_bytes` each partition; the first partition with data
  always gets at least one batch, so a batch larger than the limits still makes progress (Kafka's KIP-74 rule).
- Record data is not copied: each partition's slice of its segment file (`FileRecords`) is encoded as a file
  region (`protocol.frames.RegionWriter`) and goes out with sendfile.
- Fetch sessions (KIP-227) are declined the way Kafka declines them when its session cache is full: every
  response carries session id 0, so clients keep sending full fetch requests. An incremental fetch naming a
  session (id != 0 or epoch > 0) gets FETCH_SESSION_ID_NOT_FOUND.
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
from odradek.broker.protocol.messages.fetch_request import FetchPartition as FetchPartitionRequest
from odradek.broker.protocol.messages.fetch_request import FetchRequest
from odradek.broker.protocol.messages.fetch_response import (
    AbortedTransaction,
    FetchableTopicResponse,
    FetchResponse,
    PartitionData,
)
from odradek.broker.replication.api import FetchIsolation, FetchParams, FetchPartition, FetchResult
from odradek.broker.replication.conversion import down_convert

API_KEY = 1
VERSIONS = (0, 16)
REPLICA_STATE_FROM = 15  # the replica id moved into the tagged ReplicaState
RECORD_BATCH_FROM = 4  # below: the client reads message format v0 (Fetch v0-1) or v1 (v2-3)


async def handle(request: FetchRequest, ctx: RequestContext) -> Encoded | FetchResponse:
    if request.session_id != 0 or request.session_epoch > 0:
        return FetchResponse(error_code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND, session_id=0)
    replica_id = _replica_id(request, ctx.version)
    image = ctx.services.metadata.image
    named: list[tuple[str, uuid.UUID, FetchPartitionRequest]] = []
    for topic in request.topics:
        name = topic.topic
        if ctx.version >= 13:
            found = image.topic_by_id(str(topic.topic_id))
            name = found.name if found is not None else ""
        named += [(name, topic.topic_id, part) for part in topic.partitions]
    readable = _readable_topics(ctx, replica_id, {name for name, _, _ in named if name})
    wanted: list[FetchPartition] = []
    slots: list[tuple[str, uuid.UUID, int, ErrorCode | None]] = []
    for name, topic_id, part in named:
        error = _refusal(name, readable)
        slots.append((name, topic_id, part.partition, error))
        if error is None:
            wanted.append(
                FetchPartition(
                    name, part.partition, part.fetch_offset, part.partition_max_bytes, part.current_leader_epoch
                )
            )
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
            return FetchResponse(throttle_time_ms=throttle_ms, session_id=0)
    else:
        ctx.throttle.request_recorded = True  # a follower's fetch is a cluster action: exempt from the request quota
    return _encode(ctx, slots, results)


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


def _encode(
    ctx: RequestContext,
    slots: list[tuple[str, uuid.UUID, int, ErrorCode | None]],
    results: Sequence[FetchResult],
) -> Encoded:
    """The response body as chunks: each partition's records are its file slice, written by the codec as a region."""
    metrics = ctx.services.metrics
    read: dict[str, list[int]] = {}  # topic -> [partitions read, bytes]: the metrics, once per topic
    responses: list[FetchableTopicResponse] = []
    pending = iter(results)
    for name, topic_id, partition, error in slots:
        if not responses or responses[-1].topic != name or responses[-1].topic_id != topic_id:
            responses.append(FetchableTopicResponse(topic=name, topic_id=topic_id))
        data = PartitionData(partition_index=partition, records=b"")
        if error is not None:
            data.error_code = error
        else:
            result = next(pending)
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
                counts = read.get(name)
                if counts is None:
                    counts = read[name] = [0, 0]
                counts[0] += 1
                counts[1] += result.size
            else:
                metrics.fetch_failed(name)
        responses[-1].partitions.append(data)
    for name, (partitions, size) in read.items():
        metrics.fetched(name, size, partitions)
    body = RegionWriter()
    fetch_response.encode(body, FetchResponse(responses=responses), ctx.version)
    return Encoded(body.chunks())
