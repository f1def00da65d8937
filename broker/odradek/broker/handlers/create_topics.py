"""CreateTopics (key 19), v0-7: partitions, replication factor or explicit assignments, configs, validate_only
(v1+).

num_partitions / replication_factor of -1 take the broker defaults (`num.partitions`,
`default.replication.factor`, KIP-464). Configs are validated against the declared topic keys (INVALID_CONFIG
with the key named). From v5 the response carries the topic id, partitions, replication factor and the effective
configs (omitted when the request had topic-config errors). A request for more than 10,000 partitions in all is
refused with POLICY_VIOLATION for every topic, as Kafka's controller does.

The response waits until this broker has created the new partitions' logs (in a worker thread: the event loop
keeps serving), for the whole request at most `timeout_ms` and at most 10 s (`MAX_REPLICA_WAIT_S`, also when
`timeout_ms` is 0, librdkafka's default). Past that the topics are created all the same and answered without
error, as KRaft answers once the topic is committed; Metadata reports the partitions whose log is not there yet
LEADER_NOT_AVAILABLE.

Authorization (KafkaApis / ControllerApis.createTopics): CREATE on the cluster allows every topic, else CREATE on
each topic; a denied topic is TOPIC_AUTHORIZATION_FAILED "Authorization failed.". A created topic the principal
may not DESCRIBE_CONFIGS is answered without its configs, partitions and replication factor, with
topic_config_error_code TOPIC_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

import asyncio
import uuid

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.config.definitions import ConfigError
from odradek.broker.config.topic import describe_topic, parse_topic_configs
from odradek.broker.handlers.context import RequestContext, replica_wait_s
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.create_topics_request import CreatableTopic, CreateTopicsRequest
from odradek.broker.protocol.messages.create_topics_response import (
    CreatableTopicConfigs,
    CreatableTopicResult,
    CreateTopicsResponse,
)

API_KEY = 19
VERSIONS = (0, 7)
# Kafka's ReplicationControlManager.MAX_PARTITIONS_PER_BATCH: one request may not create more partitions than this
# (validateTotalNumberOfPartitions, POLICY_VIOLATION for every topic). Without it one small request could ask for
# 100,000 partitions per topic and hold the event loop for minutes and every descriptor (found by fuzzing).
MAX_PARTITIONS_PER_REQUEST = 10_000
TOO_MANY_PARTITIONS = "Excessively large number of partitions per request."


async def handle(request: CreateTopicsRequest, ctx: RequestContext) -> CreateTopicsResponse:
    seen: dict[str, int] = {}
    for topic in request.topics:
        seen[topic.name] = seen.get(topic.name, 0) + 1
    default_partitions = ctx.services.config.get_int("num.partitions")
    unique = [topic for topic in request.topics if seen[topic.name] == 1]
    if _total_partitions(unique, default_partitions) > MAX_PARTITIONS_PER_REQUEST:
        return CreateTopicsResponse(
            topics=[
                CreatableTopicResult(
                    name=topic.name, error_code=ErrorCode.POLICY_VIOLATION, error_message=TOO_MANY_PARTITIONS
                )
                for topic in request.topics
            ]
        )
    results = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + replica_wait_s(request.timeout_ms)
    names = [topic.name for topic in unique]
    if ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER, log_if_denied=False):
        creatable = set(names)
    else:
        creatable = ctx.authorized(AclOperation.CREATE, ResourceType.TOPIC, names)
    describable = ctx.authorized(AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, creatable, log_if_denied=False)
    for topic in request.topics:
        if seen[topic.name] > 1:
            results.append(
                CreatableTopicResult(
                    name=topic.name,
                    error_code=ErrorCode.INVALID_REQUEST,
                    error_message="Duplicate topic name in the request",
                )
            )
            continue
        if topic.name not in creatable:
            results.append(
                CreatableTopicResult(
                    name=topic.name,
                    error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                    error_message="Authorization failed.",
                )
            )
            continue
        result = await _create(topic, request.validate_only, ctx, deadline - loop.time())
        if topic.name not in describable and result.error_code == ErrorCode.NONE:
            result = CreatableTopicResult(
                name=result.name,
                topic_id=result.topic_id,
                topic_config_error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            )
        results.append(result)
    return CreateTopicsResponse(topics=results)


def _total_partitions(topics: list[CreatableTopic], default_partitions: int) -> int:
    """Kafka's count: assignments if given, else num_partitions (-1: the default; other values <= 0 count 0)."""
    total = 0
    for topic in topics:
        if topic.assignments:
            total += len(topic.assignments)
        elif topic.num_partitions == -1:
            total += default_partitions
        elif topic.num_partitions > 0:
            total += topic.num_partitions
    return total


async def _create(
    topic: CreatableTopic, validate_only: bool, ctx: RequestContext, wait_s: float
) -> CreatableTopicResult:
    services = ctx.services
    config = services.config
    result = CreatableTopicResult(name=topic.name)
    raw = {c.name: c.value for c in topic.configs}
    try:
        parse_topic_configs(raw)
    except ConfigError as exc:
        result.error_code, result.error_message = ErrorCode.INVALID_CONFIG, str(exc)
        return result
    assignments = {a.partition_index: list(a.broker_ids) for a in topic.assignments} or None
    if assignments and (topic.num_partitions != -1 or topic.replication_factor != -1):
        result.error_code = ErrorCode.INVALID_REQUEST
        result.error_message = "Both numPartitions or replicationFactor and replicasAssignments were set."
        return result
    # -1 takes the broker default (KIP-464), except with explicit assignments, which fix both.
    partitions, factor = topic.num_partitions, topic.replication_factor
    if assignments is None:
        partitions = partitions if partitions != -1 else config.get_int("num.partitions")
        factor = factor if factor != -1 else config.get_int("default.replication.factor")
    try:
        created = await services.controller.create_topic(
            topic.name,
            partitions,
            factor,
            {k: v for k, v in raw.items() if v is not None},
            assignments,
            validate_only,
        )
    except ControllerError as exc:
        result.error_code, result.error_message = exc.error_code, exc.message
        return result
    if not validate_only:
        await services.sync_replicas(wait_s)
    result.topic_id = uuid.UUID(created.topic_id) if created.topic_id else uuid.UUID(int=0)
    result.num_partitions = created.num_partitions
    first = created.partitions.get(0)
    result.replication_factor = len(first.replicas) if first is not None else factor
    result.configs = [
        CreatableTopicConfigs(
            name=e.name,
            value=e.value,
            read_only=e.read_only,
            config_source=e.source,
            is_sensitive=e.sensitive,
        )
        for e in describe_topic(created.configs, config)
    ]
    return result
