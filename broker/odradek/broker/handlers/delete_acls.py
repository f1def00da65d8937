"""DeleteAcls (key 31), v0-3: remove the stored ACLs each filter matches; each filter's result lists them.

Needs ALTER on the cluster (else every filter result CLUSTER_AUTHORIZATION_FAILED). Without an authorizer:
SECURITY_DISABLED. A filter with an UNKNOWN field: INVALID_REQUEST for that filter. Every matched ACL of every
filter is removed in one write.
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.describe_acls import acl_filter
from odradek.broker.handlers.security import SECURITY_DISABLED_MESSAGE, acl_binding, authorizer_enabled
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.delete_acls_request import DeleteAclsRequest
from odradek.broker.protocol.messages.delete_acls_response import (
    DeleteAclsFilterResult,
    DeleteAclsMatchingAcl,
    DeleteAclsResponse,
)

API_KEY = 31
VERSIONS = (0, 3)


async def handle(request: DeleteAclsRequest, ctx: RequestContext) -> DeleteAclsResponse:
    count = len(request.filters)
    if not authorizer_enabled(ctx.services):
        return _all(count, ErrorCode.SECURITY_DISABLED, SECURITY_DISABLED_MESSAGE)
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return _all(count, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")
    await ctx.services.sync_metadata()
    stored = ctx.services.metadata.image.acls
    doomed: set[str] = set()
    results: list[DeleteAclsFilterResult] = []
    for item in request.filters:
        selected = acl_filter(
            item.resource_type_filter,
            item.resource_name_filter,
            item.pattern_type_filter,
            item.principal_filter,
            item.host_filter,
            item.operation,
            item.permission_type,
            ctx.version,
        )
        problem = selected.invalid()
        if problem is not None:
            results.append(DeleteAclsFilterResult(error_code=ErrorCode.INVALID_REQUEST, error_message=problem))
            continue
        matched = [(acl_id, r) for acl_id, r in sorted(stored.items()) if selected.matches(acl_binding(r))]
        doomed.update(acl_id for acl_id, _ in matched)
        results.append(
            DeleteAclsFilterResult(
                matching_acls=[
                    DeleteAclsMatchingAcl(
                        resource_type=r.resource_type,
                        resource_name=r.resource_name,
                        pattern_type=r.pattern_type,
                        principal=r.principal,
                        host=r.host,
                        operation=r.operation,
                        permission_type=r.permission_type,
                    )
                    for _, r in matched
                ]
            )
        )
    try:
        await ctx.services.controller.delete_acls(doomed)
    except ControllerError as exc:
        return _all(count, exc.error_code, exc.message)
    await ctx.services.sync_metadata()
    return DeleteAclsResponse(filter_results=results)


def _all(count: int, code: int, message: str) -> DeleteAclsResponse:
    return DeleteAclsResponse(
        filter_results=[DeleteAclsFilterResult(error_code=code, error_message=message) for _ in range(count)]
    )
