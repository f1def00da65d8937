"""`odradek console-producer`: one record per stdin line, as kafka-console-producer.sh.

`--property parse.key=true` splits each line at the first `key.separator` (default TAB) into key and value;
a line without the separator is an error, as in Kafka. Lines are bytes: no decoding, the trailing newline
(LF or CRLF) is dropped.
"""

from __future__ import annotations

import argparse
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

FLUSH_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class LineFormat:
    parse_key: bool = False
    key_separator: bytes = b"\t"
    null_marker: bytes | None = None


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "console-producer", help="produce lines from stdin (kafka-console-producer)"
    )
    add_bootstrap_options(parser, config_flag="--producer.config")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--property", action="append", metavar="K=V[,K2=V2]", help="parse.key, key.separator")
    parser.add_argument("--producer-property", action="append", metavar="K=V", help="producer config entry")
    parser.add_argument("--partition", type=int, help="produce to this partition (default: the partitioner's)")
    parser.add_argument("--request-required-acks", default=None, help="acks: -1/all, 0 or 1")
    parser.add_argument("--compression-codec", default=None, help="none, gzip, snappy, lz4 or zstd")
    parser.set_defaults(run=run)


def line_format(properties: dict[str, str]) -> LineFormat:
    unknown = set(properties) - {"parse.key", "key.separator", "null.marker", "ignore.error"}
    if unknown:
        raise CliError(f"Unknown --property key(s): {', '.join(sorted(unknown))}")
    separator = properties.get("key.separator", "\t").encode()
    if not separator:
        raise CliError("key.separator must not be empty")
    marker = properties.get("null.marker")
    return LineFormat(
        parse_key=properties.get("parse.key", "false").lower() == "true",
        key_separator=separator,
        null_marker=marker.encode() if marker else None,
    )


def parse_line(line: bytes, line_number: int, fmt: LineFormat) -> tuple[bytes | None, bytes | None]:
    """(key, value) of one input line (without its newline)."""
    key: bytes | None = None
    value: bytes | None = line
    if fmt.parse_key:
        cut = line.find(fmt.key_separator)
        if cut < 0:
            raise CliError(f"No key separator found on line number {line_number}: '{line.decode(errors='replace')}'")
        key, value = line[:cut], line[cut + len(fmt.key_separator) :]
    if fmt.null_marker is not None:
        key = None if key == fmt.null_marker else key
        value = None if value == fmt.null_marker else value
    return key, value


def strip_newline(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(b"\n") else raw


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    properties: dict[str, str] = {}
    for item in args.property or ():
        properties.update(parse_key_values(item))
    fmt = line_format(properties)
    extra = parse_assignments(args.producer_property)
    if args.request_required_acks is not None:
        extra["acks"] = args.request_required_acks
    if args.compression_codec is not None:
        extra["compression.type"] = args.compression_codec
    producer = Producer(client_config(args, extra))
    probe_metadata(producer, args.bootstrap_server)
    return produce_lines(producer, args.topic, args.partition, sys.stdin.buffer, fmt)


def produce_lines(producer: Any, topic: str, partition: int | None, source: BinaryIO, fmt: LineFormat) -> int:
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(describe_kafka_error(err))

    extra: dict[str, Any] = {} if partition is None else {"partition": partition}
    for number, raw in enumerate(source, start=1):
        key, value = parse_line(strip_newline(raw), number, fmt)
        _produce(producer, topic, key, value, on_delivery, extra)
        if errors:
            break
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if errors:
        raise CliError(f"Error when sending message to topic {topic}: {errors[0]}")
    if remaining:
        raise CliError(f"{remaining} message(s) not delivered to topic {topic} within {FLUSH_TIMEOUT_S:.0f} s")
    return 0


def _produce(producer: Any, topic: str, key: bytes | None, value: bytes | None, cb: Any, extra: Any) -> None:
    deadline = time.monotonic() + FLUSH_TIMEOUT_S
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=cb, **extra)
            producer.poll(0)
            return
        except BufferError:
            if time.monotonic() > deadline:
                raise CliError("Producer queue stayed full; is the broker accepting records?") from None
            producer.poll(0.1)
