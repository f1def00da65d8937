"""Kafka's StandardAuthorizer: ACL decisions with Kafka's semantics, from an index kept up to date by the metadata
store's watch (`apply`).

A decision for (principal, host, operation, resource), in Kafka's order (StandardAuthorizerData.authorize):

1. A super user (`super.users`, `User:a;User:b`) is allowed everything.
2. The ACLs that apply to the resource: LITERAL ones on its exact name, LITERAL ones on `*`, and PREFIXED ones whose
   name the resource's starts with. None at all (for any principal): `allow.everyone.if.no.acl.found` decides
   (default false: denied; KAFKA-14435: per resource, not per principal).
3. Among those, the ones for this principal or `<type>:*` and for this host or `*`: any DENY of the operation or of
   ALL denies (deny wins).
4. Else any ALLOW of the operation or of ALL allows; an ALLOW of READ, WRITE, DELETE or ALTER also allows DESCRIBE,
   and of ALTER_CONFIGS also DESCRIBE_CONFIGS (implication is for ALLOW only).
5. Else denied.

Cost: a decision looks up the literal name and `*` in a dict and each distinct PREFIXED length in use for the type,
then scans only the ACLs found: O(matching ACLs), not O(all ACLs). Decisions are then cached by (principal, host,
operation, resource type, name), so a producer's every Produce for one topic pays a dict lookup (bench/security.py
prints both: with 203 ACLs matching the topic, 20-80 us a decision uncached, 1-3 cached, in trials on the shared
machine); the cache (`utils.memo.BoundedMemo`) is cleared whenever the ACLs change
(`apply`) and when it holds `DECISION_CACHE_SIZE` entries. Super users are decided before it; audit lines are
written for cached decisions too.

Audit (Kafka's "kafka.authorizer.logger"): a denied action logs at INFO when the action asks for it
(`log_if_denied`), an allowed one at DEBUG (`log_if_allowed`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from odradek.broker.auth.acl import WILDCARD_HOST, WILDCARD_RESOURCE, AclBinding, AclPermissionType
from odradek.broker.auth.authorizer import (
    AclOperation,
    Action,
    AuthorizableRequestContext,
    AuthorizationResult,
    PatternType,
    ResourceType,
)
from odradek.broker.config.broker import BrokerConfig
from odradek.broker.protocol import apis
from odradek.broker.utils.memo import BoundedMemo

audit = logging.getLogger("kafka.authorizer.logger")

ALLOWED, DENIED = AuthorizationResult.ALLOWED, AuthorizationResult.DENIED
STANDARD_AUTHORIZER_NAMES = frozenset(
    {"org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"}
)

# Operations an ALLOW of the key also allows (Kafka's IMPLIES_DESCRIBE and IMPLIES_DESCRIBE_CONFIGS).
IMPLIED_BY: Mapping[AclOperation, frozenset[AclOperation]] = {
    AclOperation.DESCRIBE: frozenset(
        {AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE}
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.ALTER_CONFIGS, AclOperation.DESCRIBE_CONFIGS}),
}


DECISION_CACHE_SIZE = 100_000

# (principal, host, operation, resource type, resource name)
DecisionKey = tuple[str, str, AclOperation, ResourceType, str]


def parse_super_users(text: str | None) -> frozenset[str]:
    """`super.users`: principals separated by ';' (Kafka's format), surrounding spaces ignored."""
    return frozenset(item.strip() for item in (text or "").split(";") if item.strip())


class StandardAuthorizer:
    def __init__(self, super_users: Iterable[str] = (), allow_everyone_if_no_acl_found: bool = False) -> None:
        self._super_users = frozenset(super_users)
        self._allow_if_no_acl = allow_everyone_if_no_acl_found
        self._acls: dict[str, AclBinding] = {}
        self._literal: dict[tuple[ResourceType, str], dict[str, AclBinding]] = {}
        self._prefixed: dict[tuple[ResourceType, str], dict[str, AclBinding]] = {}
        self._prefix_lengths: dict[ResourceType, Counter[int]] = {}
        self._decisions: BoundedMemo[DecisionKey, tuple[AuthorizationResult, str]] = BoundedMemo(DECISION_CACHE_SIZE)

    # -- the index, fed from the metadata store -----------------------------------------------------------

    @property
    def acls(self) -> Mapping[str, AclBinding]:
        return self._acls

    def apply(self, changed: Mapping[str, AclBinding | None]) -> None:
        """ACLs added or replaced (id -> binding) and removed (id -> None)."""
        self._decisions.clear()
        for acl_id, acl in changed.items():
            old = self._acls.pop(acl_id, None)
            if old is not None:
                self._unindex(acl_id, old)
            if acl is not None:
                self._acls[acl_id] = acl
                self._index(acl_id, acl)

    def _index(self, acl_id: str, acl: AclBinding) -> None:
        key = (acl.resource_type, acl.resource_name)
        if acl.pattern_type is PatternType.PREFIXED:
            self._prefixed.setdefault(key, {})[acl_id] = acl
            self._prefix_lengths.setdefault(acl.resource_type, Counter())[len(acl.resource_name)] += 1
        else:
            self._literal.setdefault(key, {})[acl_id] = acl

    def _unindex(self, acl_id: str, acl: AclBinding) -> None:
        key = (acl.resource_type, acl.resource_name)
        table = self._prefixed if acl.pattern_type is PatternType.PREFIXED else self._literal
        entries = table.get(key, {})
        entries.pop(acl_id, None)
        if not entries:
            table.pop(key, None)
        if acl.pattern_type is PatternType.PREFIXED:
            lengths = self._prefix_lengths[acl.resource_type]
            lengths[len(acl.resource_name)] -= 1
            if lengths[len(acl.resource_name)] <= 0:
                del lengths[len(acl.resource_name)]

    def matching_acls(self, resource_type: ResourceType, name: str) -> list[AclBinding]:
        """Every ACL that applies to the resource, whoever it is for."""
        found: list[AclBinding] = []
        for key in ((resource_type, name), (resource_type, WILDCARD_RESOURCE)):
            found.extend(self._literal.get(key, {}).values())
        for length in self._prefix_lengths.get(resource_type, ()):
            if length <= len(name):
                found.extend(self._prefixed.get((resource_type, name[:length]), {}).values())
        return found

    # -- decisions -------------------------------------------------------------------------------------------

    def authorize(self, context: AuthorizableRequestContext, actions: Sequence[Action]) -> list[AuthorizationResult]:
        return [self._authorize_action(context, action) for action in actions]

    def _authorize_action(self, context: AuthorizableRequestContext, action: Action) -> AuthorizationResult:
        principal = str(context.principal)
        if principal in self._super_users:
            result, rule = ALLOWED, "super.users"
        else:
            result, rule = self._cached_decision(context, action, principal)
        self._audit(context, action, result, rule)
        return result

    def _cached_decision(
        self, context: AuthorizableRequestContext, action: Action, principal: str
    ) -> tuple[AuthorizationResult, str]:
        """`_decide` depends on nothing else than the key's fields (the principal's type is in its text, for
        `User:*`; the host for ACLs naming one) and the ACLs, whose every change clears the memo."""
        resource = action.resource
        key = (principal, context.client_address, action.operation, resource.resource_type, resource.name)
        return self._decisions.get(key, lambda: self._decide(context, action))

    def _decide(self, context: AuthorizableRequestContext, action: Action) -> tuple[AuthorizationResult, str]:
        resource = action.resource
        acls = self.matching_acls(resource.resource_type, resource.name)
        if not acls:
            allowed = self._allow_if_no_acl
            return (ALLOWED if allowed else DENIED), "no ACL found (allow.everyone.if.no.acl.found)"
        principals = (str(context.principal), f"{context.principal.principal_type}:*")
        hosts = (context.client_address, WILDCARD_HOST)
        operation = action.operation
        applicable = [acl for acl in acls if acl.principal in principals and acl.host in hosts]
        for acl in applicable:
            if acl.permission_type is AclPermissionType.DENY and acl.operation in (operation, AclOperation.ALL):
                return DENIED, f"DENY ACL {acl}"
        allowing = IMPLIED_BY.get(operation, frozenset({operation})) | {AclOperation.ALL}
        for acl in applicable:
            if acl.permission_type is AclPermissionType.ALLOW and acl.operation in allowing:
                return ALLOWED, f"ALLOW ACL {acl}"
        return DENIED, "no matching ALLOW ACL"

    @staticmethod
    def _audit(context: AuthorizableRequestContext, action: Action, result: AuthorizationResult, rule: str) -> None:
        denied = result is DENIED
        if (denied and not action.log_if_denied) or (not denied and not action.log_if_allowed):
            return
        level = logging.INFO if denied else logging.DEBUG
        if not audit.isEnabledFor(level):
            return
        api = apis.APIS.get(context.request_type)
        resource = action.resource
        audit.log(
            level,
            "Principal = %s is %s Operation = %s from host = %s on resource = %s:%s:%s for request = %s with "
            "resourceRefCount = %d based on %s",
            context.principal,
            "Denied" if denied else "Allowed",
            action.operation.name,
            context.client_address,
            resource.resource_type.name,
            resource.pattern_type.name,
            resource.name,
            api.name if api is not None else context.request_type,
            action.reference_count,
            rule,
        )


def configured_authorizer(config: BrokerConfig) -> StandardAuthorizer | None:
    """`authorizer.class.name`: empty for none (everything allowed), else Kafka's StandardAuthorizer semantics with
    `super.users` and `allow.everyone.if.no.acl.found`."""
    if (config.get_str("authorizer.class.name") or "") not in STANDARD_AUTHORIZER_NAMES:
        return None
    return StandardAuthorizer(
        parse_super_users(config.get_str("super.users")), config.get_bool("allow.everyone.if.no.acl.found")
    )
