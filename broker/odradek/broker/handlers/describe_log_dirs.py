"""DescribeLogDirs (key 35), v0-4: this broker's log dirs and the replicas in each.

Kafka 3.9 serves v0-4 (v0 and v1 are the same; v2 is flexible; v3 adds the top-level error code; v4 the dir's
`total_bytes` and `usable_bytes`, from the file system holding it). `topics` null describes every local replica;
otherwise the named partitions this broker holds (others are left out). Per partition
(`replication.log_dirs.describe_log_dirs`, Kafka's `ReplicaManager.describeLogDirs`): `partition_size` is the bytes
of its segments, `offset_lag` is max(0, high watermark - log end offset), `is_future_key` is false (there are no
future replicas: AlterReplicaLogDirs is not served). A dir whose file system cannot be read, or that is offline (an
I/O error took it offline), is KAFKA_STORAGE_ERROR.
Authorization: DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED (v3+: top level) and no results.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_log_dirs_request import DescribeLogDirsRequest
from odradek.broker.protocol.messages.describe_log_dirs_response import (
    DescribeLogDirsPartition,
    DescribeLogDirsResponse,
    DescribeLogDirsResult,
    DescribeLogDirsTopic,
)
from odradek.broker.replication.log_dirs import LogDirDescription, describe_log_dirs

API_KEY = 35
VERSIONS = (0, 4)


async def handle(request: DescribeLogDirsRequest, ctx: RequestContext) -> DescribeLogDirsResponse:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        return DescribeLogDirsResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    wanted = None if request.topics is None else {(t.topic, p) for t in request.topics for p in t.partitions}
    dirs = describe_log_dirs(ctx.services.replica_manager.logs, wanted)
    return DescribeLogDirsResponse(results=[_result(d) for d in dirs])


def _result(described: LogDirDescription) -> DescribeLogDirsResult:
    if not described.readable:
        return DescribeLogDirsResult(error_code=ErrorCode.KAFKA_STORAGE_ERROR, log_dir=described.path)
    by_topic: dict[str, list[DescribeLogDirsPartition]] = {}
    for r in described.replicas:
        by_topic.setdefault(r.topic, []).append(
            DescribeLogDirsPartition(
                partition_index=r.partition, partition_size=r.size, offset_lag=r.offset_lag, is_future_key=False
            )
        )
    return DescribeLogDirsResult(
        log_dir=described.path,
        topics=[DescribeLogDirsTopic(name=name, partitions=parts) for name, parts in by_topic.items()],
        total_bytes=described.total_bytes,
        usable_bytes=described.usable_bytes,
    )
