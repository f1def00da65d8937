"""ACLs as Kafka defines them: an AclBinding is a resource pattern plus an access control entry ("principal P is
ALLOWED/DENIED operation O from host H on any resource matching pattern RP"), and the filters DescribeAcls and
DeleteAcls select them with.

Filter semantics are Kafka's ResourcePatternFilter and AccessControlEntryFilter:
- resource type ANY matches every type; a null name matches every name;
- pattern type ANY matches LITERAL and PREFIXED ACLs whose name equals the filter's; LITERAL or PREFIXED only
  that type with that name; MATCH every ACL that would apply to a resource of that name: the literal name, the
  literal wildcard `*`, and each PREFIXED name the resource name starts with;
- a null principal or host matches all; operation ANY and permission type ANY match all.

`validate_new_acl` refuses what Kafka's AclControlManager.validateNewAcl refuses, with its messages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from odradek.broker.auth.authorizer import CLUSTER_NAME, AclOperation, PatternType, ResourceType
from odradek.broker.auth.principal import KafkaPrincipal

WILDCARD_RESOURCE = "*"
WILDCARD_HOST = "*"


class AclPermissionType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


@dataclass(frozen=True, slots=True)
class AclBinding:
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: AclOperation
    permission_type: AclPermissionType


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    resource_type: ResourceType
    resource_name: str | None
    pattern_type: PatternType
    principal: str | None
    host: str | None
    operation: AclOperation
    permission_type: AclPermissionType

    def matches(self, acl: AclBinding) -> bool:
        return self._matches_pattern(acl) and self._matches_entry(acl)

    def _matches_pattern(self, acl: AclBinding) -> bool:
        if self.resource_type is not ResourceType.ANY and self.resource_type is not acl.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type is not acl.pattern_type:
            return False
        if self.resource_name is None:
            return True
        if self.pattern_type is PatternType.ANY or self.pattern_type is acl.pattern_type:
            return self.resource_name == acl.resource_name
        # MATCH: every ACL that applies to a resource named resource_name
        if acl.pattern_type is PatternType.LITERAL:
            return acl.resource_name in (self.resource_name, WILDCARD_RESOURCE)
        return acl.pattern_type is PatternType.PREFIXED and self.resource_name.startswith(acl.resource_name)

    def _matches_entry(self, acl: AclBinding) -> bool:
        return (
            (self.principal is None or self.principal == acl.principal)
            and (self.host is None or self.host == acl.host)
            and (self.operation is AclOperation.ANY or self.operation is acl.operation)
            and (self.permission_type is AclPermissionType.ANY or self.permission_type is acl.permission_type)
        )

    def invalid(self) -> str | None:
        """Why a filter cannot be used (an UNKNOWN field: Kafka's INVALID_REQUEST), None if it can."""
        if self.resource_type is ResourceType.UNKNOWN:
            return "The filter's resource type is UNKNOWN"
        if self.pattern_type is PatternType.UNKNOWN:
            return "The filter's pattern type is UNKNOWN"
        if self.operation is AclOperation.UNKNOWN:
            return "The filter's operation is UNKNOWN"
        if self.permission_type is AclPermissionType.UNKNOWN:
            return "The filter's permission type is UNKNOWN"
        return None


def validate_new_acl(acl: AclBinding) -> str | None:
    """Kafka's reasons (InvalidRequestException messages) for refusing an ACL in CreateAcls; None if valid."""
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return f"Invalid patternType {acl.pattern_type.name}"
    if acl.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        return f"Invalid resourceType {acl.resource_type.name}"
    if acl.operation in (AclOperation.UNKNOWN, AclOperation.ANY):
        return f"Invalid operation {acl.operation.name}"
    if acl.permission_type not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
        return f"Invalid permissionType {acl.permission_type.name}"
    if not acl.resource_name:
        return "Resource name should not be empty"
    if acl.resource_type is ResourceType.CLUSTER and acl.resource_name != CLUSTER_NAME:
        return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    try:
        KafkaPrincipal.parse(acl.principal)
    except ValueError as exc:
        return str(exc)
    if not acl.host:
        return "Host should not be empty (use * for every host)"
    return None


E = TypeVar("E", bound=enum.IntEnum)


def enum_or_unknown(kind: type[E], code: int) -> E:
    """The member of a Kafka enum for a wire code; UNKNOWN (code 0) for a code this broker does not know."""
    try:
        return kind(code)
    except ValueError:
        return kind(0)
