"""`odradek log-dirs --describe`, as kafka-log-dirs.sh (Kafka 3.9's LogDirsCommand): each broker's log dirs.

Flags are Kafka's: `--bootstrap-server`, `--command-config`, `--describe` (required), `--broker-list 1,2` (default:
every broker of the cluster; a broker not in the cluster is the error `ERROR: The given brokers do not exist from
--broker-list: 7. Current existent brokers: 1,2,3`) and `--topic-list t1,t2` (default: every topic). Output, as
Kafka prints it: `Querying brokers for log directories information`, `Received log directory information from
brokers 1,2,3`, then one line of JSON (key order as Kafka's HashMaps give it, brokers and partitions sorted):

    {"brokers":[{"broker":1,"logDirs":[{"partitions":[{"partition":"t-0","size":123,"offsetLag":0,
    "isFuture":false}],"error":null,"logDir":"/var/odradek/data"}]}],"version":1}

`error` is null, or the Java exception class Kafka names for the dir's error code (a dir that cannot be read:
`org.apache.kafka.common.errors.KafkaStorageException`). DescribeLogDirs is sent to each broker through kafka-python
(confluent-kafka 2.16 has no describe_log_dirs: `odradek.kafka_python`); the broker list comes from confluent-kafka's
describe_cluster.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    client_config,
    live_brokers,
)

# Kafka's exception classes for the error codes a log dir can carry (Errors.java).
ERROR_CLASSES = {
    56: "org.apache.kafka.common.errors.KafkaStorageException",
    -1: "org.apache.kafka.common.errors.UnknownServerException",
}


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "log-dirs", help="describe the brokers' log directories (kafka-log-dirs)"
    )
    add_bootstrap_options(parser)
    parser.add_argument("--describe", action="store_true", help="describe the log dirs (required)")
    parser.add_argument("--broker-list", default="", metavar="IDS", help='brokers to query, e.g. "0,1,2" (all)')
    parser.add_argument("--topic-list", default="", metavar="TOPICS", help='topics to show, e.g. "t1,t2" (all)')
    parser.set_defaults(run=run)


def split_list(text: str) -> list[str]:
    """Kafka's splitAtCommasAndFilterOutEmpty."""
    return [item for item in text.split(",") if item]


def format_json(described: Mapping[int, Sequence[Mapping[str, Any]]], topics: set[str]) -> str:
    """Kafka's formatAsJson over kafka-python's DescribeLogDirs results per broker (`to_dict()` of each dir)."""
    brokers = []
    for broker in sorted(described):
        log_dirs = []
        for result in described[broker]:
            partitions = [
                {
                    "partition": f"{topic['name']}-{p['partition_index']}",
                    "size": p["partition_size"],
                    "offsetLag": p["offset_lag"],
                    "isFuture": bool(p.get("is_future_key", False)),
                }
                for topic in sorted(result.get("topics", []), key=lambda t: str(t["name"]))
                if not topics or topic["name"] in topics
                for p in sorted(topic["partitions"], key=lambda p: int(p["partition_index"]))
            ]
            code = int(result.get("error_code", 0))
            error = None if code == 0 else ERROR_CLASSES.get(code, ERROR_CLASSES[-1])
            log_dirs.append({"partitions": partitions, "error": error, "logDir": result["log_dir"]})
        brokers.append({"broker": broker, "logDirs": log_dirs})
    return json.dumps({"brokers": brokers, "version": 1}, separators=(",", ":"))


def _ids(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))


def run(args: argparse.Namespace) -> int:
    if not args.describe:
        raise CliError("Missing required argument(s): --describe")
    try:
        wanted = {int(b) for b in split_list(args.broker_list)}
    except ValueError:
        raise CliError(f"Invalid broker list: {args.broker_list}") from None
    topics = set(split_list(args.topic_list))
    admin = admin_client(args)  # kept: the future fails if its client is destroyed first
    cluster = live_brokers(admin)
    missing = wanted - cluster
    if missing:
        raise CliError(
            f"ERROR: The given brokers do not exist from --broker-list: {_ids(missing)}. "
            f"Current existent brokers: {_ids(cluster)}"
        )
    brokers = sorted(wanted or cluster)
    print("Querying brokers for log directories information")
    described = describe(args, brokers)
    print(f"Received log directory information from brokers {_ids(brokers)}")
    print(format_json(described, topics))
    return 0


def describe(args: argparse.Namespace, brokers: list[int]) -> dict[int, list[dict[str, Any]]]:
    from kafka.errors import KafkaConnectionError
    from kafka.errors import KafkaError as KafkaPythonError
    from odradek.kafka_python import admin_call

    config = {"client.id": "log-dirs-tool", **client_config(args)}
    try:
        answers = admin_call(config, lambda admin: admin.describe_log_dirs(brokers=brokers), ADMIN_TIMEOUT_S)
    except KafkaConnectionError as exc:
        raise CliError(f"Cannot reach broker at {args.bootstrap_server}: {exc}") from None
    except KafkaPythonError as exc:
        raise CliError(f"DescribeLogDirs failed: {exc}") from None
    return {int(a["broker"]): list(a["log_dirs"]) for a in answers}
