"""OffsetFetch (key 9), v0-9: a group's committed offsets (all of them when topics is null, from v2);
v0 (ZooKeeper offsets in Kafka) reads the coordinator's offsets, which every OffsetCommit version stores;
several groups in one request from v8.

A partition without a committed offset answers offset -1, leader epoch -1 and empty metadata. Coordinator
errors go to every partition for v1, to the top-level error for v2-7 and to the group's error from v8.
With require_stable (v7+), a partition for which an open transaction holds an offset (TxnOffsetCommit, not yet
committed by its marker) answers UNSTABLE_OFFSET_COMMIT, so the consumer retries until the transaction ends.
v10 (topic ids) is not served.
Authorization (KafkaApis.handleOffsetFetchRequest): DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED where
coordinator errors go; DESCRIBE on each topic: asked for all topics, the others are left out; asked by name, a
denied topic's partitions are TOPIC_AUTHORIZATION_FAILED with offset -1.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.groups import coordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.offset_fetch_request import OffsetFetchRequest
from odradek.broker.protocol.messages.offset_fetch_response import (
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
)

API_KEY = 9
VERSIONS = (0, 9)

Found = dict[str, list[tuple[int, int, int, str, ErrorCode]]]


def _fetch(
    ctx: RequestContext,
    group_id: str,
    wanted: list[tuple[str, list[int]]] | None,
    require_stable: bool = False,
    member: tuple[str | None, int] = (None, -1),
) -> tuple[ErrorCode, Found]:
    """`member`: v9's member id and epoch, checked for a KIP-848 consumer group."""
    partitions = None if wanted is None else [(t, p) for t, parts in wanted for p in parts]
    found: Found = {}
    if ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        error, rows = coordinator(ctx).fetch_offsets(group_id, partitions, *member)
    else:
        error, rows = ErrorCode.GROUP_AUTHORIZATION_FAILED, []
    if error != ErrorCode.NONE:
        for topic, index in partitions or []:
            found.setdefault(topic, []).append((index, -1, -1, "", error))
        return error, found
    describable = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, [topic for topic, _, _ in rows])
    for topic, index, value in rows:
        if topic not in describable:
            if partitions is not None:  # asked by name: refused; asked for all: left out
                found.setdefault(topic, []).append((index, -1, -1, "", ErrorCode.TOPIC_AUTHORIZATION_FAILED))
        elif require_stable and coordinator(ctx).has_pending_transactional_offset(group_id, topic, index):
            found.setdefault(topic, []).append((index, -1, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT))
        elif value is None:
            found.setdefault(topic, []).append((index, -1, -1, "", ErrorCode.NONE))
        else:
            found.setdefault(topic, []).append(
                (index, value.offset, value.leader_epoch, value.metadata, ErrorCode.NONE)
            )
    return error, found


async def handle(request: OffsetFetchRequest, ctx: RequestContext) -> OffsetFetchResponse:
    version = ctx.version
    if version >= 8:
        groups = []
        for group in request.groups:
            wanted = None if group.topics is None else [(t.name, t.partition_indexes) for t in group.topics]
            member = (group.member_id, group.member_epoch) if version >= 9 else (None, -1)
            error, found = _fetch(ctx, group.group_id, wanted, request.require_stable, member)
            groups.append(
                OffsetFetchResponseGroup(
                    group_id=group.group_id,
                    error_code=error,
                    topics=[]
                    if error != ErrorCode.NONE
                    else [
                        OffsetFetchResponseTopics(
                            name=topic,
                            partitions=[
                                OffsetFetchResponsePartitions(
                                    partition_index=i,
                                    committed_offset=o,
                                    committed_leader_epoch=e,
                                    metadata=m,
                                    error_code=err,
                                )
                                for i, o, e, m, err in rows
                            ],
                        )
                        for topic, rows in found.items()
                    ],
                )
            )
        return OffsetFetchResponse(groups=groups)
    wanted = None if request.topics is None else [(t.name, t.partition_indexes) for t in request.topics]
    error, found = _fetch(ctx, request.group_id, wanted, version >= 7 and request.require_stable)
    topics = [
        OffsetFetchResponseTopic(
            name=topic,
            partitions=[
                OffsetFetchResponsePartition(
                    partition_index=i,
                    committed_offset=o,
                    committed_leader_epoch=e,
                    metadata=m,
                    error_code=err,  # NONE or TOPIC_AUTHORIZATION_FAILED from v2 (coordinator errors: top level)
                )
                for i, o, e, m, err in rows
            ],
        )
        for topic, rows in found.items()
    ]
    if version >= 2 and error != ErrorCode.NONE:
        topics = []
    return OffsetFetchResponse(topics=topics, error_code=error)
