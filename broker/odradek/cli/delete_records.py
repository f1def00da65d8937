"""`odradek delete-records --offset-json-file f.json`, as kafka-delete-records.sh.

Input is Kafka's JSON: `{"partitions":[{"topic":"t","partition":0,"offset":5}],"version":1}`;
offset -1 means the high watermark. Output:
`Executing records delete operation` / `Records delete operation completed:` / then per partition
`partition: t-0<TAB>low_watermark: 5` or `partition: t-0<TAB>error: ...`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    wait,
)


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    topic: str
    partition: int
    offset: int


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "delete-records", help="delete records before given offsets (kafka-delete-records)"
    )
    add_bootstrap_options(parser)
    parser.add_argument("--offset-json-file", required=True, metavar="FILE", help="Kafka's offsets JSON")
    parser.set_defaults(run=run)


def parse_offset_json(text: str) -> list[DeleteRequest]:
    """Validate and parse the offsets document; duplicates and malformed entries are user errors."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"Offset json file is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("partitions"), list):
        raise CliError('Offset json file must be an object with a "partitions" list')
    version = document.get("version", 1)
    if version != 1:
        raise CliError(f"Not supported version field value {version}")
    requests = [_parse_entry(entry) for entry in document["partitions"]]
    if not requests:
        raise CliError("Offset json file doesn't contain any partitions")
    seen: set[tuple[str, int]] = set()
    duplicates = []
    for r in requests:
        key = (r.topic, r.partition)
        if key in seen:
            duplicates.append(f"{r.topic}-{r.partition}")
        seen.add(key)
    if duplicates:
        raise CliError(f"Offset json file contains duplicate topic partitions: {','.join(duplicates)}")
    return requests


def _parse_entry(entry: Any) -> DeleteRequest:
    if not isinstance(entry, dict):
        raise CliError(f"Invalid partition entry: {entry!r}")
    topic, partition, offset = entry.get("topic"), entry.get("partition"), entry.get("offset")
    if not isinstance(topic, str) or not topic:
        raise CliError(f"Invalid or missing topic in entry: {json.dumps(entry)}")
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise CliError(f"Invalid or missing partition in entry: {json.dumps(entry)}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < -1:
        raise CliError(f"Invalid or missing offset in entry: {json.dumps(entry)}")
    return DeleteRequest(topic, partition, offset)


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import TopicPartition

    try:
        with open(args.offset_json_file, encoding="utf-8") as handle:
            requests = parse_offset_json(handle.read())
    except OSError as exc:
        raise CliError(f"Cannot read {args.offset_json_file}: {exc.strerror or exc}") from None
    admin = admin_client(args)
    print("Executing records delete operation")
    partitions = [TopicPartition(r.topic, r.partition, r.offset) for r in requests]
    futures = admin.delete_records(partitions, request_timeout=ADMIN_TIMEOUT_S, operation_timeout=ADMIN_TIMEOUT_S)
    print("Records delete operation completed:")
    failed = False
    for tp, future in futures.items():
        label = f"{tp.topic}-{tp.partition}"
        try:
            print(format_result(label, wait(future, f"deleting records of {label}").low_watermark, None))
        except CliError as exc:
            failed = True
            print(format_result(label, None, str(exc)))
    return 1 if failed else 0


def format_result(label: str, low_watermark: int | None, error: str | None) -> str:
    if error is not None:
        return f"partition: {label}\terror: {error}"
    return f"partition: {label}\tlow_watermark: {low_watermark}"
