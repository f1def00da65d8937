"""`odradek acls`: add, remove and list ACLs, as kafka-acls.sh (Kafka's AclCommand), through confluent-kafka's
create_acls / describe_acls / delete_acls.

- Resources: `--topic`, `--group`, `--transactional-id` (each repeatable), `--cluster`; `--resource-pattern-type`
  literal (default) or prefixed, and for --list/--remove also any or match.
- `--add`: every `--allow-principal` x `--allow-host` (default `*`) x `--operation` (default All) as ALLOW, the
  same for `--deny-*` as DENY, on every resource named; `--producer` (WRITE, DESCRIBE, CREATE on the topics, WRITE
  and DESCRIBE on `--transactional-id`s, IDEMPOTENT_WRITE on the cluster with `--idempotent`) and `--consumer` (READ
  and DESCRIBE on the topics, READ on the groups) are Kafka's shortcuts. An operation a resource type does not have
  is refused before anything is sent.
- `--remove`: the ACLs the principal/host/operation options describe, or with none of them every ACL of each
  resource; asks for confirmation on stdin unless `--force`.
- `--list`: the ACLs of the resources named (all with none), optionally of one `--principal`.

Output is Kafka's: "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders,
patternType=LITERAL)`:" then one "\t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" line per
ACL, and "Current ACLs for resource `...`:" for the ACLs in force.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from odradek.cli.common import ADMIN_TIMEOUT_S, CliError, add_bootstrap_options, admin_client, kafka_admin, wait

CLUSTER_NAME = "kafka-cluster"
# Kafka's AclCommand resource types and the operations each has (AclEntry.supportedOperations); confluent-kafka
# names the cluster BROKER.
SUPPORTED = {
    "TOPIC": {"READ", "WRITE", "CREATE", "DESCRIBE", "DELETE", "ALTER", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "ALL"},
    "GROUP": {"READ", "DESCRIBE", "DELETE", "ALL"},
    "CLUSTER": {
        "CREATE",
        "CLUSTER_ACTION",
        "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS",
        "IDEMPOTENT_WRITE",
        "ALTER",
        "DESCRIBE",
        "ALL",
    },
    "TRANSACTIONAL_ID": {"DESCRIBE", "WRITE", "ALL"},
}
_OPERATIONS = {
    "read": "READ",
    "write": "WRITE",
    "create": "CREATE",
    "delete": "DELETE",
    "alter": "ALTER",
    "describe": "DESCRIBE",
    "clusteraction": "CLUSTER_ACTION",
    "describeconfigs": "DESCRIBE_CONFIGS",
    "alterconfigs": "ALTER_CONFIGS",
    "idempotentwrite": "IDEMPOTENT_WRITE",
    "all": "ALL",
}

Resource = tuple[str, str]  # (Kafka resource type name, resource name)
Entry = tuple[str, str, str, str]  # (principal, host, operation, permission)


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("acls", help="add, remove or list ACLs (kafka-acls)")
    add_bootstrap_options(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--add", action="store_true", help="add ACLs")
    action.add_argument("--remove", action="store_true", help="remove ACLs")
    action.add_argument("--list", action="store_true", help="list ACLs")
    parser.add_argument("--topic", action="append", default=[], help="topic (repeatable; * for every topic)")
    parser.add_argument("--group", action="append", default=[], help="consumer group (repeatable)")
    parser.add_argument("--transactional-id", action="append", default=[], help="transactional id (repeatable)")
    parser.add_argument("--cluster", action="store_true", help="the cluster resource")
    parser.add_argument(
        "--resource-pattern-type",
        default="literal",
        type=str.lower,
        choices=("literal", "prefixed", "any", "match"),
        help="pattern type of the resources (any and match: --list and --remove only)",
    )
    parser.add_argument("--allow-principal", action="append", default=[], help="e.g. User:alice (repeatable)")
    parser.add_argument("--deny-principal", action="append", default=[], help="e.g. User:mallory (repeatable)")
    parser.add_argument("--allow-host", action="append", default=[], help="host of allowed principals (default *)")
    parser.add_argument("--deny-host", action="append", default=[], help="host of denied principals (default *)")
    parser.add_argument("--operation", action="append", default=[], help="Read, Write, ..., All (repeatable)")
    parser.add_argument("--principal", action="append", default=[], help="--list: only this principal's ACLs")
    parser.add_argument("--producer", action="store_true", help="the ACLs a producer needs")
    parser.add_argument("--consumer", action="store_true", help="the ACLs a consumer needs (needs --group)")
    parser.add_argument("--idempotent", action="store_true", help="with --producer: IdempotentWrite on the cluster")
    parser.add_argument("--force", action="store_true", help="do not ask before removing")
    parser.set_defaults(run=run)


def resources(args: argparse.Namespace) -> list[Resource]:
    out: list[Resource] = [("TOPIC", t) for t in args.topic]
    out += [("GROUP", g) for g in args.group]
    out += [("TRANSACTIONAL_ID", t) for t in args.transactional_id]
    if args.cluster:
        out.append(("CLUSTER", CLUSTER_NAME))
    return out


def operation(name: str) -> str:
    key = name.replace("_", "").replace("-", "").lower()
    if key not in _OPERATIONS:
        raise CliError(f"Invalid operation {name}: one of {', '.join(sorted(_OPERATIONS))} (case-insensitive)")
    return _OPERATIONS[key]


def entries(args: argparse.Namespace, operations: Iterable[str]) -> list[Entry]:
    """Kafka's AclCommand.getAcls: principals x hosts (default * when principals are given) x operations."""
    ops = sorted(set(operations))
    out: list[Entry] = []
    for permission, principals, hosts in (
        ("ALLOW", args.allow_principal, args.allow_host),
        ("DENY", args.deny_principal, args.deny_host),
    ):
        for principal in principals:
            if ":" not in principal:
                raise CliError(f"Invalid principal {principal}: expected Type:name (User:alice)")
            out += [(principal, host, op, permission) for host in (hosts or ["*"]) for op in ops]
    return out


def bindings_to_add(args: argparse.Namespace) -> dict[Resource, list[Entry]]:
    """What `--add` creates, per resource (the --producer/--consumer shortcuts expanded as Kafka does)."""
    if args.resource_pattern_type in ("any", "match"):
        raise CliError(
            f"A '--resource-pattern-type' value of '{args.resource_pattern_type.upper()}' is not valid "
            "when adding acls."
        )
    if not args.allow_principal and not args.deny_principal:
        raise CliError("You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.")
    out: dict[Resource, list[Entry]] = {}
    if args.producer or args.consumer:
        if not args.topic:
            raise CliError("With --producer or --consumer you must specify a --topic")
        if args.consumer and not args.group:
            raise CliError("With --consumer you must specify a --group")
        for topic in args.topic:
            ops = (["WRITE", "DESCRIBE", "CREATE"] if args.producer else []) + (
                ["READ", "DESCRIBE"] if args.consumer else []
            )
            out[("TOPIC", topic)] = entries(args, ops)
        if args.consumer:
            for group in args.group:
                out[("GROUP", group)] = entries(args, ["READ"])
        if args.producer:
            for transactional_id in args.transactional_id:
                out[("TRANSACTIONAL_ID", transactional_id)] = entries(args, ["WRITE", "DESCRIBE"])
            if args.idempotent:
                out[("CLUSTER", CLUSTER_NAME)] = entries(args, ["IDEMPOTENT_WRITE"])
        return out
    ops = [operation(o) for o in args.operation] or ["ALL"]
    named = resources(args)
    if not named:
        raise CliError("You must specify one of: --topic, --cluster, --group, --transactional-id when adding ACLs")
    for resource in named:
        if unsupported := sorted(set(ops) - SUPPORTED[resource[0]]):
            raise CliError(
                f"ResourceType {resource[0]} only supports operations {','.join(sorted(SUPPORTED[resource[0]]))}"
                f" (not {','.join(unsupported)})"
            )
        out[resource] = entries(args, ops)
    return out


def pattern_text(resource_type: str, name: str, pattern_type: str) -> str:
    return f"ResourcePattern(resourceType={resource_type}, name={name}, patternType={pattern_type})"


def entry_text(entry: Entry) -> str:
    principal, host, op, permission = entry
    return f"(principal={principal}, host={host}, operation={op}, permissionType={permission})"


def _block(heading: str, acls: Iterable[Entry]) -> str:
    """Kafka's block: heading, then each ACL after a tab (AclCommand's println with Newline joins)."""
    return f"{heading}: \n " + "\n ".join(f"\t{entry_text(e)}" for e in acls) + " \n"


def _pattern_of(resource_type: str, pattern: str) -> str:
    """The cluster resource is always LITERAL (Kafka's AclCommand names it so whatever --resource-pattern-type)."""
    return "LITERAL" if resource_type == "CLUSTER" and pattern == "PREFIXED" else pattern


def _confluent_type(kadmin: Any, resource_type: str) -> Any:
    return kadmin.ResourceType.BROKER if resource_type == "CLUSTER" else getattr(kadmin.ResourceType, resource_type)


def _kafka_type(binding_type: Any) -> str:
    return "CLUSTER" if binding_type.name == "BROKER" else str(binding_type.name)


def run(args: argparse.Namespace) -> int:
    if args.add:
        return _add(args)
    if args.remove:
        return _remove(args)
    return _list(args)


def _add(args: argparse.Namespace) -> int:
    kadmin = kafka_admin()
    wanted = bindings_to_add(args)
    pattern = args.resource_pattern_type.upper()
    admin = admin_client(args)
    bindings = []
    for (resource_type, name), acls in wanted.items():
        resource_pattern = _pattern_of(resource_type, pattern)
        print(_block(f"Adding ACLs for resource `{pattern_text(resource_type, name, resource_pattern)}`", acls))
        bindings += [
            kadmin.AclBinding(
                _confluent_type(kadmin, resource_type),
                name,
                getattr(kadmin.ResourcePatternType, resource_pattern),
                principal,
                host,
                getattr(kadmin.AclOperation, op),
                getattr(kadmin.AclPermissionType, permission),
            )
            for principal, host, op, permission in acls
        ]
    for future in admin.create_acls(bindings, request_timeout=ADMIN_TIMEOUT_S).values():
        wait(future, "creating ACLs")
    _print_current(admin, list(wanted), pattern, [])
    return 0


def _filter(kadmin: Any, resource: Resource | None, pattern: str, entry: Entry | None, principal: str | None) -> Any:
    resource_type, name = resource if resource else ("ANY", None)
    permission = kadmin.AclPermissionType.ANY
    op = kadmin.AclOperation.ANY
    host = None
    if entry is not None:
        principal, host, op_name, permission_name = entry
        op, permission = getattr(kadmin.AclOperation, op_name), getattr(kadmin.AclPermissionType, permission_name)
    return kadmin.AclBindingFilter(
        kadmin.ResourceType.ANY if resource_type == "ANY" else _confluent_type(kadmin, resource_type),
        name,
        getattr(kadmin.ResourcePatternType, _pattern_of(resource_type, pattern)),
        principal,
        host,
        op,
        permission,
    )


def _print_current(admin: Any, named: list[Resource], pattern: str, principals: list[str]) -> None:
    kadmin = kafka_admin()
    targets: list[Resource | None] = [*named] or [None]
    who: list[str | None] = [*principals] or [None]
    filters = [_filter(kadmin, r, pattern, None, p) for r in targets for p in who]
    found: dict[tuple[str, str, str], list[Entry]] = {}
    for acl_filter in filters:
        for b in wait(admin.describe_acls(acl_filter, request_timeout=ADMIN_TIMEOUT_S), "listing ACLs"):
            key = (_kafka_type(b.restype), b.name, b.resource_pattern_type.name)
            entry = (b.principal, b.host, b.operation.name, b.permission_type.name)
            if entry not in found.setdefault(key, []):
                found[key].append(entry)
    for (resource_type, name, pattern_type), acls in sorted(found.items()):
        print(_block(f"Current ACLs for resource `{pattern_text(resource_type, name, pattern_type)}`", acls))


def _list(args: argparse.Namespace) -> int:
    pattern = args.resource_pattern_type.upper()
    if pattern == "LITERAL" and not resources(args):
        pattern = "ANY"  # every ACL, whatever its pattern (Kafka lists all ACLs without a resource)
    _print_current(admin_client(args), resources(args), pattern, args.principal)
    return 0


def _remove(args: argparse.Namespace) -> int:
    kadmin = kafka_admin()
    named = resources(args)
    if not named:
        raise CliError("You must specify one of: --topic, --cluster, --group, --transactional-id when removing ACLs")
    pattern = args.resource_pattern_type.upper()
    ops = [operation(o) for o in args.operation] or ["ALL"]
    specific = entries(args, ops) if (args.allow_principal or args.deny_principal) else []
    admin = admin_client(args)
    for resource in named:
        what = "the given ACLs" if specific else "all ACLs"
        text = pattern_text(resource[0], resource[1], _pattern_of(resource[0], pattern))
        if not args.force and not _confirm(f"Are you sure you want to remove {what} for resource `{text}`? (y/n)"):
            continue
        filters = [_filter(kadmin, resource, pattern, e, None) for e in specific] or [
            _filter(kadmin, resource, pattern, None, None)
        ]
        for future in admin.delete_acls(filters, request_timeout=ADMIN_TIMEOUT_S).values():
            wait(future, "removing ACLs")
    _print_current(admin, named, pattern, [])
    return 0


def _confirm(question: str) -> bool:
    print(question)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
