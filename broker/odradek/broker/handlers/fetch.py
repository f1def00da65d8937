"""Fetch (key 1), v4-16: consumer fetches with long-poll, size limits and zero-copy record data.

- `max_wait_ms` / `min_bytes`: the replica manager waits on the partitions' new-data futures (no polling).
- `max_bytes` bounds the whole response and `partition_max_bytes` each partition; the first partition with data
  always gets at least one batch, so a batch larger than the limits still makes progress (Kafka's KIP-74 rule).
- Record data is not copied: each partition's slice of its segment file goes out with sendfile (`FileRegion`).
- Fetch sessions (KIP-227) are declined the way Kafka declines them when its session cache is full: every
  response carries session id 0, so clients keep sending full fetch requests. An incremental fetch naming a
  session (id != 0 or epoch > 0) gets FETCH_SESSION_ID_NOT_FOUND.
- isolation_level 1 (read_committed) reads up to the last stable offset (equal to the HW until transactions).
Not implemented: follower fetches (replica_id >= 0) are served like consumer fetches until replication lands;
rack-aware preferred read replicas (always -1); diverging epoch validation of `last_fetched_epoch`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.dispatch import Chunk, Encoded
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.frames import FileRegion
from odradek.broker.protocol.messages import fetch_response
from odradek.broker.protocol.messages.fetch_request import FetchRequest
from odradek.broker.protocol.messages.fetch_response import (
    FetchableTopicResponse,
    FetchResponse,
    PartitionData,
)
from odradek.broker.protocol.primitives import I32, UUID_ZERO, w_uvarint
from odradek.broker.replication.replica_manager import FetchPartition, FetchResult

API_KEY = 1
VERSIONS = (4, 16)
FLEXIBLE_FROM = 12


async def handle(request: FetchRequest, ctx: RequestContext) -> Encoded | FetchResponse:
    if request.session_id != 0 or request.session_epoch > 0:
        return FetchResponse(error_code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND, session_id=0)
    services = ctx.services
    image = services.metadata.image
    wanted: list[FetchPartition] = []
    slots: list[tuple[str, uuid.UUID, int, ErrorCode | None]] = []
    for topic in request.topics:
        name = topic.topic
        topic_id = topic.topic_id
        if ctx.version >= 13:
            found = image.topic_by_id(str(topic.topic_id))
            name = found.name if found is not None else ""
        for part in topic.partitions:
            if not name:
                slots.append((name, topic_id, part.partition, ErrorCode.UNKNOWN_TOPIC_ID))
                continue
            wanted.append(
                FetchPartition(
                    name,
                    part.partition,
                    part.fetch_offset,
                    part.partition_max_bytes,
                    part.current_leader_epoch,
                )
            )
            slots.append((name, topic_id, part.partition, None))
    results = await services.replica_manager.fetch(
        wanted, request.max_wait_ms, request.min_bytes, request.max_bytes, request.isolation_level == 1
    )
    return _encode(ctx, slots, results)


def _encode(
    ctx: RequestContext,
    slots: list[tuple[str, uuid.UUID, int, ErrorCode | None]],
    results: Sequence[FetchResult],
) -> Encoded:
    metrics = ctx.services.metrics
    responses: list[FetchableTopicResponse] = []
    regions: list[tuple[bytes, FileRegion]] = []
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
                segment_slice = result.data.slice if result.data is not None else None
                if segment_slice is not None and segment_slice.size > 0:
                    region = FileRegion.from_fd(segment_slice.file.fileno(), segment_slice.position, segment_slice.size)
                    marker = os.urandom(16)
                    data.records = marker
                    regions.append((marker, region))
                metrics.fetched(name, result.size)
            else:
                metrics.fetch_failed(name)
        responses[-1].partitions.append(data)
    body = bytearray()
    fetch_response.encode(body, FetchResponse(responses=responses), ctx.version)
    return Encoded(splice_regions(body, regions, ctx.version >= FLEXIBLE_FROM))


def splice_regions(body: bytearray, regions: list[tuple[bytes, FileRegion]], flexible: bool) -> list[Chunk]:
    """Replace each 16-byte marker (and its length prefix) by the real length and the file region.

    The generated encoder writes `records` as length-prefixed bytes; encoding a random 16-byte marker in their
    place and splicing keeps one encoder for every version while the record data itself is never copied.
    The compact prefix of 16 bytes is the single byte 17; the legacy prefix is an int32.
    """
    chunks: list[Chunk] = []
    start = 0
    prefix = 1 if flexible else 4
    for marker, region in regions:
        at = body.find(marker, start)
        if at < 0:
            raise AssertionError("fetch marker missing from the encoded body")
        head = body[start : at - prefix]
        if flexible:
            w_uvarint(head, region.size + 1)
        else:
            head += I32.pack(region.size)
        chunks.append(head)
        chunks.append(region)
        start = at + len(marker)
    chunks.append(body[start:])
    return chunks


__all__ = ["UUID_ZERO", "handle", "splice_regions"]
