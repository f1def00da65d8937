"""DescribeConfigs (key 32), v0-4: topic and broker configs with their source (v0: is_default), synonyms (v1+)
and docs (v3+).

Every declared key is listed (`configuration_keys` filters); topic values resolve topic override, then the broker
synonym (`log.retention.ms`, ...) from the dynamic per-broker, dynamic cluster-wide default and static layers,
then the default, and the synonyms list shows that chain in Kafka's order. The broker resource "<id>" lists every
broker key with its value in force; the cluster-wide default resource "" lists only the keys set there.
Authorization: DESCRIBE_CONFIGS on the cluster for a broker resource, on the topic for a topic resource
(CLUSTER_/TOPIC_AUTHORIZATION_FAILED with Kafka's message, no configs).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation
from odradek.broker.config.topic import ConfigEntry, describe_broker, describe_broker_default, describe_topic
from odradek.broker.handlers.configs import (
    AUTHORIZATION_MESSAGES,
    BROKER,
    TOPIC,
    ResourceError,
    check_broker_resource,
    config_authorization_error,
    topic_overrides,
)
from odradek.broker.handlers.context import RequestContext
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_configs_request import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
)
from odradek.broker.protocol.messages.describe_configs_response import (
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    DescribeConfigsSynonym,
)

API_KEY = 32
VERSIONS = (0, 4)


async def handle(request: DescribeConfigsRequest, ctx: RequestContext) -> DescribeConfigsResponse:
    results = []
    for resource in request.resources:
        result = DescribeConfigsResult(resource_type=resource.resource_type, resource_name=resource.resource_name)
        denied = config_authorization_error(
            ctx, resource.resource_type, resource.resource_name, AclOperation.DESCRIBE_CONFIGS
        )
        if denied is not None:
            result.error_code, result.error_message = denied, AUTHORIZATION_MESSAGES[denied]
            results.append(result)
            continue
        try:
            entries = _entries(resource, ctx)
        except ResourceError as exc:
            result.error_code, result.error_message = exc.error_code, exc.message
        else:
            keys = set(resource.configuration_keys) if resource.configuration_keys else None
            result.configs = [
                _result(e, request.include_synonyms, request.include_documentation)
                for e in entries
                if keys is None or e.name in keys
            ]
        results.append(result)
    return DescribeConfigsResponse(results=results)


def _entries(resource: DescribeConfigsResource, ctx: RequestContext) -> list[ConfigEntry]:
    services = ctx.services
    if resource.resource_type == TOPIC:
        return describe_topic(topic_overrides(services, resource.resource_name), services.config)
    if resource.resource_type == BROKER:
        check_broker_resource(services, resource.resource_name)
        if resource.resource_name == "":
            return describe_broker_default(services.config)
        return describe_broker(services.config)
    raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource.resource_type}")


def _result(entry: ConfigEntry, synonyms: bool, documentation: bool) -> DescribeConfigsResourceResult:
    return DescribeConfigsResourceResult(
        name=entry.name,
        value=entry.value,
        read_only=entry.read_only,
        config_source=entry.source,
        is_default=entry.is_default,
        is_sensitive=entry.sensitive,
        synonyms=[DescribeConfigsSynonym(name=s.name, value=s.value, source=s.source) for s in entry.synonyms]
        if synonyms
        else [],
        config_type=entry.type,
        documentation=entry.documentation if documentation else None,
    )
