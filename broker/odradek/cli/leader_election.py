"""`odradek leader-election`, as kafka-leader-election.sh: preferred or unclean leader election (ElectLeaders).

Flags are Kafka's: `--bootstrap-server`, `--admin.config`, `--election-type PREFERRED|UNCLEAN` (any case), and
exactly one of `--all-topic-partitions`, `--topic T --partition P`, `--path-to-json-file F` (Kafka's JSON:
`{"partitions": [{"topic": "t", "partition": 0}, ...]}`). The request goes to the controller through
confluent-kafka's `AdminClient.elect_leaders`. Output, as Kafka's tool prints it:
`Successfully completed leader election (PREFERRED) for partitions t-0, t-1`,
`Valid replica already elected for partitions t-2` (ELECTION_NOT_NEEDED), and for each failure
`Error completing leader election (PREFERRED) for partition: t-3: <error>`; the exit code is 1 when any failed
("N replica(s) could not be elected").
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from odradek.cli.common import CliError, add_bootstrap_options, admin_client, wait

ELECTION_NOT_NEEDED = 84


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "leader-election", help="elect preferred or unclean leaders (kafka-leader-election)"
    )
    add_bootstrap_options(parser, config_flag="--admin.config")
    parser.add_argument(
        "--election-type", required=True, type=str.upper, choices=("PREFERRED", "UNCLEAN"), help="type of election"
    )
    parser.add_argument("--topic", help="the topic of the partition to elect for (with --partition)")
    parser.add_argument("--partition", type=int, help="the partition to elect for (with --topic)")
    parser.add_argument("--all-topic-partitions", action="store_true", help="elect for every partition")
    parser.add_argument("--path-to-json-file", metavar="FILE", help="JSON list of partitions to elect for")
    parser.set_defaults(run=run)


def chosen_partitions(args: argparse.Namespace) -> list[tuple[str, int]] | None:
    """The partitions the flags name (None: every partition); CliError for Kafka's usage errors."""
    sources = sum([bool(args.all_topic_partitions), args.topic is not None, args.path_to_json_file is not None])
    if sources != 1:
        raise CliError(
            "One and only one of the following options is required: all-topic-partitions, topic, path-to-json-file"
        )
    if args.partition is not None and args.topic is None:
        raise CliError("Missing required option(s): topic")
    if args.topic is not None:
        if args.partition is None:
            raise CliError("Missing required option(s): partition")
        return [(args.topic, args.partition)]
    if args.path_to_json_file is not None:
        try:
            with open(args.path_to_json_file, encoding="utf-8") as handle:
                return parse_partitions_json(handle.read())
        except OSError as exc:
            raise CliError(f"Cannot read {args.path_to_json_file}: {exc.strerror or exc}") from None
    return None


def parse_partitions_json(text: str) -> list[tuple[str, int]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"The JSON file is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    entries = document.get("partitions") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise CliError('The JSON file must be an object with a "partitions" list')
    partitions = []
    for entry in entries:
        topic = entry.get("topic") if isinstance(entry, dict) else None
        partition = entry.get("partition") if isinstance(entry, dict) else None
        if not isinstance(topic, str) or not isinstance(partition, int) or isinstance(partition, bool):
            raise CliError(f"Invalid partition entry: {json.dumps(entry)}")
        partitions.append((topic, partition))
    duplicates = sorted({f"{t}-{p}" for t, p in partitions if partitions.count((t, p)) > 1})
    if duplicates:
        raise CliError(f"Duplicate partitions in the JSON file: {', '.join(duplicates)}")
    return partitions


def report(election: str, outcomes: list[tuple[str, int | None, str | None]]) -> tuple[list[str], int]:
    """Kafka's lines for (partition label, error code or None, error text) outcomes; and how many failed."""
    done = [label for label, code, _ in outcomes if code is None]
    noop = [label for label, code, _ in outcomes if code == ELECTION_NOT_NEEDED]
    failed = [(label, text) for label, code, text in outcomes if code is not None and code != ELECTION_NOT_NEEDED]
    lines = []
    if done:
        lines.append(f"Successfully completed leader election ({election}) for partitions {', '.join(done)}")
    if noop:
        lines.append(f"Valid replica already elected for partitions {', '.join(noop)}")
    lines += [f"Error completing leader election ({election}) for partition: {label}: {text}" for label, text in failed]
    return lines, len(failed)


def error_of(error: object) -> tuple[int, str]:
    """(code, text) of a per-partition result: confluent-kafka gives a KafkaError (or a KafkaException around one)."""
    from confluent_kafka import KafkaError, KafkaException

    if isinstance(error, KafkaException) and error.args:
        error = error.args[0]
    if isinstance(error, KafkaError):
        return error.code(), error.str()
    return -1, str(error)


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import ElectionType, TopicPartition

    wanted = chosen_partitions(args)
    admin = admin_client(args)
    partitions = None if wanted is None else [TopicPartition(t, p) for t, p in wanted]
    # No timeout keywords: confluent-kafka 2.16's C binding fails on them ("SystemError: more argument specifiers
    # than keyword list entries"); its default is socket.timeout.ms, and `wait` bounds the wait here anyway.
    future = admin.elect_leaders(ElectionType[args.election_type], partitions)
    results = wait(future, "the leader election")
    outcomes: list[tuple[str, int | None, str | None]] = []
    for tp, error in sorted(results.items(), key=lambda item: (item[0].topic, item[0].partition)):
        label = f"{tp.topic}-{tp.partition}"
        if error is None:
            outcomes.append((label, None, None))
            continue
        outcomes.append((label, *error_of(error)))
    lines, failed = report(args.election_type, outcomes)
    for line in lines:
        print(line)
    if failed:
        raise CliError(f"{failed} replica(s) could not be elected")
    return 0
