"""Metadata (key 3), v0-13: brokers, cluster id, controller id, topics with ids and partition states.

Topics: `None` (v1+) or an empty list (v0) means every topic. A missing topic is created when both the request
(`allow_auto_topic_creation`, implied at v0-3) and the broker (`auto.create.topics.enable`) allow it, with
`num.partitions` and `default.replication.factor`; the response then already describes it (one node: the
metadata commit is local). Topic ids in the request (v10+) are resolved to names. A partition led here whose log
is still being created (a large CreateTopics or CreatePartitions in progress) is LEADER_NOT_AVAILABLE with leader
-1 until its log exists; clients retry.

Listeners: brokers are described with their endpoint on the listener the request came in on; a broker without
that listener is left out, and a partition it leads has no leader: LISTENER_NOT_FOUND from v6,
LEADER_NOT_AVAILABLE before (Kafka's MetadataCache).

Authorization (KafkaApis.handleTopicMetadataRequest): DESCRIBE on each topic. Asked for every topic, the ones not
describable are left out; asked by name (or id), they are TOPIC_AUTHORIZATION_FAILED (by id with the name left
null), existing or not, so that names do not leak. Auto-creation needs CREATE on the cluster or on the topic, else
TOPIC_AUTHORIZATION_FAILED. Authorized operations (v8+) are the allowed bits of each resource's supported
operations, when asked for.
Partitions without a live leader (leader -1 after the controller found no in-sync replica to elect, or a leader
whose registration is gone) are LEADER_NOT_AVAILABLE with leader -1, as Kafka answers; `offline_replicas` lists the
replicas whose broker is not registered. A broker whose registration just ended is still listed among the brokers
for a moment (metadata/departed_brokers.py: clients learn the new leaders before it disappears).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.topics import LeaderCheck, auto_create, describe_topic, error_topic, pending_here
from odradek.broker.metadata.image import MetadataImage
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.metadata_request import MetadataRequest
from odradek.broker.protocol.messages.metadata_response import (
    MetadataResponse,
    MetadataResponseBroker,
    MetadataResponseTopic,
)
from odradek.broker.protocol.primitives import UUID_ZERO

API_KEY = 3
VERSIONS = (0, 13)
NOT_REQUESTED = -(2**31)  # authorized operations not asked for (the schema's default)


async def handle(request: MetadataRequest, ctx: RequestContext) -> MetadataResponse:
    services = ctx.services
    image = services.metadata.image
    all_topics = request.topics is None or (ctx.version == 0 and not request.topics)
    if all_topics:
        describable = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, image.topics, log_if_denied=False)
        pending, check = pending_here(services), _leader_check(ctx)
        topics = [
            describe_topic(t, pending, check, image.brokers)
            for name, t in sorted(image.topics.items())
            if name in describable
        ]
    else:
        topics = await _requested(request, ctx)
    image = services.metadata.image
    brokers = services.departed_brokers.listed(image)  # a broker that just died stays listed a moment
    endpoints = [(b, ctx.endpoint(b)) for b in brokers]
    response = MetadataResponse(
        brokers=[
            MetadataResponseBroker(node_id=b.broker_id, host=e.host, port=e.port, rack=b.rack)
            for b, e in endpoints
            if e is not None
        ],
        cluster_id=image.cluster_id,
        controller_id=services.controller_id,
        topics=topics,
    )
    if request.include_cluster_authorized_operations and 8 <= ctx.version <= 10:
        response.cluster_authorized_operations = ctx.authorized_operations(ResourceType.CLUSTER)
    if request.include_topic_authorized_operations and ctx.version >= 8:
        for topic in response.topics:
            if topic.error_code == ErrorCode.NONE and topic.name is not None:
                topic.topic_authorized_operations = ctx.authorized_operations(ResourceType.TOPIC, topic.name)
    return response


async def _requested(request: MetadataRequest, ctx: RequestContext) -> list[MetadataResponseTopic]:
    services = ctx.services
    image = services.metadata.image
    wanted = request.topics or []
    names = [w.name if w.name is not None else _name_of(image, w.topic_id) for w in wanted]
    describable = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, [n for n in names if n is not None])
    allow = request.allow_auto_topic_creation or ctx.version < 4
    creatable = _creatable(ctx, [n for n in names if n is not None and n not in image.topics], allow)
    topics: list[MetadataResponseTopic] = []
    check = _leader_check(ctx)
    for entry, name in zip(wanted, names, strict=True):
        if name is None:
            topics.append(error_topic(None, ErrorCode.UNKNOWN_TOPIC_ID, topic_id=entry.topic_id))
        elif name not in describable:
            by_id = entry.name is None
            topics.append(
                error_topic(
                    None if by_id else name,
                    ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                    topic_id=entry.topic_id if by_id else UUID_ZERO,
                )
            )
        else:
            topics.append(await _existing_or_created(ctx, name, allow, creatable, check))
    return topics


async def _existing_or_created(
    ctx: RequestContext, name: str, allow: bool, creatable: set[str], check: LeaderCheck
) -> MetadataResponseTopic:
    services = ctx.services
    found = services.metadata.image.topics.get(name)
    if found is not None:
        return describe_topic(found, pending_here(services), check, services.metadata.image.brokers)
    if not (allow and services.config.get_bool("auto.create.topics.enable")):
        return error_topic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if name not in creatable:
        return error_topic(name, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    return await auto_create(services, name, check)


def _creatable(ctx: RequestContext, missing: list[str], allow: bool) -> set[str]:
    """The missing topics the principal may create: all of them with CREATE on the cluster, else those with CREATE
    on the topic (only asked when auto-creation is on)."""
    if not missing or not allow or not ctx.services.config.get_bool("auto.create.topics.enable"):
        return set()
    if ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER, log_if_denied=False):
        return set(missing)
    return ctx.authorized(AclOperation.CREATE, ResourceType.TOPIC, missing)


def _name_of(image: MetadataImage, topic_id: object) -> str | None:
    if topic_id == UUID_ZERO:
        return None
    found = image.topic_by_id(str(topic_id))
    return found.name if found is not None else None


def _leader_check(ctx: RequestContext) -> LeaderCheck:
    """LISTENER_NOT_FOUND (v6+; LEADER_NOT_AVAILABLE before) for a leader registered without the request's
    listener (leaders not registered at all are LEADER_NOT_AVAILABLE: `describe_topic`)."""
    image = ctx.services.metadata.image
    missing = {b.broker_id for b in image.brokers.values() if ctx.endpoint(b) is None}
    error = ErrorCode.LISTENER_NOT_FOUND if ctx.version >= 6 else ErrorCode.LEADER_NOT_AVAILABLE

    def check(leader: int) -> ErrorCode:
        return error if leader in missing else ErrorCode.NONE

    return check
