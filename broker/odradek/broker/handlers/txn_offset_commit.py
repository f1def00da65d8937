"""TxnOffsetCommit (key 28), v0-3: offsets committed as part of a transaction (sendOffsetsToTransaction).

Kafka's KafkaApis.handleTxnOffsetCommitRequest: WRITE on the transactional id and READ on the group (every
partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED / GROUP_AUTHORIZATION_FAILED), READ on each topic
(TOPIC_AUTHORIZATION_FAILED), unknown partitions UNKNOWN_TOPIC_OR_PARTITION. The group coordinator holds the
offsets to __consumer_offsets as a transactional batch of the producer id and epoch; they are pending until the
transaction's marker: COMMIT applies them, ABORT drops them. From v3 the
member (generation, member id, instance id) is checked as for OffsetCommit.
"""

from __future__ import annotations

from collections.abc import Sequence

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.group.api import OffsetCommitEntry
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.txn_offset_commit_request import TxnOffsetCommitRequest
from odradek.broker.protocol.messages.txn_offset_commit_response import (
    TxnOffsetCommitResponse,
    TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
)

API_KEY = 28
VERSIONS = (0, 3)
# Answered after a coordinator write, a loop turn or two later (coordinator/runtime.py flushes its queue at the end
# of the turn): the server holds the responses pipelined before it for it (registry.coordinator_writes).
COORDINATOR_WRITE = True


async def handle(request: TxnOffsetCommitRequest, ctx: RequestContext) -> TxnOffsetCommitResponse:
    wanted = [(topic.name, part) for topic in request.topics for part in topic.partitions]
    errors = await _commit(request, ctx, wanted)
    by_topic: dict[str, list[TxnOffsetCommitResponsePartition]] = {}
    for (topic, part), error in zip(wanted, errors, strict=True):
        by_topic.setdefault(topic, []).append(
            TxnOffsetCommitResponsePartition(partition_index=part.partition_index, error_code=error)
        )
    return TxnOffsetCommitResponse(
        topics=[TxnOffsetCommitResponseTopic(name=name, partitions=parts) for name, parts in by_topic.items()]
    )


async def _commit(
    request: TxnOffsetCommitRequest, ctx: RequestContext, wanted: Sequence[tuple[str, object]]
) -> list[ErrorCode]:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id):
        return [ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED] * len(wanted)
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return [ErrorCode.GROUP_AUTHORIZATION_FAILED] * len(wanted)
    readable = ctx.authorized(AclOperation.READ, ResourceType.TOPIC, [topic for topic, _ in wanted])
    topics = ctx.services.metadata.image.topics
    results: list[ErrorCode | None] = []
    entries: list[OffsetCommitEntry] = []
    for topic in request.topics:
        for part in topic.partitions:
            if topic.name not in readable:
                results.append(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
            elif topic.name not in topics or part.partition_index not in topics[topic.name].partitions:
                results.append(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            else:
                results.append(None)
                entries.append(
                    OffsetCommitEntry(
                        topic.name,
                        part.partition_index,
                        part.committed_offset,
                        part.committed_leader_epoch,
                        part.committed_metadata,
                    )
                )
    committed = iter(
        await ctx.services.group_coordinator.commit_transactional_offsets(
            request.group_id,
            request.producer_id,
            request.producer_epoch,
            request.generation_id,
            request.member_id,
            request.group_instance_id,
            entries,
        )
        if entries
        else []
    )
    return [next(committed) if error is None else error for error in results]
