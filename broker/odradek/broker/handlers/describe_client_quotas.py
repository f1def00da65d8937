"""DescribeClientQuotas (key 48), v0-v1: the quota values of the entities matching a filter (KIP-546).

Needs DESCRIBE_CONFIGS on the cluster (else CLUSTER_AUTHORIZATION_FAILED, no entries). Each filter component names
an entity type and matches it exactly (match_type 0, a name), its default (1, no name) or any name but the default
(2, no name); ``strict`` keeps only entities with no other types. Kafka's checks (ClientQuotasImage.describe), in its
order and words, answer INVALID_REQUEST for an empty type, a type named twice, a bad match/name combination or an ip
component mixed with user/client-id, and UNSUPPORTED_VERSION for a custom type. Read from this broker's metadata
image after it has applied every committed write.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.quotas import CLIENT_ID, IP, USER
from odradek.broker.metadata.quotas import QuotaEntityKey
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_client_quotas_request import ComponentData, DescribeClientQuotasRequest
from odradek.broker.protocol.messages.describe_client_quotas_response import (
    DescribeClientQuotasResponse,
    EntityData,
    EntryData,
    ValueData,
)

API_KEY = 48
VERSIONS = (0, 1)

MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_SPECIFIED = 2


def _error(code: int, message: str) -> DescribeClientQuotasResponse:
    return DescribeClientQuotasResponse(error_code=code, error_message=message, entries=None)


def _filter(
    components: list[ComponentData],
) -> tuple[dict[str, str | None], set[str]] | DescribeClientQuotasResponse:
    exact: dict[str, str | None] = {}
    specified: set[str] = set()
    for c in components:
        if not c.entity_type:
            return _error(ErrorCode.INVALID_REQUEST, "Invalid empty entity type.")
        if c.entity_type in exact or c.entity_type in specified:
            return _error(
                ErrorCode.INVALID_REQUEST, f"Entity type {c.entity_type} cannot appear more than once in the filter."
            )
        if c.entity_type not in (USER, CLIENT_ID, IP):
            return _error(ErrorCode.UNSUPPORTED_VERSION, f"Custom entity type {c.entity_type} not supported.")
        if c.match_type == MATCH_EXACT:
            if c.match is None:
                return _error(
                    ErrorCode.INVALID_REQUEST, "Request specified MATCH_TYPE_EXACT, but set match string to null."
                )
            exact[c.entity_type] = c.match
        elif c.match_type == MATCH_DEFAULT:
            if c.match is not None:
                return _error(
                    ErrorCode.INVALID_REQUEST,
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                )
            exact[c.entity_type] = None
        elif c.match_type == MATCH_SPECIFIED:
            if c.match is not None:
                return _error(
                    ErrorCode.INVALID_REQUEST,
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                )
            specified.add(c.entity_type)
        else:
            return _error(ErrorCode.INVALID_REQUEST, f"Unknown match type {c.match_type}")
    named = set(exact) | specified
    if IP in named and (USER in named or CLIENT_ID in named):
        return _error(
            ErrorCode.INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be used with user or "
            "clientId filter component.",
        )
    return exact, specified


def matches(entity: QuotaEntityKey, exact: dict[str, str | None], specified: set[str], strict: bool) -> bool:
    """Kafka's ClientQuotasImage.matches."""
    names = dict(entity)
    if strict and len(names) != len(exact) + len(specified):
        return False
    for entity_type, name in exact.items():
        if entity_type not in names or names[entity_type] != name:
            return False
    return all(entity_type in names and names[entity_type] is not None for entity_type in specified)


async def handle(request: DescribeClientQuotasRequest, ctx: RequestContext) -> DescribeClientQuotasResponse:
    if not ctx.authorize(AclOperation.DESCRIBE_CONFIGS, ResourceType.CLUSTER):
        return _error(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")
    parsed = _filter(request.components)
    if isinstance(parsed, DescribeClientQuotasResponse):
        return parsed
    exact, specified = parsed
    await ctx.services.sync_metadata()
    entries = [
        EntryData(
            entity=[EntityData(entity_type=t, entity_name=n) for t, n in entity],
            values=[ValueData(key=k, value=v) for k, v in sorted(record.quotas.items())],
        )
        for entity, record in sorted(ctx.services.metadata.image.client_quotas.items(), key=lambda e: repr(e[0]))
        if matches(entity, exact, specified, request.strict)
    ]
    return DescribeClientQuotasResponse(entries=entries)
