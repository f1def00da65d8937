"""CreateAcls (key 30), v0-3: store new ACLs (KIP-140; prefixed patterns from v1, KIP-290).

Needs ALTER on the cluster (else every result CLUSTER_AUTHORIZATION_FAILED). Without an authorizer every result is
SECURITY_DISABLED. Each creation is validated as Kafka's AclControlManager does (INVALID_REQUEST with its message);
an ACL identical to one already stored is not stored twice (and succeeds). Valid ones are written in one
transaction; every broker applies them from the metadata store's watch.
"""

from __future__ import annotations

from odradek.broker.auth.acl import AclBinding, AclPermissionType, enum_or_unknown, validate_new_acl
from odradek.broker.auth.authorizer import AclOperation, PatternType, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.security import SECURITY_DISABLED_MESSAGE, acl_binding, acl_record, authorizer_enabled
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.create_acls_request import AclCreation, CreateAclsRequest
from odradek.broker.protocol.messages.create_acls_response import AclCreationResult, CreateAclsResponse

API_KEY = 30
VERSIONS = (0, 3)


def _binding(creation: AclCreation, version: int) -> AclBinding:
    pattern = PatternType.LITERAL if version == 0 else enum_or_unknown(PatternType, creation.resource_pattern_type)
    return AclBinding(
        enum_or_unknown(ResourceType, creation.resource_type),
        creation.resource_name,
        pattern,
        creation.principal,
        creation.host,
        enum_or_unknown(AclOperation, creation.operation),
        enum_or_unknown(AclPermissionType, creation.permission_type),
    )


async def handle(request: CreateAclsRequest, ctx: RequestContext) -> CreateAclsResponse:
    count = len(request.creations)
    if not authorizer_enabled(ctx.services):
        return _all(count, ErrorCode.SECURITY_DISABLED, SECURITY_DISABLED_MESSAGE)
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return _all(count, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")
    await ctx.services.sync_metadata()
    existing = {acl_binding(record) for record in ctx.services.metadata.image.acls.values()}
    results: list[AclCreationResult] = []
    new: list[AclBinding] = []
    for creation in request.creations:
        binding = _binding(creation, ctx.version)
        problem = validate_new_acl(binding)
        if problem is not None:
            results.append(AclCreationResult(error_code=ErrorCode.INVALID_REQUEST, error_message=problem))
            continue
        if binding not in existing and binding not in new:
            new.append(binding)
        results.append(AclCreationResult(error_code=ErrorCode.NONE))
    if new:
        try:
            await ctx.services.controller.create_acls([acl_record(b) for b in new])
        except ControllerError as exc:
            return _all(count, exc.error_code, exc.message)
        await ctx.services.sync_metadata()
    return CreateAclsResponse(results=results)


def _all(count: int, code: int, message: str) -> CreateAclsResponse:
    return CreateAclsResponse(results=[AclCreationResult(error_code=code, error_message=message) for _ in range(count)])
