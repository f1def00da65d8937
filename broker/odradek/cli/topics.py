"""`odradek topics`: create, list, describe, alter (partition count) and delete topics, as kafka-topics.sh.

Describe prints Kafka's format: a topic line
`Topic: t<TAB>TopicId: id<TAB>PartitionCount: n<TAB>ReplicationFactor: r<TAB>Configs: k=v,...`
(TopicId omitted when unknown) followed by one line per partition
`<TAB>Topic: t<TAB>Partition: p<TAB>Leader: l<TAB>Replicas: a,b<TAB>Isr: a,b`, with
`<TAB>Adding Replicas: c<TAB>Removing Replicas: a` after it while the partition is being reassigned (Kafka's
TopicCommand asks ListPartitionReassignments too; if that fails the fields are left out, with a warning on
stderr).

Kafka's describe filters: `--topics-with-overrides` prints only the topic lines of topics with overrides;
`--under-replicated-partitions` (Isr smaller than Replicas), `--unavailable-partitions` (no live leader),
`--under-min-isr-partitions` (no leader, or Isr below the topic's min.insync.replicas) and
`--at-min-isr-partitions` (Isr exactly min.insync.replicas) print only the matching partition lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Mapping, Sequence
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
    live_brokers,
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
    reassignment: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # (adding, removing) while reassigned


@dataclass(frozen=True, slots=True)
class TopicView:
    name: str
    topic_id: str | None
    partitions: tuple[PartitionView, ...]
    configs: tuple[tuple[str, str], ...]
    min_isr: int = 1


# The partition filters of --describe: (flag, predicate of a partition given the topic's min ISR and live brokers).
PartitionFilter = Callable[[PartitionView, int, set[int]], bool]
PARTITION_FILTERS: tuple[tuple[str, PartitionFilter], ...] = (
    ("--under-replicated-partitions", lambda p, min_isr, live: len(p.isr) < len(p.replicas)),
    ("--unavailable-partitions", lambda p, min_isr, live: p.leader is None or p.leader not in live),
    ("--under-min-isr-partitions", lambda p, min_isr, live: p.leader is None or len(p.isr) < min_isr),
    ("--at-min-isr-partitions", lambda p, min_isr, live: len(p.isr) == min_isr),
)


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
    parser.add_argument(
        "--replica-assignment",
        metavar="B1:B2,B3:B4",
        help="create: the brokers of each partition (partitions by ',', replicas by ':')",
    )
    parser.add_argument(
        "--topics-with-overrides", action="store_true", help="describe: only topics with config overrides"
    )
    for flag, _ in PARTITION_FILTERS:
        parser.add_argument(flag, action="store_true", help=f"describe: only {flag[2:].replace('-', ' ')}")
    parser.set_defaults(run=run)


def partition_filters(args: argparse.Namespace) -> list[PartitionFilter]:
    return [test for flag, test in PARTITION_FILTERS if getattr(args, flag[2:].replace("-", "_"))]


def parse_replica_assignment(text: str) -> list[list[int]]:
    """kafka-topics' `--replica-assignment 0:1,1:2`: one list of broker ids per partition."""
    try:
        assignment = [[int(b) for b in part.split(":")] for part in text.split(",")]
    except ValueError:
        raise CliError(f"Invalid --replica-assignment {text!r}: broker ids separated by ':' and ','") from None
    for number, replicas in enumerate(assignment):
        if len(set(replicas)) != len(replicas):
            raise CliError(f"Partition replica lists may not contain duplicate entries: partition {number}")
    if len({len(r) for r in assignment}) > 1:
        raise CliError("Partition 1 has different replication factor: every partition needs as many replicas")
    return assignment


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
        filters = partition_filters(args)
        if filters and args.topics_with_overrides:
            raise CliError("--topics-with-overrides cannot be combined with the partition filters")
        live = live_brokers(admin)
        for view in _with_reassignments(args, _describe(admin, names)):
            if args.topics_with_overrides and not view.configs:
                continue
            lines = describe_lines(view, filters, live, partitions=not args.topics_with_overrides)
            if lines:
                print("\n".join(lines))
        return 0
    if args.alter:
        return _alter(admin, args, names)
    return _delete(admin, names)


def _with_reassignments(args: argparse.Namespace, views: list[TopicView]) -> list[TopicView]:
    """The views with each reassigned partition's adding/removing replicas. If the listing fails they are printed
    without, and a warning on stderr says so (Kafka's TopicCommand leaves them out quietly only where the API is not
    supported or not authorized, and fails the describe otherwise; a describe is still worth printing)."""
    from odradek.cli.reassign_partitions import list_ongoing

    if not views:
        return views
    try:
        ongoing = list_ongoing(args)
    except CliError as exc:
        print(f"Warning: partition reassignments not shown (ListPartitionReassignments: {exc})", file=sys.stderr)
        return views
    if not ongoing:
        return views
    return [
        dataclasses.replace(
            view,
            partitions=tuple(
                dataclasses.replace(p, reassignment=(r.adding, r.removing))
                if (r := ongoing.get((view.name, p.partition)))
                else p
                for p in view.partitions
            ),
        )
        for view in views
    ]


def _create(args: argparse.Namespace) -> int:
    if not args.topic:
        raise CliError("--topic is required with --create")
    if args.partitions is not None and args.partitions < 1:
        raise CliError("The partitions must be greater than 0")
    if args.replication_factor is not None and not 1 <= args.replication_factor <= 32767:
        raise CliError("The replication factor must be between 1 and 32767 inclusive")
    configs = parse_key_value_args(args.config)
    shape: dict[str, Any] = {
        "num_partitions": args.partitions if args.partitions is not None else -1,
        "replication_factor": args.replication_factor if args.replication_factor is not None else -1,
    }
    if args.replica_assignment is not None:
        if args.partitions is not None or args.replication_factor is not None:
            raise CliError("Option --replica-assignment cannot be used with --partitions or --replication-factor")
        shape = {"replica_assignment": parse_replica_assignment(args.replica_assignment)}
    admin = admin_client(args)
    new_topic = kafka_admin().NewTopic(args.topic, config=configs, **shape)
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
    admin: Any, names: Sequence[str], configs: Mapping[str, TopicConfigs]
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
        overrides, min_isr = configs.get(name, ((), 1))
        views.append(TopicView(name, topic_id, partitions, overrides, min_isr))
    return views


def _describe_via_metadata(admin: Any, names: Sequence[str], configs: Mapping[str, TopicConfigs]) -> list[TopicView]:
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
        overrides, min_isr = configs.get(name, ((), 1))
        views.append(TopicView(name, None, partitions, overrides, min_isr))
    return views


TopicConfigs = tuple[tuple[tuple[str, str], ...], int]  # (overrides, min.insync.replicas in force)


def _topic_overrides(admin: Any, names: Sequence[str]) -> dict[str, TopicConfigs]:
    kadmin = kafka_admin()
    resources = [kadmin.ConfigResource(kadmin.ResourceType.TOPIC, n) for n in names]
    futures = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_S)
    result: dict[str, TopicConfigs] = {}
    for resource, future in futures.items():
        entries = wait(future, f"describing configs of topic {resource.name}")
        overrides = overridden_configs(
            (e.name, e.value, config_source_name(e.source), bool(e.is_default)) for e in entries.values()
        )
        min_isr = entries.get("min.insync.replicas")
        result[resource.name] = (overrides, int(min_isr.value) if min_isr is not None and min_isr.value else 1)
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
    return describe_lines(view, [], set())


def describe_lines(
    view: TopicView, filters: Sequence[PartitionFilter], live: set[int], *, partitions: bool = True
) -> list[str]:
    """Kafka's TopicCommand output for one topic: the topic line unless partition filters are given, then the
    partition lines (those matching a filter, if any; none when `partitions` is False)."""
    ordered = sorted(view.partitions, key=lambda p: p.partition)
    lines = [] if filters else [_topic_line(view, ordered)]
    for p in ordered if partitions else ():
        if filters and not any(test(p, view.min_isr, live) for test in filters):
            continue
        leader = "none" if p.leader is None else str(p.leader)
        line = (
            f"\tTopic: {view.name}\tPartition: {p.partition}\tLeader: {leader}"
            f"\tReplicas: {_ids(p.replicas)}\tIsr: {_ids(p.isr)}"
        )
        if p.reassignment is not None:
            line += f"\tAdding Replicas: {_ids(p.reassignment[0])}\tRemoving Replicas: {_ids(p.reassignment[1])}"
        lines.append(line)
    return lines


def _topic_line(view: TopicView, partitions: Sequence[PartitionView]) -> str:
    replication = len(partitions[0].replicas) if partitions else 0
    head = f"Topic: {view.name}"
    if view.topic_id and view.topic_id != "AAAAAAAAAAAAAAAAAAAAAA":
        head += f"\tTopicId: {view.topic_id}"
    head += f"\tPartitionCount: {len(partitions)}\tReplicationFactor: {replication}"
    return head + "\tConfigs: " + ",".join(f"{k}={v}" for k, v in view.configs)


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
