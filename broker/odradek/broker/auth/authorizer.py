"""Kafka's Authorizer interface (KIP-504), with its enums and codes, and the default that allows everything.

`Authorizer.authorize(context, actions)` answers one `AuthorizationResult` per `Action`, in order. An action is an
operation on a resource pattern (Kafka's `Action`: the pattern is always LITERAL here, a concrete resource). The
context says who asks and how (principal, listener, security protocol, client address, API key and version), as
Kafka's AuthorizableRequestContext. The enums carry Kafka's numeric codes, which are what DescribeAcls and
CreateAcls put on the wire and what Metadata's authorized-operations bit fields are built from.

With no `authorizer.class.name` Kafka installs no authorizer and allows every request: `AllowEverythingAuthorizer`
is that. Kafka's StandardAuthorizer semantics (super users, DENY before ALLOW, implied DESCRIBE, prefixed patterns,
`allow.everyone.if.no.acl.found`) come with the security issue, behind this same interface.

Where handlers ask, and what a denial becomes, follows KafkaApis (`RequestContext.authorize`): TOPIC resources deny
with TOPIC_AUTHORIZATION_FAILED, GROUP with GROUP_AUTHORIZATION_FAILED, CLUSTER with CLUSTER_AUTHORIZATION_FAILED;
Metadata leaves out topics the principal may not describe when it asked for all of them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.auth.principal import KafkaPrincipal
from odradek.broker.config.broker import SecurityProtocol

CLUSTER_NAME = "kafka-cluster"  # the one CLUSTER resource's name


class AclOperation(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class ResourceType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(enum.IntEnum):
    """LITERAL and PREFIXED name ACLs; ANY and MATCH exist only in filters (DescribeAcls, DeleteAcls)."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


# The operations that mean something for each resource type (Kafka's AclEntry.supportedOperations): the bits of
# an "authorized operations" field (Metadata, DescribeCluster, DescribeGroups) are chosen among these.
SUPPORTED_OPERATIONS: Mapping[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (
        AclOperation.READ,
        AclOperation.WRITE,
        AclOperation.CREATE,
        AclOperation.DESCRIBE,
        AclOperation.DELETE,
        AclOperation.ALTER,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE),
    ResourceType.CLUSTER: (
        AclOperation.CREATE,
        AclOperation.CLUSTER_ACTION,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
        AclOperation.IDEMPOTENT_WRITE,
        AclOperation.ALTER,
        AclOperation.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (AclOperation.DESCRIBE, AclOperation.WRITE),
    ResourceType.DELEGATION_TOKEN: (AclOperation.DESCRIBE,),
    ResourceType.USER: (AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS),
}


def operations_bit_field(operations: Iterable[AclOperation]) -> int:
    """Kafka's Utils.to32BitField: bit `code` set for each operation."""
    return sum({1 << int(operation) for operation in operations})


class AuthorizationResult(enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    resource_type: ResourceType
    name: str
    pattern_type: PatternType = PatternType.LITERAL


@dataclass(frozen=True, slots=True)
class Action:
    """One check. `reference_count` is how many times the request uses the resource (Kafka logs and quotas it);
    the log flags say whether an allowed or denied outcome belongs in the audit log (Kafka's authorizer logger)."""

    operation: AclOperation
    resource: ResourcePattern
    reference_count: int = 1
    log_if_allowed: bool = True
    log_if_denied: bool = True


class AuthorizableRequestContext(Protocol):
    """What an authorizer may know about the request (Kafka's AuthorizableRequestContext)."""

    @property
    def listener_name(self) -> str: ...
    @property
    def security_protocol(self) -> SecurityProtocol: ...
    @property
    def principal(self) -> KafkaPrincipal: ...
    @property
    def client_address(self) -> str: ...
    @property
    def request_type(self) -> int: ...
    @property
    def request_version(self) -> int: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> int: ...


class Authorizer(Protocol):
    def authorize(self, context: AuthorizableRequestContext, actions: Sequence[Action]) -> list[AuthorizationResult]:
        """One result per action, in the order given. Synchronous: it runs on the event loop for every request."""
        ...


class AllowEverythingAuthorizer:
    """No authorizer configured: every action is allowed (Kafka without `authorizer.class.name`)."""

    def authorize(self, context: AuthorizableRequestContext, actions: Sequence[Action]) -> list[AuthorizationResult]:
        return [AuthorizationResult.ALLOWED] * len(actions)
