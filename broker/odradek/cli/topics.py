"""`odradek topics`: create, list, describe, alter (partition count) and delete topics, as kafka-topics.sh.

Describe prints Kafka's format: a topic line
`Topic: t<TAB>TopicId: id<TAB>PartitionCount: n<TAB>ReplicationFactor: r<TAB>Configs: k=v,...`
(TopicId omitted when unknown) followed by one line per partition
`<TAB>Topic: t<TAB>Partition: p<TAB>Leader: l<TAB>Replicas: a,b<TAB>Isr: a,b`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    config_source_name,
    describe_kafka_error,
    kafka_admin,
    parse_key_value_args,
    probe_metadata,
    wait,
)

# Config sources that count as overrides in the describe line (Kafka prints non-default entries).
_OVERRIDE_SOURCES = frozenset({"DYNAMIC_TOPIC_CONFIG"})


@dataclass(frozen=True, slots=True)
class PartitionView:
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TopicView:
    name: str
    topic_id: str | None
    partitions: tuple[PartitionView, ...]
    configs: tuple[tuple[str, str], ...]


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "topics", help="create, list, describe, alter or delete topics (kafka-topics)"
    )
    add_bootstrap_options(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    for flag, text in (
        ("--create", "create a new topic"),
        ("--list", "list topics"),
        ("--describe", "describe topics"),
        ("--alter", "increase the partition count"),
        ("--delete", "delete a topic"),
    ):
        action.add_argument(flag, action="store_true", help=text)
    parser.add_argument("--topic", help="topic name; for list/describe/alter/delete also a regular expression")
    parser.add_argument("--partitions", type=int, help="partition count (create: default broker's num.partitions)")
    parser.add_argument("--replication-factor", type=int, help="replication factor (create)")
    parser.add_argument("--config", action="append", metavar="KEY=VALUE", help="topic config override (create)")
    parser.add_argument("--if-not-exists", action="store_true", help="create only if the topic is absent")
    parser.add_argument("--if-exists", action="store_true", help="alter/describe/delete only if the topic exists")
    parser.add_argument("--exclude-internal", action="store_true", help="leave out internal topics")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.create:
        return _create(args)
    admin = admin_client(args)
    names = _matching_topics(admin, args)
    if args.list:
        for name in names:
            print(name)
        return 0
    if args.topic and not names and not args.if_exists:
        raise CliError(f"Topic '{args.topic}' does not exist as expected")
    if args.describe:
        for view in _describe(admin, names):
            print("\n".join(format_topic(view)))
        return 0
    if args.alter:
        return _alter(admin, args, names)
    return _delete(admin, names)


def _create(args: argparse.Namespace) -> int:
    if not args.topic:
        raise CliError("--topic is required with --create")
    if args.partitions is not None and args.partitions < 1:
        raise CliError("The partitions must be greater than 0")
    if args.replication_factor is not None and not 1 <= args.replication_factor <= 32767:
        raise CliError("The replication factor must be between 1 and 32767 inclusive")
    configs = parse_key_value_args(args.config)
    admin = admin_client(args)
    new_topic = kafka_admin().NewTopic(
        args.topic,
        num_partitions=args.partitions if args.partitions is not None else -1,
        replication_factor=args.replication_factor if args.replication_factor is not None else -1,
        config=configs,
    )
    futures = admin.create_topics([new_topic], request_timeout=ADMIN_TIMEOUT_S, operation_timeout=ADMIN_TIMEOUT_S)
    try:
        wait(futures[args.topic], f"creating topic {args.topic}")
    except CliError as exc:
        if args.if_not_exists and "TOPIC_ALREADY_EXISTS" in str(exc):
            return 0
        raise
    print(f"Created topic {args.topic}.")
    return 0


def _matching_topics(admin: Any, args: argparse.Namespace) -> list[str]:
    """Sorted topic names, filtered by --topic (exact name or full-match regular expression)."""
    metadata = probe_metadata(admin, args.bootstrap_server)
    names = sorted(metadata.topics)
    if args.exclude_internal:
        names = [n for n in names if not n.startswith("__")]
    if not args.topic:
        return names
    return filter_topics(names, args.topic)


def filter_topics(names: Sequence[str], pattern: str) -> list[str]:
    """Kafka's IncludeList semantics: the name itself, or a full match of the regular expression."""
    try:
        regex = re.compile(pattern)
    except re.error:
        return [n for n in names if n == pattern]
    return [n for n in names if n == pattern or regex.fullmatch(n)]


def _describe(admin: Any, names: Sequence[str]) -> list[TopicView]:
    if not names:
        return []
    configs = _topic_overrides(admin, names)
    try:
        return _describe_via_describe_topics(admin, names, configs)
    except CliError:
        return _describe_via_metadata(admin, names, configs)


def _describe_via_describe_topics(
    admin: Any, names: Sequence[str], configs: Mapping[str, tuple[tuple[str, str], ...]]
) -> list[TopicView]:
    from confluent_kafka import TopicCollection

    futures = admin.describe_topics(TopicCollection(list(names)), request_timeout=ADMIN_TIMEOUT_S)
    views = []
    for name in names:
        desc = wait(futures[name], f"describing topic {name}")
        partitions = tuple(
            PartitionView(
                partition=p.id,
                leader=p.leader.id if p.leader is not None else None,
                replicas=tuple(n.id for n in p.replicas),
                isr=tuple(n.id for n in p.isr),
            )
            for p in desc.partitions
        )
        topic_id = str(desc.topic_id) if desc.topic_id is not None else None
        views.append(TopicView(name, topic_id, partitions, configs.get(name, ())))
    return views


def _describe_via_metadata(
    admin: Any, names: Sequence[str], configs: Mapping[str, tuple[tuple[str, str], ...]]
) -> list[TopicView]:
    """Fallback when DescribeTopics is not available: Metadata carries no topic id here."""
    try:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        raise CliError(f"Describing topics failed: {describe_kafka_error(exc)}") from None
    views = []
    for name in names:
        topic = metadata.topics.get(name)
        if topic is None:
            continue
        partitions = tuple(
            PartitionView(p.id, p.leader if p.leader >= 0 else None, tuple(p.replicas), tuple(p.isrs))
            for p in topic.partitions.values()
        )
        views.append(TopicView(name, None, partitions, configs.get(name, ())))
    return views


def _topic_overrides(admin: Any, names: Sequence[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    kadmin = kafka_admin()
    resources = [kadmin.ConfigResource(kadmin.ResourceType.TOPIC, n) for n in names]
    futures = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_S)
    result: dict[str, tuple[tuple[str, str], ...]] = {}
    for resource, future in futures.items():
        entries = wait(future, f"describing configs of topic {resource.name}")
        result[resource.name] = overridden_configs(
            (e.name, e.value, config_source_name(e.source), bool(e.is_default)) for e in entries.values()
        )
    return result


def overridden_configs(entries: Any) -> tuple[tuple[str, str], ...]:
    """Sorted (name, value) of the overrides; input rows are (name, value, source name, is_default)."""
    kept = [
        (name, "" if value is None else value)
        for name, value, source, is_default in entries
        if not is_default and source in _OVERRIDE_SOURCES
    ]
    return tuple(sorted(kept))


def format_topic(view: TopicView) -> list[str]:
    """Kafka's describe lines for one topic (partitions sorted by id)."""
    partitions = sorted(view.partitions, key=lambda p: p.partition)
    replication = len(partitions[0].replicas) if partitions else 0
    head = f"Topic: {view.name}"
    if view.topic_id and view.topic_id != "AAAAAAAAAAAAAAAAAAAAAA":
        head += f"\tTopicId: {view.topic_id}"
    head += f"\tPartitionCount: {len(partitions)}\tReplicationFactor: {replication}"
    head += "\tConfigs: " + ",".join(f"{k}={v}" for k, v in view.configs)
    lines = [head]
    for p in partitions:
        leader = "none" if p.leader is None else str(p.leader)
        lines.append(
            f"\tTopic: {view.name}\tPartition: {p.partition}\tLeader: {leader}"
            f"\tReplicas: {_ids(p.replicas)}\tIsr: {_ids(p.isr)}"
        )
    return lines


def _ids(ids: Sequence[int]) -> str:
    return ",".join(str(i) for i in ids)


def _alter(admin: Any, args: argparse.Namespace, names: Sequence[str]) -> int:
    if args.partitions is None:
        raise CliError("--partitions is required with --alter (use `odradek configs` to change topic configs)")
    if not names:
        return 0
    futures = admin.create_partitions(
        [kafka_admin().NewPartitions(n, args.partitions) for n in names],
        request_timeout=ADMIN_TIMEOUT_S,
        operation_timeout=ADMIN_TIMEOUT_S,
    )
    for name in names:
        wait(futures[name], f"increasing the partitions of {name}")
    return 0


def _delete(admin: Any, names: Sequence[str]) -> int:
    if not names:
        return 0
    futures = admin.delete_topics(list(names), request_timeout=ADMIN_TIMEOUT_S, operation_timeout=ADMIN_TIMEOUT_S)
    for name in names:
        wait(futures[name], f"deleting topic {name}")
    return 0
