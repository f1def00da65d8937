"""`odradek configs`: describe and alter topic and broker configs, as kafka-configs.sh.

Describe prints Kafka's format:
`Dynamic configs for topic t are:` (or `All configs for ...` with --all), then one line per entry
`  name=value sensitive=false synonyms={SOURCE:name=value, ...}` (sensitive values print as `null`).
Alter uses IncrementalAlterConfigs (SET for --add-config, DELETE for --delete-config) and prints
`Completed updating config for topic t.`, `... for broker 1.` or
`Completed updating default config for brokers in the cluster.`
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    config_source_name,
    kafka_admin,
    parse_key_values,
    probe_metadata,
    wait,
)

_DYNAMIC_SOURCE = {
    "topics": "DYNAMIC_TOPIC_CONFIG",
    "brokers": "DYNAMIC_BROKER_CONFIG",
    "broker-default": "DYNAMIC_DEFAULT_BROKER_CONFIG",
}


@dataclass(frozen=True, slots=True)
class EntryView:
    name: str
    value: str | None
    source: str
    is_sensitive: bool
    is_default: bool
    synonyms: tuple[tuple[str, str, str | None], ...]  # (source, name, value)


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "configs", help="describe or alter topic and broker configs (kafka-configs)"
    )
    add_bootstrap_options(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--describe", action="store_true", help="list configs of the entity")
    action.add_argument("--alter", action="store_true", help="alter configs of the entity")
    parser.add_argument("--entity-type", choices=("topics", "brokers"), help="type of entity")
    parser.add_argument("--entity-name", help="topic name or broker id")
    parser.add_argument("--entity-default", action="store_true", help="cluster-wide broker defaults")
    parser.add_argument("--topic", help="shorthand for --entity-type topics --entity-name TOPIC")
    parser.add_argument("--broker", help="shorthand for --entity-type brokers --entity-name BROKER")
    parser.add_argument("--add-config", metavar="K=V[,K2=V2]", help="configs to set (alter)")
    parser.add_argument(
        "--delete-config", action="append", metavar="K[,K2]", help="configs to remove (alter); repeatable"
    )
    parser.add_argument("--all", action="store_true", help="describe all configs, not only dynamic ones")
    parser.set_defaults(run=run)


def resolve_entity(args: argparse.Namespace) -> tuple[str, str]:
    """(entity type, name) from --entity-type/--entity-name or the --topic/--broker shorthands."""
    if args.topic is not None:
        return "topics", args.topic
    if args.broker is not None:
        return "brokers", args.broker
    if args.entity_type is None:
        raise CliError("--entity-type (topics|brokers) is required")
    if args.entity_default:
        if args.entity_type != "brokers":
            raise CliError("--entity-default applies to --entity-type brokers only")
        return "brokers", ""
    if args.entity_name is None:
        if args.alter or args.entity_type == "topics":
            raise CliError("--entity-name is required (or --entity-default for brokers)")
        return "brokers", ""
    if args.entity_type == "brokers" and not args.entity_name.isdigit():
        raise CliError(
            f"The entity name for brokers must be a valid integer broker id, found: {args.entity_name}"
        )
    return args.entity_type, args.entity_name


def entity_label(entity_type: str, name: str) -> str:
    """`topic t`, `broker 1`, or the default-broker wording Kafka uses."""
    if entity_type == "brokers" and name == "":
        return "default config for brokers in the cluster"
    return f"{'topic' if entity_type == 'topics' else 'broker'} {name}"


def run(args: argparse.Namespace) -> int:
    entity_type, name = resolve_entity(args)
    if args.describe:
        if args.add_config or args.delete_config:
            raise CliError("--add-config and --delete-config are only valid with --alter")
        return _describe(args, entity_type, name)
    return _alter(args, entity_type, name)


def _resource(entity_type: str, name: str) -> Any:
    kadmin = kafka_admin()
    kind = kadmin.ResourceType.TOPIC if entity_type == "topics" else kadmin.ResourceType.BROKER
    return kadmin.ConfigResource(kind, name)


def _describe(args: argparse.Namespace, entity_type: str, name: str) -> int:
    admin = admin_client(args)
    if entity_type == "topics" and name not in probe_metadata(admin, args.bootstrap_server).topics:
        raise CliError(f"The topic '{name}' does not exist.")
    resource = _resource(entity_type, name)
    futures = admin.describe_configs([resource], request_timeout=ADMIN_TIMEOUT_S)
    entries = wait(futures[resource], f"describing configs of {entity_label(entity_type, name)}")
    views = [_entry_view(e) for e in entries.values()]
    print("\n".join(format_describe(entity_type, name, views, describe_all=args.all)))
    return 0


def _entry_view(entry: Any) -> EntryView:
    synonyms = tuple((config_source_name(s.source), s.name, s.value) for s in entry.synonyms.values())
    return EntryView(
        entry.name,
        entry.value,
        config_source_name(entry.source),
        bool(entry.is_sensitive),
        bool(entry.is_default),
        synonyms,
    )


def format_describe(
    entity_type: str, name: str, entries: Iterable[EntryView], *, describe_all: bool
) -> list[str]:
    """Kafka's describe output: a heading and one indented line per (dynamic, unless describe_all) entry."""
    kind = "broker-default" if entity_type == "brokers" and name == "" else entity_type
    wanted = _DYNAMIC_SOURCE[kind]
    shown = sorted(
        (e for e in entries if describe_all or e.source == wanted),
        key=lambda e: e.name,
    )
    if kind == "broker-default":
        heading = "Default configs for brokers in the cluster are:"
    else:
        heading = f"{'All' if describe_all else 'Dynamic'} configs for {entity_label(entity_type, name)} are:"
    return [heading, *(f"  {format_entry(e)}" for e in shown)]


def format_entry(entry: EntryView) -> str:
    value = "null" if entry.is_sensitive or entry.value is None else entry.value
    synonyms = ", ".join(
        f"{source}:{syn_name}={'null' if entry.is_sensitive or syn_value is None else syn_value}"
        for source, syn_name, syn_value in entry.synonyms
    )
    return (
        f"{entry.name}={value} sensitive={'true' if entry.is_sensitive else 'false'} synonyms={{{synonyms}}}"
    )


def parse_deletions(items: Sequence[str] | None) -> list[str]:
    names: list[str] = []
    for item in items or ():
        names.extend(part.strip() for part in item.split(",") if part.strip())
    return names


def _alter(args: argparse.Namespace, entity_type: str, name: str) -> int:
    kadmin = kafka_admin()
    set_op, delete_op = kadmin.AlterConfigOpType.SET, kadmin.AlterConfigOpType.DELETE
    additions = parse_key_values(args.add_config) if args.add_config else {}
    deletions = parse_deletions(args.delete_config)
    if not additions and not deletions:
        raise CliError("--alter needs --add-config and/or --delete-config")
    if overlap := sorted(set(additions) & set(deletions)):
        raise CliError(f"Config(s) both added and deleted: {','.join(overlap)}")
    admin = admin_client(args)
    if entity_type == "topics" and name not in probe_metadata(admin, args.bootstrap_server).topics:
        raise CliError(f"The topic '{name}' does not exist.")
    resource = _resource(entity_type, name)
    for key, value in additions.items():
        resource.add_incremental_config(kadmin.ConfigEntry(key, value, incremental_operation=set_op))
    for key in deletions:
        resource.add_incremental_config(kadmin.ConfigEntry(key, None, incremental_operation=delete_op))
    futures = admin.incremental_alter_configs([resource], request_timeout=ADMIN_TIMEOUT_S)
    wait(futures[resource], f"altering configs of {entity_label(entity_type, name)}")
    if entity_type == "brokers" and name == "":
        print("Completed updating default config for brokers in the cluster.")
    else:
        print(f"Completed updating config for {entity_label(entity_type, name)}.")
    return 0
