"""Metadata (key 3), v0-13: brokers, cluster id, controller id, topics with ids and partition states.

Topics: `None` (v1+) or an empty list (v0) means every topic. A missing topic is created when both the request
(`allow_auto_topic_creation`, implied at v0-3) and the broker (`auto.create.topics.enable`) allow it, with
`num.partitions` and `default.replication.factor`; the response then already describes it (one node: the
metadata commit is local). Topic ids in the request (v10+) are resolved to names. A partition led here whose log
is still being created (a large CreateTopics or CreatePartitions in progress) is LEADER_NOT_AVAILABLE with leader
-1 until its log exists; clients retry.
Not implemented: authorized operations (left at Kafka's "not requested" value); offline replicas are empty.
"""

from __future__ import annotations

from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.topics import auto_create, describe_topic, error_topic, pending_here
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


async def handle(request: MetadataRequest, ctx: RequestContext) -> MetadataResponse:
    services = ctx.services
    all_topics = request.topics is None or (ctx.version == 0 and not request.topics)
    topics: list[MetadataResponseTopic] = []
    pending = pending_here(services)
    if all_topics:
        image = services.metadata.image
        topics = [describe_topic(t, pending) for name, t in sorted(image.topics.items())]
    else:
        allow = request.allow_auto_topic_creation or ctx.version < 4
        for wanted in request.topics or []:
            image = services.metadata.image
            if wanted.name is None:
                found = image.topic_by_id(str(wanted.topic_id)) if wanted.topic_id != UUID_ZERO else None
                topics.append(
                    describe_topic(found, pending)
                    if found
                    else error_topic(None, ErrorCode.UNKNOWN_TOPIC_ID, topic_id=wanted.topic_id)
                )
                continue
            found = image.topics.get(wanted.name)
            if found is None and allow and services.config.get_bool("auto.create.topics.enable"):
                topics.append(await auto_create(services, wanted.name))
            elif found is None:
                topics.append(error_topic(wanted.name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            else:
                topics.append(describe_topic(found, pending))
    image = services.metadata.image
    return MetadataResponse(
        brokers=[
            MetadataResponseBroker(node_id=b.broker_id, host=b.host, port=b.port, rack=b.rack)
            for b in sorted(image.brokers.values(), key=lambda b: b.broker_id)
        ],
        cluster_id=image.cluster_id,
        controller_id=services.controller_id,
        topics=topics,
    )
