"""The StandardAuthorizer's decisions, as a matrix derived from Kafka's documentation ("Authorization and ACLs":
super users, DENY wins, implied DESCRIBE / DESCRIBE_CONFIGS, literal, prefixed and wildcard patterns, the wildcard
principal, hosts, allow.everyone.if.no.acl.found) and StandardAuthorizerData.authorize; and the ACL filters of
DescribeAcls / DeleteAcls (ResourcePatternFilter, AccessControlEntryFilter)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from odradek.broker.auth.acl import AclBinding, AclBindingFilter, AclPermissionType, validate_new_acl
from odradek.broker.auth.authorizer import (
    AclOperation,
    Action,
    AuthorizationResult,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from odradek.broker.auth.principal import KafkaPrincipal
from odradek.broker.auth.standard_authorizer import StandardAuthorizer, parse_super_users
from odradek.broker.config.broker import SecurityProtocol

Op, R, P = AclOperation, ResourceType, PatternType
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LIT, PRE = P.LITERAL, P.PREFIXED


@dataclass(frozen=True)
class Context:
    principal: KafkaPrincipal
    client_address: str
    listener_name: str = "CLIENT"
    security_protocol: SecurityProtocol = SecurityProtocol.SASL_SSL
    request_type: int = 3
    request_version: int = 12
    client_id: str | None = "test"
    correlation_id: int = 1


def acl(principal: str, permission: AclPermissionType, op: Op, rtype: R, name: str, pattern: P = LIT, host: str = "*"):  # type: ignore[no-untyped-def]
    return AclBinding(rtype, name, pattern, principal, host, op, permission)


ACLS = [
    acl("User:alice", ALLOW, Op.READ, R.TOPIC, "orders"),
    acl("User:alice", ALLOW, Op.WRITE, R.TOPIC, "logs-", PRE, host="10.0.0.1"),
    acl("User:bob", DENY, Op.READ, R.TOPIC, "orders"),
    acl("User:*", ALLOW, Op.READ, R.TOPIC, "orders"),
    acl("User:carol", ALLOW, Op.ALL, R.TOPIC, "secret-", PRE),
    acl("User:carol", DENY, Op.WRITE, R.TOPIC, "secret-x"),
    acl("User:dave", ALLOW, Op.ALTER_CONFIGS, R.TOPIC, "cfg"),
    acl("User:erin", ALLOW, Op.ALL, R.CLUSTER, "kafka-cluster"),
    acl("User:frank", DENY, Op.ALL, R.TOPIC, "*", host="10.0.0.66"),
    acl("User:frank", ALLOW, Op.READ, R.TOPIC, "*"),
    acl("Group:ops", ALLOW, Op.READ, R.TOPIC, "orders"),
    acl("User:gina", ALLOW, Op.READ, R.GROUP, "team-", PRE),
    acl("User:gina", ALLOW, Op.DESCRIBE, R.TRANSACTIONAL_ID, "tx-1"),
    acl("Group:*", ALLOW, Op.WRITE, R.TOPIC, "orders"),
]

Y, N = True, False
# (principal, host, operation, resource type, resource name, allowed?)
MATRIX = [
    ("User:alice", "1.1.1.1", Op.READ, R.TOPIC, "orders", Y),  # literal ALLOW
    ("User:alice", "1.1.1.1", Op.DESCRIBE, R.TOPIC, "orders", Y),  # READ implies DESCRIBE
    ("User:alice", "1.1.1.1", Op.WRITE, R.TOPIC, "orders", N),  # no WRITE
    ("User:alice", "1.1.1.1", Op.READ, R.TOPIC, "orders2", N),  # literal names are exact
    ("User:alice", "10.0.0.1", Op.WRITE, R.TOPIC, "logs-app", Y),  # prefixed, from its host
    ("User:alice", "10.0.0.2", Op.WRITE, R.TOPIC, "logs-app", N),  # another host
    ("User:alice", "10.0.0.1", Op.DESCRIBE, R.TOPIC, "logs-app", Y),  # WRITE implies DESCRIBE
    ("User:alice", "10.0.0.1", Op.WRITE, R.TOPIC, "logs", N),  # shorter than the prefix
    ("User:alice", "10.0.0.1", Op.WRITE, R.TOPIC, "logs-", Y),  # the prefix itself
    ("User:bob", "1.1.1.1", Op.READ, R.TOPIC, "orders", N),  # DENY wins over User:* ALLOW
    ("User:bob", "1.1.1.1", Op.DESCRIBE, R.TOPIC, "orders", Y),  # DENY READ does not deny DESCRIBE
    ("User:zed", "1.1.1.1", Op.READ, R.TOPIC, "orders", Y),  # the wildcard principal
    ("User:carol", "1.1.1.1", Op.WRITE, R.TOPIC, "secret-y", Y),  # ALL covers WRITE
    ("User:carol", "1.1.1.1", Op.WRITE, R.TOPIC, "secret-x", N),  # literal DENY over prefixed ALLOW ALL
    ("User:carol", "1.1.1.1", Op.READ, R.TOPIC, "secret-x", Y),
    ("User:carol", "1.1.1.1", Op.DELETE, R.TOPIC, "secret-x", Y),
    ("User:dave", "1.1.1.1", Op.ALTER_CONFIGS, R.TOPIC, "cfg", Y),
    ("User:dave", "1.1.1.1", Op.DESCRIBE_CONFIGS, R.TOPIC, "cfg", Y),  # ALTER_CONFIGS implies DESCRIBE_CONFIGS
    ("User:dave", "1.1.1.1", Op.DESCRIBE, R.TOPIC, "cfg", N),  # ... but not DESCRIBE
    ("User:dave", "1.1.1.1", Op.ALTER, R.TOPIC, "cfg", N),
    ("User:erin", "1.1.1.1", Op.CREATE, R.CLUSTER, "kafka-cluster", Y),
    ("User:erin", "1.1.1.1", Op.CLUSTER_ACTION, R.CLUSTER, "kafka-cluster", Y),
    ("User:erin", "1.1.1.1", Op.READ, R.TOPIC, "payroll", N),  # cluster ALL is not topic access
    ("User:frank", "10.0.0.66", Op.READ, R.TOPIC, "payroll", N),  # DENY ALL from that host
    ("User:frank", "10.0.0.7", Op.READ, R.TOPIC, "payroll", Y),  # the wildcard resource
    ("User:frank", "10.0.0.7", Op.WRITE, R.TOPIC, "payroll", N),
    ("Group:ops", "1.1.1.1", Op.READ, R.TOPIC, "orders", Y),  # another principal type
    ("Group:ops", "1.1.1.1", Op.READ, R.TOPIC, "payroll", N),  # User:* does not cover Group:ops... nor frank's
    ("Group:ops", "1.1.1.1", Op.WRITE, R.TOPIC, "orders", Y),  # Group:* is the wildcard of its own type
    ("User:zed", "1.1.1.1", Op.WRITE, R.TOPIC, "orders", N),  # ... not of User
    ("User:gina", "1.1.1.1", Op.READ, R.GROUP, "team-a", Y),
    ("User:gina", "1.1.1.1", Op.DESCRIBE, R.GROUP, "team-a", Y),
    ("User:gina", "1.1.1.1", Op.READ, R.GROUP, "other", N),  # no ACL on the group at all: default deny
    ("User:gina", "1.1.1.1", Op.DESCRIBE, R.TRANSACTIONAL_ID, "tx-1", Y),
    ("User:gina", "1.1.1.1", Op.WRITE, R.TRANSACTIONAL_ID, "tx-1", N),
    ("User:root", "1.1.1.1", Op.DELETE, R.CLUSTER, "kafka-cluster", Y),  # super user
    ("User:root", "1.1.1.1", Op.WRITE, R.TOPIC, "secret-x", Y),  # super users skip DENY too
]


def authorizer(allow_if_no_acl: bool = False) -> StandardAuthorizer:
    result = StandardAuthorizer(parse_super_users(" User:root ; User:admin"), allow_if_no_acl)
    result.apply({str(i): binding for i, binding in enumerate(ACLS)})
    return result


def decide(auth: StandardAuthorizer, principal: str, host: str, op: Op, rtype: R, name: str) -> bool:
    context = Context(KafkaPrincipal.parse(principal), host)
    [result] = auth.authorize(context, [Action(op, ResourcePattern(rtype, name))])
    return result is AuthorizationResult.ALLOWED


@pytest.mark.parametrize(("principal", "host", "op", "rtype", "name", "allowed"), MATRIX)
def test_decision_matrix(principal: str, host: str, op: Op, rtype: R, name: str, allowed: bool) -> None:
    assert decide(authorizer(), principal, host, op, rtype, name) is allowed


def test_allow_everyone_if_no_acl_found_applies_per_resource_not_per_principal() -> None:
    auth = authorizer(allow_if_no_acl=True)
    assert decide(auth, "User:nobody", "1.1.1.1", Op.READ, R.GROUP, "other")  # no ACL names the group
    assert decide(auth, "User:nobody", "1.1.1.1", Op.WRITE, R.TRANSACTIONAL_ID, "tx-2")
    # KAFKA-14435: ACLs exist for the resource (for others): no fallback to allow
    assert not decide(auth, "User:nobody", "1.1.1.1", Op.WRITE, R.TRANSACTIONAL_ID, "tx-1")
    assert not decide(authorizer(), "User:nobody", "1.1.1.1", Op.READ, R.GROUP, "other")


def test_removing_acls_from_the_index() -> None:
    auth = authorizer()
    assert decide(auth, "User:alice", "10.0.0.1", Op.WRITE, R.TOPIC, "logs-app")
    auth.apply({"1": None})
    assert not decide(auth, "User:alice", "10.0.0.1", Op.WRITE, R.TOPIC, "logs-app")
    assert auth.matching_acls(R.TOPIC, "logs-app") == [ACLS[8], ACLS[9]]  # only the wildcard ones remain
    auth.apply({"1": ACLS[1]})
    assert decide(auth, "User:alice", "10.0.0.1", Op.WRITE, R.TOPIC, "logs-app")


def test_cached_decisions_are_the_same_and_cleared_when_acls_change_or_the_cache_is_full(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = authorizer()
    for _ in range(2):  # the second pass is answered from the cache
        assert [decide(auth, p, h, op, r, n) for p, h, op, r, n, _ in MATRIX] == [row[-1] for row in MATRIX]
    assert 0 < len(auth._decisions) <= len(MATRIX)
    caplog.set_level("INFO", logger="kafka.authorizer.logger")
    assert not decide(auth, "User:bob", "1.1.1.1", Op.READ, R.TOPIC, "orders")  # cached, and still audited
    assert "Principal = User:bob is Denied Operation = READ" in caplog.text
    monkeypatch.setattr("odradek.broker.auth.standard_authorizer.DECISION_CACHE_SIZE", 3)
    fresh = authorizer()
    for i in range(10):
        decide(fresh, f"User:u{i}", "1.1.1.1", Op.READ, R.TOPIC, "orders")
    assert len(fresh._decisions) <= 3


def test_a_decision_looks_only_at_the_acls_that_match_the_resource() -> None:
    auth = StandardAuthorizer()
    auth.apply({f"n{i}": acl(f"User:u{i}", ALLOW, Op.READ, R.TOPIC, f"topic-{i}") for i in range(1000)})
    auth.apply({f"p{i}": acl("User:u", ALLOW, Op.READ, R.TOPIC, f"pre{i}-", PRE) for i in range(50)})
    assert auth.matching_acls(R.TOPIC, "topic-7") == [
        ACLS[0].__class__(R.TOPIC, "topic-7", LIT, "User:u7", "*", Op.READ, ALLOW)
    ]
    assert len(auth.matching_acls(R.TOPIC, "pre3-x")) == 1
    assert auth._prefix_lengths[R.TOPIC] == {5: 10, 6: 40}  # prefix lookups: one per distinct length


def test_denials_are_audited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="kafka.authorizer.logger")
    decide(authorizer(), "User:bob", "1.1.1.1", Op.READ, R.TOPIC, "orders")
    assert (
        "Principal = User:bob is Denied Operation = READ from host = 1.1.1.1 on resource = TOPIC:LITERAL:orders "
        "for request = Metadata with resourceRefCount = 1"
    ) in caplog.text


# -- filters (DescribeAcls / DeleteAcls) --------------------------------------------------------------------


def flt(
    rtype: R = R.ANY, name: str | None = None, pattern: P = P.ANY, principal: str | None = None
) -> AclBindingFilter:
    return AclBindingFilter(rtype, name, pattern, principal, None, Op.ANY, AclPermissionType.ANY)


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        (flt(), set(range(len(ACLS)))),
        (flt(R.CLUSTER), {7}),
        (flt(R.TOPIC, "orders", P.ANY), {0, 2, 3, 10, 13}),  # ANY: exact names of either pattern type
        (flt(R.TOPIC, "orders", P.LITERAL), {0, 2, 3, 10, 13}),
        (flt(R.TOPIC, "secret-", P.PREFIXED), {4}),
        (flt(R.TOPIC, "secret-x", P.MATCH), {4, 5, 8, 9}),  # MATCH: literal name, literal *, prefixes
        (flt(R.TOPIC, "logs-1", P.MATCH), {1, 8, 9}),
        (flt(R.TOPIC, None, P.PREFIXED), {1, 4}),
        (flt(principal="User:carol"), {4, 5}),
        (flt(R.TOPIC, "*", P.LITERAL), {8, 9}),
    ],
)
def test_acl_filters(selected: AclBindingFilter, expected: set[int]) -> None:
    assert {i for i, binding in enumerate(ACLS) if selected.matches(binding)} == expected


def test_new_acls_are_validated_as_kafka_does() -> None:
    good = acl("User:alice", ALLOW, Op.READ, R.TOPIC, "orders")
    assert validate_new_acl(good) is None
    cases = {
        AclBinding(R.TOPIC, "t", P.MATCH, "User:a", "*", Op.READ, ALLOW): "Invalid patternType MATCH",
        AclBinding(R.ANY, "t", LIT, "User:a", "*", Op.READ, ALLOW): "Invalid resourceType ANY",
        AclBinding(R.TOPIC, "t", LIT, "User:a", "*", Op.ANY, ALLOW): "Invalid operation ANY",
        AclBinding(R.TOPIC, "t", LIT, "User:a", "*", Op.READ, AclPermissionType.ANY): "Invalid permissionType ANY",
        AclBinding(R.TOPIC, "", LIT, "User:a", "*", Op.READ, ALLOW): "Resource name should not be empty",
        AclBinding(R.CLUSTER, "c", LIT, "User:a", "*", Op.ALTER, ALLOW): "only valid name for the CLUSTER",
        AclBinding(R.TOPIC, "t", LIT, "alice", "*", Op.READ, ALLOW): "principalType:principalName",
    }
    for binding, message in cases.items():
        problem = validate_new_acl(binding)
        assert problem is not None and message in problem
