"""`odradek configs`: describe and alter topic and broker configs, as kafka-configs.sh.

Describe prints Kafka's format:
`Dynamic configs for topic t are:` (or `All configs for ...` with --all), then one line per entry
`  name=value sensitive=false synonyms={SOURCE:name=value, ...}` (sensitive values print as `null`), every
synonym in the broker's order (DescribeConfigs goes through librdkafka's C API: see rdkafka_admin).
Alter uses IncrementalAlterConfigs (SET for --add-config, DELETE for --delete-config) and prints
`Completed updating config for topic t.` or `... for broker 1.`

Users and clients (SCRAM credentials, client quotas): `client_entities`.

Brokers: `--entity-name <id>` describes or alters one broker's dynamic configs; `--describe` without a name
describes every live broker. The cluster-wide default (`--entity-default`, Kafka's BROKER resource named "")
cannot be reached through librdkafka, which refuses an empty resource name and routes every BROKER resource to
the broker its name parses as; the tool says so instead of sending something else.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError
from odradek.cli import client_entities, rdkafka_admin
from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    client_config,
    config_source_name,
    kafka_admin,
    live_brokers,
    load_properties_file,
    parse_add_config,
    probe_metadata,
    wait,
)

_TOPIC, _BROKER = 2, 4  # Kafka's ConfigResource.Type codes

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
    parser.add_argument("--entity-type", choices=("topics", "brokers", "users", "clients"), help="type of entity")
    parser.add_argument("--entity-name", help="topic name, broker id, user name or client id")
    parser.add_argument("--entity-default", action="store_true", help="cluster-wide broker, user or client defaults")
    parser.add_argument("--user", help="shorthand for --entity-type users --entity-name USER")
    parser.add_argument("--client", help="shorthand for --entity-type clients --entity-name CLIENT")
    parser.add_argument("--user-defaults", action="store_true", help="the default user (quotas)")
    parser.add_argument("--client-defaults", action="store_true", help="the default client id (quotas)")
    parser.add_argument("--topic", help="shorthand for --entity-type topics --entity-name TOPIC")
    parser.add_argument("--broker", help="shorthand for --entity-type brokers --entity-name BROKER")
    parser.add_argument(
        "--broker-defaults", action="store_true", help="shorthand for --entity-type brokers --entity-default"
    )
    parser.add_argument("--add-config", metavar="K=V[,K2=[V1,V2]]", help="configs to set (alter)")
    parser.add_argument("--add-config-file", metavar="FILE", help="properties file of configs to set (alter)")
    parser.add_argument("--force", action="store_true", help="accepted, as by Kafka's tool (no prompts here)")
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
    if args.broker_defaults:
        return "brokers", ""
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
        raise CliError(f"The entity name for brokers must be a valid integer broker id, found: {args.entity_name}")
    return args.entity_type, args.entity_name


def entity_label(entity_type: str, name: str) -> str:
    """`topic t`, `broker 1`, or the default-broker wording Kafka uses."""
    if entity_type == "brokers" and name == "":
        return "default config for brokers in the cluster"
    return f"{'topic' if entity_type == 'topics' else 'broker'} {name}"


DEFAULT_BROKER_UNREACHABLE = (
    'the cluster-wide default broker config (--entity-default, the BROKER resource named "") cannot be sent '
    "through librdkafka, which needs a broker id as the resource name; alter it with Apache Kafka's "
    "kafka-configs.sh --entity-default (or any Java AdminClient), or set a value per broker with --entity-name "
    "<id>. --describe --all --entity-name <id> shows values taken from it as DYNAMIC_DEFAULT_BROKER_CONFIG."
)


def run(args: argparse.Namespace) -> int:
    if (
        args.entity_type in ("users", "clients")
        or args.user
        or args.client
        or args.user_defaults
        or args.client_defaults
    ):
        return client_entities.run(args)  # SCRAM credentials and client quotas
    entity_type, name = resolve_entity(args)
    if args.describe:
        if args.add_config or args.add_config_file or args.delete_config:
            raise CliError("--add-config and --delete-config are only valid with --alter")
        if entity_type == "brokers" and name == "" and not args.entity_default:
            return _describe_all_brokers(args)
    if entity_type == "brokers" and name == "":
        raise CliError(DEFAULT_BROKER_UNREACHABLE)
    if args.describe:
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
    views = describe_entries(args, entity_type, name)
    print("\n".join(format_describe(entity_type, name, views, describe_all=args.all)))
    return 0


def _describe_all_brokers(args: argparse.Namespace) -> int:
    """Kafka's `--describe --entity-type brokers` without a name: each live broker in turn."""
    admin = admin_client(args)
    for broker_id in sorted(live_brokers(admin)):
        views = describe_entries(args, "brokers", str(broker_id))
        print("\n".join(format_describe("brokers", str(broker_id), views, describe_all=args.all)))
    return 0


def describe_entries(args: argparse.Namespace, entity_type: str, name: str) -> list[EntryView]:
    """DescribeConfigs through librdkafka's C API, which keeps every synonym (see rdkafka_admin)."""
    resource_type = _TOPIC if entity_type == "topics" else _BROKER
    code, text, entries = rdkafka_admin.describe_configs(client_config(args), resource_type, name, ADMIN_TIMEOUT_S)
    if code:
        label = kafka_error_name(code)
        raise CliError(f"describing configs of {entity_label(entity_type, name)} failed: {text} ({label})")
    return [
        EntryView(
            e.name,
            e.value,
            config_source_name(e.source),
            e.is_sensitive,
            e.is_default,
            tuple((config_source_name(code), syn_name, value) for code, syn_name, value in e.synonyms),
        )
        for e in entries
    ]


def kafka_error_name(code: int) -> str:
    return str(KafkaError(code).name())


def format_describe(entity_type: str, name: str, entries: Iterable[EntryView], *, describe_all: bool) -> list[str]:
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
    return f"{entry.name}={value} sensitive={'true' if entry.is_sensitive else 'false'} synonyms={{{synonyms}}}"


def parse_deletions(items: Sequence[str] | None) -> list[str]:
    names: list[str] = []
    for item in items or ():
        names.extend(part.strip() for part in item.split(",") if part.strip())
    return names


def _alter(args: argparse.Namespace, entity_type: str, name: str) -> int:
    kadmin = kafka_admin()
    set_op, delete_op = kadmin.AlterConfigOpType.SET, kadmin.AlterConfigOpType.DELETE
    # Kafka's order: the --add-config-file properties, then --add-config.
    additions = load_properties_file(args.add_config_file) if args.add_config_file else {}
    additions.update(parse_add_config(args.add_config) if args.add_config else {})
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
    print(f"Completed updating config for {entity_label(entity_type, name)}.")
    return 0
