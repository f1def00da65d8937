"""Produce (key 0), v3-11 served; v0-2 advertised and refused (the connection is closed), KAFKA-18659.

Each partition's records are validated (log.validator: magic 2, CRC-32C, sizes, timestamps, compaction keys) and
appended by the replica manager in request order; acks=all then waits for the high watermark up to `timeout_ms`;
acks=0 gets no response at all. Errors are per partition, with Kafka's codes and, where Kafka gives them, record
errors and an error message (v8+).
Not implemented here: transactional produce (TransactionalId set) is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED
until transactions exist; topic ids (v13) are not advertised.
"""

from __future__ import annotations

from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.produce_request import ProduceRequest
from odradek.broker.protocol.messages.produce_response import (
    BatchIndexAndErrorMessage,
    PartitionProduceResponse,
    ProduceResponse,
    TopicProduceResponse,
)
from odradek.broker.replication.partition import Partition
from odradek.broker.replication.replica_manager import ProduceResult

API_KEY = 0
VERSIONS = (0, 11)
REJECTED_VERSIONS = (0, 2)


async def handle(request: ProduceRequest, ctx: RequestContext) -> ProduceResponse | None:
    manager = ctx.services.replica_manager
    pending: list[tuple[ProduceResult, Partition, int]] = []
    topics: list[tuple[str, list[tuple[int, ProduceResult]]]] = []
    for topic in request.topic_data:
        results = []
        for part in topic.partition_data:
            if request.transactional_id is not None:
                result = ProduceResult(
                    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                    message="transactions are not supported yet",
                )
            elif part.records is None or len(part.records) == 0:
                result = ProduceResult(ErrorCode.INVALID_RECORD, message="no records in the produce request")
            else:
                result, partition, last = manager.append_to_partition(
                    topic.name, part.index, memoryview(part.records), request.acks
                )
                if partition is not None and request.acks == -1:
                    pending.append((result, partition, last))
            results.append((part.index, result))
        topics.append((topic.name, results))
    if request.acks == 0:
        return None
    if pending:
        await manager.wait_for_acks(pending, request.timeout_ms)
    return ProduceResponse(
        responses=[
            TopicProduceResponse(
                name=name,
                partition_responses=[_partition_response(index, result) for index, result in results],
            )
            for name, results in topics
        ]
    )


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
