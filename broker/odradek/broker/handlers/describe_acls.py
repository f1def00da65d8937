"""DescribeAcls (key 29), v0-3: the stored ACLs one filter matches, grouped by resource pattern.

Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED). Without an authorizer: SECURITY_DISABLED. A
filter with an UNKNOWN field: INVALID_REQUEST. Filter semantics (ANY, MATCH, null name/principal/host): `auth.acl`.
v0 knows only LITERAL patterns: its filter is LITERAL.
"""

from __future__ import annotations

from odradek.broker.auth.acl import AclBindingFilter, AclPermissionType, enum_or_unknown
from odradek.broker.auth.authorizer import AclOperation, PatternType, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.security import SECURITY_DISABLED_MESSAGE, acl_binding, authorizer_enabled
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.describe_acls_request import DescribeAclsRequest
from odradek.broker.protocol.messages.describe_acls_response import (
    AclDescription,
    DescribeAclsResource,
    DescribeAclsResponse,
)

API_KEY = 29
VERSIONS = (0, 3)


def acl_filter(
    resource_type: int,
    name: str | None,
    pattern_type: int,
    principal: str | None,
    host: str | None,
    operation: int,
    permission_type: int,
    version: int,
) -> AclBindingFilter:
    """A DescribeAcls or DeleteAcls filter from its wire fields (v0: LITERAL patterns only)."""
    return AclBindingFilter(
        enum_or_unknown(ResourceType, resource_type),
        name,
        PatternType.LITERAL if version == 0 else enum_or_unknown(PatternType, pattern_type),
        principal,
        host,
        enum_or_unknown(AclOperation, operation),
        enum_or_unknown(AclPermissionType, permission_type),
    )


async def handle(request: DescribeAclsRequest, ctx: RequestContext) -> DescribeAclsResponse:
    if not authorizer_enabled(ctx.services):
        return DescribeAclsResponse(error_code=ErrorCode.SECURITY_DISABLED, error_message=SECURITY_DISABLED_MESSAGE)
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        return DescribeAclsResponse(
            error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, error_message="Cluster authorization failed."
        )
    selected = acl_filter(
        request.resource_type_filter,
        request.resource_name_filter,
        request.pattern_type_filter,
        request.principal_filter,
        request.host_filter,
        request.operation,
        request.permission_type,
        ctx.version,
    )
    problem = selected.invalid()
    if problem is not None:
        return DescribeAclsResponse(error_code=ErrorCode.INVALID_REQUEST, error_message=problem)
    await ctx.services.sync_metadata()
    groups: dict[tuple[int, str, int], list[AclDescription]] = {}
    for record in ctx.services.metadata.image.acls.values():
        binding = acl_binding(record)
        if selected.matches(binding):
            key = (record.resource_type, record.resource_name, record.pattern_type)
            groups.setdefault(key, []).append(
                AclDescription(
                    principal=record.principal,
                    host=record.host,
                    operation=record.operation,
                    permission_type=record.permission_type,
                )
            )
    return DescribeAclsResponse(
        resources=[
            DescribeAclsResource(resource_type=t, resource_name=n, pattern_type=p, acls=acls)
            for (t, n, p), acls in sorted(groups.items())
        ]
    )
