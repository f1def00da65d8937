"""OffsetCommit (key 8), v0-9: store a group's consumed positions in __consumer_offsets.

Generation -1 with an empty member id commits for a group without members (standalone consumers, admin
resets); otherwise the member and generation must be current (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID). Partitions of topics that do not exist get
UNKNOWN_TOPIC_OR_PARTITION; metadata over `offset.metadata.max.bytes` gets OFFSET_METADATA_TOO_LARGE.
v2-4's retention_time_ms sets an expire timestamp as Kafka did. v1's per-partition commit timestamp is stored as
the commit time when it is not -1 (Kafka's OffsetAndMetadata.fromRequest). v0 has no generation or member id:
it commits as a group without members (generation -1); Kafka 3.9 in ZooKeeper mode wrote v0 commits to
ZooKeeper, without a coordinator (and KRaft brokers refused them): here they are stored in the coordinator like
v1's, so an OffsetFetch of any version reads them. v10 (topic ids) is not served.
Authorization (KafkaApis.handleOffsetCommitRequest): READ on the group, else every partition is
GROUP_AUTHORIZATION_FAILED; then READ on each topic, else its partitions are TOPIC_AUTHORIZATION_FAILED (checked
before the topic's existence).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.coordinator import OffsetCommitEntry
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.offset_commit_request import OffsetCommitRequest
from odradek.broker.protocol.messages.offset_commit_response import (
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
)

API_KEY = 8
VERSIONS = (0, 9)
# Answered after a coordinator write, a loop turn or two later (coordinator/runtime.py flushes its queue at the end
# of the turn): the server holds the responses pipelined before it for it (registry.coordinator_writes).
COORDINATOR_WRITE = True


async def handle(request: OffsetCommitRequest, ctx: RequestContext) -> OffsetCommitResponse:
    services = ctx.services
    image = services.metadata.image
    now = services.now_ms()
    expire = now + request.retention_time_ms if ctx.version <= 4 and request.retention_time_ms >= 0 else -1
    errors: dict[tuple[str, int], ErrorCode] = {}
    entries: list[OffsetCommitEntry] = []
    group_allowed = ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id)
    readable = (
        ctx.authorized(AclOperation.READ, ResourceType.TOPIC, [t.name for t in request.topics])
        if group_allowed
        else set()
    )
    for topic in request.topics:
        known = image.topics.get(topic.name)
        for part in topic.partitions:
            if not group_allowed:
                errors[(topic.name, part.partition_index)] = ErrorCode.GROUP_AUTHORIZATION_FAILED
            elif topic.name not in readable:
                errors[(topic.name, part.partition_index)] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif known is None or part.partition_index not in known.partitions:
                errors[(topic.name, part.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                entries.append(
                    OffsetCommitEntry(
                        topic.name,
                        part.partition_index,
                        part.committed_offset,
                        part.committed_leader_epoch if ctx.version >= 6 else -1,
                        part.committed_metadata,
                        expire,
                        part.commit_timestamp if ctx.version == 1 else -1,
                    )
                )
    if entries:
        results = await coordinator(ctx).commit_offsets(
            request.group_id,
            request.generation_id_or_member_epoch,
            request.member_id,
            request.group_instance_id if ctx.version >= 7 else None,
            entries,
            ErrorCode.GROUP_ID_NOT_FOUND if ctx.version >= 9 else ErrorCode.ILLEGAL_GENERATION,
        )
        for entry, error in zip(entries, results, strict=True):
            errors[(entry.topic, entry.partition)] = error
    return OffsetCommitResponse(
        topics=[
            OffsetCommitResponseTopic(
                name=topic.name,
                partitions=[
                    OffsetCommitResponsePartition(
                        partition_index=p.partition_index, error_code=errors[(topic.name, p.partition_index)]
                    )
                    for p in topic.partitions
                ],
            )
            for topic in request.topics
        ]
    )
