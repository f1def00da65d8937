"""DescribeProducers (key 61), v0: the active producers of partitions (kafka-transactions.sh describe-producers).

Kafka's KafkaApis.handleDescribeProducersRequest: READ on the topic, else TOPIC_AUTHORIZATION_FAILED for each of
its partitions; a partition this broker does not lead is NOT_LEADER_OR_FOLLOWER, one that does not exist
UNKNOWN_TOPIC_OR_PARTITION. Each producer as the partition's producer state holds it: id, epoch, last sequence
(-1 without a batch of this epoch), the max timestamp of its last batch, the coordinator epoch of its last
marker, and the first offset of its open transaction (-1: none).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_producers_request import DescribeProducersRequest
from odradek.broker.protocol.messages.describe_producers_response import (
    DescribeProducersResponse,
    PartitionResponse,
    ProducerState,
    TopicResponse,
)
from odradek.broker.replication.partition import PartitionError

API_KEY = 61
VERSIONS = (0, 0)


async def handle(request: DescribeProducersRequest, ctx: RequestContext) -> DescribeProducersResponse:
    manager = ctx.services.replica_manager
    allowed = ctx.authorized(AclOperation.READ, ResourceType.TOPIC, [t.name for t in request.topics])
    topics = []
    for topic in request.topics:
        partitions = []
        for index in topic.partition_indexes:
            result = PartitionResponse(partition_index=index)
            partitions.append(result)
            if topic.name not in allowed:
                result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                continue
            try:
                producers = manager.active_producers(topic.name, index)
            except PartitionError as exc:
                result.error_code = exc.error_code
                result.error_message = exc.message or None
                continue
            result.active_producers = [
                ProducerState(
                    producer_id=p.producer_id,
                    producer_epoch=p.producer_epoch,
                    last_sequence=p.last_sequence,
                    last_timestamp=p.last_timestamp,
                    coordinator_epoch=p.coordinator_epoch,
                    current_txn_start_offset=-1 if p.current_txn_first_offset is None else p.current_txn_first_offset,
                )
                for p in producers
            ]
        topics.append(TopicResponse(name=topic.name, partitions=partitions))
    return DescribeProducersResponse(topics=topics)
