"""OffsetFetch (key 9), v1-9: a group's committed offsets (all of them when topics is null, from v2);
several groups in one request from v8.

A partition without a committed offset answers offset -1, leader epoch -1 and empty metadata. Coordinator
errors go to every partition for v1, to the top-level error for v2-7 and to the group's error from v8.
require_stable has no effect until transactional offset commits exist. v10 (topic ids) is not served.
"""

from __future__ import annotations

from odradek.broker.group.coordinator import GroupCoordinator
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
VERSIONS = (1, 9)

Found = dict[str, list[tuple[int, int, int, str, ErrorCode]]]


def _fetch(
    coord: GroupCoordinator, group_id: str, wanted: list[tuple[str, list[int]]] | None
) -> tuple[ErrorCode, Found]:
    partitions = None if wanted is None else [(t, p) for t, parts in wanted for p in parts]
    error, rows = coord.fetch_offsets(group_id, partitions)
    found: Found = {}
    if error != ErrorCode.NONE:
        for topic, index in partitions or []:
            found.setdefault(topic, []).append((index, -1, -1, "", error))
        return error, found
    for topic, index, value in rows:
        if value is None:
            found.setdefault(topic, []).append((index, -1, -1, "", ErrorCode.NONE))
        else:
            found.setdefault(topic, []).append(
                (index, value.offset, value.leader_epoch, value.metadata, ErrorCode.NONE)
            )
    return error, found


async def handle(request: OffsetFetchRequest, ctx: RequestContext) -> OffsetFetchResponse:
    coord = coordinator(ctx)
    version = ctx.version
    if version >= 8:
        groups = []
        for group in request.groups:
            wanted = None if group.topics is None else [(t.name, t.partition_indexes) for t in group.topics]
            error, found = _fetch(coord, group.group_id, wanted)
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
                                    partition_index=i, committed_offset=o, committed_leader_epoch=e, metadata=m
                                )
                                for i, o, e, m, _ in rows
                            ],
                        )
                        for topic, rows in found.items()
                    ],
                )
            )
        return OffsetFetchResponse(groups=groups)
    wanted = None if request.topics is None else [(t.name, t.partition_indexes) for t in request.topics]
    error, found = _fetch(coord, request.group_id, wanted)
    topics = [
        OffsetFetchResponseTopic(
            name=topic,
            partitions=[
                OffsetFetchResponsePartition(
                    partition_index=i,
                    committed_offset=o,
                    committed_leader_epoch=e,
                    metadata=m,
                    error_code=err if version < 2 else ErrorCode.NONE,
                )
                for i, o, e, m, err in rows
            ],
        )
        for topic, rows in found.items()
    ]
    if version >= 2 and error != ErrorCode.NONE:
        topics = []
    return OffsetFetchResponse(topics=topics, error_code=error)
