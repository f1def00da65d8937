"""`odradek console-consumer`: print records, as kafka-console-consumer.sh, in partition-assignment mode.

Assigns `--partition` (or every partition of `--topic`) from `--offset` (earliest, latest or a number;
`--from-beginning` means earliest; default latest). Each record is printed as Kafka's DefaultMessageFormatter
does: optional `CreateTime:ts`, `Partition:p`, `Offset:o`, key, each followed by `key.separator`
(default TAB), then the value and `line.separator` (default newline); a null key or value prints `null`.
At the end `Processed a total of N messages` goes to stderr.
Subscribe mode (`--group`) is not implemented yet and is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from odradek.cli.common import (
    CliError,
    add_bootstrap_options,
    client_config,
    describe_kafka_error,
    parse_assignments,
    parse_key_values,
    probe_metadata,
)

OFFSET_BEGINNING = -2
OFFSET_END = -1
_TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}


@dataclass(frozen=True, slots=True)
class RecordFormat:
    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_key: bool = False
    print_value: bool = True
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    null_literal: bytes = b"null"


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "console-consumer", help="print records of a topic (kafka-console-consumer, assign mode)"
    )
    add_bootstrap_options(parser, config_flag="--consumer.config")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partition", type=int, help="consume only this partition (default: all of them)")
    parser.add_argument(
        "--offset", default=None, help="earliest, latest or an offset number (default latest)"
    )
    parser.add_argument("--from-beginning", action="store_true", help="start at the earliest offset")
    parser.add_argument("--max-messages", type=int, help="exit after this many records")
    parser.add_argument("--timeout-ms", type=int, help="exit when no record arrives for this long")
    parser.add_argument(
        "--property", action="append", metavar="K=V[,K2=V2]", help="print.key, print.offset, ..."
    )
    parser.add_argument("--consumer-property", action="append", metavar="K=V", help="consumer config entry")
    parser.add_argument("--group", help="(not supported yet: subscribe mode comes later)")
    parser.add_argument("--isolation-level", choices=("read_uncommitted", "read_committed"))
    parser.set_defaults(run=run)


def start_offset(offset: str | None, from_beginning: bool) -> int:
    """librdkafka logical offset (-2 earliest, -1 latest) or an absolute offset."""
    if from_beginning:
        if offset is not None and offset != "earliest":
            raise CliError("--from-beginning cannot be combined with --offset other than earliest")
        return OFFSET_BEGINNING
    if offset is None or offset == "latest":
        return OFFSET_END
    if offset == "earliest":
        return OFFSET_BEGINNING
    try:
        value = int(offset)
    except ValueError:
        raise CliError(
            f"The provided offset value '{offset}' is incorrect: use earliest, latest or a number"
        ) from None
    if value < 0:
        raise CliError(f"The provided offset value '{offset}' is incorrect: offsets are non-negative")
    return value


def record_format(properties: dict[str, str]) -> RecordFormat:
    def flag(name: str, default: bool = False) -> bool:
        return properties.get(name, str(default)).lower() == "true"

    known = {
        "print.timestamp", "print.partition", "print.offset", "print.key", "print.value",
        "key.separator", "line.separator", "null.literal", "print.headers",
    }  # fmt: skip
    unknown = set(properties) - known
    if unknown:
        raise CliError(f"Unknown --property key(s): {', '.join(sorted(unknown))}")
    return RecordFormat(
        print_timestamp=flag("print.timestamp"),
        print_partition=flag("print.partition"),
        print_offset=flag("print.offset"),
        print_key=flag("print.key"),
        print_value=flag("print.value", True),
        key_separator=_unescape(properties.get("key.separator", "\t")),
        line_separator=_unescape(properties.get("line.separator", "\n")),
        null_literal=properties.get("null.literal", "null").encode(),
    )


def _unescape(text: str) -> bytes:
    return text.encode().decode("unicode_escape").encode("latin-1") if "\\" in text else text.encode()


def format_record(
    fmt: RecordFormat,
    *,
    timestamp: tuple[int, int],
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
) -> bytes:
    """One record as DefaultMessageFormatter prints it; timestamp is (type, ms) with type 0 = none."""
    fields: list[bytes] = []
    if fmt.print_timestamp:
        kind = _TIMESTAMP_TYPES.get(timestamp[0])
        fields.append(f"{kind}:{timestamp[1]}".encode() if kind else b"NO_TIMESTAMP")
    if fmt.print_partition:
        fields.append(f"Partition:{partition}".encode())
    if fmt.print_offset:
        fields.append(f"Offset:{offset}".encode())
    if fmt.print_key:
        fields.append(fmt.null_literal if key is None else key)
    if fmt.print_value:
        fields.append(fmt.null_literal if value is None else value)
    line = fmt.key_separator.join(fields)
    return line + fmt.line_separator if fmt.print_value else line


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer, TopicPartition

    if args.group:
        raise CliError("--group (subscribe mode) is not supported yet; use --partition or all partitions")
    if args.max_messages is not None and args.max_messages < 0:
        raise CliError("--max-messages must be non-negative")
    offset = start_offset(args.offset, args.from_beginning)
    properties: dict[str, str] = {}
    for item in args.property or ():
        properties.update(parse_key_values(item))
    fmt = record_format(properties)
    extra = parse_assignments(args.consumer_property)
    if args.isolation_level:
        extra["isolation.level"] = args.isolation_level
    config = client_config(
        args, extra, **{"group.id": f"console-consumer-{os.getpid()}", "enable.auto.commit": False}
    )
    consumer = Consumer(config)
    try:
        metadata = probe_metadata(consumer, args.bootstrap_server, args.topic)
        partitions = _partitions(metadata, args.topic, args.partition)
        consumer.assign([TopicPartition(args.topic, p, offset) for p in partitions])
        count = consume_loop(consumer, fmt, sys.stdout.buffer, args.max_messages, args.timeout_ms)
    finally:
        consumer.close()
    print(f"Processed a total of {count} messages", file=sys.stderr)
    return 0


def _partitions(metadata: Any, topic: str, partition: int | None) -> list[int]:
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        reason = describe_kafka_error(described.error) if described is not None else "not in metadata"
        raise CliError(f"Topic '{topic}' is not available: {reason}")
    ids = sorted(described.partitions)
    if partition is None:
        return ids
    if partition not in ids:
        raise CliError(f"Partition {partition} does not exist in topic {topic} (partitions: {len(ids)})")
    return [partition]


def consume_loop(
    consumer: Any, fmt: RecordFormat, out: BinaryIO, max_messages: int | None, timeout_ms: int | None
) -> int:
    """Print records until max_messages, an idle timeout_ms, or Ctrl-C; returns the count printed."""
    count = 0
    last = time.monotonic()
    try:
        while max_messages is None or count < max_messages:
            wanted = 500 if max_messages is None else min(500, max_messages - count)
            batch = consumer.consume(num_messages=wanted, timeout=0.2)
            now = time.monotonic()
            for msg in batch:
                if msg.error() is not None:
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        continue
                    raise CliError(f"Consume failed: {describe_kafka_error(msg.error())}")
                out.write(
                    format_record(
                        fmt,
                        timestamp=msg.timestamp(),
                        partition=msg.partition(),
                        offset=msg.offset(),
                        key=msg.key(),
                        value=msg.value(),
                    )
                )
                count += 1
                last = now
            out.flush()
            if timeout_ms is not None and (now - last) * 1000 >= timeout_ms:
                break
    except KeyboardInterrupt:
        pass
    return count
